"""The API listing's JSON, written from plain data (``packet_list_json``), is byte for byte what
the ``PacketList`` model writes: the OpenAPI document describes the model."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.model.packets import PacketSummary, PacketType
from hub.web.api import models as m
from hub.web.api.packets import packet_json, packet_out

CODES = {1: "POL-NE", 2: "PRB-NE", 3: 'HSG-<b>&"é\U0001f600'}

summaries = st.builds(
    PacketSummary,
    id=st.uuids().map(str),
    packet_type=st.sampled_from(PacketType),
    case_id=st.integers(1, 2**62),
    case_reference=st.text(max_size=30),
    sender_agency_id=st.sampled_from([1, 2, 3, 99]),
    sender_user_id=st.integers(0, 10_000),
    recipient_agency_ids=st.lists(st.sampled_from([1, 2, 3, 99]), max_size=4).map(tuple),
    purpose=st.text(max_size=40),
    # The store gives UTC; other offsets are written alike too.
    created_at=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(UTC)
        | st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    ),
    subject=st.text(max_size=200),
    attachment_count=st.integers(0, 10),
    reply_to=st.none() | st.uuids().map(str),
)


@settings(max_examples=500)
@given(st.lists(summaries, max_size=5))
def test_the_plain_listing_writes_the_models_bytes(rows: list[PacketSummary]) -> None:
    model = m.PacketList(packets=[packet_out(r, CODES) for r in rows])
    plain = m.packet_list_json([packet_json(r, CODES) for r in rows])
    assert plain == model.model_dump_json().encode()


def test_whole_seconds_and_other_offsets_are_written_alike() -> None:
    for created in (
        datetime(2026, 12, 4, 21, 0, tzinfo=UTC),
        datetime(2026, 12, 4, 21, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 9, 30, tzinfo=datetime.now().astimezone().tzinfo),
        datetime(2026, 6, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    ):
        row = PacketSummary(
            id="0" * 36, packet_type=PacketType.NOTE, case_id=1, case_reference="R",
            sender_agency_id=1, sender_user_id=1, recipient_agency_ids=(2,), purpose="p",
            created_at=created, subject="s", attachment_count=0,
        )  # fmt: skip
        model = m.PacketList(packets=[packet_out(row, CODES)]).model_dump_json().encode()
        assert m.packet_list_json([packet_json(row, CODES)]) == model


def test_the_plain_fields_are_the_models() -> None:
    hints = typing.get_type_hints(m.PacketJson)
    model = {name: field.annotation for name, field in m.PacketOut.model_fields.items()}
    assert list(hints) == list(model)
    assert hints == model
