"""A listing page's rows are read by position (``box_pages._collected``) and its summaries built
by position (``packet_listing.summary_of``), for speed. These hold every position to its name,
with a distinct value in every field, so that two fields swapped (two ints, two texts) fail."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from hub.model.packets import PacketSummary, PacketType
from hub.services.packet_listing import summary_of
from hub.store import box_pages
from hub.store.box_pages import ListedRow, _collected, _page_statement
from hub.store.packets import StoredWrappedKey

WHEN = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)


def _row(packet_id: str, key_id: str | None, **changed: object) -> tuple[object, ...]:
    """A row as ``_page_statement`` selects it, by its column names."""
    values: dict[str, object] = {
        "id": packet_id,
        "packet_type": "referral",
        "case_id": 41,
        "sender_agency_id": 42,
        "sender_user_id": 43,
        "purpose": "the purpose",
        "lawful_basis": "the basis",
        "created_at": WHEN,
        "recipient_ids": "44,45",
        "reply_to": "an earlier packet",
        "manifest": b"the manifest",
        "reference": "MAPPA-41",
        "key_id": key_id,
        "sealed": None if key_id is None else b"sealed " + key_id.encode(),
        **changed,
    }
    names = list(_page_statement(box_pages._limited(box_pages._INBOX, 10)).selected_columns.keys())
    assert sorted(names) == sorted(values), "the page statement's columns changed"
    return tuple(values[n] for n in names)


def test_a_pages_rows_are_read_by_their_columns_names() -> None:
    rows = [
        _row("p1", "k1"),
        _row("p1", "k2"),  # a packet with two of the reader's keys: one row each, adjacent
        _row("p2", None, recipient_ids="46", manifest=None, reference=None, case_id=47),
    ]
    page = _collected(rows, 45)
    assert page.rows == [
        ListedRow(
            "p1", "referral", 41, 42, 43, "the purpose", "the basis", WHEN, (44, 45),
            "an earlier packet",
        ),
        ListedRow(
            "p2", "referral", 47, 42, 43, "the purpose", "the basis", WHEN, (46,),
            "an earlier packet",
        ),
    ]  # fmt: skip
    assert page.keys == {
        "p1": [StoredWrappedKey(45, "k1", b"sealed k1"), StoredWrappedKey(45, "k2", b"sealed k2")]
    }
    assert type(page.rows[0]) is ListedRow and type(page.keys["p1"][0]) is StoredWrappedKey
    assert page.manifests == {"p1": b"the manifest"}  # none for a packet without a key
    assert page.references == {41: "MAPPA-41"}


def test_a_summary_takes_each_field_from_its_namesake() -> None:
    row = ListedRow(
        "p1", "referral", 41, 42, 43, "the purpose", "the basis", WHEN, (44, 45), "earlier"
    )
    assert dataclasses.asdict(summary_of(row, "MAPPA-41", "the subject", 3)) == {
        "id": "p1",
        "packet_type": PacketType.REFERRAL,
        "case_id": 41,
        "case_reference": "MAPPA-41",
        "sender_agency_id": 42,
        "sender_user_id": 43,
        "recipient_agency_ids": (44, 45),
        "purpose": "the purpose",
        "created_at": WHEN,
        "subject": "the subject",
        "attachment_count": 3,
        "read_by_my_agency": False,
        "reply_to": "earlier",
    }
    # A packet whose sender's account is gone lists as sent by user 0, as before.
    assert summary_of(row._replace(sender_user_id=None), "R", "s", 0).sender_user_id == 0
    assert len(dataclasses.fields(PacketSummary)) == 13  # every one of them given above
