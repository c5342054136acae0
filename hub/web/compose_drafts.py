"""The compose form as a saved draft and back, and the Drafts page.

``Typed`` is what the compose page shows: every field as typed, the attachments kept with the
draft, and the draft's id (a hidden field). It is built from a posted form or an opened draft and
turned into a ``DraftContent`` to save or a ``Draft`` to send, so a field round-trips unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from hub.crypto.secrets import sha256_hex
from hub.errors import InvalidInput
from hub.model.packets import AttachmentIn, Draft, PacketType
from hub.services.drafts import DEFAULT_CONTENT_TYPE, clean_filename, is_media_type, size_text
from hub.services.saved_drafts import DraftContent, SavedDraft
from hub.web import formfields
from hub.web.keys import ACTOR, HUB
from hub.web.render import render
from hub.workflows.forms import FORMS

routes = web.RouteTableDef()

NECESSITY_PREFIX = "necessity_"
# The compose page's own text fields (the structured form's are ``f.``-named).
TEXT_FIELDS = (
    "case", "subject", "body", "purpose", "lawful_basis", "schedule1_condition",
    "restricted_reason", "reply_to",
)  # fmt: skip


def text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def attachment_key(att: AttachmentIn) -> str:
    """A stable name for an attachment kept with a draft, for its "remove" checkbox."""
    return sha256_hex(att.filename.encode() + b"\0" + att.data)[:16]


@dataclass(frozen=True)
class AttachmentView:
    key: str
    filename: str
    size: str


@dataclass
class Typed:
    """Everything the compose page shows as typed."""

    values: dict[str, str] = field(default_factory=dict)
    recipients: set[str] = field(default_factory=set)
    categories: set[str] = field(default_factory=set)
    necessity: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)  # flat ``f.`` names
    attachments: list[AttachmentIn] = field(default_factory=list)
    draft_id: str = ""

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    @property
    def attachment_views(self) -> list[AttachmentView]:
        return [
            # As it will be sealed: no right-to-left override reordering the name on the page.
            AttachmentView(attachment_key(a), clean_filename(a.filename), size_text(len(a.data)))
            for a in self.attachments
        ]


def uploads(form: MultiDictProxy[Any]) -> list[AttachmentIn]:
    """The files chosen in this request. A content type that is not a plain media type is taken
    as ``application/octet-stream``: the browser chose it, not the person, and every download is
    served as that anyway (``hub.web.security.attachment_download``). Control characters in a
    part were refused when the form was read (``hub.web.form_body``)."""
    out = []
    for item in form.getall("attachments", []):
        if isinstance(item, web.FileField) and item.filename:
            kind = item.content_type if is_media_type(item.content_type) else DEFAULT_CONTENT_TYPE
            out.append(AttachmentIn(item.filename, kind, item.file.read()))
    return out


def typed_from_post(
    form: MultiDictProxy[Any], kind: PacketType, attachments: list[AttachmentIn], draft_id: str
) -> Typed:
    posted = {k: v for k, v in form.items() if isinstance(v, str)}
    flat: dict[str, str] = {}
    if kind in FORMS:
        # As understood (blank rows dropped), so that error row numbers match the rows shown.
        flat = formfields.flatten(formfields.parse(posted, FORMS[kind]))
    return Typed(
        values={name: text(form, name) for name in TEXT_FIELDS},
        recipients={v for v in form.getall("recipients", []) if isinstance(v, str)},
        categories={v for v in form.getall("categories", []) if isinstance(v, str)},
        necessity={
            k.removeprefix(NECESSITY_PREFIX): v
            for k, v in posted.items()
            if k.startswith(NECESSITY_PREFIX) and v.strip()
        },
        form=flat,
        attachments=attachments,
        draft_id=draft_id,
    )


def typed_from_draft(saved: SavedDraft) -> Typed:
    c = saved.content
    values = {
        "case": "" if c.case_id is None else str(c.case_id),
        "subject": c.subject,
        "body": c.body,
        "purpose": c.purpose,
        "lawful_basis": c.lawful_basis,
        "schedule1_condition": c.schedule1_condition,
        "restricted_reason": c.restricted_reason,
        "reply_to": c.reply_to,
    }
    return Typed(
        values=values,
        recipients={str(i) for i in c.recipient_agency_ids},
        categories=set(c.data_categories),
        necessity=dict(c.necessity),
        form=formfields.flatten(c.form) if c.form else {},
        attachments=list(c.attachments),
        draft_id=saved.id,
    )


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else None


def _form_doc(typed: Typed, kind: PacketType) -> dict[str, Any] | None:
    if kind not in FORMS:
        return None
    return formfields.parse(typed.form, FORMS[kind])


def content_of(typed: Typed, kind: PacketType) -> DraftContent:
    """What a draft keeps: every field as typed (numbers that are not numbers are dropped)."""
    recipients = (_int(r) for r in sorted(typed.recipients))
    return DraftContent(
        packet_type=kind,
        case_id=_int(typed.get("case")),
        recipient_agency_ids=tuple(r for r in recipients if r is not None),
        subject=typed.get("subject"),
        body=typed.get("body"),
        purpose=typed.get("purpose"),
        lawful_basis=typed.get("lawful_basis"),
        schedule1_condition=typed.get("schedule1_condition"),
        restricted_reason=typed.get("restricted_reason"),
        data_categories=tuple(sorted(typed.categories)),
        necessity=dict(typed.necessity),
        reply_to=typed.get("reply_to"),
        form=_form_doc(typed, kind) or None,
        attachments=tuple(typed.attachments),
    )


def draft_of(typed: Typed, kind: PacketType) -> Draft:
    """The packet to check or send."""
    case_id = _int(typed.get("case"))
    if case_id is None:
        raise InvalidInput("Choose a case.", field="case")
    recipients = [_int(r) for r in sorted(typed.recipients)]
    if any(r is None for r in recipients):
        raise InvalidInput("Unknown recipient.", field="recipients")
    return Draft(
        case_id=case_id,
        recipient_agency_ids=tuple(r for r in recipients if r is not None),
        subject=typed.get("subject"),
        body=typed.get("body"),
        purpose=typed.get("purpose"),
        lawful_basis=typed.get("lawful_basis"),
        packet_type=kind,
        attachments=tuple(typed.attachments),
        data_categories=tuple(sorted(typed.categories)),
        necessity={k: v for k, v in typed.necessity.items() if v.strip()},
        schedule1_condition=typed.get("schedule1_condition") or None,
        restricted_reason=typed.get("restricted_reason").strip() or None,
        form=_form_doc(typed, kind),
        reply_to=typed.get("reply_to").strip() or None,
    )


# -- the Drafts page ---------------------------------------------------------------------------


@routes.get("/drafts")
async def drafts_page(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    drafts = await hub.saved_drafts.list(request[ACTOR])
    return render(
        request,
        "drafts.html",
        drafts=drafts,
        deleted=request.query.get("deleted") == "1",
    )


@routes.post("/drafts/{draft_id}/delete")
async def delete_draft(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    await hub.saved_drafts.discard(request[ACTOR], request.match_info["draft_id"])
    raise web.HTTPSeeOther("/drafts?deleted=1")
