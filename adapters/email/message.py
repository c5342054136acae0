"""RFC 5322 messages for the outbox rows, built with the standard library's email package.

Every message has a plain-text part (and only that: it reads in any client and its bytes are the
same on each retry, so the ledger's digest is of a fixed text). The Message-ID is the row's,
fixed when it was queued, so a retry re-sends the same id and a receiver can drop a duplicate.
Subjects are fixed phrases per kind: never a name, never a case's details. A notification says
what happened, the case's hub reference and a link into the inbox; case content never leaves by
notification. A letter's text is the approved disclosure's, and the message names the approval.

Every header value is checked: a control character (CR or LF above all: header injection) is
refused with ``UnsafeHeader`` rather than cleaned, because a value that carries one was not made
by the hub.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime

from hub.errors import InvalidInput

# Every C0 control, DEL, and the Unicode line and paragraph separators.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_ADDRESS = re.compile(
    r"[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
)
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9._%+-]{1,100}@[A-Za-z0-9.-]{1,253}>")

SUBJECT_NOTIFICATION = "MAPPA Hub: new information for your agency"
SUBJECT_OVERDUE = "MAPPA Hub: something for your agency is overdue"
SUBJECT_DIGEST = "MAPPA Hub: your daily summary"
SUBJECT_LETTER = "Disclosure under MAPPA arrangements"
SUBJECT_TEST = "MAPPA Hub: test message"

# What each event means, in words (hub.services.notices names the events). An unknown event
# still reads sensibly.
EVENT_WORDS = {
    "new-packet": "A new packet has arrived for your agency.",
    "request-due-soon": "A request for information to your agency is due soon.",
    "request-overdue": "A request for information to your agency is overdue.",
    "action-overdue": "An action owned by your agency is overdue.",
    "minutes-late": "Meeting minutes are late.",
    "review-overdue": "A case review is overdue.",
    "referral-overdue": "A referral is overdue.",
    "disclosure-awaiting": "A proposed disclosure is awaiting your decision.",
    "share-awaiting": "A share held for approval is awaiting your decision.",
    "transfer-awaiting": "A case transfer is awaiting your area.",
    "transfer-decided": "A case transfer your area is part of has moved on.",
    "transfer-overdue": "A step of a case transfer is overdue.",
    "transfer-escalated": "An overdue case transfer step has been escalated to you.",
}
_GENERIC = "There is new information for your agency."


class UnsafeHeader(InvalidInput):
    """A header value carries a control character or is not of its header's form."""

    code = "unsafe_header"


@dataclass(frozen=True)
class Line:
    """One thing a notification (or a digest line) reports: no case content, ever."""

    event: str
    case_reference: str | None
    link: str | None


def words(event: str) -> str:
    return EVENT_WORDS.get(event, _GENERIC)


def subject_for(kind: str, event: str) -> str:
    if kind == "digest":
        return SUBJECT_DIGEST
    if kind == "letter":
        return SUBJECT_LETTER
    return SUBJECT_OVERDUE if event.endswith(("overdue", "late")) else SUBJECT_NOTIFICATION


def checked(name: str, value: str) -> str:
    """``value`` if it is safe in header ``name``; ``UnsafeHeader`` otherwise (naming the header,
    never quoting the value: it may be personal data)."""
    if _UNSAFE.search(value):
        raise UnsafeHeader(f"The {name} header would carry a control character.", field=name)
    return value


def checked_address(name: str, value: str) -> str:
    if not _ADDRESS.fullmatch(checked(name, value)):
        raise UnsafeHeader(f"The {name} header is not a bare email address.", field=name)
    return value


def _link(base_url: str, link: str | None) -> str | None:
    if link is None:
        return None
    if not link.startswith("/") or link.startswith("//") or _UNSAFE.search(link) or " " in link:
        raise UnsafeHeader("The link is not a path in the hub.", field="link")
    return base_url.rstrip("/") + link


def _describe(line: Line, base_url: str) -> list[str]:
    out = [words(line.event)]
    if line.case_reference:
        out.append(f"Case reference: {line.case_reference}")
    url = _link(base_url, line.link)
    if url:
        out += ["Open it in the hub (you will be asked to sign in):", url]
    return out


_FOOTER = [
    "",
    "--",
    "This message carries no case details: read them in MAPPA Hub.",
    "It was sent automatically; replies are not read.",
]


def notification_text(line: Line, base_url: str) -> str:
    return "\n".join(["MAPPA Hub", "", *_describe(line, base_url), *_FOOTER, ""])


def digest_text(lines: Sequence[Line], base_url: str) -> str:
    body = ["MAPPA Hub: what happened for your agency since your last summary", ""]
    for line in lines:
        parts = [words(line.event)]
        if line.case_reference:
            parts.append(f"case {line.case_reference}")
        url = _link(base_url, line.link)
        if url:
            parts.append(url)
        body.append("- " + " - ".join(parts))
    if not lines:
        body.append("- Nothing new.")
    return "\n".join([*body, *_FOOTER, ""])


def letter_text(text: str, approval_ref: str, case_reference: str | None) -> str:
    head = [f"This letter is a disclosure approved under MAPPA arrangements ({approval_ref})."]
    if case_reference:
        head.append(f"Hub reference: {case_reference}")
    return "\n".join([*head, "", text.rstrip("\n"), ""])


def build(
    *,
    message_id: str,
    sender: str,
    to: str,
    subject: str,
    text: str,
    when: datetime,
    approval: str | None = None,
) -> bytes:
    """The message's bytes as sent (CRLF line ends, RFC 5322 via ``email.policy.SMTP``).

    ``UnsafeHeader`` if any header value is unsafe."""
    if not _MESSAGE_ID.fullmatch(checked("Message-ID", message_id)):
        raise UnsafeHeader("The Message-ID is not of the form <id@domain>.", field="Message-ID")
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(when)
    msg["From"] = checked_address("From", sender)
    msg["To"] = checked_address("To", to)
    msg["Subject"] = checked("Subject", subject)
    if approval is not None:
        msg["X-MAPPA-Hub-Approval"] = checked("X-MAPPA-Hub-Approval", approval)
    # RFC 3834: an automatic message; auto-responders should keep quiet.
    msg["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps every line short and 7-bit, whatever the text holds.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes(policy=email_policy.SMTP)
