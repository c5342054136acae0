"""Which failures mean "the database is away" (503, try again) and which are faults (500)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc as sa_exc

from hub.store.outage import database_unavailable


class CannotConnectNowError(Exception):
    """Named as asyncpg names a server still starting up."""


def _wrapped(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise RuntimeError("while sending a packet") from inner
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
        sa_exc.TimeoutError("QueuePool limit reached"),
        sa_exc.DBAPIError("SELECT 1", {}, Exception("closed"), connection_invalidated=True),
        CannotConnectNowError("the database system is starting up"),
        _wrapped(ConnectionRefusedError(111, "Connection refused")),
    ],
)
def test_the_database_away(exc: BaseException) -> None:
    assert database_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("a bug"),
        KeyError("subject"),
        sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
        sa_exc.DBAPIError("SELECT 1", {}, Exception("syntax"), connection_invalidated=False),
        _wrapped(ValueError("a bug")),
    ],
)
def test_faults_are_not_outages(exc: BaseException) -> None:
    assert not database_unavailable(exc)
