"""End-to-end mode on the agency system's side: seal with its own keys, open with its own keys.

The hub never sees the private keys used here. An agency system keeps ``AgencyKeys`` (generated
once, the public halves registered by the hub's operator with ``mappa-hub keys import``), seals a
note for the recipients' X25519 keys, and submits the envelope (``HubClient.submit_sealed``); it
opens what it fetches (``HubClient.fetch_sealed``) after checking the sender's signature against a
signing key it trusts. Which public keys to trust is the system's decision, made out of band
(PACKET_FORMAT.md section 4): the hub is not asked for them.

    keys = AgencyKeys.generate("DBY-POLICE")     # keep keys.encryption / keys.signing private
    envelope = seal_note(keys, recipients={"DBY-HOUSING": housing_public}, case="DBY-2026-0001",
                         sender_user="pc.smith", purpose="risk-management", ...)
    await hub.submit_sealed(envelope)
    opened = open_envelope(await hub.fetch_sealed(packet_id), keys, trusted_signers)
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub import ids
from hub.clock import utc_text
from hub.crypto import packet_format as fmt
from hub.crypto.agency_keys import KeyPurpose, LocalKeyPair, generate_local_pair, key_id
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes


@dataclass(frozen=True)
class PublicKeys:
    """An agency's public keys, as another system trusts them."""

    agency: str
    encryption: bytes
    signing: bytes

    @property
    def encryption_key_id(self) -> str:
        return key_id(KeyPurpose.ENCRYPTION, self.encryption)

    @property
    def signing_key_id(self) -> str:
        return key_id(KeyPurpose.SIGNING, self.signing)


@dataclass(frozen=True)
class AgencyKeys:
    """An agency system's own key pairs. ``retired`` keeps older X25519 pairs to open old packets."""

    agency: str
    encryption: LocalKeyPair
    signing: LocalKeyPair
    retired: tuple[LocalKeyPair, ...] = ()

    @classmethod
    def generate(cls, agency: str) -> AgencyKeys:
        return cls(
            agency,
            generate_local_pair(KeyPurpose.ENCRYPTION),
            generate_local_pair(KeyPurpose.SIGNING),
        )

    @property
    def public(self) -> PublicKeys:
        return PublicKeys(self.agency, self.encryption.public, self.signing.public)

    def import_arguments(self) -> list[str]:
        """The operator's command line: ``mappa-hub keys import`` followed by these."""
        return [
            "--agency",
            self.agency,
            "--encryption-public",
            base64.b64encode(self.encryption.public).decode("ascii"),
            "--signing-public",
            base64.b64encode(self.signing.public).decode("ascii"),
        ]

    def encryption_private(self, kid: str) -> SecretBytes | None:
        for pair in (self.encryption, *self.retired):
            if pair.key_id == kid and pair.purpose is KeyPurpose.ENCRYPTION:
                return pair.private
        return None


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


def seal_note(
    keys: AgencyKeys,
    *,
    recipients: Iterable[PublicKeys],
    case: str,
    sender_user: str,
    purpose: str,
    lawful_basis: str,
    data_categories: Sequence[str],
    subject: str,
    body: str,
    necessity: Mapping[str, str] | None = None,
    attachments: Sequence[Attachment] = (),
    classification: str = "OFFICIAL-SENSITIVE",
    schedule1_condition: str | None = None,
    restricted_reason: str | None = None,
    packet_id: str | None = None,
    created_at: str | None = None,
) -> bytes:
    """Seal a note with the agency's own keys: the envelope to submit to the hub.

    The necessity statement goes in the signed header, in clear, because the hub decides the
    necessity test on it (and also in the encrypted manifest, as in hub mode): keep it free of
    anything that identifies the person (PACKET_FORMAT.md section 3.3).
    """
    targets = list(recipients)
    statement = {k: v for k, v in (necessity or {}).items() if v.strip()}
    now = datetime.now(UTC)
    header: dict[str, Any] = {
        # Time-ordered, as the hub makes its own (hub/ids.py): it stores them in the same indexes.
        "packet_id": packet_id or ids.packet_id(now),
        "type": "note",
        "case": case,
        "sender_user": sender_user,
        "sender_agency": keys.agency,
        "recipients": sorted({r.agency for r in targets}),
        "purpose": purpose,
        "lawful_basis": lawful_basis,
        "data_categories": sorted(set(data_categories)),
        "classification": classification,
        "created_at": created_at or utc_text(now),
    }
    if statement:
        header["necessity"] = statement
    if schedule1_condition is not None:
        header["schedule1_condition"] = schedule1_condition
    if restricted_reason is not None:
        header["restricted_reason"] = restricted_reason
    content = fmt.PlainContent(
        subject=subject,
        body=body,
        attachments=tuple(
            fmt.PlainAttachment(a.filename, a.content_type, a.data) for a in attachments
        ),
        necessity=statement,
    )
    wrap_for = [
        fmt.Recipient(keys.agency, keys.encryption.key_id, keys.encryption.public),
        *(fmt.Recipient(r.agency, r.encryption_key_id, r.encryption) for r in targets),
    ]
    sealed = fmt.seal(header, content, wrap_for, keys.signing.private, keys.signing.key_id)
    return sealed.to_envelope()


@dataclass(frozen=True)
class OpenedEnvelope:
    header: dict[str, Any]
    subject: str
    body: str
    necessity: dict[str, str]
    attachments: tuple[Attachment, ...]
    form: dict[str, Any] | None = field(default=None)


def open_envelope(
    envelope: bytes, keys: AgencyKeys, trusted_signers: Iterable[PublicKeys]
) -> OpenedEnvelope:
    """Verify and decrypt an envelope in the order PACKET_FORMAT.md section 11 sets.

    ``trusted_signers``: the agencies whose signing keys this system trusts. Raises
    ``CryptoFailure`` on any failure, before releasing any content.
    """
    packet = fmt.SealedPacket.from_envelope(envelope)
    signers = {p.signing_key_id: p for p in trusted_signers}
    signer = signers.get(packet.signer_key_id)
    if signer is None:
        raise CryptoFailure("the signer is not a key this system trusts")
    header = fmt.verify_header(packet, signer.signing)
    if header.get("sender_agency") != signer.agency:
        raise CryptoFailure("the signing key is not the sending agency's")
    recipients = header.get("recipients")
    if keys.agency != signer.agency and (
        not isinstance(recipients, list) or keys.agency not in recipients
    ):
        raise CryptoFailure("this packet was not sent to this agency")
    packet_id = str(header["packet_id"])
    content_key = fmt.unwrap_content_key(packet, keys.agency, keys.encryption_private)
    manifest = fmt.decrypt_manifest(packet, packet_id, content_key)
    body = fmt.decrypt_body(packet, packet_id, content_key)
    attachments = tuple(
        Attachment(
            a.filename, a.content_type, fmt.decrypt_attachment(packet, packet_id, content_key, a)
        )
        for a in manifest.attachments
    )
    return OpenedEnvelope(
        header=header,
        subject=manifest.subject,
        body=body,
        necessity=dict(manifest.necessity) or dict(header.get("necessity") or {}),
        attachments=attachments,
        form=fmt.decrypt_form(packet, packet_id, content_key),
    )
