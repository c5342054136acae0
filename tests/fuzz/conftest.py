"""Everything under tests/fuzz carries the ``fuzz`` marker: ``-m "not fuzz"`` leaves it out of a
quick local run, ``-m fuzz`` runs only it (with MAPPA_FUZZ_SECONDS and MAPPA_FUZZ_PROFILE for a
longer hunt; see budget.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

# The API's and the web inbox's fixtures: the real app over a real SQLite file.
from tests.api.conftest import start_api  # noqa: F401
from tests.web.conftest import start_web, web  # noqa: F401

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.fuzz)
