"""A share the policy answers REVIEW becomes a proposal the approvers it names decide.

``PacketService.send`` seals a REVIEW share exactly as it will be sent (the signed header carries
the REVIEW decision) and hands it to ``hold``: the packet rows are written with ``packets.held``
set, beside a held-share row naming the approvals the policy asked for, each resolved to an area
(an approver of the sender's area; one of each area that a recipient outside the case's
arrangements belongs to). Any packet type: a disclosure proposal's own REVIEW (sent to an agency
of another area, say) is held like any other; the disclosure to the third party it proposes is
decided by its own workflow (``hub.services.disclosures``) once the proposal is released.

Then the approvers decide, each with reasons, never the proposer, one decision per person
(``Actor.person``: whichever accounts, session or token, they act through). A refusal closes the
share for good; the last approval releases it in the same transaction: the recipients can list
and open it from then on, and whatever a send records for the workflows (``WorkflowRules.record``,
run as the proposer, exactly as a send would) is recorded then, not before.

On the log: the proposal is a *collection* (the hub now holds the sealed share, and nobody outside
the sender's agency has it: no recipients), each decision an *alteration* (its reasons' digest),
and the release a *disclosure* naming the recipients, by the approver whose approval released it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto import packet_format as fmt
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.cases import Case
from hub.model.directory import Agency, Role, User
from hub.model.packets import Draft, PacketSummary, PacketType
from hub.policy.model import Decision
from hub.services import ledger, log_writer, notices
from hub.services.actor import Actor
from hub.services.held_shares import (
    HeldShareService,
    HeldShareView,
    Sealed,
    need_label,
    outstanding,
)
from hub.services.log_writer import Idempotency, PendingWrite
from hub.services.policy import PolicyService
from hub.services.workflow_rules import WorkflowRules
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import held_shares as store
from hub.store import packet_writes
from hub.store import workflows as workflow_store
from hub.store.database import Database
from hub.store.held_shares import AWAITING, REFUSED, RELEASED, Need
from hub.store.packet_writes import NewPacket
from hub.store.packets import PacketRow
from hub.text import check_text
from hub.workflows.deadlines import local_date

MAX_REASON_CHARS = 5000
_NAME_THE_PERSON = (
    "This token acts for no named person: send On-Behalf-Of with the username of the person "
    "responsible."
)


@dataclass(slots=True, kw_only=True)
class HeldSummary(PacketSummary):
    """What ``PacketService.send`` answers for a REVIEW share: the packet as sealed, held."""

    share_id: int
    # Who must approve, in words ("a coordinator of Derbyshire").
    awaiting: tuple[str, ...]


def resolve_needs(
    decision: Decision, sender_area_id: int, recipients: Iterable[Agency], active: set[int]
) -> tuple[Need, ...]:
    """The approvals the decision names, each for one area; one role of one area is asked once
    (the most any rule wants of it), naming every rule that wanted it."""
    recipients = list(recipients)
    outside = {a.area_id for a in recipients if a.area_id != sender_area_id and a.id not in active}
    # A recipient may have become active since the policy decided: still ask its area.
    outside = outside or {a.area_id for a in recipients if a.area_id != sender_area_id}
    counts: dict[tuple[str, int], int] = {}
    rules: dict[tuple[str, int], list[str]] = {}
    for need in decision.approvals:
        areas = sorted(outside) if need.area == "recipient" else []
        for area in areas or [sender_area_id]:
            key = (need.role, area)
            counts[key] = max(counts.get(key, 0), need.count)
            rules.setdefault(key, [])
            if need.rule not in rules[key]:
                rules[key].append(need.rule)
    return tuple(
        Need(role, area, counts[role, area], tuple(rules[role, area])) for role, area in counts
    )


async def hold(
    db: Database,
    actor: Actor,
    draft: Draft,
    case: Case,
    decision: Decision,
    new: NewPacket,
    idempotency: Idempotency | None,
    subject: str,
) -> HeldSummary:
    """Store a sealed REVIEW share, held, with its approvals and its log entry, in one transaction."""
    person = actor.person
    if person is None:  # nobody could then be shown not to be the proposer
        raise Forbidden(_NAME_THE_PERSON)
    row, now = new.row, new.row.created_at
    record = Record(
        action=Action.COLLECTION,
        event=Event.SHARE_PROPOSED,
        recorded_at=now,
        actor_user_id=actor.user.id,
        actor_token_id=actor.token_id,
        actor_agency_id=actor.agency.id,
        case_id=case.id,
        packet_id=row.id,
        purpose=row.purpose,
        lawful_basis=row.lawful_basis,
        content_digest=sha256_hex(row.header),
        policy_version=decision.policy_version,
        decision=decision.outcome.value,
    )

    async def write(conn: AsyncConnection) -> tuple[int, tuple[str, ...]]:
        recipients = await directory_store.agencies_by_ids(conn, row.recipient_agency_ids)
        active = await workflow_store.case_agency_ids(conn, case.id)
        needs = resolve_needs(decision, actor.agency.area_id, recipients.values(), active)
        areas = {a.id: a.name for a in await directory_store.list_areas(conn)}
        await packet_writes.insert_packets(conn, [new])
        share_id = await store.insert_share(
            conn,
            needs,
            packet_id=row.id,
            case_id=case.id,
            area_id=actor.agency.area_id,
            proposer_user_id=actor.user.id,
            proposer_person_id=person.id,
            proposer_token_id=actor.token_id,
            proposer_agency_id=actor.agency.id,
            restricted_reason=draft.restricted_reason,
            policy_version=decision.policy_version,
            created_at=now,
        )
        await notices.share_held(
            conn,
            share_id=share_id,
            case_id=case.id,
            needs=[(n.role, n.area_id) for n in needs],
            proposer_ids={actor.user.id, person.id},
            when=now,
        )
        # Last: appending locks the log's head until the commit (PostgreSQL).
        await log_writer.write(conn, [PendingWrite(record, now, None, None, idempotency)])
        return share_id, tuple(need_label(n.role, n.count, areas[n.area_id]) for n in needs)

    share_id, awaiting = await db.run_write(write)
    return HeldSummary(
        id=row.id,
        packet_type=draft.packet_type,
        case_id=case.id,
        case_reference=case.reference,
        sender_agency_id=actor.agency.id,
        sender_user_id=actor.sender.id,
        recipient_agency_ids=row.recipient_agency_ids,
        purpose=row.purpose,
        created_at=now,
        subject=subject,
        attachment_count=len(draft.attachments),
        reply_to=draft.reply_to,
        share_id=share_id,
        awaiting=awaiting,
    )


class ShareApprovals:
    def __init__(
        self, db: Database, policy: PolicyService, clock: Clock, shares: HeldShareService
    ) -> None:
        self._db = db
        self._policy = policy
        self._clock = clock
        self._shares = shares
        self._rules = WorkflowRules(policy)

    # -- deciding ----------------------------------------------------------------------------

    def _deciding_person(self, actor: Actor, row: store.HeldShareRow) -> User:
        """The person a decision is attributed to: the signed-in user, or the person a token acts
        for when the policy lets agency systems carry decisions at all."""
        roles = sorted({Role(n.role) for n in row.approvals_needed})
        named = " or ".join(r.value.replace("-", " ") for r in roles)
        if not actor.has_role(*roles):
            raise Forbidden(f"This share is approved by a {named}; your role is not one of them.")
        if actor.token_id is not None and not self._policy.current.delegated_decisions:
            raise Forbidden(
                "The policy does not allow delegated decisions: a share held for approval is "
                "decided by a person signed in to the inbox, not through an agency system."
            )
        person = actor.person
        if person is None:
            raise Forbidden(_NAME_THE_PERSON)
        if person.role not in roles:
            raise Forbidden(
                f"This share is approved by a {named}; the person this token acts for is not one."
            )
        return person

    async def decide(
        self, actor: Actor, share_id: int, decision: str, reasons: str
    ) -> HeldShareView:
        """Approve or refuse with reasons, as one of the approvers the policy named (never the
        proposer, one decision per person). A refusal closes the share; the last approval
        releases it to its recipients in the same transaction."""
        if decision not in ("approve", "refuse"):
            raise InvalidInput("Approve or refuse the share.", field="decision")
        reasons = check_text(reasons.strip(), "reasons")
        if not reasons:
            raise InvalidInput(
                "Give the reasons for your decision: they are recorded and the proposer sees them.",
                field="reasons",
            )
        if len(reasons) > MAX_REASON_CHARS:
            raise InvalidInput(
                f"Reasons are limited to {MAX_REASON_CHARS} characters.", field="reasons"
            )
        # Read what a release needs first (it may need the content, which only the keyring
        # opens): checked again, and decided, in the transaction below.
        loaded = await self._shares.load(actor, share_id)
        person = self._deciding_person(actor, loaded.view.row)
        material = await self._material(loaded) if decision == "approve" else None
        now = self._clock.now()
        async with self._db.write() as conn:
            row = await store.share_by_id(conn, share_id, for_update=True)
            if row is None:  # pragma: no cover - held shares are never deleted
                raise NotFound("No such share.")
            if self._shares.is_proposer(actor, row):
                raise Forbidden("You proposed this share, so someone else must decide it.")
            if row.status != AWAITING:
                raise Conflict(f"This share has already been {row.status}.")
            decisions = await store.decisions_for(conn, [row.id])
            if any(
                d.approver_person_id == person.id or d.approver_user_id == actor.user.id
                for d in decisions
            ):
                raise Conflict("You have already decided this share.")
            wanted = outstanding(row.approvals_needed, decisions)
            key = (person.role.value, actor.agency.area_id)
            if key not in wanted:
                areas = {a.id: a.name for a in await directory_store.list_areas(conn)}
                still = "; ".join(
                    need_label(r, n, areas.get(a, "?")) for (r, a), n in wanted.items()
                )
                raise Forbidden(
                    "The policy does not ask for a decision from your role in your area on this "
                    f"share (still wanted: {still})."
                )
            try:
                await store.insert_decision(
                    conn,
                    held_share_id=row.id,
                    approver_user_id=actor.user.id,
                    approver_person_id=person.id,
                    approver_agency_id=actor.agency.id,
                    role=person.role.value,
                    area_id=actor.agency.area_id,
                    decision=decision,
                    reasons=reasons,
                    decided_at=now,
                )
            except IntegrityError:  # the same person, a moment ago, through another account
                raise Conflict("You have already decided this share.") from None
            packet = loaded.view.packet
            records = [
                self._entry(
                    actor,
                    row,
                    packet,
                    now,
                    Action.ALTERATION,
                    Event.SHARE_DECIDED,
                    decision,
                    sha256_hex(reasons.encode()),
                )
            ]
            if decision == "refuse":
                if not await store.close_share(conn, row.id, REFUSED, now):
                    raise Conflict("This share was decided a moment ago.")
            elif material is not None and wanted[key] == 1 and len(wanted) == 1:
                await self._release(conn, row, packet, material, now)
                await notices.packets_delivered(
                    conn, [(packet.id, row.case_id, packet.recipient_agency_ids)], now
                )
                records.append(
                    self._entry(
                        actor,
                        row,
                        packet,
                        now,
                        Action.DISCLOSURE,
                        Event.SHARE_RELEASED,
                        "REVIEW",
                        sha256_hex(packet.header),
                        packet.recipient_agency_ids,
                    )
                )
            await ledger.append_many(conn, records)
            updated = await store.share_by_id(conn, row.id)
            if updated is None:  # pragma: no cover - just written in this transaction
                raise NotFound("No such share.")
            return (await self._shares.views(conn, actor, [updated]))[0]

    @staticmethod
    def _entry(
        actor: Actor,
        row: store.HeldShareRow,
        packet: PacketRow,
        now: datetime,
        action: Action,
        event: Event,
        decision: str,
        digest: str,
        recipients: tuple[int, ...] = (),
    ) -> Record:
        return Record(
            action=action,
            event=event,
            recorded_at=now,
            actor_user_id=actor.user.id,
            actor_token_id=actor.token_id,
            actor_agency_id=actor.agency.id,
            case_id=row.case_id,
            packet_id=packet.id,
            recipients=recipients,
            purpose=packet.purpose,
            lawful_basis=packet.lawful_basis,
            content_digest=digest,
            policy_version=row.policy_version,
            decision=decision,
        )

    async def _material(self, loaded: Sealed) -> _Material:
        """What the workflows need to record the share as sent: its signed header, and the form
        and necessity statement of a typed packet (opened with the sender's key; shown to no
        one, so not a consultation)."""
        header = loaded.view.header
        if "form" not in header:
            return _Material(header, None, {})
        key = await self._shares.content_key(loaded.view.sender_agency, loaded.sealed)
        packet_id = loaded.view.packet.id
        document = fmt.decrypt_form(loaded.sealed, packet_id, key)
        manifest = fmt.decrypt_manifest(loaded.sealed, packet_id, key)
        form = None if document is None else dict(document["fields"])
        return _Material(header, form, dict(manifest.necessity))

    async def _release(
        self,
        conn: AsyncConnection,
        row: store.HeldShareRow,
        packet: PacketRow,
        material: _Material,
        now: datetime,
    ) -> None:
        """Record the share as a send would, as its proposer (the workflow rows it opens or
        closes, the case it acts on), then let its recipients list and open it."""
        case = await case_store.case_by_id(conn, row.case_id)
        if case is None:  # pragma: no cover - the foreign key keeps it
            raise NotFound("No such case.")
        sender = await _proposer(conn, row)
        policy = material.header.get("policy") or {}
        draft = Draft(
            case_id=row.case_id,
            recipient_agency_ids=packet.recipient_agency_ids,
            subject="",
            body="",
            purpose=packet.purpose,
            lawful_basis=packet.lawful_basis,
            packet_type=PacketType(packet.packet_type),
            data_categories=tuple(material.header.get("data_categories") or ()),
            necessity=material.necessity,
            schedule1_condition=(policy.get("data_protection") or {}).get("condition"),
            restricted_reason=row.restricted_reason,
            form=material.form,
            reply_to=packet.reply_to,
        )
        # The workflow's checks again (the request may have been answered meanwhile), with the
        # recipients the share was sealed for.
        plan = await self._rules.prepare(
            conn, sender, draft, case, packet.recipient_agency_ids, local_date(now)
        )
        plan.recipient_ids = packet.recipient_agency_ids
        await self._rules.record(conn, sender, draft, case, plan, packet.id, now)
        if not await store.close_share(conn, row.id, RELEASED, now):
            raise Conflict("This share was decided a moment ago.")
        await store.release_packet(conn, packet.id, now)


@dataclass(frozen=True)
class _Material:
    header: Mapping[str, Any]
    form: Mapping[str, Any] | None
    necessity: Mapping[str, str]


async def _proposer(conn: AsyncConnection, row: store.HeldShareRow) -> Actor:
    """The proposer as they acted: their account, agency, token and the person behind it."""
    users = await directory_store.users_by_ids(conn, [row.proposer_user_id, row.proposer_person_id])
    agency = await directory_store.agency_by_id(conn, row.proposer_agency_id)
    if agency is None:  # pragma: no cover - the foreign key keeps it
        raise NotFound("No such agency.")
    account = users[row.proposer_user_id]
    if row.proposer_token_id is None:
        return Actor(account, agency)
    return Actor(account, agency, row.proposer_token_id, users[row.proposer_person_id])
