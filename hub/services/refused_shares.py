"""Shares the policy refuses, on the log (``Event.SHARE_REFUSED``).

The MAIS standard logs every request to share with the agreement's version, the decision and the
response (DESIGN.md, Policy), and an information-governance officer reviewing a case asks for
the shares that were attempted as well as those made. So a DENY writes one entry: who asked (the
person, and the API token for an agency system), about which case, to which agencies, for which
purpose and on which basis, the policy version and "DENY". Nothing is sealed or stored, and the
entry holds no content. It is a consultation in DPA 2018 s62's terms: deciding read the case's
category, level and the agencies active on it; nothing was disclosed, and the agencies named are
the ones the share was meant for.

Written once the share is refused, with the next batch of the log's writes
(``PacketService.log_refusal``, ``hub.services.log_writer``), so that a refused share leaves this
entry and nothing else. A REVIEW is not a refusal: the held share is on the log as
``share-proposed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hub.ledger.entries import Action, Event, Record
from hub.policy.model import Decision
from hub.services.actor import Actor


def refusal_record(
    actor: Actor,
    decision: Decision,
    when: datetime,
    *,
    case_id: int,
    recipients: Iterable[int],
    purpose: str,
    lawful_basis: str,
) -> Record:
    return Record(
        action=Action.CONSULTATION,
        event=Event.SHARE_REFUSED,
        recorded_at=when,
        actor_user_id=actor.user.id,
        actor_token_id=actor.token_id,
        actor_agency_id=actor.agency.id,
        case_id=case_id,
        recipients=tuple(sorted(set(recipients))),
        purpose=purpose,
        lawful_basis=lawful_basis,
        policy_version=decision.policy_version,
        decision=decision.outcome.value,
    )
