"""Real database faults for tests: a hang, an outage, a held write lock.

- `StallingProxy`: a TCP proxy on loopback in front of PostgreSQL that can stop forwarding
  bytes without closing anything, as a network partition or a stalled primary does. New
  connections are accepted and then get no answer either.
- `sqlite_write_lock(path)`: another connection holds SQLite's exclusive write lock, so
  every writer waits (up to its busy timeout), as behind a long-running transaction.
- `DatabaseHang(db_url)`: whichever of the two hangs fits the database of `db_url`.
- `outage(db_url, engine)`: the database refuses connections outright (SQLite: the file
  becomes a directory; PostgreSQL: the database stops accepting connections).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine


class StallingProxy:
    """`127.0.0.1:<port>` -> `host:port`, forwarding until `stall()`, again after `resume()`."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @classmethod
    def to_url(cls, url: str) -> tuple[StallingProxy, str]:
        """A started proxy in front of the server of SQLAlchemy `url`, and the proxied URL."""
        parsed = make_url(url)
        proxy = cls(parsed.host or "127.0.0.1", parsed.port or 5432).start()
        return proxy, parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(False)

    def start(self) -> StallingProxy:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def stall(self) -> None:
        """Stop forwarding in both directions; every socket stays open."""
        self._call(lambda: self._flow().clear())

    def resume(self) -> None:
        self._call(lambda: self._flow().set())

    @contextmanager
    def stalled(self) -> Iterator[None]:
        self.stall()
        try:
            yield
        finally:
            self.resume()

    def close(self) -> None:
        """Close the listener and every connection, then stop the thread."""

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _call(self, fn: object) -> None:
        async def run() -> None:
            fn()  # type: ignore[operator]

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def _flow(self) -> asyncio.Event:
        if self._flowing is None:
            self._flowing = asyncio.Event()
            self._flowing.set()
        return self._flowing

    async def _listen(self) -> int:
        self._flow()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flow().wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)


class DatabaseHang:
    """Makes the database of `db_url` hang on demand: PostgreSQL behind a `StallingProxy`
    (use `url` to reach it), SQLite behind another connection's write lock."""

    def __init__(self, db_url: str) -> None:
        parsed = make_url(db_url)
        self._sqlite = parsed.database if parsed.get_backend_name() == "sqlite" else None
        self._proxy: StallingProxy | None = None
        self.url = db_url
        if self._sqlite is None:
            self._proxy, self.url = StallingProxy.to_url(db_url)

    def during(self) -> AbstractContextManager[None]:
        """The database hangs inside this block."""
        if self._proxy is not None:
            return self._proxy.stalled()
        return sqlite_write_lock(self._sqlite or "")

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.close()


@contextmanager
def sqlite_write_lock(database: str | Path) -> Iterator[None]:
    """Hold SQLite's exclusive lock on `database` from another connection meanwhile."""
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@asynccontextmanager
async def outage(db_url: str, engine: AsyncEngine | None = None) -> AsyncIterator[None]:
    """The database at `db_url` refuses connections meanwhile; `engine`'s pool is emptied."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if engine is not None:
            await engine.dispose()  # pooled connections would keep the old file open
        os.replace(path, f"{path}.away")
        path.mkdir()
        try:
            yield
        finally:
            path.rmdir()
            os.replace(f"{path}.away", path)
            if engine is not None:
                # A connection opened in the instant between those two steps created an
                # empty database at `path` and still points at it: drop it.
                await engine.dispose()
        return
    admin = await asyncpg.connect(os.environ["WATTGATE_TEST_PG_URL"].replace("+asyncpg", ""))
    try:
        await admin.execute(f'ALTER DATABASE "{url.database}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            url.database,
        )
        try:
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{url.database}" WITH ALLOW_CONNECTIONS true')
    finally:
        await admin.close()
