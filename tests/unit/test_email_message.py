"""Building messages: RFC 5322 headers, no injected lines, no names in subjects, links."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from adapters.email import message as msg

WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
GOOD = {
    "message_id": "<0a1b@hub.example>",
    "sender": "hub@hub.example",
    "to": "officer@housing.example",
    "subject": msg.SUBJECT_NOTIFICATION,
    "text": "hello\n",
    "when": WHEN,
}


def test_a_message_is_rfc5322_with_crlf_and_its_message_id() -> None:
    data = msg.build(**GOOD)
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Message-ID"] == "<0a1b@hub.example>"
    assert parsed["Date"] == "Mon, 23 Nov 2026 09:00:00 +0000"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().splitlines() == ["hello"]
    assert msg.build(**GOOD) == data  # the same row gives the same bytes on every retry


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "a@b.example\r\nBcc: spy@evil.example"),
        ("to", "a@b.example\nSubject: x"),
        ("to", "Someone <a@b.example>"),
        ("sender", "hub@hub.example\rX: y"),
        ("subject", "MAPPA Hub\r\nBcc: spy@evil.example"),
        ("subject", "tab\tand nul\x00"),
        ("subject", "line\u2028separator"),
        ("message_id", "<a@b>\r\nBcc: spy@evil.example"),
        ("message_id", "no-angle-brackets@hub.example"),
    ],
)
def test_hostile_header_values_are_refused(field: str, value: str) -> None:
    with pytest.raises(msg.UnsafeHeader) as caught:
        msg.build(**{**GOOD, field: value})
    assert value not in caught.value.public_message  # the value may be personal data


def test_links_must_be_paths_in_the_hub() -> None:
    line = msg.Line("new-packet", "DBY-2026-0001", "/packets/abc")
    text = msg.notification_text(line, "https://hub.example/")
    assert "https://hub.example/packets/abc" in text and "DBY-2026-0001" in text
    for bad in ("https://evil.example/x", "//evil.example/x", "/x\r\ny", "/a b"):
        with pytest.raises(msg.UnsafeHeader):
            msg.notification_text(msg.Line("new-packet", None, bad), "https://hub.example")


def test_subjects_are_fixed_phrases() -> None:
    assert msg.subject_for("notification", "new-packet") == msg.SUBJECT_NOTIFICATION
    assert msg.subject_for("notification", "action-overdue") == msg.SUBJECT_OVERDUE
    assert msg.subject_for("notification", "minutes-late") == msg.SUBJECT_OVERDUE
    assert msg.subject_for("digest", "digest") == msg.SUBJECT_DIGEST
    assert msg.subject_for("letter", "letter") == msg.SUBJECT_LETTER
    assert msg.words("something-new") == "There is new information for your agency."


def test_digest_lists_each_folded_row_on_a_line() -> None:
    lines = [
        msg.Line("new-packet", "DBY-2026-0001", "/packets/a"),
        msg.Line("action-overdue", "DBY-2026-0002", "/cases/2"),
    ]
    text = msg.digest_text(lines, "https://hub.example")
    items = [t for t in text.splitlines() if t.startswith("- ")]
    assert len(items) == 2
    assert "DBY-2026-0002" in items[1] and "https://hub.example/cases/2" in items[1]
