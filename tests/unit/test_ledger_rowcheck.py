"""The bulk row check (hub.ledger.rowcheck) held to the exact one (ChainVerifier).

The bulk check may leave a row it could have accepted to the exact check (that only costs time), but
must never accept a row the exact check refuses: every case below, tampers and storage-class tricks
included, asserts exactly that, and that honest rows of every entry version are accepted in bulk.

Each case runs twice: on the rows as Python values (``rowcheck.accept``), and stored in a SQLite
table and read as a worker reads them (``SQLITE_COMPARED`` and ``rowcheck.accept_compared``, then
``accept`` for what they leave). The table's columns declare no type, so every value keeps the
storage class it was given: a real table's affinity would turn "7" into 7 and hide the tamper.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import apsw
import pytest

from hub.crypto.canonical import canonical_json
from hub.ledger import rowcheck
from hub.ledger.entries import (
    GENESIS_HASH,
    Action,
    ChainVerifier,
    Event,
    LedgerBroken,
    Record,
    chain,
    leaf_hash,
)
from hub.services.ledger_chunks import check_rows
from hub.store.ledger_rows_sqlite import SqliteRows

T0 = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
N = 6
Raw = list[Any]
COL = {name: 3 + i for i, name in enumerate(rowcheck.COLUMNS)}


def _record(i: int) -> Record:
    share = i % 2 == 1
    return Record(
        action=Action.DISCLOSURE if share else Action.CONSULTATION,
        event=Event.PACKET_SENT if share else Event.PACKET_OPENED,
        recorded_at=T0 + timedelta(seconds=i, microseconds=i),
        actor_user_id=10 + i,
        actor_agency_id=3,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        case_id=7 if i != 4 else None,
        packet_id=f"packet-{i}",
        recipients=(4, 12) if share else (),
        content_digest=hashlib.sha256(str(i).encode()).hexdigest() if share else None,
        policy_version="ab" * 32 if share else None,
        decision="permit" if share else None,
        actor_token_id=42 if i == 3 else None,
        # Entry v4: a letter names its channel only, an email its address too.
        channel={1: "letter", 5: "email"}.get(i),
        recipient_address="a.person@agency.example" if i == 5 else None,
    )


def _raw(cols: dict[str, Any]) -> Raw:
    """A row as hub.store.ledger_rows reads it from SQLite."""
    at = cols["recorded_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    values = {**cols, "at": at}
    return [cols["seq"], cols["entry_hash"], cols["entry"], *(values[c] for c in rowcheck.COLUMNS)]


def _rows(n: int = N) -> list[Raw]:
    prev, rows = GENESIS_HASH, []
    for seq in range(1, n + 1):
        entry = chain(seq, prev, _record(seq))
        rows.append(_raw(entry.columns()))
        prev = entry.entry_hash
    return rows


def _typed(row: Raw) -> dict[str, Any]:
    """The same row as the exact check sees it through SQLAlchemy (times parsed as it parses
    SQLite's text; a time it cannot parse makes the exact path fail)."""
    cols = {name: row[COL[name]] for name in rowcheck.COLUMNS}
    at = cols.pop("at")
    recorded = datetime.fromisoformat(at).replace(tzinfo=UTC) if isinstance(at, str) else at
    return {
        **cols,
        "seq": row[0],
        "entry_hash": row[1],
        "entry": row[2],
        "recorded_at": recorded,
    }


def _rechain(rows: list[Raw], start: int) -> None:
    """Recompute hashes and links from ``rows[start]`` on, as a DBA rewriting the tail would."""
    prev = rows[start - 1][1] if start else GENESIS_HASH
    for row in rows[start:]:
        doc = json.loads(row[2]) if _is_json(row[2]) else None
        if doc is not None and isinstance(doc, dict) and "prev" in doc and doc["prev"] != prev:
            doc["prev"] = prev  # canonical_json's settings, floats allowed: a forger's entry
            row[2] = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            row[2] = row[2].encode("utf-8", "surrogatepass")
        row[COL["prev_hash"]] = prev
        row[1] = leaf_hash(row[2]) if isinstance(row[2], bytes) else row[1]
        prev = row[1]


def _honest(rows: list[Raw], index: int, key: str, column: str, value: str) -> None:
    """An entry an honest hub could write: ``value`` in its entry (as canonical JSON renders it)
    and in its column, and the log chained again after it."""
    doc = json.loads(rows[index][2])
    doc[key] = value
    rows[index][2] = canonical_json(doc)
    rows[index][COL[column]] = value
    _rechain(rows, index)


def _is_json(data: Any) -> bool:
    try:
        json.loads(data)
    except (ValueError, TypeError):
        return False
    return True


def _naive(row: Raw) -> bytes:
    """What a forger who knows the bulk check renders: the columns dropped into the template."""

    def value(name: str) -> str:
        v = row[COL[name]]
        if v is None:
            return "null"
        if name in ("actor_agency_id", "actor_token_id", "actor_user_id", "case_id"):
            return str(v)
        return f'"{v}"'

    return (
        f'{{"action":{value("action")},"actor_agency":{value("actor_agency_id")},'
        f'"actor_token":{value("actor_token_id")},"actor_user":{value("actor_user_id")},'
        f'"at":"{row[COL["at"]]}Z","case":{value("case_id")},"channel":{value("channel")},'
        f'"content_digest":{value("content_digest")},"decision":{value("decision")},'
        f'"event":{value("event")},"lawful_basis":{value("lawful_basis")},'
        f'"packet":{value("packet_id")},"policy_version":{value("policy_version")},'
        f'"prev":{value("prev_hash")},"purpose":{value("purpose")},'
        f'"recipients":[{row[COL["recipients"]]}],"seq":{row[0]},'
        f'"to":{value("recipient_address")},"v":4}}'
    ).encode("utf-8", "surrogatepass")


def _swap(rows: list[Raw], a: int, b: int) -> None:
    """Two entries exchanged, each under the other's sequence number (a table keeps its rows in
    ``seq`` order, whatever order they were written in)."""
    rows[a][1:], rows[b][1:] = rows[b][1:], rows[a][1:]


def _forge(row: Raw, **columns: Any) -> None:
    """Set columns and make the entry bytes exactly their naive rendering."""
    for name, value in columns.items():
        row[COL[name]] = value
    row[2] = _naive(row)


def _stored(rows: list[Raw]) -> apsw.Connection:
    """The rows in a SQLite table, each value in the storage class it has here (a str as TEXT, its
    bytes as they are, even a lone surrogate's; bytes as a BLOB), on apsw as a worker reads them."""
    conn = apsw.Connection(":memory:")
    names = [
        "seq",
        "entry_hash",
        "entry",
        *("recorded_at" if c == "at" else c for c in rowcheck.COLUMNS),
    ]
    # seq the rowid, as in the hub's table: rows are read in its order, not sorted first.
    columns = ", ".join(["seq INTEGER PRIMARY KEY", *names[1:]])
    conn.execute(f"CREATE TABLE ledger_entries ({columns})")
    for row in rows:
        values = list(row)
        at = values[COL["at"]]
        if isinstance(at, str):
            values[COL["at"]] = at.replace("T", " ")  # as SQLAlchemy stores a time
        marks = ", ".join("CAST(? AS TEXT)" if isinstance(v, str) else "?" for v in values)
        params = [v.encode("utf-8", "surrogatepass") if isinstance(v, str) else v for v in values]
        conn.execute(f"INSERT INTO ledger_entries VALUES ({marks})", params)  # noqa: S608
    return conn


# Which bulk check the tests below hold to the exact one (the fixture sets it for each run).
_PATH = ["columns"]


@pytest.fixture(autouse=True, params=["columns", "sqlite"])
def bulk_path(request: pytest.FixtureRequest) -> str:
    _PATH[0] = request.param
    return str(request.param)


def _bulk(rows: list[Raw]) -> int:
    """How many rows the bulk check accepts, in batches as the service feeds it."""
    if _PATH[0] == "sqlite":
        return _bulk_in_sqlite(rows)
    leaves = bytearray()
    seq, _ = rowcheck.accept(iter(rows), 0, GENESIS_HASH, leaves)
    assert len(leaves) == 32 * seq
    return seq


def _bulk_in_sqlite(rows: list[Raw]) -> int:
    """As a worker checks the rows stored in SQLite; a range whose first row does not link to the
    genesis is accepted by none (the service checks it exactly)."""
    upto = len(rows) + 1  # past the last: the worker answers its leaves, not a subtree
    result = asyncio.run(check_rows(SqliteRows(_stored(rows)), 0, upto, size=4))
    if result.first_prev != GENESIS_HASH:
        return 0
    assert result.levels == [b"".join(bytes.fromhex(r[1]) for r in rows[: result.accepted])]
    return result.accepted


def _exact(rows: list[Raw]) -> int | None:
    """The first entry the exact check refuses (or cannot even read), or None if it accepts all."""
    check = ChainVerifier()
    for row in rows:
        try:
            check.feed(_typed(row))
        except LedgerBroken as exc:
            return exc.seq
        except (ValueError, TypeError):  # a row the exact path cannot read refuses the log there
            return check.expected_seq
    try:
        check.finish(len(rows), rows[-1][1])
    except LedgerBroken as exc:
        return exc.seq
    return None


def _assert_never_more_lenient(rows: list[Raw], bulk: Callable[[list[Raw]], int] = _bulk) -> int:
    """How many rows ``bulk`` accepts, asserting it stops before any the exact check refuses."""
    accepted = bulk(rows)
    refused_at = _exact(rows)
    if refused_at is not None:
        assert accepted < refused_at, (accepted, refused_at)
    return accepted


# --- honest rows --------------------------------------------------------------------------------


def test_honest_rows_are_all_accepted_with_their_leaf_hashes() -> None:
    rows = _rows()
    leaves = bytearray()
    seq, prev = rowcheck.accept(rows, 0, GENESIS_HASH, leaves)
    assert (seq, prev) == (N, rows[-1][1])
    assert bytes(leaves) == b"".join(bytes.fromhex(r[1]) for r in rows)
    assert _exact(rows) is None


def _older(version: int, n: int = 3) -> list[Raw]:
    rows = _rows(n)
    for row in rows:
        doc = json.loads(row[2])
        doc["v"] = version
        del doc["channel"], doc["to"]
        row[COL["channel"]] = row[COL["recipient_address"]] = None
        if version < 3:
            del doc["actor_token"]
            row[COL["actor_token_id"]] = None
        if version == 1:
            del doc["decision"], doc["policy_version"]
            row[COL["decision"]] = row[COL["policy_version"]] = None
        row[2] = canonical_json(doc)
    _rechain(rows, 0)
    return rows


@pytest.mark.parametrize("version", [1, 2, 3])
def test_older_entry_versions_are_accepted(version: int) -> None:
    rows = _older(version)
    assert _exact(rows) is None
    assert _bulk(rows) == 3


@pytest.mark.parametrize(
    ("version", "column", "value"),
    [
        (1, "actor_token_id", 5),
        (2, "actor_token_id", 5),
        (1, "channel", "email"),
        (2, "recipient_address", "a.person@agency.example"),
        (3, "channel", "email"),
        (3, "recipient_address", "a.person@agency.example"),
        (3, "channel", ""),
    ],
)
def test_older_entries_with_a_column_their_version_lacks_are_left_to_the_exact_check(
    version: int, column: str, value: Any
) -> None:
    rows = _older(version)
    rows[1][COL[column]] = value
    assert _exact(rows) == 2
    assert _assert_never_more_lenient(rows) == 1


def test_a_log_of_v3_entries_then_v4_entries_is_accepted_in_bulk() -> None:
    """The upgrade: entries written before the channel was logged, then entries naming it."""
    rows = _older(3, n=2) + _rows()[2:]
    _rechain(rows, 2)
    assert [json.loads(r[2])["v"] for r in rows] == [3, 3, 4, 4, 4, 4]
    assert json.loads(rows[4][2])["to"] == "a.person@agency.example"
    assert _exact(rows) is None
    assert _bulk(rows) == N


@pytest.mark.parametrize(
    "address",
    ['"a person"@agency.example', "a\\b@agency.example", '"a\\"b"@agency.example'],
    ids=["quoted-local-part", "backslash", "escaped-quote"],
)
def test_an_address_that_needs_escaping_is_left_to_the_exact_check(address: str) -> None:
    rows = _rows()
    _honest(rows, 4, "to", "recipient_address", address)
    assert _exact(rows) is None  # an address RFC 5321 allows, logged as it is
    assert _bulk(rows) == 4  # the rows before it are still accepted in bulk


def test_a_row_that_needs_escaping_is_left_to_the_exact_check() -> None:
    rows = _rows()
    _honest(rows, 2, "purpose", "purpose", 'say "when"\\now')
    assert _exact(rows) is None  # honest, but the bulk check does not render escapes
    assert _bulk(rows) == 2


def test_a_batch_holding_a_control_character_is_not_accepted(bulk_path: str) -> None:
    rows = _rows()
    _forge(rows[3], purpose="risk\x01management")
    _rechain(rows, 3)
    assert _exact(rows) == 4
    # By columns the whole batch goes to the exact check; SQLite escapes the character, so its
    # comparison stops at that row and the check by columns refuses it.
    assert _assert_never_more_lenient(rows) == {"columns": 0, "sqlite": 3}[bulk_path]


# --- tampering: the exact check refuses, and so must the bulk check ------------------------------

Edit = Callable[[list[Raw]], None]


def _set(name: str, value: Any, index: int = 2) -> Edit:
    def edit(rows: list[Raw]) -> None:
        rows[index][COL[name]] = value

    return edit


def _forged(index: int = 2, **columns: Any) -> Edit:
    def edit(rows: list[Raw]) -> None:
        _forge(rows[index], **columns)
        _rechain(rows, index)

    return edit


def _setraw(position: int, value: Any, index: int = 2) -> Edit:
    def edit(rows: list[Raw]) -> None:
        rows[index][position] = value

    return edit


def _jsonb(value: str | int | None) -> bytes:
    """A value's JSONB encoding (text, an integer or null, under 256 bytes), which SQLite's JSON
    functions (3.45 and later) read from a BLOB as the value itself."""
    if value is None:
        return b"\x00"
    kind, payload = (3, str(value).encode()) if isinstance(value, int) else (7, value.encode())
    size = len(payload)
    return bytes([size << 4 | kind] if size <= 11 else [0xC0 | kind, size]) + payload


def _as_jsonb(name: str, index: int = 2) -> Edit:
    """The column's own value stored as a BLOB of its JSONB: the entry still holds the value."""

    def edit(rows: list[Raw]) -> None:
        rows[index][COL[name]] = _jsonb(rows[index][COL[name]])

    return edit


TAMPERS: dict[str, Edit] = {
    # plain column edits
    "purpose": _set("purpose", "crime-prevention"),
    "action": _set("action", "erasure"),
    "event": _set("event", "case-created"),
    "agency": _set("actor_agency_id", 4),
    "agency-null": _set("actor_agency_id", None),
    "user": _set("actor_user_id", 99),
    "case": _set("case_id", 8),
    "case-set": _set("case_id", 7, index=3),
    "packet": _set("packet_id", "packet-x"),
    "digest": _set("content_digest", "0" * 64, index=1),
    "digest-set": _set("content_digest", "0" * 64),
    "decision": _set("decision", "deny", index=1),
    "policy": _set("policy_version", "cd" * 32, index=1),
    "token": _set("actor_token_id", 43, index=2),
    "recipients": _set("recipients", "4", index=1),
    "recipients-more": _set("recipients", "4,12,13", index=1),
    "at": _set("at", "2026-11-23T09:00:03.000004"),
    "prev": _set("prev_hash", "f" * 64),
    "hash": _setraw(1, "e" * 64),
    "seq-gap": lambda rows: rows.pop(2),
    "swapped": lambda rows: _swap(rows, 1, 2),
    # storage classes that equal the entry only once cast
    "case-as-text": _set("case_id", "7"),
    "case-as-blob": _set("case_id", b"7"),
    "case-null-as-text": _set("case_id", "null", index=3),
    "agency-as-float": _set("actor_agency_id", 3.5),
    "packet-as-blob": _set("packet_id", b"packet-3"),
    "purpose-as-blob": _set("purpose", b"risk-management"),
    "recipients-as-blob": _set("recipients", b"4,12", index=1),
    "prev-as-blob": _setraw(COL["prev_hash"], GENESIS_HASH.encode(), index=0),
    "hash-as-blob": _setraw(1, b"", index=2),
    "entry-as-text": _setraw(2, "{}", index=2),
    # a BLOB of the value's JSONB, which json_object renders as the value since SQLite 3.45
    "action-as-jsonb": _as_jsonb("action"),
    "purpose-as-jsonb": _as_jsonb("purpose"),
    "case-as-jsonb": _as_jsonb("case_id"),
    "agency-as-jsonb": _as_jsonb("actor_agency_id"),
    "digest-null-as-jsonb": _as_jsonb("content_digest"),
    "prev-as-jsonb": _as_jsonb("prev_hash"),
    "recipients-as-jsonb": _as_jsonb("recipients", index=1),
    "address-as-jsonb": _as_jsonb("recipient_address", index=4),
    "channel-null-as-jsonb": _as_jsonb("channel", index=1),
    # entries forged to equal the naive rendering of injected columns
    "injected-key": _forged(purpose='x","purpose":"y'),
    "inner-quote": _forged(lawful_basis='cja"2003'),
    "inner-quotes-balanced": _forged(purpose=':"x",'),
    "nullable-injected": _forged(index=1, decision='permit","decision":"deny'),
    "backslash": _forged(purpose="risk\\management"),
    "newline": _forged(purpose="risk\nmanagement"),
    "bad-date": _forged(at="2026-02-30T09:00:00.000000"),
    "bad-hour": _forged(at="2026-11-23T24:00:00.000000"),
    "short-year": _forged(at="0999-11-23T09:00:00.000000"),
    "not-a-time": _forged(at="yesterday"),
    "recipients-leading-zero": _forged(index=1, recipients="04,12"),
    "recipients-empty-item": _forged(index=1, recipients="4,,12"),
    "recipients-not-ints": _forged(index=1, recipients="4,true"),
    "recipients-space": _forged(index=1, recipients=" 4"),
    "int-as-text-rendered": _forged(case_id='7,"case":8'),
    # entry v4: the channel and the recipient address (rows[0] is a letter, rows[4] an email)
    "channel": _set("channel", "letter", index=4),
    "channel-set": _set("channel", "email", index=2),
    "channel-null": _set("channel", None, index=4),
    "channel-empty": _set("channel", "", index=4),
    "address": _set("recipient_address", "b.person@agency.example", index=4),
    "address-set": _set("recipient_address", "a.person@agency.example", index=1),
    "address-null": _set("recipient_address", None, index=4),
    "address-null-as-text": _set("recipient_address", "null", index=1),
    "address-as-blob": _set("recipient_address", b"a.person@agency.example", index=4),
    "channel-as-int": _set("channel", 5, index=4),
    "address-quote": _forged(index=4, recipient_address='a"@agency.example'),
    "address-backslash": _forged(index=4, recipient_address="a\\@agency.example"),
    "address-injected": _forged(index=4, recipient_address='a@x","to":"b@y'),
    "address-injected-balanced": _forged(index=4, recipient_address='x","v":4,"to":"y'),
    "channel-injected": _forged(index=4, channel='email","channel":"letter'),
    "address-newline": _forged(index=4, recipient_address="a@x\nBcc: b@y"),
    "channel-quote-address-null": _forged(index=1, channel='letter"', recipient_address=None),
}


@pytest.mark.parametrize("edit", TAMPERS.values(), ids=TAMPERS.keys())
def test_never_accepts_what_the_exact_check_refuses(edit: Edit) -> None:
    rows = _rows()
    edit(rows)
    accepted = _assert_never_more_lenient(rows)
    assert _exact(rows) is not None, "the tamper should break the log"
    assert accepted < N


# Values the exact check happens to accept but the bulk check leaves to it (a SQLite INTEGER column
# cannot hold 7.0; json.loads reads an encoded surrogate that no hub writes).
STRICTER: dict[str, Edit] = {
    "case-as-float": _set("case_id", 7.0),
    "surrogate": _forged(purpose="risk\udcff"),
}


@pytest.mark.parametrize("edit", STRICTER.values(), ids=STRICTER.keys())
def test_leaves_odd_but_acceptable_rows_to_the_exact_check(edit: Edit, bulk_path: str) -> None:
    rows = _rows()
    edit(rows)
    accepted = _assert_never_more_lenient(rows)
    assert _exact(rows) is None
    # apsw cannot read the surrogate's bytes as text: the worker stops there, and the service
    # checks the rest itself.
    assert accepted == 2


def test_rows_before_a_tamper_are_still_accepted() -> None:
    rows = _rows()
    rows[4][COL["purpose"]] = "crime-prevention"
    assert _bulk(rows) == 4
    assert _exact(rows) == 5


def test_the_first_row_must_follow_on() -> None:
    rows = _rows()
    leaves = bytearray()
    assert rowcheck.accept(rows[1:], 0, GENESIS_HASH, leaves) == (0, GENESIS_HASH)
    assert rowcheck.accept(rows, 0, "f" * 64, leaves) == (0, "f" * 64)
    assert rowcheck.accept(rows[2:], 2, rows[1][1], leaves) == (N, rows[-1][1])
    assert len(leaves) == 32 * (N - 2)


# --- and at random ---------------------------------------------------------------------------------

ODD_VALUES: list[Any] = [
    None, "", "null", "7", "x", 'x"y', "x\\y", "x\ny", "\u00e9t\u00e9", 7, 0, -1, 7.0, 3.5, b"7", b"x",
    "2026-11-23T09:00:01.000001", "2026-11-23 09:00:01.000001", "4,12", "04", "4,", "{}",
    GENESIS_HASH, "ab" * 32, 'permit","decision":"deny', ':"x",', "email", "letter",
    "a.person@agency.example", '"a b"@agency.example', 'a@x","to":"b@y',
]  # fmt: skip


def random_edits(seed: int, count: int, check: Callable[[list[Raw]], int]) -> int:
    """``count`` logs with one row edited at random (half with the entry forged to match), each
    given to ``check``; how many of them the exact check refuses."""
    rng = random.Random(seed)
    refused = 0
    for _ in range(count):
        rows = _rows()
        index = rng.randrange(N)
        for _ in range(rng.randint(1, 3)):
            rows[index][COL[rng.choice(rowcheck.COLUMNS)]] = rng.choice(ODD_VALUES)
        if rng.random() < 0.5:  # a forger who also rewrites the entry to match
            rows[index][2] = _naive(rows[index])
            _rechain(rows, index)
        check(rows)
        refused += _exact(rows) is not None
    return refused


def test_random_edits_are_never_accepted_when_the_exact_check_refuses() -> None:
    refused = random_edits(62, 3000, _assert_never_more_lenient)
    assert refused > 2000  # the edits mostly break the log, so the property is not vacuous
