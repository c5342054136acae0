"""Ledger entries (hub.ledger.entries): encoding, chaining, and naming the first bad entry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.crypto.canonical import canonical_json
from hub.ledger.entries import (
    GENESIS_HASH,
    Action,
    Entry,
    Event,
    LedgerBroken,
    Record,
    chain,
    encode,
    encode_around,
    join_around,
    leaf_hash,
    verify_rows,
)

T0 = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
Row = dict[str, Any]


def _record(i: int, **changes: Any) -> Record:
    fields: dict[str, Any] = {
        "action": Action.DISCLOSURE if i % 2 else Action.CONSULTATION,
        "event": Event.PACKET_SENT if i % 2 else Event.PACKET_OPENED,
        "recorded_at": T0 + timedelta(seconds=i),
        "actor_user_id": 10 + i,
        "actor_agency_id": 3,
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "case_id": 7,
        "packet_id": f"packet-{i}",
        "recipients": (4, 5),
        "content_digest": hashlib.sha256(str(i).encode()).hexdigest(),
    }
    fields.update(changes)
    return Record(**fields)


def _entries(n: int) -> list[Entry]:
    out: list[Entry] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        entry = chain(seq, prev, _record(seq))
        out.append(entry)
        prev = entry.entry_hash
    return out


def _rows(n: int = 5) -> tuple[list[Row], int, str]:
    entries = _entries(n)
    head_hash = entries[-1].entry_hash if entries else GENESIS_HASH
    return [e.columns() for e in entries], n, head_hash


def _broken(rows: list[Row], head_seq: int, head_hash: str) -> LedgerBroken:
    with pytest.raises(LedgerBroken) as caught:
        verify_rows(rows, head_seq, head_hash)
    return caught.value


def _rewrite(row: Row, edit: Callable[[dict[str, Any]], Any]) -> None:
    """Change the entry bytes and recompute its hash, as someone with database access could."""
    doc = json.loads(row["entry"])
    edit(doc)
    row["entry"] = canonical_json(doc)
    row["entry_hash"] = leaf_hash(row["entry"])


# --- encoding and chaining ----------------------------------------------------------------------


def test_entry_bytes_are_canonical_json_of_the_record() -> None:
    record = _record(
        1, recorded_at=datetime(2026, 11, 23, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    )
    data = encode(1, GENESIS_HASH, record)

    assert data == canonical_json(json.loads(data))
    assert json.loads(data) == {
        "v": 4,
        "seq": 1,
        "prev": GENESIS_HASH,
        "at": "2026-11-23T09:00:00.000005Z",
        "action": "disclosure",
        "event": "packet-sent",
        "actor_user": 11,
        "actor_agency": 3,
        "case": 7,
        "packet": "packet-1",
        "recipients": [4, 5],
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "content_digest": record.content_digest,
        "policy_version": None,
        "decision": None,
        "actor_token": None,
        "channel": None,
        "to": None,
    }


_TEXT = st.text(max_size=40)
_OPTIONAL_TEXT = st.none() | _TEXT
_OPTIONAL_ID = st.none() | st.integers(min_value=0, max_value=2**62)


@settings(max_examples=400, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**62),
    prev=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    purpose=_TEXT,
    basis=_TEXT,
    packet=_OPTIONAL_TEXT,
    digest=_OPTIONAL_TEXT,
    policy=_OPTIONAL_TEXT,
    case=_OPTIONAL_ID,
    token=_OPTIONAL_ID,
    recipients=st.lists(st.integers(min_value=0, max_value=2**40), max_size=5),
    channel=_OPTIONAL_TEXT.filter(lambda c: c is None or len(c) <= 32),
)
def test_an_entry_split_around_its_place_joins_back_to_its_encoding(
    seq: int,
    prev: str,
    purpose: str,
    basis: str,
    packet: str | None,
    digest: str | None,
    policy: str | None,
    case: int | None,
    token: int | None,
    recipients: list[int],
    channel: str | None,
) -> None:
    """What the database chains on PostgreSQL (hub.store.ledger_chain) is ``encode`` itself,
    whatever the values hold: quotes, backslashes, control characters, text beyond ASCII."""
    record = _record(
        1,
        purpose=purpose,
        lawful_basis=basis,
        packet_id=packet,
        content_digest=digest,
        policy_version=policy,
        case_id=case,
        actor_token_id=token,
        recipients=tuple(recipients),
        channel=channel,
        recipient_address=None if channel is None else f'"{purpose}"@example',
    )
    assert join_around(encode_around(record), seq, prev) == encode(seq, prev, record)


def test_a_message_sent_out_of_the_hub_names_its_channel_and_address() -> None:
    """Entry v4 (issue 14): an email's entry names the channel and the recipient address."""
    record = _record(
        1,
        event=Event.EMAIL_SENT,
        recipients=(),
        channel="email",
        recipient_address="a.person@agency.example",
    )
    entry = chain(1, GENESIS_HASH, record)
    doc = json.loads(entry.entry_bytes)

    assert (doc["v"], doc["channel"], doc["to"]) == (4, "email", "a.person@agency.example")
    assert entry.entry_bytes == canonical_json(doc)
    cols = entry.columns()
    assert (cols["channel"], cols["recipient_address"]) == ("email", "a.person@agency.example")
    assert verify_rows([cols], 1, entry.entry_hash) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"recipient_address": "a.person@agency.example"}, "needs the channel"),
        ({"channel": "e" * 33}, "too long"),
        ({"channel": "email", "recipient_address": "a" * 310 + "@agency.example"}, "too long"),
    ],
    ids=["address-without-channel", "long-channel", "long-address"],
)
def test_a_record_the_log_cannot_hold_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _record(1, **changes)


def test_entry_hash_is_the_rfc_6962_leaf_hash() -> None:
    entry = chain(1, GENESIS_HASH, _record(1))

    assert entry.entry_hash == hashlib.sha256(b"\x00" + entry.entry_bytes).hexdigest()
    assert entry.entry_hash != hashlib.sha256(entry.entry_bytes).hexdigest()
    assert (entry.seq, entry.prev_hash) == (1, GENESIS_HASH)


def test_each_entry_links_to_the_previous_hash() -> None:
    entries = _entries(3)

    assert [e.prev_hash for e in entries] == [
        GENESIS_HASH,
        entries[0].entry_hash,
        entries[1].entry_hash,
    ]
    assert [json.loads(e.entry_bytes)["prev"] for e in entries] == [e.prev_hash for e in entries]


def test_columns_mirror_the_record() -> None:
    entry = chain(4, "ab" * 32, _record(4, recipients=(9, 2, 11), case_id=None, packet_id=None))
    cols = entry.columns()

    assert cols == {
        "seq": 4,
        "recorded_at": T0 + timedelta(seconds=4),
        "action": "consultation",
        "event": "packet-opened",
        "actor_user_id": 14,
        "actor_agency_id": 3,
        "case_id": None,
        "packet_id": None,
        "recipients": "9,2,11",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "content_digest": entry.record.content_digest,
        "policy_version": None,
        "decision": None,
        "actor_token_id": None,
        "channel": None,
        "recipient_address": None,
        "entry": entry.entry_bytes,
        "prev_hash": "ab" * 32,
        "entry_hash": entry.entry_hash,
    }


def test_action_and_event_values() -> None:
    assert {a.value for a in Action} == {
        "collection",
        "alteration",
        "consultation",
        "disclosure",
        "combination",
        "erasure",
    }
    assert Event("packet-sent") is Event.PACKET_SENT


# --- verification of an intact ledger -------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 5])
def test_intact_ledger_verifies(n: int) -> None:
    rows, head_seq, head_hash = _rows(n)

    assert verify_rows(rows, head_seq, head_hash) == n


def test_rows_as_stored_verify() -> None:
    """The database hands back memoryview blobs and aware UTC datetimes; both are accepted."""
    rows, head_seq, head_hash = _rows(3)
    for row in rows:
        row["entry"] = memoryview(row["entry"])
        row["recorded_at"] = row["recorded_at"].astimezone(timezone(timedelta(hours=-5)))

    assert verify_rows(rows, head_seq, head_hash) == 3


def test_system_entries_without_actor_case_or_recipients_verify() -> None:
    record = _record(
        1,
        actor_user_id=None,
        actor_agency_id=None,
        case_id=None,
        packet_id=None,
        recipients=(),
        content_digest=None,
        action=Action.COLLECTION,
        event=Event.PACKET_SHREDDED,
    )
    entry = chain(1, GENESIS_HASH, record)

    assert entry.columns()["recipients"] == ""
    assert verify_rows([entry.columns()], 1, entry.entry_hash) == 1


# --- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 10, -1])
def test_edited_entry_bytes(index: int) -> None:
    rows, head_seq, head_hash = _rows()
    data = bytearray(rows[2]["entry"])
    data[index] ^= 0x01
    rows[2]["entry"] = bytes(data)

    err = _broken(rows, head_seq, head_hash)
    assert err.seq == 3
    assert err.reason == "entry bytes do not match the stored hash"


def test_edited_entry_bytes_with_a_recomputed_hash_breaks_the_next_link() -> None:
    rows, head_seq, head_hash = _rows()
    _rewrite(rows[1], lambda d: d.update(purpose="crime-prevention"))
    rows[1]["purpose"] = "crime-prevention"

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (3, "does not link to the previous entry")


def test_rewritten_tail_is_caught_by_the_head() -> None:
    rows, head_seq, head_hash = _rows()
    _rewrite(rows[-1], lambda d: d.update(purpose="crime-prevention"))
    rows[-1]["purpose"] = "crime-prevention"

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (5, "the newest entry does not match the ledger head")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("purpose", "crime-prevention"),
        ("lawful_basis", "common-law"),
        ("recipients", "4"),
        ("recipients", "4,5,6"),
        ("recorded_at", T0 + timedelta(seconds=4, microseconds=1)),
        ("recorded_at", "2026-11-23T09:00:04.123456Z"),
        ("action", "erasure"),
        ("event", "case-created"),
        ("actor_user_id", 99),
        ("actor_agency_id", None),
        ("case_id", 8),
        ("packet_id", "packet-x"),
        ("content_digest", "0" * 64),
    ],
)
def test_edited_column(column: str, value: Any) -> None:
    rows, head_seq, head_hash = _rows()
    rows[3][column] = value

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (4, "columns disagree with the entry bytes")


def test_edited_link_column() -> None:
    rows, head_seq, head_hash = _rows()
    rows[2]["prev_hash"] = "f" * 64

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (3, "does not link to the previous entry")


@pytest.mark.parametrize("index", [0, 2, 3])
def test_deleted_row(index: int) -> None:
    rows, head_seq, head_hash = _rows()
    del rows[index]

    err = _broken(rows, head_seq, head_hash)
    assert err.seq == index + 1
    assert err.reason == f"missing or out of order (found {index + 2})"


def test_deleted_newest_row_is_caught_by_the_head() -> None:
    rows, head_seq, head_hash = _rows()
    del rows[-1]

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (5, "the ledger head does not match the rows")


def test_inserted_row_that_does_not_link() -> None:
    rows, head_seq, head_hash = _rows()
    forged = chain(3, GENESIS_HASH, _record(3, purpose="crime-prevention"))
    rows.insert(2, forged.columns())

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (3, "does not link to the previous entry")


def test_inserted_row_that_links_breaks_the_next_entry() -> None:
    rows, head_seq, head_hash = _rows()
    forged = chain(3, rows[1]["entry_hash"], _record(3, purpose="crime-prevention"))
    rows.insert(2, forged.columns())

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (4, "missing or out of order (found 3)")


def test_inserted_row_with_everything_after_it_rechained_is_caught_by_the_head() -> None:
    entries = _entries(2)
    forged = [*entries, chain(3, entries[-1].entry_hash, _record(3))]

    err = _broken([e.columns() for e in forged], 2, entries[-1].entry_hash)
    assert (err.seq, err.reason) == (3, "the ledger head does not match the rows")


def test_rows_swapped_in_order() -> None:
    rows, head_seq, head_hash = _rows()
    rows[1], rows[2] = rows[2], rows[1]

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (2, "missing or out of order (found 3)")


def test_rows_swapped_by_renumbering() -> None:
    """Swapping two rows' ``seq`` columns: the database then returns them in the new order."""
    rows, head_seq, head_hash = _rows()
    rows[1]["seq"], rows[2]["seq"] = 3, 2
    rows.sort(key=lambda r: r["seq"])

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (2, "does not link to the previous entry")


def test_entry_bytes_that_claim_another_position() -> None:
    rows, head_seq, head_hash = _rows()
    _rewrite(rows[1], lambda d: d.update(seq=7))

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (2, "entry bytes disagree with their position")


def test_entry_bytes_that_claim_another_predecessor() -> None:
    rows, head_seq, head_hash = _rows()
    _rewrite(rows[1], lambda d: d.update(prev=GENESIS_HASH))

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (2, "entry bytes disagree with their position")


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"\xff\xfe",
        b"[1]",
        b'{"v": 3}',
        b'{"v": 2}',
        b'{"v": 1}',
        b'{"v": true}',
        b"[" * 100_000,
    ],
    ids=[
        "text",
        "not-utf8",
        "array",
        "v3",
        "v2-without-fields",
        "v1-without-fields",
        "v-bool",
        "deep",
    ],
)
def test_entry_bytes_that_are_not_an_entry(data: bytes) -> None:
    rows, head_seq, head_hash = _rows()
    rows[1]["entry"] = data
    rows[1]["entry_hash"] = leaf_hash(data)
    rows[2]["prev_hash"] = rows[1]["entry_hash"]

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (2, "entry bytes are not a valid entry")


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.pop("purpose"),
        lambda d: d.update(extra="field"),
        lambda d: d.update(recipients=5),
        lambda d: d.update(recipients="4,5"),
    ],
    ids=["missing-field", "extra-field", "recipients-int", "recipients-string"],
)
def test_entry_bytes_with_the_wrong_fields(edit: Callable[[dict[str, Any]], Any]) -> None:
    rows, head_seq, head_hash = _rows()
    _rewrite(rows[1], edit)
    rows[2]["prev_hash"] = rows[1]["entry_hash"]

    err = _broken(rows, head_seq, head_hash)
    assert (err.seq, err.reason) == (2, "entry bytes are not a valid entry")


# --- the head --------------------------------------------------------------------------------------


def test_head_hash_that_does_not_match_names_the_newest_entry() -> None:
    rows, head_seq, _ = _rows()

    err = _broken(rows, head_seq, "e" * 64)
    assert (err.seq, err.reason) == (5, "the newest entry does not match the ledger head")


def test_head_ahead_of_the_rows_names_the_first_missing_entry() -> None:
    rows, _, head_hash = _rows()

    err = _broken(rows, 8, head_hash)
    assert (err.seq, err.reason) == (6, "the ledger head does not match the rows")


def test_head_behind_the_rows_names_the_first_uncovered_entry() -> None:
    rows, _, _ = _rows()

    err = _broken(rows, 3, rows[2]["entry_hash"])
    assert (err.seq, err.reason) == (4, "the ledger head does not match the rows")


def test_empty_ledger_with_a_head_that_is_not_genesis() -> None:
    assert verify_rows([], 0, GENESIS_HASH) == 0
    assert _broken([], 0, "e" * 64).seq == 1
    assert _broken([], 2, "e" * 64).seq == 1


def test_ledger_broken_message_names_the_entry() -> None:
    err = LedgerBroken(4, "columns disagree with the entry bytes")

    assert (
        err.public_message
        == "ledger entry 4 does not verify: columns disagree with the entry bytes"
    )
    assert err.context == {"seq": 4}
    assert err.code == "integrity_failure"


def test_version_1_entries_still_verify_beside_version_2() -> None:
    """Entries written before the policy engine (v1) stay valid after the upgrade to v2 and v3."""
    first = chain(1, GENESIS_HASH, _record(1))
    doc = json.loads(first.entry_bytes)
    doc["v"] = 1
    del doc["policy_version"], doc["decision"], doc["actor_token"], doc["channel"], doc["to"]
    v1_bytes = canonical_json(doc)
    v1_hash = leaf_hash(v1_bytes)
    second = chain(2, v1_hash, _record(2, policy_version="ab" * 32, decision="PERMIT"))
    rows = [
        {
            **first.columns(),
            "entry": v1_bytes,
            "entry_hash": v1_hash,
            "policy_version": None,
            "decision": None,
        },
        second.columns(),
    ]
    assert verify_rows(rows, 2, second.entry_hash) == 2
    rows[1]["decision"] = "DENY"
    with pytest.raises(LedgerBroken) as info:
        verify_rows(rows, 2, second.entry_hash)
    assert info.value.seq == 2


def test_version_2_entries_still_verify_and_v3_names_the_token() -> None:
    """Entries written before the API (v2) stay valid; v3 entries carry the API token, checked."""
    first = chain(1, GENESIS_HASH, _record(1, policy_version="ab" * 32, decision="PERMIT"))
    doc = json.loads(first.entry_bytes)
    doc["v"] = 2
    del doc["actor_token"], doc["channel"], doc["to"]
    v2_bytes = canonical_json(doc)
    v2_hash = leaf_hash(v2_bytes)
    second = chain(2, v2_hash, _record(2, actor_token_id=42))
    assert json.loads(second.entry_bytes)["actor_token"] == 42
    rows = [{**first.columns(), "entry": v2_bytes, "entry_hash": v2_hash}, second.columns()]
    assert verify_rows(rows, 2, second.entry_hash) == 2
    rows[1]["actor_token_id"] = 43
    with pytest.raises(LedgerBroken) as info:
        verify_rows(rows, 2, second.entry_hash)
    assert info.value.seq == 2
    # A v2 entry that claims a token field is refused, not half-read.
    doc["actor_token"] = 42
    forged = canonical_json(doc)
    rows = [{**first.columns(), "entry": forged, "entry_hash": leaf_hash(forged)}]
    with pytest.raises(LedgerBroken, match="not a valid entry"):
        verify_rows(rows, 1, leaf_hash(forged))


def _v3(entry: Entry) -> Row:
    """``entry`` as a hub before entry v4 wrote it: no channel or address, in bytes or columns."""
    doc = json.loads(entry.entry_bytes)
    doc["v"] = 3
    del doc["channel"], doc["to"]
    data = canonical_json(doc)
    return {**entry.columns(), "entry": data, "entry_hash": leaf_hash(data)}


def _mixed_log() -> tuple[list[Row], str]:
    """Two v3 entries, then a v4 email entry, a v4 letter entry and a plain v4 entry."""
    first = _v3(chain(1, GENESIS_HASH, _record(1)))
    second = _v3(chain(2, first["entry_hash"], _record(2)))
    rows = [first, second]
    prev = second["entry_hash"]
    for seq, changes in [
        (3, {"channel": "email", "recipient_address": "a.person@agency.example"}),
        (4, {"channel": "letter"}),
        (5, {}),
    ]:
        entry = chain(seq, prev, _record(seq, **changes))
        rows.append(entry.columns())
        prev = entry.entry_hash
    return rows, prev


def test_version_3_entries_still_verify_beside_version_4() -> None:
    rows, head = _mixed_log()

    assert [json.loads(r["entry"])["v"] for r in rows] == [3, 3, 4, 4, 4]
    assert verify_rows(rows, 5, head) == 5


@pytest.mark.parametrize(
    ("index", "column", "value"),
    [
        (2, "channel", "letter"),
        (2, "recipient_address", "b.person@agency.example"),
        (2, "recipient_address", "A.Person@agency.example"),
        (2, "recipient_address", None),
        (2, "channel", None),
        (3, "recipient_address", "a.person@agency.example"),
        (4, "channel", "email"),
        (4, "channel", ""),
        (1, "channel", "email"),  # a v3 entry must have NULL in the new columns
        (1, "recipient_address", "a.person@agency.example"),
    ],
    ids=[
        "channel-changed",
        "address-changed",
        "address-case",
        "address-nulled",
        "channel-nulled",
        "address-added",
        "channel-added",
        "channel-empty",
        "v3-channel",
        "v3-address",
    ],
)
def test_channel_and_address_columns_must_agree_with_the_bytes(
    index: int, column: str, value: Any
) -> None:
    rows, head = _mixed_log()
    rows[index][column] = value

    err = _broken(rows, 5, head)
    assert (err.seq, err.reason) == (index + 1, "columns disagree with the entry bytes")


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(to="b.person@agency.example"),
        lambda d: d.update(channel="letter"),
        lambda d: d.update(to=None),
    ],
    ids=["address", "channel", "address-null"],
)
def test_rewritten_channel_or_address_bytes_disagree_with_the_columns(
    edit: Callable[[dict[str, Any]], Any],
) -> None:
    rows, head = _mixed_log()
    _rewrite(rows[2], edit)
    rows[3]["prev_hash"] = rows[2]["entry_hash"]

    err = _broken(rows, 5, head)
    assert (err.seq, err.reason) == (3, "columns disagree with the entry bytes")


@pytest.mark.parametrize(
    ("index", "edit"),
    [
        (1, lambda d: d.update(channel=None, to=None)),  # a v3 entry claiming v4's keys
        (2, lambda d: d.pop("to")),  # a v4 entry without one of them
        (2, lambda d: d.update(v=3)),
    ],
    ids=["v3-with-v4-keys", "v4-without-to", "v4-claiming-v3"],
)
def test_entries_with_another_versions_keys_are_refused(
    index: int, edit: Callable[[dict[str, Any]], Any]
) -> None:
    rows, head = _mixed_log()
    _rewrite(rows[index], edit)
    rows[index + 1]["prev_hash"] = rows[index]["entry_hash"]

    err = _broken(rows, 5, head)
    assert (err.seq, err.reason) == (index + 1, "entry bytes are not a valid entry")
