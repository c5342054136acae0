"""Packet format v1: a signed cleartext header and content encrypted once.

See ``PACKET_FORMAT.md`` beside this file for the byte-level description that an independent
implementation follows. In short:

- content parts (``manifest``, ``body``, ``attachment-N``) are each encrypted with
  XChaCha20-Poly1305-IETF under one fresh 32-byte content key; a part is ``nonce(24) || ciphertext``
  and its AAD is ``"mappa-hub/packet/v1/<packet_id>/<part name>"``;
- the header (canonical JSON) lists each part's SHA-256, and is signed with the sending agency's
  Ed25519 key: the signature covers every ciphertext byte;
- the content key is sealed (``crypto_box_seal``) to the X25519 key of each recipient agency and of
  the sender's agency. Destroying those wrapped keys makes the packet unreadable.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.public
import nacl.signing
import nacl.utils

from hub.crypto.canonical import NotCanonical, canonical_json, loads_unique, parse_canonical
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes, constant_time_equals, sha256_hex

FORMAT_NAME = "mappa-hub/packet"
FORMAT_VERSION = 1
AEAD_NAME = "xchacha20poly1305-ietf"
WRAP_NAME = "x25519-sealedbox"
SIGNATURE_NAME = "ed25519"
CONTENT_KEY_BYTES = 32
_NONCE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

MANIFEST = "manifest"
BODY = "body"
# A typed packet's structured content (hub.workflows.forms): canonical JSON, optional.
FORM = "form"


class HeaderNotCanonical(CryptoFailure):
    """A header whose signature verified but whose bytes are not canonical JSON of an object.

    A ``CryptoFailure`` like every other, so that readers refuse it the same way; its own class
    so that the hub can tell the signer (who alone could have made it) what to put right."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"header is not canonical JSON: {problem}")
        self.problem = problem


def attachment_part(index: int) -> str:
    return f"attachment-{index}"


@dataclass(frozen=True)
class Recipient:
    """An agency the content key is wrapped for."""

    agency: str
    key_id: str
    public: bytes


@dataclass(frozen=True)
class WrappedKey:
    agency: str
    key_id: str
    sealed: bytes


@dataclass(frozen=True)
class PlainAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class PlainContent:
    subject: str
    body: str
    attachments: tuple[PlainAttachment, ...] = ()
    # The sender's necessity statement (policy test 2): personal data, so encrypted content.
    necessity: Mapping[str, str] = field(default_factory=dict)
    # {"schema": ..., "version": ..., "fields": {...}} for a typed packet; None for a plain note.
    form: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ManifestEntry:
    part: str
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    subject: str
    attachments: tuple[ManifestEntry, ...]
    necessity: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SealedPacket:
    header_bytes: bytes
    signature: bytes
    signer_key_id: str
    wrapped_keys: tuple[WrappedKey, ...]
    parts: Mapping[str, bytes]

    def to_envelope(self) -> bytes:
        """The portable form: what an agency system or an independent implementation receives."""
        doc = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "header": _b64(self.header_bytes),
            "signature": _b64(self.signature),
            "signer": self.signer_key_id,
            "keys": [
                {"agency": w.agency, "key_id": w.key_id, "sealed": _b64(w.sealed)}
                for w in self.wrapped_keys
            ],
            "parts": {name: _b64(blob) for name, blob in sorted(self.parts.items())},
        }
        return canonical_json(doc)

    @classmethod
    def from_envelope(cls, data: bytes) -> SealedPacket:
        """Parse an envelope (PACKET_FORMAT.md section 2): any JSON layout, but no member named
        twice in one object, and every member of its type (a number is not a string).
        Raises ``CryptoFailure``."""
        try:
            doc = loads_unique(data)
            if doc.get("format") != FORMAT_NAME or not _is_version(doc.get("version")):
                raise CryptoFailure("unknown packet format or version")
            keys, parts = doc["keys"], doc["parts"]
            if not isinstance(keys, list) or not isinstance(parts, dict):
                raise TypeError("keys is an array and parts an object")
            return cls(
                header_bytes=_unb64(doc["header"]),
                signature=_unb64(doc["signature"]),
                signer_key_id=_str(doc["signer"]),
                wrapped_keys=tuple(
                    WrappedKey(_str(k["agency"]), _str(k["key_id"]), _unb64(k["sealed"]))
                    for k in keys
                ),
                parts={n: _unb64(b) for n, b in parts.items()},
            )
        except CryptoFailure:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise CryptoFailure("malformed packet envelope") from exc


def _is_version(value: Any) -> bool:
    """Exactly the JSON integer 1: not ``true`` and not ``1.0``, which Python would call equal."""
    return type(value) is int and value == FORMAT_VERSION


def _str(value: Any) -> str:
    """A JSON string, as it is: a number or ``null`` is not taken for one."""
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _int(value: Any) -> int:
    """A JSON integer, as it is: not ``true``, ``1.0`` or ``"1"``."""
    if type(value) is not int:
        raise TypeError("expected an integer")
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError("base64 is a string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("bad base64") from exc


def _part_aad(packet_id: str, part: str) -> bytes:
    return f"{FORMAT_NAME}/v{FORMAT_VERSION}/{packet_id}/{part}".encode()


def _encrypt_part(key: bytes, packet_id: str, part: str, plaintext: bytes) -> bytes:
    nonce = nacl.utils.random(_NONCE)
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, _part_aad(packet_id, part), nonce, key
    )
    return nonce + ct


def seal(
    header_fields: Mapping[str, Any],
    content: PlainContent,
    recipients: Iterable[Recipient],
    signing_key: SecretBytes,
    signer_key_id: str,
) -> SealedPacket:
    """Encrypt ``content`` once, wrap its key for each recipient, sign the header.

    ``header_fields`` must include ``packet_id``; this function adds the format fields and the
    digest of every part, so the signature covers the ciphertext.
    """
    packet_id = str(header_fields["packet_id"])
    key = nacl.utils.random(CONTENT_KEY_BYTES)
    parts: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    for i, att in enumerate(content.attachments):
        name = attachment_part(i)
        parts[name] = _encrypt_part(key, packet_id, name, att.data)
        entries.append(
            {
                "part": name,
                "filename": att.filename,
                "content_type": att.content_type,
                "size": len(att.data),
                "sha256": sha256_hex(att.data),
            }
        )
    manifest_doc: dict[str, Any] = {"subject": content.subject, "attachments": entries}
    if content.necessity:
        manifest_doc["necessity"] = dict(content.necessity)
    manifest = canonical_json(manifest_doc)
    parts[MANIFEST] = _encrypt_part(key, packet_id, MANIFEST, manifest)
    parts[BODY] = _encrypt_part(key, packet_id, BODY, content.body.encode("utf-8"))
    if content.form is not None:
        parts[FORM] = _encrypt_part(key, packet_id, FORM, canonical_json(dict(content.form)))

    header = dict(header_fields)
    header.update(
        {
            "format": FORMAT_NAME,
            "v": FORMAT_VERSION,
            "aead": AEAD_NAME,
            "wrap": WRAP_NAME,
            "parts": {name: sha256_hex(blob) for name, blob in parts.items()},
        }
    )
    header_bytes = canonical_json(header)
    signature = signer(signing_key).sign(header_bytes).signature
    wrapped = tuple(
        WrappedKey(
            r.agency, r.key_id, nacl.public.SealedBox(nacl.public.PublicKey(r.public)).encrypt(key)
        )
        for r in _unique(recipients)
    )
    return SealedPacket(header_bytes, signature, signer_key_id, wrapped, parts)


def signer(private: SecretBytes) -> nacl.signing.SigningKey:
    """The signing key for a seed, expanded once: expansion costs as much as a signature."""
    return _expanded(private.reveal())


@functools.lru_cache(maxsize=64)
def _expanded(seed: bytes) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(seed)


def _unique(recipients: Iterable[Recipient]) -> list[Recipient]:
    seen: dict[str, Recipient] = {}
    for r in recipients:
        seen.setdefault(r.agency, r)
    return list(seen.values())


def verify_header(packet: SealedPacket, signer_public: bytes) -> dict[str, Any]:
    """Check the signature and every part digest; return the header. Raises ``CryptoFailure``."""
    try:
        nacl.signing.VerifyKey(signer_public).verify(packet.header_bytes, packet.signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as exc:
        raise CryptoFailure("header signature does not verify") from exc
    header = parse_header(packet.header_bytes)
    if (
        not isinstance(header, dict)
        or header.get("format") != FORMAT_NAME
        or not _is_version(header.get("v"))
    ):
        raise CryptoFailure("unknown header version")
    declared = header.get("parts")
    if not isinstance(declared, dict) or set(declared) != set(packet.parts):
        raise CryptoFailure("parts differ from the signed header")
    for name, blob in packet.parts.items():
        if not constant_time_equals(sha256_hex(blob), str(declared[name])):
            raise CryptoFailure(f"part {name} does not match its signed digest")
    return dict(header)


def parse_header(header_bytes: bytes) -> dict[str, Any]:
    """The signed header's value, if its bytes are canonical JSON (PACKET_FORMAT.md 3.1) of an
    object; ``HeaderNotCanonical`` (a ``CryptoFailure``) otherwise (a member named twice, a float, white space, keys out of
    order, non-canonical escapes). Only after the signature over these bytes has verified.

    Two readers of one signed header must see the same values: one that keeps the first of two
    ``"recipients"`` and one that keeps the last would route the same signature differently."""
    try:
        header = parse_canonical(header_bytes)
    except NotCanonical as exc:  # signed garbage from the signer: still refuse it
        raise HeaderNotCanonical(str(exc)) from exc
    if not isinstance(header, dict):
        raise HeaderNotCanonical("not a JSON object")
    return header


def unwrap_content_key(
    packet: SealedPacket,
    agency: str,
    private_key_for: Callable[[str], SecretBytes | None],
) -> SecretBytes:
    """Open the content key wrapped for ``agency`` with that agency's X25519 private key."""
    for wrapped in packet.wrapped_keys:
        if wrapped.agency != agency:
            continue
        private = private_key_for(wrapped.key_id)
        if private is None:
            raise CryptoFailure("no private key for the wrapped content key")
        try:
            box = nacl.public.SealedBox(nacl.public.PrivateKey(private.reveal()))
            key = box.decrypt(wrapped.sealed)
        except (nacl.exceptions.CryptoError, ValueError) as exc:
            raise CryptoFailure("content key does not unwrap") from exc
        if len(key) != CONTENT_KEY_BYTES:
            raise CryptoFailure("content key has the wrong length")
        return SecretBytes(key)
    raise CryptoFailure("no content key wrapped for this agency")


def decrypt_part(
    packet: SealedPacket, packet_id: str, content_key: SecretBytes, part: str
) -> bytes:
    blob = packet.parts.get(part)
    if blob is None or len(blob) < _NONCE + 16:
        raise CryptoFailure(f"part {part} is missing or truncated")
    try:
        return bytes(
            sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                blob[_NONCE:], _part_aad(packet_id, part), blob[:_NONCE], content_key.reveal()
            )
        )
    except nacl.exceptions.CryptoError as exc:
        raise CryptoFailure(f"part {part} does not decrypt") from exc


def decrypt_manifest(packet: SealedPacket, packet_id: str, content_key: SecretBytes) -> Manifest:
    raw = decrypt_part(packet, packet_id, content_key, MANIFEST)
    try:
        # No member named twice, and each of its type: a size of "4", 4.0 or true is refused.
        doc = loads_unique(raw)
        return Manifest(
            subject=_str(doc["subject"]),
            attachments=tuple(
                ManifestEntry(
                    part=_str(a["part"]),
                    filename=_str(a["filename"]),
                    content_type=_str(a["content_type"]),
                    size=_int(a["size"]),
                    sha256=_str(a["sha256"]),
                )
                for a in doc["attachments"]
            ),
            necessity={k: _str(v) for k, v in doc.get("necessity", {}).items()},
        )
    # OverflowError: a size of Infinity; RecursionError: JSON nested past the parser's limit.
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        raise CryptoFailure("manifest is malformed") from exc


def decrypt_attachment(
    packet: SealedPacket, packet_id: str, content_key: SecretBytes, entry: ManifestEntry
) -> bytes:
    data = decrypt_part(packet, packet_id, content_key, entry.part)
    if len(data) != entry.size or not constant_time_equals(sha256_hex(data), entry.sha256):
        raise CryptoFailure("attachment does not match its manifest")
    return data


def decrypt_body(packet: SealedPacket, packet_id: str, content_key: SecretBytes) -> str:
    try:
        return decrypt_part(packet, packet_id, content_key, BODY).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CryptoFailure("body is not UTF-8") from exc


def decrypt_form(
    packet: SealedPacket, packet_id: str, content_key: SecretBytes
) -> dict[str, Any] | None:
    """The structured form of a typed packet, or None when the packet carries none."""
    if FORM not in packet.parts:
        return None
    raw = decrypt_part(packet, packet_id, content_key, FORM)
    try:
        doc = loads_unique(raw)
    except NotCanonical as exc:
        raise CryptoFailure("form is not JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict):
        raise CryptoFailure("form is malformed")
    return doc


def rewrap_for(packet: SealedPacket, content_key: SecretBytes, recipient: Recipient) -> WrappedKey:
    """Wrap an already-open content key for one more key (used by key rotation tooling)."""
    box = nacl.public.SealedBox(nacl.public.PublicKey(recipient.public))
    return WrappedKey(recipient.agency, recipient.key_id, box.encrypt(content_key.reveal()))
