"""Sealing a case's nominal record at rest, as packet content is sealed.

The record's content (everything the case row does not already keep in clear) is encrypted once
under a fresh content key in the packet format (``hub.crypto.packet_format``, as
``hub.services.saved_drafts`` does), its header signed by the writing agency. The content key is
wrapped to:

- every Responsible Authority agency of the case's area, except victim liaison (which works with
  victims, never offenders): they are who ViSOR serves, the area's coordinator sits in one of them,
  and an RA agency brought into the case later can open the record without a re-seal;
- the lead agency and every RA agency active on the case from another area.

Which of those people may read it is decided by the service (``hub.services.visor``), not by
who holds a wrapped key; the wrap is what makes the decision enforceable against anyone holding
only the database. Every write seals afresh (a new content key), so a rotated key is used from the
next change on while retired keys still open what was sealed to them.

Binding: the parts' AEAD additional data and the signed header name
``visor-record/<case id>/<version>``, so a sealed blob copied onto another case or replayed at
another version does not open (one ``CryptoFailure``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hub.crypto import packet_format as fmt
from hub.crypto.agency_keys import KeyPurpose
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes
from hub.model.directory import Agency, AgencyKind, AgencyType
from hub.services.keyring import KeyRing, KeysHeldElsewhere

HEADER_TYPE = "visor-record"
_CONTENT_SCHEMA = "mappa-hub/visor-record-content"


def binding(case_id: int, version: int) -> str:
    return f"{HEADER_TYPE}/{case_id}/{version}"


def readers(
    agencies: Iterable[Agency], area_id: int, lead_agency_id: int, active: set[int]
) -> list[Agency]:
    """The agencies the content key is wrapped to (see the module's docstring)."""
    out = []
    for a in agencies:
        ra = a.kind is AgencyKind.RESPONSIBLE_AUTHORITY and a.type is not AgencyType.VICTIM_LIAISON
        if a.id == lead_agency_id or (ra and (a.area_id == area_id or a.id in active)):
            out.append(a)
    return out


async def seal(
    keyring: KeyRing,
    signer: Agency,
    wrap_to: Iterable[Agency],
    case_id: int,
    version: int,
    content: Mapping[str, Any],
) -> bytes:
    """The sealed envelope of ``content`` (the record's sealed part)."""
    keys = await keyring.active(signer.id)
    if not keys.signing.held_by_hub:
        raise KeysHeldElsewhere()
    targets = []
    for agency in wrap_to:
        enc = (await keyring.active(agency.id)).encryption
        targets.append(fmt.Recipient(agency.code, enc.key_id, enc.public_key))
    bound = binding(case_id, version)
    sealed = fmt.seal(
        {"packet_id": bound, "type": HEADER_TYPE, "signer_agency": signer.code},
        fmt.PlainContent(
            subject="",
            body="",
            attachments=(),
            form={"schema": _CONTENT_SCHEMA, "version": 1, "fields": dict(content)},
        ),
        targets,
        keyring.private(keys.signing),
        keys.signing.key_id,
    )
    return sealed.to_envelope()


async def unseal(
    keyring: KeyRing,
    envelope: bytes,
    case_id: int,
    version: int,
    signer_agency_id: int,
    opener: Agency,
) -> dict[str, Any]:
    """Open the record with ``opener``'s private key. ``CryptoFailure`` if it does not verify or
    is bound to another case or version; ``KeysHeldElsewhere`` if the hub holds no key for it."""
    bound = binding(case_id, version)
    packet = fmt.SealedPacket.from_envelope(envelope)
    signer = await keyring.key(packet.signer_key_id)
    if (
        signer is None
        or signer.agency_id != signer_agency_id
        or signer.purpose != KeyPurpose.SIGNING.value
    ):
        raise CryptoFailure("nominal record signed by a key not of its signing agency")
    header = fmt.verify_header(packet, signer.public_key)
    if header.get("packet_id") != bound or header.get("type") != HEADER_TYPE:
        raise CryptoFailure("nominal record header names another record")
    privates: dict[str, SecretBytes] = {}
    elsewhere = False
    for wrapped in packet.wrapped_keys:
        if wrapped.agency != opener.code:
            continue
        stored = await keyring.key(wrapped.key_id)
        if stored is None or stored.agency_id != opener.id:
            continue
        if not stored.held_by_hub:
            elsewhere = True
            continue
        privates[wrapped.key_id] = keyring.private(stored)
    if elsewhere and not privates:
        raise KeysHeldElsewhere()
    content_key = fmt.unwrap_content_key(packet, opener.code, privates.get)
    doc = fmt.decrypt_form(packet, bound, content_key)
    if doc is None or doc.get("schema") != _CONTENT_SCHEMA:
        raise CryptoFailure("nominal record content has an unknown schema")
    return dict(doc["fields"])


def wrapped_agencies(envelope: bytes) -> list[str]:
    """The agency codes a sealed record is wrapped to (no decryption)."""
    return [w.agency for w in fmt.SealedPacket.from_envelope(envelope).wrapped_keys]
