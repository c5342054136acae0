"""The ceilings of the stack on this machine: servers that do only what the hub cannot avoid.

    python -m bench.ceiling bare --port P
    python -m bench.ceiling sqlite-insert --port P --path FILE
    python -m bench.ceiling postgresql-insert --port P --database-url URL

``bare`` is an aiohttp handler that reads the JSON body and answers a small JSON document: what
aiohttp itself costs per request. ``sqlite-insert`` does the same plus one durable insert of the
body per request (WAL, ``synchronous=FULL``), group-committed: requests that arrive while a commit
is in flight go into the next transaction, and each is answered only after its commit returns. It
is the most a durable SQLite service can do here, so the hub's shares/s are printed as a share of
it. ``postgresql-insert`` is the same insert through an asyncpg pool (PostgreSQL groups
concurrent commits into one WAL flush itself).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web


class GroupCommitter:
    """One writer thread; each batch of waiting rows is one transaction and one fsync."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, at REAL, body BLOB)"
        )
        self._queue: list[tuple[bytes, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._thread = ThreadPoolExecutor(1)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def insert(self, body: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((body, done))
        self._wake.set()
        await done

    def _commit(self, rows: list[tuple[float, bytes]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("INSERT INTO rows (at, body) VALUES (?, ?)", rows)
        self._db.execute("COMMIT")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            now = time.time()
            try:
                await loop.run_in_executor(
                    self._thread, self._commit, [(now, body) for body, _ in batch]
                )
            except sqlite3.Error as exc:
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for _, done in batch:
                done.set_result(None)


async def _bare(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"ok": True})


def bare_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _bare)
    return app


def sqlite_app(path: Path) -> web.Application:
    app = web.Application()

    async def start(app: web.Application) -> None:
        app["committer"] = GroupCommitter(path)

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        await request.app["committer"].insert(body)
        return web.json_response({"ok": True})

    app.on_startup.append(start)
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


def postgresql_app(url: str) -> web.Application:
    import asyncpg  # only this ceiling needs the driver directly

    app = web.Application()
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def start(app: web.Application) -> None:
        pool: Any = await asyncpg.create_pool(dsn, min_size=20, max_size=20)
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_rows (id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION,"
            " body BYTEA)"
        )
        app["pool"] = pool

    async def stop(app: web.Application) -> None:
        await app["pool"].execute("DROP TABLE IF EXISTS bench_rows")
        await app["pool"].close()

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        await request.app["pool"].execute(
            "INSERT INTO bench_rows (at, body) VALUES ($1, $2)", time.time(), body
        )
        return web.json_response({"ok": True})

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["bare", "sqlite-insert", "postgresql-insert"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", type=Path)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    if args.kind == "bare":
        app = bare_app()
    elif args.kind == "sqlite-insert":
        if args.path is None:
            parser.error("sqlite-insert needs --path")
        app = sqlite_app(args.path)
    else:
        if not args.database_url:
            parser.error("postgresql-insert needs --database-url")
        app = postgresql_app(args.database_url)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
