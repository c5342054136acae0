"""``packets.recipient_ids`` (migration 0026): written ascending, read back ascending whatever
order the text holds, "" for none."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.store.packets import recipient_ids, recipient_ids_text


@given(st.lists(st.integers(min_value=1, max_value=10**6), unique=True, max_size=20))
def test_written_then_read_gives_the_ids_ascending(ids: list[int]) -> None:
    text = recipient_ids_text(ids)
    assert recipient_ids(text) == tuple(sorted(ids))
    assert text == ",".join(str(i) for i in sorted(ids))


@pytest.mark.parametrize(("text", "ids"), [("", ()), ("7", (7,)), ("7,3", (3, 7)), ("3,7", (3, 7))])
def test_read_back_in_any_order(text: str, ids: tuple[int, ...]) -> None:
    assert recipient_ids(text) == ids
