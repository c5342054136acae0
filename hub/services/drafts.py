"""Checking a draft's shape before the policy decides it: limits, catalogue codes, clean text;
the necessity statement's parts a typed form already answers; and which lawful bases fit a share.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import replace

from hub.config import Limits
from hub.errors import InvalidInput, TooLarge
from hub.model.packets import Draft, PacketType
from hub.policy.lawful import kind_of
from hub.policy.loader import PolicySet
from hub.text import check_line, check_text, strip_line
from hub.workflows.forms import FORMS

MAX_RECIPIENTS = 50
MAX_STATEMENT_CHARS = 5000
MAX_CONTENT_TYPE_CHARS = 100
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# A media type as RFC 6838 names one (type/subtype, restricted-name characters), with optional
# parameters: what a browser or an agency system sends, and nothing that could be read as more.
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(
    rf'{_RESTRICTED_NAME}/{_RESTRICTED_NAME}(?:[ \t]*;[ \t]*{_RESTRICTED_NAME}=(?:{_RESTRICTED_NAME}|"[\x20\x21\x23-\x5b\x5d-\x7e]*"))*'
)


def clean_filename(name: str) -> str:
    """A display-safe file name: no directories, no hidden characters (``hub.text``; a
    right-to-left override would show ``report[U+202E]fdp.exe`` as ``reportexe.pdf``), no other
    unprintable ones, bounded length. Removed rather than refused: the name came from the
    sender's computer, and the file is theirs to send."""
    base = strip_line(name.replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    return (base or "attachment")[:200]


def is_media_type(value: str) -> bool:
    """``value`` is a content type such as ``text/plain; charset=utf-8``, of at most 100
    characters."""
    return len(value) <= MAX_CONTENT_TYPE_CHARS and _MEDIA_TYPE.fullmatch(value) is not None


def size_text(nbytes: int) -> str:
    if nbytes >= 1024 * 1024 and nbytes % (1024 * 1024) == 0:
        return f"{nbytes // (1024 * 1024)} MiB"
    if nbytes >= 1024:
        return f"{nbytes / 1024:.0f} KiB"
    return f"{nbytes} bytes"


def _clean_line(text: str, field: str, max_chars: int) -> str:
    text = check_line(text.strip(), field)
    if not text:
        raise InvalidInput(f"The {field} is required.", field=field)
    if len(text) > max_chars:
        raise InvalidInput(f"The {field} is longer than {max_chars} characters.", field=field)
    return text


def validate_draft(draft: Draft, limits: Limits, policy: PolicySet) -> tuple[str, str]:
    """Check a draft's shape against the limits and the policy catalogue; return subject, body.

    Malformed input is refused here (400/413); whether the share is allowed is the policy's.
    """
    subject = _clean_line(draft.subject, "subject", limits.max_subject_chars)
    check_text(draft.body, "body", "the message")
    if len(draft.body) > limits.max_body_chars:
        raise TooLarge(f"The message is longer than {limits.max_body_chars} characters.")
    if not draft.body.strip() and draft.form is None:
        raise InvalidInput("The message body is required.", field="body")
    if not draft.recipient_agency_ids and draft.packet_type is not PacketType.RISK_CHANGE:
        raise InvalidInput("Choose at least one recipient agency.", field="recipients")
    if len(set(draft.recipient_agency_ids)) > MAX_RECIPIENTS:
        raise InvalidInput(f"At most {MAX_RECIPIENTS} recipient agencies.", field="recipients")
    if draft.purpose not in policy.purposes:
        raise InvalidInput("Choose a purpose from the list.", field="purpose")
    if draft.lawful_basis not in policy.lawful_bases:
        raise InvalidInput("Choose a lawful basis from the list.", field="lawful_basis")
    unknown = [c for c in draft.data_categories if c not in policy.categories]
    if unknown:
        raise InvalidInput(
            f"Unknown data categories: {', '.join(unknown)}.", field="data_categories"
        )
    if set(draft.necessity) - set(policy.necessity_parts):
        raise InvalidInput("Unknown part of the necessity statement.", field="necessity")
    for part, text in draft.necessity.items():
        check_text(text, "necessity", f"the statement of {part}")
    check_text(draft.restricted_reason or "", "restricted_reason", "the reason")
    for text in (*draft.necessity.values(), draft.restricted_reason or ""):
        if len(text) > MAX_STATEMENT_CHARS:
            raise TooLarge(f"Statements are limited to {MAX_STATEMENT_CHARS} characters.")
    if draft.schedule1_condition and draft.schedule1_condition not in policy.conditions:
        raise InvalidInput(
            "Choose a data protection condition from the list.", field="schedule1_condition"
        )
    if draft.reply_to is not None:
        check_line(draft.reply_to, "reply_to", "the packet this answers")
    if len(draft.attachments) > limits.max_attachments:
        raise TooLarge(f"At most {limits.max_attachments} attachments.")
    for att in draft.attachments:
        if not is_media_type(att.content_type):
            raise InvalidInput(
                f"Attachment {clean_filename(att.filename)} needs a content type such as "
                f"text/plain or {DEFAULT_CONTENT_TYPE} (at most {MAX_CONTENT_TYPE_CHARS} "
                "characters).",
                field="attachments",
            )
        if len(att.data) > limits.max_attachment_bytes:
            raise TooLarge(
                f"Attachment {clean_filename(att.filename)} is larger than the limit of "
                f"{size_text(limits.max_attachment_bytes)}."
            )
    return subject, draft.body


def form_answers(packet_type: PacketType) -> Mapping[str, str]:
    """The necessity parts a packet type's form answers, by part: ``{"why": "purpose_of_request"}``."""
    model = FORMS.get(packet_type)
    return model.necessity_answers if model is not None else {}


def with_form_answers(draft: Draft) -> Draft:
    """The draft with each necessity part its form answers taken from the form, so that the
    sender is not asked twice (inbox and API alike). A statement given for a part wins."""
    if not isinstance(draft.form, Mapping):
        return draft
    filled = dict(draft.necessity)
    for part, name in form_answers(draft.packet_type).items():
        answer = draft.form.get(name)
        if isinstance(answer, str) and answer.strip() and not filled.get(part, "").strip():
            filled[part] = answer.strip()
    return draft if filled == dict(draft.necessity) else replace(draft, necessity=filled)


def basis_notes(
    policy: PolicySet,
    bases: Iterable[str],
    recipients: Iterable[tuple[str, str]],
    purpose: str,
    sender_type: str,
) -> dict[str, str]:
    """Why the policy would refuse each of ``bases`` for this share, in words, by basis code;
    bases that fit are left out. ``recipients`` are (name, agency type) of each recipient.

    The questions are the lawful test's own (``LawfulBasis.reaches``, its purposes, and legitimate
    interests never for a public authority); the full test still decides the share.
    """
    chosen = list(recipients)
    out: dict[str, str] = {}
    for code in bases:
        basis = policy.lawful_bases.get(code)
        if basis is None:
            continue
        problems = []
        unreached = [name for name, t in chosen if not basis.reaches(t, kind_of(t))]
        if unreached:
            problems.append("not for " + ", ".join(unreached))
        if purpose in policy.purposes and purpose not in basis.purposes:
            problems.append("not for the purpose " + policy.purposes[purpose].label.lower())
        if basis.legitimate_interests and sender_type in policy.data_protection.public_authorities:
            problems.append("never for a public authority")
        if problems:
            out[code] = "; ".join(problems)
    return out
