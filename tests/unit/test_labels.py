"""Every code the hub writes to its log has words for people: none is shown raw."""

from __future__ import annotations

from hub.ledger.entries import Action, Event
from hub.web.labels import ACTIONS, EVENTS


def test_every_event_and_kind_of_processing_has_words() -> None:
    assert {e.value for e in Event} - EVENTS.keys() == set()
    assert {a.value for a in Action} - ACTIONS.keys() == set()
    assert EVENTS.keys() - {e.value for e in Event} == set()  # no words for an event never written
