"""Saved drafts on real SQLite and PostgreSQL: sealed so that the row holds nothing readable, opened
only by their owner, round-tripping every field and attachment, and deleted when sent; and a typed
form's own answers standing for the necessity statement they carry."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select, update

from hub.crypto.errors import CryptoFailure
from hub.errors import Conflict, Forbidden, NotFound, TooLarge
from hub.model.packets import AttachmentIn, Draft, PacketType
from hub.policy.errors import PolicyRefused
from hub.policy.model import Outcome
from hub.services import saved_drafts as saved_drafts_module
from hub.services.drafts import with_form_answers
from hub.services.saved_drafts import DraftContent
from hub.store.schema import saved_drafts
from hub.wiring import Hub
from tests.conftest import actor_for, agency_id, case_id
from tests.workflow_forms import request_form

SUBJECT = "Draft: tenancy at 14 Linden Grove"
BODY = "Unfinished: he was seen near the primary school on Tuesday."
REPORT = b"%PDF-1.7 OASys extract: very high risk to children\x00\xff" * 40
NOTES = "Meeting notes (\u00e9t\u00e9), 5 lines".encode()


async def _content(hub: Hub, **changes: object) -> DraftContent:
    content = DraftContent(
        packet_type=PacketType.REQUEST,
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(
            await agency_id(hub, "DBY-HOUSING"),
            await agency_id(hub, "DBY-CSC"),
        ),
        subject=SUBJECT,
        body=BODY,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        schedule1_condition="sch1-para10",
        restricted_reason="The victim's address is needed to keep him away from it.",
        data_categories=("identity", "risk-summary"),
        necessity={"public-interest": "Typed but not yet finished."},
        reply_to="",
        form={**request_form(), "due_on": "2026-12-04"},
        attachments=(
            AttachmentIn("oasys.pdf", "application/pdf", REPORT),
            AttachmentIn("notes.txt", "text/plain", NOTES),
        ),
    )
    return dataclasses.replace(content, **changes)  # type: ignore[arg-type]


async def _raw(hub: Hub, draft_id: str) -> bytes:
    async with hub.db.read() as conn:
        sealed = (
            await conn.execute(select(saved_drafts.c.sealed).where(saved_drafts.c.id == draft_id))
        ).scalar_one()
    return bytes(sealed)


async def test_a_draft_round_trips_every_field_and_attachment(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    content = await _content(hub)

    draft_id = await hub.saved_drafts.save(police, content)
    opened = await hub.saved_drafts.open(police, draft_id)

    assert opened.content == content
    [listed] = [d for d in await hub.saved_drafts.list(police) if d.id == draft_id]
    assert (listed.subject, listed.attachment_count) == (SUBJECT, 2)
    assert listed.packet_type is PacketType.REQUEST
    assert listed.case_reference == (await hub.cases.get(police, content.case_id or 0)).reference

    # Saved again over itself: the same draft, the new content, nothing else left behind.
    changed = dataclasses.replace(content, subject="Changed subject", attachments=())
    assert await hub.saved_drafts.save(police, changed, draft_id) == draft_id
    assert (await hub.saved_drafts.open(police, draft_id)).content == changed
    assert [d.id for d in await hub.saved_drafts.list(police)] == [draft_id]


async def test_nothing_readable_is_stored(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    draft_id = await hub.saved_drafts.save(police, await _content(hub))

    raw = await _raw(hub, draft_id)
    for secret in (
        SUBJECT,
        BODY,
        "Linden Grove",
        "oasys.pdf",
        "application/pdf",
        "OASys extract",
        request_form()["information_sought"],
        "cja2003-s325",
        "risk-management",
        "Typed but not yet finished",
    ):
        assert secret.encode() not in raw, secret
    assert REPORT[:40] not in raw and NOTES not in raw


async def test_only_the_owner_opens_changes_or_deletes_a_draft(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    draft_id = await hub.saved_drafts.save(police, await _content(hub))
    content = await _content(hub, subject="Someone else's words")

    # Another user, of the same agency or another: told there is no such draft.
    for username in ("dby.coordinator", "dby.housing", "nts.police"):
        other = await actor_for(hub, username)
        with pytest.raises(NotFound):
            await hub.saved_drafts.open(other, draft_id)
        with pytest.raises(NotFound):
            await hub.saved_drafts.save(other, content, draft_id)
        with pytest.raises(NotFound):
            await hub.saved_drafts.discard(other, draft_id)
        assert draft_id not in {d.id for d in await hub.saved_drafts.list(other)}
    # The same answer as for a draft that never existed.
    with pytest.raises(NotFound, match="No such draft"):
        await hub.saved_drafts.open(police, "00000000-0000-0000-0000-000000000000")
    # A role that cannot send cannot keep drafts either.
    with pytest.raises(Forbidden):
        await hub.saved_drafts.open(await actor_for(hub, "dby.auditor"), draft_id)

    assert (await hub.saved_drafts.open(police, draft_id)).content.subject == SUBJECT
    await hub.saved_drafts.discard(police, draft_id)
    with pytest.raises(NotFound):
        await hub.saved_drafts.open(police, draft_id)


async def test_a_draft_moved_to_another_owner_or_row_does_not_open(
    hub: Hub, logins: object
) -> None:
    """Someone with write access to the database cannot hand a draft to a colleague: the sealed
    content is bound to the draft id and its owner."""
    police = await actor_for(hub, "dby.police")
    colleague = await actor_for(hub, "dby.coordinator")
    colleague = dataclasses.replace(colleague, agency=police.agency)  # same agency, other person
    mine = await hub.saved_drafts.save(police, await _content(hub))
    theirs = await hub.saved_drafts.save(colleague, await _content(hub, subject="Theirs"))

    async with hub.db.write() as conn:
        await conn.execute(
            update(saved_drafts)
            .where(saved_drafts.c.id == mine)
            .values(owner_user_id=colleague.user.id)
        )
    with pytest.raises(CryptoFailure):
        await hub.saved_drafts.open(colleague, mine)

    async with hub.db.write() as conn:
        await conn.execute(
            update(saved_drafts).where(saved_drafts.c.id == theirs).values(sealed=b"x")
        )
    with pytest.raises(CryptoFailure):
        await hub.saved_drafts.open(colleague, theirs)
    # The Drafts page still lists what cannot be opened, so that it can be deleted.
    listed = {d.id: d for d in await hub.saved_drafts.list(colleague)}
    assert not listed[mine].readable and not listed[theirs].readable
    await hub.saved_drafts.discard(colleague, theirs)


async def test_size_limits_are_those_of_a_packet(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    limits = hub.config.limits
    one = AttachmentIn("a.bin", "application/octet-stream", b"a")
    with pytest.raises(TooLarge, match="At most"):
        await hub.saved_drafts.save(
            police, await _content(hub, attachments=(one,) * (limits.max_attachments + 1))
        )
    big = AttachmentIn(
        "big.bin", "application/octet-stream", b"a" * (limits.max_attachment_bytes + 1)
    )
    with pytest.raises(TooLarge, match=r"big\.bin is larger than the limit"):
        await hub.saved_drafts.save(police, await _content(hub, attachments=(big,)))
    with pytest.raises(TooLarge):
        await hub.saved_drafts.save(police, await _content(hub, subject="s" * 5001))
    assert await hub.saved_drafts.list(police) == []


async def test_a_person_keeps_a_bounded_number_of_drafts(
    hub: Hub, logins: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(saved_drafts_module, "MAX_DRAFTS", 2)
    police = await actor_for(hub, "dby.police")
    content = await _content(hub, attachments=())
    first = await hub.saved_drafts.save(police, content)
    await hub.saved_drafts.save(police, content)
    with pytest.raises(Conflict, match="send or delete some"):
        await hub.saved_drafts.save(police, content)
    # Saving over an existing draft is always possible.
    await hub.saved_drafts.save(police, content, first)


async def test_a_draft_of_another_areas_case_does_not_reveal_its_reference(
    hub: Hub, logins: object
) -> None:
    police = await actor_for(hub, "dby.police")
    booth = await case_id(hub, "Booth")  # Nottinghamshire's
    await hub.saved_drafts.save(police, await _content(hub, case_id=booth))
    [listed] = await hub.saved_drafts.list(police)
    assert listed.case_id == booth and listed.case_reference is None


# -- each question asked once: the form's answers are the necessity statement ------------------


async def _request_draft(hub: Hub, **changes: object) -> Draft:
    draft = Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
        subject="Tenancy and visitors",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.REQUEST,
        data_categories=("identity", "risk-summary"),
        necessity={},
        form=request_form(),
    )
    return dataclasses.replace(draft, **changes)  # type: ignore[arg-type]


async def test_a_request_form_answers_its_own_necessity_statement(hub: Hub, logins: object) -> None:
    probation = await actor_for(hub, "dby.probation")
    housing = await actor_for(hub, "dby.housing")
    draft = await _request_draft(hub)

    assert (await hub.packets.preview(probation, draft)).outcome is Outcome.PERMIT
    sent = await hub.packets.send(probation, draft)

    opened = await hub.packets.open(housing, sent.id)
    form = request_form()
    assert dict(opened.necessity) == {
        "why": form["purpose_of_request"],
        "who": form["who_needs_access"],
        "use": form["how_it_will_be_used"],
    }


async def test_a_statement_given_explicitly_wins_over_the_form(hub: Hub, logins: object) -> None:
    given = {"why": "Stated on its own: the panel meets on Friday and must see the answer."}
    draft = with_form_answers(await _request_draft(hub, necessity=given))
    assert draft.necessity["why"] == given["why"]
    assert draft.necessity["who"] == request_form()["who_needs_access"]


async def test_a_form_too_thin_to_answer_is_refused_as_a_statement_would_be(
    hub: Hub, logins: object
) -> None:
    probation = await actor_for(hub, "dby.probation")
    draft = await _request_draft(hub, form=request_form(purpose_of_request="Review."))
    with pytest.raises(PolicyRefused) as err:
        await hub.packets.send(probation, draft)
    assert {t.test.value for t in err.value.decision.failed} == {"necessary"}
