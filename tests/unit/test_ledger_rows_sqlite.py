"""apsw's own SQLite is for the log's verification workers alone (hub/store/ledger_rows_sqlite.py).

Two copies of SQLite in one process must never open the same file: POSIX locks belong to the
process, so closing one copy's descriptor drops the locks the other holds. The hub's processes
open their database with the standard library's sqlite3, so none of them may load apsw.
"""

from __future__ import annotations

import subprocess
import sys


def test_the_hub_never_loads_apsw() -> None:
    """The server, the command line and the verification service (which starts the workers)."""
    probe = (
        "import sys, hub.cli.main, hub.web.app, hub.wiring, hub.services.ledger;"
        "print('apsw' in sys.modules, 'hub.store.ledger_rows_sqlite' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "False"]


def test_a_worker_loads_it() -> None:
    """The worker's module does, when it opens a SQLite log: the test above is not vacuous."""
    probe = (
        "import sys, asyncio, tempfile, os;"
        "from hub.store.ledger_rows import open_rows;"
        "d = tempfile.mkdtemp(); p = os.path.join(d, 'hub.sqlite3'); open(p, 'wb').close();"
        "r = asyncio.run(open_rows('sqlite+aiosqlite:///' + p)); asyncio.run(r.close());"
        "print('apsw' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["True"]
