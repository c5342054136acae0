"""Packet ids (hub/ids.py): UUIDs of version 7, led by the packet's creation time."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hub import ids

_FORM = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_an_id_is_a_version_7_uuid_in_lowercase_whose_first_48_bits_are_its_time() -> None:
    created = datetime(2026, 12, 6, 9, 30, 15, 123_456, tzinfo=UTC)
    made = ids.packet_id(created)
    assert _FORM.fullmatch(made)
    value = uuid.UUID(made)
    assert (value.version, value.variant) == (7, uuid.RFC_4122)
    assert value.int >> 80 == 1_796_549_415_123  # 2026-12-06T09:30:15.123Z in Unix milliseconds


def test_ids_sort_by_their_creation_time_whatever_their_random_bits() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(milliseconds=k) for k in range(0, 5000, 7)]
    made = [ids.packet_id(t) for t in times]
    assert made == sorted(made)  # as text too: the stores' indexes compare the strings


def test_ids_made_in_the_same_millisecond_differ_in_74_random_bits() -> None:
    created = datetime(2026, 12, 6, 12, tzinfo=UTC)
    made = {uuid.UUID(ids.packet_id(created)).int for _ in range(20_000)}
    assert len(made) == 20_000
    # Every bit below the time, but for the version's and the variant's, takes both values.
    varied = 0
    for value in made:
        varied |= value ^ next(iter(made))
    fixed = (0xF << 76) | (0b11 << 62)  # version and variant
    assert varied == ((1 << 80) - 1) & ~fixed


def test_other_time_zones_name_the_same_instant_and_a_naive_time_is_refused() -> None:
    here = datetime(2026, 12, 6, 10, 30, tzinfo=UTC)
    there = here.astimezone(datetime.fromisoformat("2026-12-06T00:00+05:30").tzinfo)
    assert uuid.UUID(ids.packet_id(here)).int >> 80 == uuid.UUID(ids.packet_id(there)).int >> 80
    with pytest.raises(ValueError, match="aware"):
        ids.packet_id(datetime(2026, 12, 6, 10, 30))
