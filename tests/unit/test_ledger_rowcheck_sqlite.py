"""SQLite's own comparison of each entry with its columns (``SQLITE_COMPARED`` and
``rowcheck.accept_compared``), alone, with nothing offered to the check by columns after it.

A worker offers what this comparison leaves to ``rowcheck.accept``, and test_ledger_rowcheck holds
the two together to the exact check. Here the comparison is held to it alone, so that ``accept``
cannot hide a row it wrongly accepted; and it must accept every honest row of entry v3 and v4 itself,
or a worker would quietly spend the time it was meant to save.
"""

from __future__ import annotations

import asyncio
from typing import Any

import apsw
import pytest

from hub.ledger import rowcheck
from hub.ledger.entries import GENESIS_HASH
from hub.services.ledger_chunks import check_rows
from hub.store.ledger_rows_sqlite import SqliteRows
from tests.unit.test_ledger_rowcheck import (
    COL,
    STRICTER,
    TAMPERS,
    Edit,
    N,
    Raw,
    _assert_never_more_lenient,
    _exact,
    _honest,
    _jsonb,
    _naive,
    _older,
    _rechain,
    _rows,
    _stored,
    random_edits,
)


def _compared(rows: list[Raw]) -> int:
    """How many rows SQLite's comparison accepts, from the genesis on."""
    reader = SqliteRows(_stored(rows))
    leaves = bytearray()
    seq, prev = rowcheck.accept_compared(
        asyncio.run(reader.rows(0, len(rows) + 1)), 0, GENESIS_HASH, leaves
    )
    asyncio.run(reader.close())
    assert leaves == b"".join(bytes.fromhex(r[1]) for r in rows[:seq])
    assert prev == (rows[seq - 1][1] if seq else GENESIS_HASH)
    return seq


def _never_more_lenient(rows: list[Raw]) -> int:
    return _assert_never_more_lenient(rows, _compared)


def test_honest_v4_rows_are_compared_by_sqlite() -> None:
    assert _compared(_rows()) == N


def test_a_log_of_v3_then_v4_entries_is_compared_by_sqlite() -> None:
    rows = _older(3, n=2) + _rows()[2:]
    _rechain(rows, 2)
    assert _exact(rows) is None
    assert _compared(rows) == N


def test_text_beyond_ascii_is_compared_by_sqlite() -> None:
    """json_object writes UTF-8 as it is, as canonical_json does: no escape, nothing left over."""
    rows = _rows()
    _honest(rows, 4, "to", "recipient_address", "zoë.brontë@agency.example")
    assert _exact(rows) is None
    assert _compared(rows) == N


@pytest.mark.parametrize("version", [1, 2])
def test_older_versions_are_left_to_the_check_by_columns(version: int) -> None:
    assert _compared(_older(version)) == 0


def test_a_value_that_needs_escaping_refuses_the_batch() -> None:
    rows = _rows()
    _honest(rows, 2, "purpose", "purpose", 'say "when"\\now')
    assert _exact(rows) is None
    assert (
        _compared(rows) == 0
    )  # json_object renders it as canonical_json does, but it is not taken


@pytest.mark.parametrize("edit", TAMPERS.values(), ids=TAMPERS.keys())
def test_never_accepts_what_the_exact_check_refuses(edit: Edit) -> None:
    rows = _rows()
    edit(rows)
    assert _exact(rows) is not None
    assert _never_more_lenient(rows) < N


@pytest.mark.parametrize(
    ("column", "value", "accepted"),
    [
        ("purpose", "risk\x00management", 2),  # json_object escapes NUL; it must not cut the text
        ("purpose", b"risk-management", 2),  # a BLOB: the row is not read (a gap)
        # A BLOB of the value's JSONB, which json_object renders as the value: not read either.
        ("purpose", _jsonb("risk-management"), 2),
        ("case_id", _jsonb(7), 2),
        ("recipients", "4, 12", 2),  # json() would read it as [4,12]
        ("recipients", "4],[12", 2),  # json() refuses it: the statement stops there
        ("at", 20261123, 0),  # an INTEGER time, text once replace() has it: the batch refused
        ("at", None, 2),
        ("case_id", "7", 2),  # TEXT rendered quoted, never as the INTEGER the entry holds
        ("actor_agency_id", 3.0, N),  # a REAL rendered as 3.0, which the exact check reads equal
    ],
)
def test_values_sqlite_reads_its_own_way(column: str, value: Any, accepted: int) -> None:
    """Each value stored, and the entry forged to its naive rendering (a BLOB's aside)."""
    rows = _rows()
    rows[2][COL[column]] = value
    if not isinstance(value, bytes):
        rows[2][2] = _naive(rows[2])
        _rechain(rows, 2)
    assert _never_more_lenient(rows) == accepted
    assert (_exact(rows) is None) == (accepted == N)


@pytest.mark.parametrize("edit", STRICTER.values(), ids=STRICTER.keys())
def test_leaves_odd_but_acceptable_rows(edit: Edit) -> None:
    rows = _rows()
    edit(rows)
    assert _exact(rows) is None
    assert _never_more_lenient(rows) <= 2


def test_random_edits_are_never_accepted_when_the_exact_check_refuses() -> None:
    refused = random_edits(63, 1500, _never_more_lenient)
    assert refused > 1000  # the edits mostly break the log, so the property is not vacuous


def test_a_sqlite_without_its_json_functions_checks_by_columns() -> None:
    """Where SQLite cannot compare (built without JSON, or an older one), a worker reads every row
    by its columns, as before, rather than leaving the range to the exact check."""
    rows = _rows()
    conn = _stored(rows)

    def missing(*args: object) -> None:
        raise apsw.SQLError("no such function: json_object")

    conn.create_scalar_function("json_object", missing)  # overrides the built-in one
    reader = SqliteRows(conn)
    assert not reader.compares
    result = asyncio.run(check_rows(reader, 0, N + 1))
    assert (result.accepted, result.first_prev) == (N, GENESIS_HASH)
