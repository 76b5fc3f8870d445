"""A TCP listener on the gRPC port (50051), standing in for the real engine's gRPC server.

It only accepts connections and reads what arrives; it speaks no gRPC. What matters is what
the real one does to the process: it keeps serving, so the process stays alive after the
REST server failed to start, and a dead REST port is no proof that the process is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..server import bind_socket

logger = logging.getLogger("qbitel_ref.grpc")

IDLE_CLOSE_SECONDS = 30.0  # a connection that sends nothing for this long is closed
READ_CHUNK = 65536


class GrpcStandIn:
    def __init__(self, server: asyncio.Server, host: str, port: int) -> None:
        self._server = server
        self.host = host
        self.port = port

    @classmethod
    async def start(cls, host: str, port: int) -> GrpcStandIn:
        server = await asyncio.start_server(_drain_connection, sock=bind_socket(host, port))
        logger.info("gRPC server listening on %s:%d", host, port)
        return cls(server, host, port)

    @property
    def serving(self) -> bool:
        return self._server.is_serving()

    async def close(self, timeout: float = 5.0) -> None:
        self._server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._server.wait_closed()


async def _drain_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read and discard until the peer closes or goes quiet."""
    try:
        while True:
            async with asyncio.timeout(IDLE_CLOSE_SECONDS):
                if not await reader.read(READ_CHUNK):
                    break
    except (TimeoutError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
