"""Open a hub-made packet with nothing but PACKET_FORMAT.md and libsodium.

The reader below (``_open``) uses only json, base64, hashlib and raw ``nacl.bindings`` calls,
following the "Worked procedure" of hub/crypto/PACKET_FORMAT.md step by step. Only the writer side
(``_sealed``) uses the hub, to make a packet the way the hub makes one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.public
import nacl.signing
import pytest

# --- the independent reader: no hub imports from here to the end of _open -------------------------


class Refused(Exception):
    """The independent reader's one failure."""


def _key_id(kind: str, public: bytes) -> str:
    return hashlib.sha256(f"mappa-hub/key/{kind}/".encode() + public).hexdigest()[:32]


def _b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise Refused("base64 member is not a string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise Refused("bad base64") from exc


def _is_one(value: Any) -> bool:
    return type(value) is int and value == 1


@dataclass(frozen=True)
class Opened:
    header: dict[str, Any]
    subject: str
    body: str
    attachments: list[tuple[str, str, bytes]]


def _open(
    envelope: bytes,
    my_agency: str,
    my_private: bytes,
    trusted_signers: dict[str, tuple[str, bytes]],
) -> Opened:
    # 1. the envelope
    doc = json.loads(envelope)
    if not isinstance(doc, dict) or doc.get("format") != "mappa-hub/packet":
        raise Refused("not a packet envelope")
    if not _is_one(doc.get("version")):
        raise Refused("unknown envelope version")
    header_bytes = _b64(doc["header"])
    signature = _b64(doc["signature"])
    if len(signature) != 64:
        raise Refused("signature length")
    # 2. the signer, from our own directory
    if doc["signer"] not in trusted_signers:
        raise Refused("unknown signer")
    signer_agency, signer_public = trusted_signers[doc["signer"]]
    # 3. the signature over the exact header bytes, before parsing them
    try:
        sodium.crypto_sign_open(signature + header_bytes, signer_public)
    except nacl.exceptions.BadSignatureError as exc:
        raise Refused("signature") from exc
    # 4. the header
    header = json.loads(header_bytes)
    if not isinstance(header, dict) or header.get("format") != "mappa-hub/packet":
        raise Refused("not a packet header")
    if not _is_one(header.get("v")):
        raise Refused("unknown header version")
    if header.get("aead") != "xchacha20poly1305-ietf" or header.get("wrap") != "x25519-sealedbox":
        raise Refused("unknown algorithms")
    # 5. the signer is the sending agency's
    if header["sender_agency"] != signer_agency:
        raise Refused("signer is not the sender agency's")
    # 6. the parts are exactly the signed ones
    parts = {name: _b64(blob) for name, blob in doc["parts"].items()}
    if set(parts) != set(header["parts"]):
        raise Refused("part names")
    for name, blob in parts.items():
        if hashlib.sha256(blob).hexdigest() != header["parts"][name]:
            raise Refused("part digest")
    # 7. authorised by the signed header, not by the presence of a wrapped key
    if my_agency != header["sender_agency"] and my_agency not in header["recipients"]:
        raise Refused("not for this agency")
    # 8. the content key
    mine = [k for k in doc["keys"] if k["agency"] == my_agency]
    if not mine:
        raise Refused("no wrapped key")
    my_public = sodium.crypto_scalarmult_base(my_private)
    try:
        content_key = sodium.crypto_box_seal_open(_b64(mine[0]["sealed"]), my_public, my_private)
    except nacl.exceptions.CryptoError as exc:
        raise Refused("content key") from exc
    if len(content_key) != 32:
        raise Refused("content key length")

    def open_part(name: str) -> bytes:
        blob = parts.get(name)
        if blob is None or len(blob) < 24 + 16:
            raise Refused("missing part")
        aad = f"mappa-hub/packet/v1/{header['packet_id']}/{name}".encode()
        try:
            return bytes(
                sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                    blob[24:], aad, blob[:24], content_key
                )
            )
        except nacl.exceptions.CryptoError as exc:
            raise Refused("part does not decrypt") from exc

    # 9-11. manifest, body, attachments
    manifest = json.loads(open_part("manifest"))
    body = open_part("body").decode("utf-8")
    attachments = []
    for entry in manifest["attachments"]:
        data = open_part(entry["part"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"] or len(data) != entry["size"]:
            raise Refused("attachment digest")
        attachments.append((entry["filename"], entry["content_type"], data))
    return Opened(header, manifest["subject"], body, attachments)


# --- the writer side: the hub seals a packet ----------------------------------------------------

SENDER, RECIPIENT, OUTSIDER = "DBY-PROBATION", "DBY-POLICE", "DBY-HOUSING"
FILENAME = "Bericht über Größe – 報告 (final).pdf"
ATTACHMENT = bytes(range(256)) * 3
BODY = "Met at the approved premises.\nRisk unchanged – see attached.\n"
SUBJECT = "Home visit, 23 November"


@dataclass(frozen=True)
class World:
    envelope: bytes
    signer: nacl.signing.SigningKey
    sender_box: nacl.public.PrivateKey
    recipient_box: nacl.public.PrivateKey
    outsider_box: nacl.public.PrivateKey

    def trusted(self) -> dict[str, tuple[str, bytes]]:
        public = bytes(self.signer.verify_key)
        return {_key_id("ed25519", public): (SENDER, public)}


def _sealed(attachments: bool = True) -> World:
    from hub.crypto import packet_format as fmt
    from hub.crypto.secrets import SecretBytes

    signer = nacl.signing.SigningKey.generate()
    boxes = {code: nacl.public.PrivateKey.generate() for code in (SENDER, RECIPIENT, OUTSIDER)}
    header_fields = {
        "packet_id": "3f0c8a52-2a41-4d0e-9b7e-6c1d2f4e5a60",
        "type": "note",
        "case": "DBY-2026-0001",
        "sender_user": "dby.probation",
        "sender_agency": SENDER,
        "recipients": [RECIPIENT],
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": ["risk-assessment"],
        "classification": "OFFICIAL-SENSITIVE",
        "created_at": "2026-11-23T09:00:00.001000Z",
    }
    content = fmt.PlainContent(
        SUBJECT,
        BODY,
        (fmt.PlainAttachment(FILENAME, "application/pdf", ATTACHMENT),) if attachments else (),
    )
    recipients = []
    for code in (SENDER, RECIPIENT):
        public = bytes(boxes[code].public_key)
        recipients.append(fmt.Recipient(code, _key_id("x25519", public), public))
    sealed = fmt.seal(
        header_fields,
        content,
        recipients,
        SecretBytes(bytes(signer)),
        _key_id("ed25519", bytes(signer.verify_key)),
    )
    return World(sealed.to_envelope(), signer, boxes[SENDER], boxes[RECIPIENT], boxes[OUTSIDER])


@pytest.fixture(scope="module")
def world() -> World:
    return _sealed()


def _edit(envelope: bytes, change: Any) -> bytes:
    doc = json.loads(envelope)
    change(doc)
    return json.dumps(doc).encode()


def _flip_part_byte(doc: dict[str, Any], part: str, index: int) -> None:
    blob = bytearray(base64.b64decode(doc["parts"][part]))
    blob[index] ^= 0x01
    doc["parts"][part] = base64.b64encode(bytes(blob)).decode()


# --- tests --------------------------------------------------------------------------------------


def test_recipient_opens_subject_body_and_non_ascii_attachment(world: World) -> None:
    opened = _open(world.envelope, RECIPIENT, bytes(world.recipient_box), world.trusted())

    assert opened.subject == SUBJECT
    assert opened.body == BODY
    assert opened.attachments == [(FILENAME, "application/pdf", ATTACHMENT)]
    assert opened.header["case"] == "DBY-2026-0001"
    assert opened.header["recipients"] == [RECIPIENT]


def test_sender_agency_opens_its_own_copy(world: World) -> None:
    opened = _open(world.envelope, SENDER, bytes(world.sender_box), world.trusted())

    assert opened.body == BODY


def test_envelope_is_canonical_json_with_padded_standard_base64(world: World) -> None:
    doc = json.loads(world.envelope)
    assert world.envelope == json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    header = base64.b64decode(doc["header"], validate=True)
    assert (
        json.dumps(
            json.loads(header), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        == header
    )
    for text in [doc["header"], doc["signature"], *doc["parts"].values()]:
        assert len(text) % 4 == 0
        assert "-" not in text and "_" not in text
    assert [len(base64.b64decode(k["sealed"])) for k in doc["keys"]] == [80, 80]
    assert len(base64.b64decode(doc["signature"])) == 64


def test_part_lengths_and_names_follow_the_format(world: World) -> None:
    doc = json.loads(world.envelope)
    parts = {name: base64.b64decode(blob) for name, blob in doc["parts"].items()}

    assert set(parts) == {"manifest", "body", "attachment-0"}
    assert len(parts["body"]) == 24 + len(BODY.encode("utf-8")) + 16
    assert len(parts["attachment-0"]) == 24 + len(ATTACHMENT) + 16


def test_packet_without_attachments_has_only_manifest_and_body() -> None:
    world = _sealed(attachments=False)
    opened = _open(world.envelope, RECIPIENT, bytes(world.recipient_box), world.trusted())

    assert set(json.loads(world.envelope)["parts"]) == {"manifest", "body"}
    assert opened.attachments == []
    assert opened.body == BODY


def test_spec_key_id_formula_matches_the_hub() -> None:
    from hub.crypto.agency_keys import KeyPurpose, key_id

    public = bytes(nacl.public.PrivateKey.generate().public_key)
    assert _key_id("x25519", public) == key_id(KeyPurpose.ENCRYPTION, public)
    assert _key_id("ed25519", public) == key_id(KeyPurpose.SIGNING, public)


@pytest.mark.parametrize(
    "index", [0, 23, 24, 30, -1], ids=["nonce", "nonce-end", "ct", "mid", "tag"]
)
def test_reader_refuses_a_flipped_byte_in_the_body(world: World, index: int) -> None:
    tampered = _edit(world.envelope, lambda d: _flip_part_byte(d, "body", index))

    with pytest.raises(Refused, match="part digest"):
        _open(tampered, RECIPIENT, bytes(world.recipient_box), world.trusted())


def test_reader_refuses_a_flipped_body_byte_even_with_a_resigned_digest(world: World) -> None:
    """If the sender re-signed a header over a corrupted part, the AEAD tag still fails."""
    doc = json.loads(world.envelope)
    _flip_part_byte(doc, "body", 30)
    header = json.loads(base64.b64decode(doc["header"]))
    header["parts"]["body"] = hashlib.sha256(base64.b64decode(doc["parts"]["body"])).hexdigest()
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    doc["header"] = base64.b64encode(header_bytes).decode()
    doc["signature"] = base64.b64encode(world.signer.sign(header_bytes).signature).decode()

    with pytest.raises(Refused, match="part does not decrypt"):
        _open(json.dumps(doc).encode(), RECIPIENT, bytes(world.recipient_box), world.trusted())


def test_reader_refuses_an_untrusted_signer(world: World) -> None:
    other = nacl.signing.SigningKey.generate().verify_key
    trusted = {_key_id("ed25519", bytes(world.signer.verify_key)): (SENDER, bytes(other))}

    with pytest.raises(Refused, match="signature"):
        _open(world.envelope, RECIPIENT, bytes(world.recipient_box), trusted)


def test_reader_refuses_an_agency_not_named_in_the_header(world: World) -> None:
    with pytest.raises(Refused, match="not for this agency"):
        _open(world.envelope, OUTSIDER, bytes(world.outsider_box), world.trusted())


def test_reader_refuses_the_wrong_private_key(world: World) -> None:
    with pytest.raises(Refused, match="content key"):
        _open(world.envelope, RECIPIENT, bytes(world.outsider_box), world.trusted())
