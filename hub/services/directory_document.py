"""The directory document a hub publishes to its peers: its receiving agencies' public keys.

A peer wraps a bundle's content keys for the receiving area's agencies with the X25519 keys
listed here and checks their Ed25519 keys, so the document is signed by the publishing hub's key
(detached Ed25519 over the canonical JSON of ``document``) and checked against the key pinned for
that peer. Format (version 1)::

    {"document": {"format": "mappa-hub-directory", "version": 1,
                  "hub": {"key": HEX, "fingerprint": HEX},
                  "issued_at": ISO, "expires_at": ISO,
                  "agencies": [{"code", "name", "type", "kind",
                                "area": {"code", "name", "jurisdiction"},
                                "keys": {"encryption": {"key_id", "public": HEX, "created_at"},
                                         "signing": {...}}}]},
     "signature": BASE64}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.clock import utc_text
from hub.crypto import signing
from hub.crypto.canonical import canonical_json
from hub.crypto.errors import CryptoFailure
from hub.crypto.http_signatures import fingerprint
from hub.crypto.secrets import SecretBytes, constant_time_equals
from hub.errors import IntegrityFailure
from hub.model.directory import Agency, AgencyKind, AgencyType, Area, Jurisdiction

FORMAT = "mappa-hub-directory"
VERSION = 1
# A peer re-fetches well within this; a stale document is refused rather than trusted forever.
LIFETIME = timedelta(days=30)
MAX_BYTES = 4 * 1024 * 1024


class DirectoryRefused(IntegrityFailure):
    """A peer's directory document that is malformed, not signed by its pinned key, or expired."""

    code = "directory_refused"

    def __init__(self, reason: str) -> None:
        super().__init__("The peer hub's directory document was refused.", reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class PublishedKey:
    key_id: str
    public: bytes
    created_at: datetime


@dataclass(frozen=True)
class ReceivingAgency:
    """An agency on a peer hub, as its signed directory document lists it."""

    code: str
    name: str
    type: AgencyType
    kind: AgencyKind
    area_code: str
    area_name: str
    jurisdiction: Jurisdiction
    encryption: PublishedKey
    signing: PublishedKey


@dataclass(frozen=True)
class PeerDirectory:
    hub_key: bytes
    issued_at: datetime
    expires_at: datetime
    agencies: tuple[ReceivingAgency, ...]


def _key(key_id: str, public: bytes, created_at: datetime) -> dict[str, str]:
    return {"key_id": key_id, "public": public.hex(), "created_at": utc_text(created_at)}


def build(
    hub_key: bytes,
    entries: Iterable[tuple[Agency, Area, PublishedKey, PublishedKey]],
    issued_at: datetime,
) -> dict[str, Any]:
    """The document body: each agency with its area and its active encryption and signing key."""
    agencies = [
        {
            "code": agency.code,
            "name": agency.name,
            "type": agency.type.value,
            "kind": agency.kind.value,
            "area": {"code": area.code, "name": area.name, "jurisdiction": area.jurisdiction.value},
            "keys": {
                "encryption": _key(enc.key_id, enc.public, enc.created_at),
                "signing": _key(sig.key_id, sig.public, sig.created_at),
            },
        }
        for agency, area, enc, sig in entries
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "hub": {"key": hub_key.hex(), "fingerprint": fingerprint(hub_key)},
        "issued_at": utc_text(issued_at),
        "expires_at": utc_text(issued_at + LIFETIME),
        "agencies": sorted(agencies, key=lambda a: str(a["code"])),
    }


def sign(document: dict[str, Any], private: SecretBytes) -> bytes:
    signature = signing.sign(private, canonical_json(document))
    return canonical_json({"document": document, "signature": base64.b64encode(signature).decode()})


def verify(data: bytes, pinned_key: bytes, now: datetime) -> PeerDirectory:
    """The document, if ``pinned_key`` signed it, it names that key, and it has not expired."""
    if len(data) > MAX_BYTES:
        raise DirectoryRefused("too large")
    try:
        outer = json.loads(data)
        document = outer["document"]
        signature = base64.b64decode(outer["signature"], validate=True)
        body = canonical_json(document)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise DirectoryRefused("not a directory document") from None
    try:
        signing.verify(pinned_key, body, signature)
    except CryptoFailure:
        raise DirectoryRefused("not signed by the pinned hub key") from None
    try:
        return _parse(document, pinned_key, now)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DirectoryRefused("malformed directory document") from None


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _published(raw: dict[str, str]) -> PublishedKey:
    public = bytes.fromhex(raw["public"])
    if len(public) != 32:
        raise ValueError("a key is 32 bytes")
    return PublishedKey(str(raw["key_id"]), public, _when(raw["created_at"]))


def _parse(document: dict[str, Any], pinned_key: bytes, now: datetime) -> PeerDirectory:
    if document["format"] != FORMAT or document["version"] != VERSION:
        raise DirectoryRefused("unknown format or version")
    if not constant_time_equals(document["hub"]["key"], pinned_key.hex()):
        raise DirectoryRefused("names another hub key")
    issued, expires = _when(document["issued_at"]), _when(document["expires_at"])
    if expires <= now:
        raise DirectoryRefused("expired: fetch the peer's directory again")
    agencies = tuple(
        ReceivingAgency(
            code=str(a["code"]),
            name=str(a["name"]),
            type=AgencyType(a["type"]),
            kind=AgencyKind(a["kind"]),
            area_code=str(a["area"]["code"]),
            area_name=str(a["area"]["name"]),
            jurisdiction=Jurisdiction(a["area"]["jurisdiction"]),
            encryption=_published(a["keys"]["encryption"]),
            signing=_published(a["keys"]["signing"]),
        )
        for a in document["agencies"]
    )
    return PeerDirectory(pinned_key, issued, expires, agencies)
