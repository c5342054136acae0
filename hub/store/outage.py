"""Telling a database that is away (a restart, a failover, a cut network) from a fault in the
request or the code: the first is answered 503 with Retry-After, the second 500."""

from __future__ import annotations

import socket

from sqlalchemy import exc as sa_exc

# asyncpg's errors for a server that is starting, stopping or gone (matched by name: the
# driver's exception classes are not part of SQLAlchemy's interface). InternalClientError is
# asyncpg's protocol refusing a statement on a connection in a state it cannot go on from, and
# asyncpg aborts that connection as it raises it. In practice it is a session whose end the server
# announced (a restart, pg_terminate_backend, idle_session_timeout) and whose socket had not yet
# closed when the next statement came: the connection is gone, and a retry gets a new one.
_OUTAGE_NAMES = frozenset(
    {
        "CannotConnectNowError",
        "AdminShutdownError",
        "CrashShutdownError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "TooManyConnectionsError",
        "PostgresConnectionError",
        "InterfaceError",
        "InternalClientError",
    }
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database cannot be reached right now, as
    opposed to a fault in the request or the code: a connection refused, dropped or timed out,
    a server starting up or shutting down, SQLite's file busy past its timeout."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.OperationalError | sa_exc.TimeoutError):
            return True
        if isinstance(current, ConnectionError | TimeoutError | socket.gaierror):
            return True
        if type(current).__name__ in _OUTAGE_NAMES:
            return True
        current = current.__cause__ or current.__context__
    return False
