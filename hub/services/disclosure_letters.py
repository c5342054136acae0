"""An approved third-party disclosure made by letter, sent by secure email from the hub.

Content leaves by email only where the channel rules allow it: the ``letter`` channel
(policies/channels.toml) must carry every category the disclosure was approved for, to a third
party. The letter's text is sealed to the sending agency's key before it is queued (nothing of it
is stored in clear), the outbox row names the disclosure and its approvals (who approved, when),
and the disclosure is recorded as made, with its log entry, in the same transaction as the row.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.clock import Clock
from hub.errors import Forbidden, InvalidInput
from hub.model.directory import AgencyKind
from hub.services import letter_box
from hub.services.actor import Actor
from hub.services.disclosures import DisclosureService, DisclosureView
from hub.services.keyring import KeyRing
from hub.services.notice_service import valid_address
from hub.services.notices import MESSAGE_ID_DOMAIN
from hub.services.policy import PolicyService
from hub.store import disclosures as disclosure_store
from hub.store import email_outbox as outbox
from hub.store.database import Database
from hub.text import check_text

LETTER_CHANNEL = "letter"
LETTER_EVENT = "disclosure-letter"
MAX_LETTER_CHARS = 20_000


@dataclass(frozen=True)
class LetterSent:
    disclosure: DisclosureView
    outbox_id: int


class ChannelRefused(Forbidden):
    """The policy's channel rules do not let this disclosure leave as a letter by email."""

    code = "channel_refused"


class DisclosureLetters:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        keyring: KeyRing,
        policy: PolicyService,
        disclosures: DisclosureService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._keyring = keyring
        self._policy = policy
        self._disclosures = disclosures

    async def send_letter(
        self, actor: Actor, disclosure_id: int, to_address: str, text: str
    ) -> LetterSent:
        """Queue the letter for ``to_address`` and record the disclosure as made, or refuse with
        the reason (writing nothing)."""
        address = valid_address(to_address, field="to_address")
        body = check_text(text.strip(), "letter_text", "the letter")
        if not body:
            raise InvalidInput("Enter the letter's text.", field="letter_text")
        if len(body) > MAX_LETTER_CHARS:
            raise InvalidInput(
                f"The letter must be {MAX_LETTER_CHARS:,} characters or fewer.",
                field="letter_text",
            )
        # Checked before sealing (refuse early), and again in the transaction that writes.
        async with self._db.read() as conn:
            row = await self._disclosures.deliverable(conn, actor, disclosure_id)
        self._check_channel(row)
        sealed = await letter_box.seal_letter(self._keyring, actor.agency.id, body)
        now = self._clock.now()
        async with self._db.write() as conn:
            row = await self._disclosures.deliverable(conn, actor, disclosure_id)
            self._check_channel(row)
            approvals = [
                d
                for d in await disclosure_store.decisions_for(conn, [row.id])
                if d.decision == "approve"
            ]
            outbox_id = await outbox.enqueue(
                conn,
                outbox.message(
                    dedupe_key=f"{LETTER_EVENT}:{row.id}",
                    message_id=outbox.new_message_id(MESSAGE_ID_DOMAIN),
                    kind=outbox.LETTER,
                    event=LETTER_EVENT,
                    channel=LETTER_CHANNEL,
                    agency_id=actor.agency.id,
                    to_address=address,
                    when=now,
                    user_id=actor.user.id,
                    case_id=row.case_id,
                    link=f"/disclosures/{row.id}",
                    # Who approved and when, for the message to name (the register has the reasons).
                    ref=";".join(
                        f"{d.approver_person_id or d.approver_user_id}"
                        f"@{d.decided_at:%Y-%m-%dT%H:%MZ}"
                        for d in approvals
                    )[:100],
                    body_sealed=sealed,
                    approval_ref=letter_box.approval_ref(row.id),
                ),
            )
            if outbox_id is None:  # pragma: no cover - deliverable refuses a made disclosure
                raise InvalidInput("A letter for this disclosure has already been sent.")
            view = await self._disclosures.record_delivery(conn, actor, row, now)
        return LetterSent(view, outbox_id)

    def _check_channel(self, row: disclosure_store.DisclosureRow) -> None:
        if row.method != LETTER_CHANNEL:
            raise ChannelRefused(
                f"This disclosure was approved to be made {row.method.replace('-', ' ')}, not "
                "by letter."
            )
        channel = self._policy.current.channels.get(LETTER_CHANNEL)
        if channel is None:
            raise ChannelRefused("The policy has no letter channel: letters cannot be sent.")
        # The disclosure's recipient is outside MAPPA: a third party, in the policy's terms.
        kind = AgencyKind.THIRD_PARTY.value
        if channel.recipient_kinds is not None and kind not in channel.recipient_kinds:
            raise ChannelRefused("The policy's letter channel does not reach third parties.")
        carried = {c for c in row.categories.split(",") if c}
        if channel.categories is not None and carried - channel.categories:
            names = ", ".join(sorted(carried - channel.categories))
            raise ChannelRefused(
                f"The policy's letter channel cannot carry what this disclosure holds ({names}): "
                "make the disclosure in person and record it."
            )
