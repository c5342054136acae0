"""Packet format v1 (hub.crypto.packet_format) under hypothesis: whatever the bytes, a function
returns its documented result or raises ``CryptoFailure``, and what ``seal`` writes, the opening
functions read back exactly.

The sender controls more than the envelope: it signs the header and encrypts the manifest, body
and form, so those are fuzzed authenticated as well (a malicious or buggy agency system).
"""

from __future__ import annotations

import json
from typing import Any

import nacl.bindings as sodium
import nacl.public
import nacl.signing
import nacl.utils
from hypothesis import given
from hypothesis import strategies as st

from hub.crypto import packet_format as fmt
from hub.crypto.canonical import canonical_json
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes, sha256_hex
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.strategies import DEEP, JSON, flipped, mutated

PACKET_ID = "3f0c8a52-2a41-4d0e-9b7e-6c1d2f4e5a60"
SIGNER = nacl.signing.SigningKey(bytes(range(32)))
SIGNER_PUBLIC = bytes(SIGNER.verify_key)
BOX = nacl.public.PrivateKey(bytes(range(1, 33)))
AGENCY, KEY_ID = "DBY-POLICE", "x25519:fuzz"
HEADER = {
    "packet_id": PACKET_ID,
    "type": "note",
    "case": "DBY-2026-0001",
    "sender_user": "ds.ellis",
    "sender_agency": "DBY-PROBATION",
    "recipients": [AGENCY],
    "purpose": "risk-management",
    "lawful_basis": "cja2003-s325",
    "data_categories": ["address"],
    "classification": "OFFICIAL-SENSITIVE",
    "created_at": "2026-11-23T09:00:00.000000Z",
}
CONTENT = fmt.PlainContent(
    "Home visit",
    "Met at the approved premises.",
    (fmt.PlainAttachment("plan.txt", "text/plain", b"risk management plan"),),
    necessity={"why": "Housing must assess the proposed address."},
)


def _sealed(content: fmt.PlainContent = CONTENT, header: dict[str, Any] | None = None) -> bytes:
    return fmt.seal(
        header or HEADER,
        content,
        [fmt.Recipient(AGENCY, KEY_ID, bytes(BOX.public_key))],
        SecretBytes(bytes(SIGNER)),
        "ed25519:fuzz",
    ).to_envelope()


ENVELOPE = json.loads(_sealed())


def _private(kid: str) -> SecretBytes | None:
    return SecretBytes(bytes(BOX)) if kid == KEY_ID else None


def _open(envelope: bytes) -> tuple[dict[str, Any], fmt.Manifest, str, dict[str, Any] | None]:
    """Everything a recipient system does with an envelope, in order."""
    packet = fmt.SealedPacket.from_envelope(envelope)
    header = fmt.verify_header(packet, SIGNER_PUBLIC)
    key = fmt.unwrap_content_key(packet, AGENCY, _private)
    pid = str(header.get("packet_id"))
    manifest = fmt.decrypt_manifest(packet, pid, key)
    for entry in manifest.attachments:
        fmt.decrypt_attachment(packet, pid, key, entry)
    return header, manifest, fmt.decrypt_body(packet, pid, key), fmt.decrypt_form(packet, pid, key)


_NAMES = st.text(min_size=1, max_size=20)
_PACKETS = st.builds(
    fmt.SealedPacket,
    header_bytes=st.binary(max_size=200),
    signature=st.binary(max_size=80),
    signer_key_id=st.text(max_size=40),
    wrapped_keys=st.lists(
        st.builds(fmt.WrappedKey, _NAMES, _NAMES, st.binary(max_size=100)), max_size=3
    ).map(tuple),
    parts=st.dictionaries(_NAMES, st.binary(max_size=100), max_size=4),
)


@fuzz_settings(200)
@given(_PACKETS)
def test_an_envelope_reads_back_as_written(packet: fmt.SealedPacket) -> None:
    assert fmt.SealedPacket.from_envelope(packet.to_envelope()) == packet


_FORMS = st.none() | st.fixed_dictionaries(
    {"schema": st.text(max_size=20), "version": st.integers(0, 9)},
    optional={"fields": st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4)},
).filter(lambda f: "fields" in f)
_CONTENTS = st.builds(
    fmt.PlainContent,
    subject=st.text(max_size=60),
    body=st.text(max_size=300),
    attachments=st.lists(
        st.builds(
            fmt.PlainAttachment, st.text(max_size=30), st.text(max_size=30), st.binary(max_size=300)
        ),
        max_size=3,
    ).map(tuple),
    necessity=st.dictionaries(st.text(max_size=10), st.text(max_size=50), max_size=3),
    form=_FORMS,
)


@fuzz_settings(100)
@given(_CONTENTS)
def test_what_seal_writes_a_recipient_opens_exactly(content: fmt.PlainContent) -> None:
    header, manifest, body, form = _open(_sealed(content))
    assert header["packet_id"] == PACKET_ID
    assert (manifest.subject, body, dict(manifest.necessity)) == (
        content.subject,
        content.body,
        dict(content.necessity),
    )
    assert [(e.filename, e.content_type, e.size) for e in manifest.attachments] == [
        (a.filename, a.content_type, len(a.data)) for a in content.attachments
    ]
    assert form == (dict(content.form) if content.form is not None else None)


def _refused_or_opened(envelope: bytes) -> None:
    try:
        _open(envelope)
    except CryptoFailure as exc:
        assert exc.public_message == "The packet failed an integrity check and cannot be opened."


@fuzz_settings(300)
@given(st.binary(max_size=400) | st.builds(lambda v: json.dumps(v).encode(), JSON))
def test_any_bytes_are_refused_as_one_failure(data: bytes) -> None:
    _refused_or_opened(data)


@fuzz_settings(300)
@given(mutated(ENVELOPE))
def test_a_changed_envelope_is_refused_or_still_opens(doc: Any) -> None:
    _refused_or_opened(json.dumps(doc).encode())


@fuzz_settings(200)
@given(flipped(_sealed()))
def test_damaged_envelope_bytes_are_refused(data: bytes) -> None:
    _refused_or_opened(data)


def _resigned(header_bytes: bytes, parts: dict[str, bytes] | None = None) -> bytes:
    """An envelope whose header the signer did sign: its own mistakes, or a hostile system's."""
    packet = fmt.SealedPacket.from_envelope(_sealed())
    return fmt.SealedPacket(
        header_bytes,
        SIGNER.sign(header_bytes).signature,
        packet.signer_key_id,
        packet.wrapped_keys,
        parts if parts is not None else packet.parts,
    ).to_envelope()


def _canonical_or_json(doc: Any) -> bytes:
    """Canonical JSON where the value has it (so that the checks behind that one are reached),
    else plain JSON (floats), which a reader refuses."""
    try:
        return canonical_json(doc)
    except (TypeError, ValueError):
        return json.dumps(doc).encode()


def _signed_header_doc() -> dict[str, Any]:
    packet = fmt.SealedPacket.from_envelope(_sealed())
    doc: dict[str, Any] = json.loads(packet.header_bytes)
    return doc


@fuzz_settings(300)
@given(
    mutated(_signed_header_doc()).map(_canonical_or_json)
    | st.binary(max_size=300)
    | st.builds(lambda v: json.dumps(v).encode(), JSON)
)
def test_a_signed_header_of_any_shape_is_refused_or_read(header_bytes: bytes) -> None:
    try:
        header = fmt.verify_header(
            fmt.SealedPacket.from_envelope(_resigned(header_bytes)), SIGNER_PUBLIC
        )
    except CryptoFailure:
        return
    assert isinstance(header, dict)


def _encrypted(key: bytes, part: str, plaintext: bytes) -> bytes:
    """A part as PACKET_FORMAT.md section 4 describes it, written independently of ``seal``."""
    nonce = nacl.utils.random(24)
    aad = f"mappa-hub/packet/v1/{PACKET_ID}/{part}".encode()
    return nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)


_MANIFEST = {
    "subject": "Home visit",
    "attachments": [
        {"part": "attachment-0", "filename": "plan.txt", "content_type": "text/plain", "size": 20,
         "sha256": sha256_hex(b"risk management plan")}
    ],
    "necessity": {"why": "Housing must assess the proposed address."},
}  # fmt: skip
_FORM = {"schema": "mappa-hub/forms/request-for-information/v1", "version": 1, "fields": {"a": "b"}}


def _json_or_bytes(doc: Any) -> st.SearchStrategy[bytes]:
    as_json = mutated(doc).map(lambda d: json.dumps(d).encode())
    return as_json | st.binary(max_size=200) | DEEP


@fuzz_settings(300)
@given(
    part=st.sampled_from([fmt.MANIFEST, fmt.BODY, fmt.FORM]),
    manifest=_json_or_bytes(_MANIFEST),
    form=_json_or_bytes(_FORM),
    body=st.binary(max_size=100),
)
def test_authenticated_content_of_any_shape_is_refused_or_read(
    part: str, manifest: bytes, form: bytes, body: bytes
) -> None:
    """The sender encrypts what it likes under a key that unwraps: the recipient still gets a
    result or the one failure, never a crash."""
    key = nacl.utils.random(32)
    plain = {fmt.MANIFEST: manifest, fmt.BODY: body, fmt.FORM: form}
    parts = {name: _encrypted(key, name, data) for name, data in plain.items()}
    parts["attachment-0"] = _encrypted(key, "attachment-0", b"risk management plan")
    header = {**HEADER, "format": fmt.FORMAT_NAME, "v": 1, "aead": fmt.AEAD_NAME,
              "wrap": fmt.WRAP_NAME, "parts": {n: sha256_hex(b) for n, b in parts.items()}}  # fmt: skip
    packet = fmt.SealedPacket(
        canonical_json(header),
        b"",
        "ed25519:fuzz",
        (fmt.WrappedKey(AGENCY, KEY_ID, nacl.public.SealedBox(BOX.public_key).encrypt(key)),),
        parts,
    )
    content_key = fmt.unwrap_content_key(packet, AGENCY, _private)
    try:
        if part == fmt.MANIFEST:
            manifest_read = fmt.decrypt_manifest(packet, PACKET_ID, content_key)
            for entry in manifest_read.attachments:
                fmt.decrypt_attachment(packet, PACKET_ID, content_key, entry)
        elif part == fmt.FORM:
            fmt.decrypt_form(packet, PACKET_ID, content_key)
        else:
            fmt.decrypt_body(packet, PACKET_ID, content_key)
    except CryptoFailure:
        pass
