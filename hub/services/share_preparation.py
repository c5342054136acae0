"""A draft made ready to share: validated, its case and recipients resolved, its workflow step
planned (``hub.services.workflow_rules``) and the share decided by the policy. Nothing is written
here: ``PacketService.preview`` shows the decision and ``PacketService.send`` seals what the policy
permits (or holds what it sends for approval, or logs what it refuses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.config import Limits
from hub.errors import InvalidInput
from hub.model.cases import Case
from hub.model.directory import Agency, Area
from hub.model.packets import Draft, PacketType
from hub.policy.model import Decision, ShareRequest
from hub.services import share_parties
from hub.services.actor import Actor
from hub.services.drafts import validate_draft
from hub.services.known_directory import KnownDirectory
from hub.services.policy import PolicyService
from hub.services.workflow_rules import Plan, WorkflowRules
from hub.store import cases as case_store
from hub.store.database import Database
from hub.workflows.deadlines import local_date
from hub.workflows.forms import render_form_text


@dataclass(frozen=True)
class Prepared:
    """A draft ready to seal: its validated subject and body (a typed form's text when the body
    is empty), case, recipients by id, the policy's decision and the workflow plan."""

    subject: str
    body: str
    case: Case
    recipients: dict[int, Agency]
    decision: Decision
    plan: Plan


@dataclass(frozen=True)
class KnownCase:
    """A case already read for this share (with the caller's token: ``hub.web.api.first_read``),
    as ``case_store.case_with_agencies`` answers: None if there is no such case."""

    case_id: int
    found: tuple[Case, set[int]] | None


class _NeedsDatabase(Exception):
    """A share's resolution that needs more than it was given: resolved again with a read."""


class _Unconnected:
    """Stands for the connection of a resolution tried without one: anything asked of it ends
    the try (``_NeedsDatabase``), so no read is ever skipped, only not started."""

    def __getattr__(self, name: str) -> Any:
        raise _NeedsDatabase(name)


_UNCONNECTED = cast(AsyncConnection, _Unconnected())


@dataclass(frozen=True)
class _Resolved:
    """A draft's case, recipients and workflow plan, with what the policy needs of the
    directory: the agencies active on the case and the areas."""

    case: Case
    recipients: dict[int, Agency]
    plan: Plan
    active: set[int]
    areas: dict[int, Area]


class SharePreparation:
    def __init__(
        self,
        db: Database,
        policy: PolicyService,
        rules: WorkflowRules,
        directory: KnownDirectory,
        clock: Clock,
        limits: Limits,
    ) -> None:
        self._db = db
        self._policy = policy
        self._rules = rules
        self._directory = directory
        self._clock = clock
        self._limits = limits

    async def prepare(self, actor: Actor, draft: Draft, known: KnownCase | None = None) -> Prepared:
        """Validate a draft, resolve its case and recipients, and decide it against the policy.

        A disclosure proposal's disclosure is decided here too, and refused with
        ``PolicyRefused`` when the policy denies it (``WorkflowRules``).

        ``known``: the draft's case, already read. With it, a share that needs nothing else
        from the database (a note, whose agencies and areas are known: ``KnownDirectory``) is
        resolved without a connection; any other is resolved as without it, reading again."""
        subject, body = validate_draft(draft, self._limits, self._policy.current)
        recipient_ids = tuple(sorted(set(draft.recipient_agency_ids)))
        if actor.agency.id in recipient_ids:
            raise InvalidInput("Your own agency already holds what you send.", field="recipients")

        today = local_date(self._clock.now())

        if known is not None and known.case_id != draft.case_id:
            known = None

        async def resolve(conn: AsyncConnection) -> _Resolved:
            if known is not None and conn is _UNCONNECTED:
                found = known.found
            else:
                found = await case_store.case_with_agencies(conn, draft.case_id)
            if found is None:
                raise InvalidInput("Unknown case.", field="case", code="unknown_case")
            case, active = found
            # An agency sends about the cases of its own area, and about another area's case
            # only once it is active on it (involved by that area) or to answer a request
            # addressed to it (checked below, once the plan knows which request it answers).
            inside = case.area_id == actor.agency.area_id or actor.agency.id in active
            if not inside and draft.packet_type is not PacketType.RESPONSE:
                raise InvalidInput("Unknown case.", field="case", code="unknown_case")
            if case.merged_into_id is not None:
                raise InvalidInput(
                    "This case record was combined into another: send about that case.",
                    field="case",
                )
            recipients = await self._directory.agencies(conn, recipient_ids)
            if len(recipients) != len(recipient_ids):
                raise InvalidInput(
                    "One or more recipient agencies do not exist.",
                    field="recipients",
                    code="unknown_agency",
                )
            plan = await self._rules.prepare(conn, actor, draft, case, recipient_ids, today)
            if not inside and plan.answers_request is None:
                raise InvalidInput("Unknown case.", field="case", code="unknown_case")
            if plan.recipient_ids != recipient_ids:
                recipients = await self._directory.agencies(conn, plan.recipient_ids)
            area_ids = [actor.agency.area_id, *(a.area_id for a in recipients.values())]
            areas = await self._directory.areas(conn, area_ids)
            return _Resolved(case, recipients, plan, active, areas)

        try:
            if known is None:
                raise _NeedsDatabase("the case")
            found = await resolve(_UNCONNECTED)
        except _NeedsDatabase:
            found = await self._db.run_read(resolve)
        case, recipients, plan = found.case, found.recipients, found.plan
        parties = share_parties.describe(
            actor.agency, recipients.values(), found.areas, found.active
        )
        decision = self._policy.decide(
            ShareRequest(
                sender_type=actor.agency.type.value,
                sender_role=actor.role.value,
                recipient_types=(),
                recipients=parties.recipients,
                sender_area=parties.sender_area,
                jurisdiction=parties.jurisdiction,
                packet_type=draft.packet_type.value,
                data_categories=tuple(draft.data_categories),
                purpose=draft.purpose,
                lawful_basis=draft.lawful_basis,
                mappa_category=int(case.category),
                mappa_level=int(case.level),
                channel="hub",
                necessity=dict(draft.necessity),
                schedule1_condition=draft.schedule1_condition,
                restricted_reason=draft.restricted_reason,
            )
        )
        if plan.form is not None and not body.strip():
            body = render_form_text(plan.form)
        return Prepared(subject, body, case, recipients, decision, plan)
