"""The records API: journal on disk, then a committed row in Postgres."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .circuit_breaker import BreakerState, CircuitOpenError
from .data_dir import is_out_of_space
from .database import MAX_LIST_LIMIT, DatabaseUnavailable, InvalidRecord
from .engine import Engine

logger = logging.getLogger("qbitel_ref.api")
router = APIRouter(prefix="/api/v1/records")

DB_RETRY_AFTER_SECONDS = 5


class RecordIn(BaseModel):
    key: str = Field(min_length=1, max_length=256)
    value: Any


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _error(status: int, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


def _database_error(exc: Exception) -> JSONResponse:
    if isinstance(exc, CircuitOpenError):
        return _error(503, f"Database unavailable: {exc}", exc.retry_after)
    return _error(503, f"Database unavailable: {exc}", DB_RETRY_AFTER_SECONDS)


@router.post("", status_code=201)
async def create_record(record: RecordIn, request: Request) -> JSONResponse:
    engine = _engine(request)
    if engine.breaker.state is BreakerState.OPEN:
        # Fail fast while the breaker is open, before touching the disk.
        return _database_error(CircuitOpenError("database", engine.breaker.retry_after()))
    entry = {"ts": time.time(), "op": "insert", "key": record.key, "value": record.value}
    try:
        await asyncio.to_thread(engine.data_dir.append_journal, entry)
    except OSError as exc:
        logger.error("Journal write failed in %s: %s", engine.data_dir.path, exc)
        if is_out_of_space(exc):
            return _error(507, f"Insufficient storage: {exc.strerror or exc}")
        return _error(500, f"Data directory write failed: {exc.strerror or exc}")
    try:
        stored = await engine.database.insert_record(record.key, record.value)
    except (DatabaseUnavailable, CircuitOpenError) as exc:
        return _database_error(exc)
    except InvalidRecord as exc:
        return _error(422, f"Value rejected by the database: {exc}")
    # 201 only now: the row is committed.
    body = {"id": stored.id, "key": stored.key, "created_at": stored.created_at.isoformat()}
    return JSONResponse(status_code=201, content=body)


@router.get("/{record_id}")
async def read_record(record_id: int, request: Request) -> JSONResponse:
    try:
        stored = await _engine(request).database.get_record(record_id)
    except (DatabaseUnavailable, CircuitOpenError) as exc:
        return _database_error(exc)
    if stored is None:
        return _error(404, "Record not found")
    return JSONResponse(status_code=200, content=stored.as_json())


@router.get("")
async def list_records(
    request: Request,
    key: Annotated[str, Query(min_length=1, max_length=256)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
) -> JSONResponse:
    try:
        records = await _engine(request).database.list_records(key, limit)
    except (DatabaseUnavailable, CircuitOpenError) as exc:
        return _database_error(exc)
    body = {"key": key, "count": len(records), "records": [r.as_json() for r in records]}
    return JSONResponse(status_code=200, content=body)
