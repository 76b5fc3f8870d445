"""The real-shape profile (QBITEL_ENGINE_PROFILE=real-shape): the real engine as observed running.

Each part reproduces an observation of the real QBITEL Engine with the mechanism that causes
it, so the project's checks, chaos experiments and recorded incidents meet the same evidence:

- JSON lines on stdout (``observability/logging.py``): timestamp, iso_timestamp, level,
  category, message, component, operation, metadata; validation lines, the summary block and
  the verdict are messages of their own, the rules with embedded newlines.
- Its logging bug (same module): the formatter maps level names onto an enum that says
  ``WARN``, so every WARNING record raises ``ValueError: 'WARNING' is not a valid LogLevel``
  and Python's ``Handler.handleError`` prints a ``--- Logging error ---`` block on stderr.
- Only ``GET /health`` among the health endpoints (``app.py``); the probes answer 404, and
  the handler that logs each HTTP error at WARNING runs while the HTTPException is being
  handled, so each block carries its traceback (``starlette.exceptions.HTTPException: 404:
  Not Found``). ``/health`` has no database component and stays 200 ``healthy`` while
  PostgreSQL is down (``health_route.py``).
- Startup noise of a healthy engine (``observability/subsystems.py``, ``models.py``): ERROR
  lines from its optional logging and metrics subsystems failing, and pydantic's
  ``UserWarning`` lines about model field names.
- A wrong DATABASE_PASSWORD (``database_init.py``, ``server.py``): database initialisation in
  the ASGI lifespan fails with asyncpg's wording (``InvalidPasswordError: password
  authentication failed for user ...``, ``DatabaseError: Database initialization failed:
  ...``), Starlette's traceback and uvicorn's ``Application startup failed. Exiting.``
  follow, the REST port closes, and the process lives on serving its gRPC port
  (``grpc_standin.py``, 50051).
- Metrics on their own listener, port 9090 as the real compose file advertises
  (``metrics_app.py``); not on the REST port.

Startup validation and its exit status are the reference engine's, unchanged.
"""
