"""A third-party disclosure letter's text, sealed at rest until the email adapter sends it.

The letter waits in the outbox (``email_outbox.body_sealed``) and holds personal data, so it is
sealed as saved drafts are (``hub.services.saved_drafts``): in the packet format
(``hub.crypto.packet_format``, PACKET_FORMAT.md), its body encrypted under a fresh content key,
that key sealed (X25519 sealed box) to the agency's current encryption key, the header signed
with the agency's signing key. So the letter is under the same custody as the agency's packets,
and no second sealing scheme is needed.

Binding: the header names the agency and a random letter id (the AEAD additional data names the
letter id), and opening checks that the signer and the wrapping key are that agency's; a blob
copied to another agency's row does not open (one ``CryptoFailure``). Opening tries every key the
agency has had, so a letter queued before a key rotation still opens after it.

``approval_ref`` is how an outbox row names the approved disclosure a letter carries out;
``disclosure_of`` reads it back (the sender checks the disclosure before anything leaves).
"""

from __future__ import annotations

import re
import uuid

from hub.crypto import packet_format as fmt
from hub.crypto.agency_keys import KeyPurpose
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes
from hub.services.keyring import KeyRing

LETTER_HEADER_TYPE = "disclosure-letter"
_SUBJECT = "disclosure letter"
_REF = re.compile(r"disclosure-([1-9][0-9]{0,17})")


def approval_ref(disclosure_id: int) -> str:
    """The ``approval_ref`` of an outbox row carrying out approved disclosure ``disclosure_id``."""
    return f"disclosure-{disclosure_id}"


def disclosure_of(ref: str | None) -> int | None:
    """The disclosure id an ``approval_ref`` names; None if it names none."""
    found = _REF.fullmatch(ref or "")
    return int(found.group(1)) if found else None


def _label(agency_id: int) -> str:
    return f"agency-{agency_id}"


async def seal_letter(keyring: KeyRing, agency_id: int, text: str) -> bytes:
    """Seal ``text`` to ``agency_id``'s current keys (its private keys must be held by the hub:
    ``KeysHeldElsewhere`` otherwise). Call it in the service before the outbox transaction."""
    keys = await keyring.active(agency_id)
    signing_key = keyring.private(keys.signing)
    header = {
        "packet_id": f"letter/{uuid.uuid4()}",
        "type": LETTER_HEADER_TYPE,
        "agency": _label(agency_id),
    }
    recipient = fmt.Recipient(_label(agency_id), keys.encryption.key_id, keys.encryption.public_key)
    content = fmt.PlainContent(subject=_SUBJECT, body=text)
    packet = fmt.seal(header, content, [recipient], signing_key, keys.signing.key_id)
    return packet.to_envelope()


async def open_letter(keyring: KeyRing, agency_id: int, blob: bytes) -> str:
    """The letter's text. ``CryptoFailure`` if it is not a letter sealed by and to this agency."""
    packet = fmt.SealedPacket.from_envelope(blob)
    signer = await keyring.key(packet.signer_key_id)
    if (
        signer is None
        or signer.agency_id != agency_id
        or signer.purpose != KeyPurpose.SIGNING.value
    ):
        raise CryptoFailure("letter signed by a key not of its agency")
    header = fmt.verify_header(packet, signer.public_key)
    letter_id = str(header.get("packet_id", ""))
    if (
        header.get("type") != LETTER_HEADER_TYPE
        or header.get("agency") != _label(agency_id)
        or not letter_id.startswith("letter/")
    ):
        raise CryptoFailure("letter header names another agency or is not a letter")
    privates: dict[str, SecretBytes] = {}
    for wrapped in packet.wrapped_keys:
        stored = await keyring.key(wrapped.key_id)
        if (
            stored is not None
            and stored.agency_id == agency_id
            and stored.purpose == KeyPurpose.ENCRYPTION.value
            and stored.held_by_hub
        ):
            privates[wrapped.key_id] = keyring.private(stored)
    content_key = fmt.unwrap_content_key(packet, _label(agency_id), privates.get)
    return fmt.decrypt_body(packet, letter_id, content_key)
