"""How every command logs: one format, to standard error, at ``MAPPA_HUB_LOG_LEVEL``.

The database drivers stay at WARNING whatever that level: at DEBUG aiosqlite logs every statement
with its parameters (a username as typed at sign-in, the sessions table's CSRF tokens, the case
index), and SQLAlchemy's engine loggers log statements, parameters and rows. None of that may be
in a log (SECURITY.md, "The application log"); the canary test checks it
(tests/integration/test_canary_secrets.py).
"""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
DATA_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.orm")


def hold_data_loggers() -> None:
    """Keep the loggers that would write SQL parameters or rows at WARNING and above."""
    for name in DATA_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure(level: str) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT)
    hold_data_loggers()
