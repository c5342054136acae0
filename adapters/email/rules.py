"""May this outbox row leave the hub? The channel rules (policies/channels.toml) decide.

A notification or digest goes on the ``email`` channel: it carries the ``notification`` category
only, to a recipient kind the channel reaches (Responsible Authority and Duty to Cooperate
agencies). A letter goes on the ``letter`` channel, only for an approved third-party disclosure
whose method is a letter, and only if the channel carries every category the disclosure does, to
the disclosure's kind of recipient. Anything else is refused with a reason that names no person:
the sender makes such a row a dead letter and never sends it.

The clearance also says what the ledger entry records as purpose and lawful basis: for a letter,
the disclosure's own (the approval decided them); for a notification, the statutory duty to
co-operate of the recipient's jurisdiction that the policy lists for MAPPA risk management
(e.g. CJA 2003 s325 in England and Wales), under the channel's agreement.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.errors import Forbidden
from hub.model.directory import Agency, AgencyKind, Area
from hub.policy.policyset import PolicySet
from hub.store.disclosures import DisclosureRow
from hub.store.email_outbox import LETTER, OutboxRow

EMAIL_CHANNEL, LETTER_CHANNEL = "email", "letter"
NOTIFICATION_CATEGORY = "notification"
NOTIFICATION_PURPOSE = "risk-management"
# A letter carries out an approved disclosure: approved and not yet delivered by other means, or
# delivered by this very letter (a retry after the register was updated).
_SENDABLE = ("approved", "delivered")


class ChannelRefused(Forbidden):
    """The channel rules do not allow this message out."""

    code = "channel_refused"


@dataclass(frozen=True)
class Clearance:
    channel: str
    purpose: str
    lawful_basis: str
    agreement: str
    policy_version: str


def clear(
    policy: PolicySet,
    row: OutboxRow,
    recipient: Agency,
    area: Area,
    disclosure: DisclosureRow | None,
) -> Clearance:
    """The channel's clearance for ``row`` to ``recipient`` (of ``area``), or ``ChannelRefused``."""
    expected = LETTER_CHANNEL if row.kind == LETTER else EMAIL_CHANNEL
    if row.channel != expected:
        raise ChannelRefused(f"a {row.kind} message goes on the '{expected}' channel only")
    channel = policy.channels.get(row.channel)
    if channel is None:
        raise ChannelRefused(f"'{row.channel}' is not a channel the policy allows")
    if row.kind == LETTER:
        return _clear_letter(policy, row, disclosure, channel.categories, channel.recipient_kinds)
    kind = recipient.kind.value
    if channel.categories is not None and NOTIFICATION_CATEGORY not in channel.categories:
        raise ChannelRefused(f"the '{row.channel}' channel does not carry notifications")
    if channel.recipient_kinds is not None and kind not in channel.recipient_kinds:
        raise ChannelRefused(f"the '{row.channel}' channel does not reach {kind} agencies")
    basis = next(
        (
            name
            for name, b in policy.lawful_bases.items()
            if b.nature == "duty"
            and area.jurisdiction.value in b.jurisdictions
            and NOTIFICATION_PURPOSE in b.purposes
            and b.reaches(recipient.type.value, kind)
        ),
        None,
    )
    if basis is None:
        raise ChannelRefused(
            f"no duty in the policy covers notifications to {kind} agencies in "
            f"{area.jurisdiction.value}"
        )
    return Clearance(row.channel, NOTIFICATION_PURPOSE, basis, channel.agreement, policy.version)


def _clear_letter(
    policy: PolicySet,
    row: OutboxRow,
    disclosure: DisclosureRow | None,
    categories: frozenset[str] | None,
    kinds: frozenset[str] | None,
) -> Clearance:
    if disclosure is None or row.body_sealed is None:
        raise ChannelRefused("a letter must name an approved disclosure and carry its text")
    if disclosure.status not in _SENDABLE:
        raise ChannelRefused(f"the disclosure is {disclosure.status}, not approved")
    if disclosure.method != LETTER_CHANNEL:
        raise ChannelRefused(f"the disclosure was approved for {disclosure.method}, not a letter")
    if row.case_id is not None and row.case_id != disclosure.case_id:
        raise ChannelRefused("the letter's case is not the disclosure's")
    # The disclosee (an employer, a school...) is outside MAPPA and outside the directory: a third
    # party in the policy's terms, whatever its role (``row.agency_id`` is the disclosing agency).
    kind = AgencyKind.THIRD_PARTY.value
    if kinds is not None and kind not in kinds:
        raise ChannelRefused(f"the letter channel does not reach {kind} recipients")
    carried = {c for c in disclosure.categories.split(",") if c}
    if categories is not None and carried - categories:
        raise ChannelRefused(
            "the letter channel cannot carry " + ", ".join(sorted(carried - categories))
        )
    channel = policy.channels[LETTER_CHANNEL]
    return Clearance(
        LETTER_CHANNEL,
        disclosure.purpose,
        disclosure.lawful_basis,
        channel.agreement,
        policy.version,
    )
