"""What sending a typed packet means for the workflows, checked before and recorded with the send.

``prepare`` runs before the policy decides (it may add recipients: a risk-change notice goes to
every agency active on the case) and refuses what the workflow forbids: answering a request
addressed to another agency, minutes for a meeting that already has them, a review date beyond the
guidance. ``record`` runs inside the send's transaction, so the packet, its ledger entry and the
workflow rows it opens or closes commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.model.cases import Case
from hub.model.directory import Agency, AgencyType
from hub.model.packets import Draft, PacketType
from hub.policy.errors import PolicyRefused
from hub.policy.model import Decision, Outcome, ShareRequest
from hub.services import notices
from hub.services.actor import Actor
from hub.services.disclosures import proposing_person
from hub.services.policy import PolicyService
from hub.store import directory as directory_store
from hub.store import disclosures as disclosure_store
from hub.store import workflows as store
from hub.workflows import deadlines
from hub.workflows.deadlines import ItemKind
from hub.workflows.forms import (
    DisclosureProposalForm,
    FormModel,
    MinutesForm,
    ReferralForm,
    RequestForm,
    form_error,
    requires_form,
    validate_form,
)

# How each delivery method leaves the hub, in policies/channels.toml.
DISCLOSURE_CHANNEL = {"letter": "letter", "in-person": "in-person", "telephone": "telephone"}


@dataclass
class Plan:
    """What the send will record, worked out before the policy decides."""

    form: FormModel | None = None
    recipient_ids: tuple[int, ...] = ()
    agency_codes: dict[str, int] = field(default_factory=dict)
    answers_request: store.RequestRow | None = None
    disclosure_decision: Decision | None = None


class WorkflowRules:
    def __init__(self, policy: PolicyService) -> None:
        self._policy = policy

    async def prepare(
        self,
        conn: AsyncConnection,
        actor: Actor,
        draft: Draft,
        case: Case,
        recipient_ids: tuple[int, ...],
        today: date,
    ) -> Plan:
        plan = Plan(recipient_ids=recipient_ids)
        kind = draft.packet_type
        if requires_form(kind):
            if draft.form is None:
                raise InvalidInput(f"A {kind.value} packet needs its form filled in.", field="form")
            plan.form = validate_form(kind, draft.form)
        elif draft.form is not None:
            raise InvalidInput(f"A {kind.value} packet carries no form.", field="form")
        if draft.reply_to is not None and kind is not PacketType.RESPONSE:
            raise InvalidInput("Only a response answers another packet.", field="reply_to")

        form = plan.form
        if kind is PacketType.RESPONSE:
            await self._check_response(conn, actor, draft, case, plan)
        elif kind is PacketType.RISK_CHANGE:
            active = await store.case_agency_ids(conn, case.id)
            plan.recipient_ids = tuple(sorted((active | set(recipient_ids)) - {actor.agency.id}))
            if not plan.recipient_ids:
                raise InvalidInput(
                    "No other agency is active on this case to tell of the change.",
                    field="recipients",
                )
        elif isinstance(form, RequestForm) and form.due_on < today:
            raise form_error("due_on", "The due date cannot be in the past.")
        elif isinstance(form, MinutesForm):
            if form.meeting_date > today:
                # As CaseworkService.record_meeting: a meeting not yet held would close the review.
                raise form_error(
                    "meeting_date",
                    "Minutes are for a meeting that has been held: the date is in the future.",
                )
            await self._check_minutes(conn, case, form, plan)
        elif isinstance(form, ReferralForm):
            invited = form.agencies_to_invite
            plan.agency_codes = await _codes(
                conn,
                {f"form.agencies_to_invite.{i}.agency": a.agency for i, a in enumerate(invited)},
            )
        elif isinstance(form, DisclosureProposalForm):
            home = await directory_store.area_by_id(conn, actor.agency.area_id)
            jurisdiction = home.jurisdiction.value if home else "england-and-wales"
            plan.disclosure_decision = self._decide_disclosure(
                actor, draft, case, form, jurisdiction
            )
        return plan

    async def _check_response(
        self, conn: AsyncConnection, actor: Actor, draft: Draft, case: Case, plan: Plan
    ) -> None:
        if not draft.reply_to:
            raise InvalidInput("Say which request this answers.", field="reply_to")
        asked = await store.requests_by_packet(conn, draft.reply_to)
        if not asked:
            raise NotFound("No such request for information.")
        request = next((r for r in asked if r.target_agency_id == actor.agency.id), None)
        if request is None:
            raise Forbidden(
                "This request was addressed to another agency: only that agency can answer it."
            )
        if request.status != store.OPEN:
            raise Conflict(f"This request has already been {request.status}.")
        if request.case_id != case.id:
            raise InvalidInput("A response belongs to the request's case.", field="case")
        if set(plan.recipient_ids) != {request.requester_agency_id}:
            raise InvalidInput(
                "A response goes to the agency that asked, and only to it.", field="recipients"
            )
        plan.answers_request = request

    async def _check_minutes(
        self, conn: AsyncConnection, case: Case, form: MinutesForm, plan: Plan
    ) -> None:
        latest = deadlines.review_due(form.meeting_date, form.meeting_level)
        if form.next_review_date > latest:
            weeks = deadlines.REVIEW_WEEKS[form.meeting_level]
            raise form_error(
                "next_review_date",
                f"At level {form.meeting_level} the next review must be within {weeks} weeks of "
                f"the meeting (by {latest:%d %B %Y}).",
            )
        meeting = await store.meeting_on(conn, case.id, form.meeting_date)
        if meeting is not None and meeting.minutes_packet_id is not None:
            raise Conflict("Minutes for this meeting have already been circulated.")
        if meeting is not None and meeting.level != form.meeting_level:
            # Otherwise the review limit above would be the wrong level's.
            raise form_error(
                "meeting_level", f"This meeting was recorded as a level {meeting.level} meeting."
            )
        named = {"form.lead_agency": form.lead_agency}
        named.update(
            {f"form.attendance.{i}.agency": a.agency for i, a in enumerate(form.attendance)}
        )
        named.update(
            {f"form.actions.{i}.owner_agency": a.owner_agency for i, a in enumerate(form.actions)}
        )
        plan.agency_codes = await _codes(conn, named)

    def _decide_disclosure(
        self,
        actor: Actor,
        draft: Draft,
        case: Case,
        form: DisclosureProposalForm,
        jurisdiction: str,
    ) -> Decision:
        """Decide the disclosure to the third party now: an unlawful one is never proposed."""
        decision = self._policy.decide(
            ShareRequest(
                sender_type=actor.agency.type.value,
                sender_role=actor.role.value,
                recipient_types=(AgencyType.THIRD_PARTY.value,),
                packet_type=PacketType.DISCLOSURE_DECISION.value,
                data_categories=tuple(draft.data_categories),
                purpose=draft.purpose,
                lawful_basis=form.lawful_basis,
                mappa_category=int(case.category),
                mappa_level=int(case.level),
                channel=DISCLOSURE_CHANNEL[form.method.value],
                necessity=dict(draft.necessity),
                schedule1_condition=draft.schedule1_condition,
                jurisdiction=jurisdiction,
            )
        )
        if decision.outcome is Outcome.DENY:
            raise PolicyRefused(decision)
        return decision

    @staticmethod
    def only_membership(plan: Plan) -> bool:
        """True when ``record`` would only mark the agencies active on the case (a note, say)."""
        return plan.form is None and plan.answers_request is None

    async def record(
        self,
        conn: AsyncConnection,
        actor: Actor,
        draft: Draft,
        case: Case,
        plan: Plan,
        packet_id: str,
        now: datetime,
    ) -> None:
        # The sender acts on the case; its recipients are not made active by receiving a packet.
        await store.join_case(conn, case.id, {actor.agency.id}, now)
        form = plan.form
        if isinstance(form, RequestForm):
            for target in plan.recipient_ids:
                item = await store.insert_item(
                    conn,
                    kind=ItemKind.REQUEST.value,
                    case_id=case.id,
                    area_id=case.area_id,
                    owner_agency_id=target,
                    due_on=form.due_on,
                    source_packet_id=packet_id,
                    created_at=now,
                )
                await store.insert_request(
                    conn,
                    packet_id=packet_id,
                    case_id=case.id,
                    requester_agency_id=actor.agency.id,
                    requester_user_id=actor.user.id,
                    target_agency_id=target,
                    due_on=form.due_on,
                    work_item_id=item,
                )
        elif plan.answers_request is not None:
            request = plan.answers_request
            if not await store.close_request(
                conn, request.id, "answered", actor.user.id, now, response_packet_id=packet_id
            ):
                raise Conflict("This request was answered or declined a moment ago.")
            await store.close_item(
                conn, request.work_item_id, now, user_id=actor.user.id, packet_id=packet_id
            )
        elif isinstance(form, MinutesForm):
            await self._record_minutes(conn, actor, case, form, plan, packet_id, now)
        elif isinstance(form, ReferralForm):
            referrals = await store.open_items(conn, case_id=case.id, kind=ItemKind.REFERRAL.value)
            if not referrals and form.release_date is not None:
                # No release date was recorded beforehand: record the deadline now, so a referral
                # made less than six months before release shows as late.
                item_id = await store.insert_item(
                    conn,
                    kind=ItemKind.REFERRAL.value,
                    case_id=case.id,
                    area_id=case.area_id,
                    owner_agency_id=actor.agency.id,
                    due_on=deadlines.referral_due(form.release_date),
                    created_at=now,
                )
                referrals = [r for r in [await store.item_by_id(conn, item_id)] if r is not None]
            for referral in referrals:
                await store.close_item(
                    conn, referral.id, now, user_id=actor.user.id, packet_id=packet_id
                )
            await store.join_case(conn, case.id, plan.agency_codes.values(), now)
        elif isinstance(form, DisclosureProposalForm) and plan.disclosure_decision is not None:
            needed = [
                {"role": a.role, "count": a.count, "rule": a.rule}
                for a in plan.disclosure_decision.approvals
            ] or [{"role": "coordinator", "count": 1, "rule": "hub.third-party-always-approved"}]
            disclosure_id = await disclosure_store.insert_disclosure(
                conn,
                needed,
                case_id=case.id,
                area_id=case.area_id,
                proposal_packet_id=packet_id,
                proposer_user_id=actor.user.id,
                proposer_person_id=proposing_person(actor),
                proposer_agency_id=actor.agency.id,
                recipient_kind=form.recipient_kind.value,
                method=form.method.value,
                offender_to_be_told=form.offender_to_be_told,
                purpose=draft.purpose,
                lawful_basis=form.lawful_basis,
                categories=",".join(sorted(draft.data_categories)),
                status="proposed",
                policy_version=plan.disclosure_decision.policy_version,
                created_at=now,
            )
            await notices.disclosure_proposed(
                conn,
                disclosure_id=disclosure_id,
                case_id=case.id,
                area_id=case.area_id,
                approver_roles={str(n["role"]) for n in needed},
                agency_ids={actor.agency.id, *plan.recipient_ids},
                proposer_ids={actor.user.id, proposing_person(actor)},
                when=now,
            )

    async def _record_minutes(
        self,
        conn: AsyncConnection,
        actor: Actor,
        case: Case,
        form: MinutesForm,
        plan: Plan,
        packet_id: str,
        now: datetime,
    ) -> None:
        meeting = await store.meeting_on(conn, case.id, form.meeting_date)
        if meeting is None:
            # Recorded now, with its minutes due as the guidance says: late minutes show as late.
            meeting_id = await record_meeting(
                conn, case, form.meeting_date, form.meeting_level, actor, now
            )
        else:
            meeting_id = meeting.id
        await store.set_minutes(conn, meeting_id, packet_id)
        # An agency listed twice (two people) was invited if either was required, and attended
        # if either came.
        attendance: dict[int, tuple[bool, bool]] = {}
        for row in form.attendance:
            agency_id = plan.agency_codes[row.agency]
            invited, came = attendance.get(agency_id, (False, False))
            attendance[agency_id] = (invited or row.required, came or row.attended)
        await store.set_meeting_record(conn, meeting_id, form.disclosure_considered, attendance)
        for item in await store.open_items(conn, case_id=case.id, kind=ItemKind.MINUTES.value):
            if item.meeting_id == meeting_id:
                await store.close_item(
                    conn, item.id, now, user_id=actor.user.id, packet_id=packet_id
                )
        # The minutes set the next review date; it may be sooner than the guidance's latest.
        for item in await store.open_items(conn, case_id=case.id, kind=ItemKind.REVIEW.value):
            if item.meeting_id == meeting_id and form.next_review_date < item.due_on:
                await store.set_due(conn, item.id, form.next_review_date)
        for i, action in enumerate(form.actions):
            item_id = await store.insert_item(
                conn,
                kind=ItemKind.ACTION.value,
                case_id=case.id,
                area_id=case.area_id,
                owner_agency_id=plan.agency_codes[action.owner_agency],
                due_on=action.deadline,
                source_packet_id=packet_id,
                meeting_id=meeting_id,
                item_index=i,
                created_at=now,
            )
            if action.outcome:
                await store.close_item(
                    conn, item_id, now, user_id=actor.user.id, outcome=action.outcome
                )
        # The meeting brings into the case the agencies that attended it and those it gives an
        # action to: the panel decided their part, which receiving the minutes alone does not.
        attended = {plan.agency_codes[a.agency] for a in form.attendance if a.attended}
        owners = {plan.agency_codes[a.owner_agency] for a in form.actions}
        await store.join_case(
            conn, case.id, attended | owners | {plan.agency_codes[form.lead_agency]}, now
        )


async def record_meeting(
    conn: AsyncConnection,
    case: Case,
    held_on: date,
    level: int,
    chair: Actor,
    now: datetime,
) -> int:
    """A meeting was held: it meets the review that was due, and sets the clocks running again."""
    if await store.meeting_on(conn, case.id, held_on) is not None:
        raise Conflict("A meeting on that date is already recorded for this case.")
    held = {m.id: m.held_on for m in await store.case_meetings(conn, case.id)}
    meeting_id = await store.insert_meeting(conn, case.id, held_on, level, chair.user.id, now)
    # This meeting is the review that earlier meetings set; a later meeting's review still stands
    # (minutes of an older meeting can arrive after a newer one was recorded).
    for item in await store.open_items(conn, case_id=case.id, kind=ItemKind.REVIEW.value):
        if item.meeting_id is None or held.get(item.meeting_id, held_on) <= held_on:
            await store.close_item(conn, item.id, now, user_id=chair.user.id)
    common: dict[str, Any] = {
        "case_id": case.id,
        "area_id": case.area_id,
        "owner_agency_id": chair.agency.id,
        "owner_user_id": chair.user.id,
        "meeting_id": meeting_id,
        "created_at": now,
    }
    await store.insert_item(
        conn, kind=ItemKind.MINUTES.value, due_on=deadlines.minutes_due(held_on, level), **common
    )
    await store.insert_item(
        conn, kind=ItemKind.REVIEW.value, due_on=deadlines.review_due(held_on, level), **common
    )
    return meeting_id


async def _codes(conn: AsyncConnection, named: dict[str, str]) -> dict[str, int]:
    """Resolve agency codes a form names; an unknown one is refused at its field."""
    found: dict[str, Agency] = {}
    for agency in await directory_store.agencies_by_codes(conn, set(named.values())):
        found[agency.code] = agency
    for field_name, code in named.items():
        if code not in found:
            raise form_error(
                field_name.removeprefix("form."),
                f"No agency has the code {code}.",
                code="unknown_agency",
            )
    return {code: agency.id for code, agency in found.items()}
