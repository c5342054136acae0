"""Packet format v1 (hub.crypto.packet_format): round trip, and every tampering is one failure."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import nacl.bindings as sodium
import nacl.public
import nacl.signing
import nacl.utils
import pytest

from hub.crypto import packet_format as fmt
from hub.crypto.agency_keys import KeyPurpose, key_id
from hub.crypto.canonical import canonical_json
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes, sha256_hex

PUBLIC_MESSAGE = "The packet failed an integrity check and cannot be opened."
SENDER, RECIPIENT, OUTSIDER = "DBY-PROBATION", "DBY-POLICE", "DBY-HOUSING"
ATTACHMENTS = (
    fmt.PlainAttachment("plan.pdf", "application/pdf", b"%PDF-1.7 risk management plan"),
    fmt.PlainAttachment("photo.jpg", "image/jpeg", bytes(range(256))),
)
PACKET_ID = "3f0c8a52-2a41-4d0e-9b7e-6c1d2f4e5a60"
CONTENT = fmt.PlainContent("Home visit", "Met at the approved premises.", ATTACHMENTS)


@dataclasses.dataclass
class Agency:
    code: str
    box: nacl.public.PrivateKey

    @property
    def key_id(self) -> str:
        return key_id(KeyPurpose.ENCRYPTION, bytes(self.box.public_key))

    def recipient(self) -> fmt.Recipient:
        return fmt.Recipient(self.code, self.key_id, bytes(self.box.public_key))

    def private_key_for(self, kid: str) -> SecretBytes | None:
        return SecretBytes(bytes(self.box)) if kid == self.key_id else None


@dataclasses.dataclass
class World:
    signer: nacl.signing.SigningKey
    agencies: dict[str, Agency]

    @property
    def signer_public(self) -> bytes:
        return bytes(self.signer.verify_key)

    def seal(
        self,
        content: fmt.PlainContent = CONTENT,
        packet_id: str = PACKET_ID,
        **extra: Any,
    ) -> fmt.SealedPacket:
        header = {
            "packet_id": packet_id,
            "type": "note",
            "case": "DBY-2026-0001",
            "sender_agency": SENDER,
            "recipients": [RECIPIENT],
            "purpose": "risk-management",
            "lawful_basis": "cja2003-s325",
            **extra,
        }
        return fmt.seal(
            header,
            content,
            [self.agencies[SENDER].recipient(), self.agencies[RECIPIENT].recipient()],
            SecretBytes(bytes(self.signer)),
            key_id(KeyPurpose.SIGNING, self.signer_public),
        )

    def open(
        self, packet: fmt.SealedPacket, agency: str = RECIPIENT
    ) -> tuple[str, str, list[bytes]]:
        header = fmt.verify_header(packet, self.signer_public)
        key = fmt.unwrap_content_key(packet, agency, self.agencies[agency].private_key_for)
        manifest = fmt.decrypt_manifest(packet, header["packet_id"], key)
        body = fmt.decrypt_part(packet, header["packet_id"], key, fmt.BODY).decode()
        files = [
            fmt.decrypt_attachment(packet, header["packet_id"], key, entry)
            for entry in manifest.attachments
        ]
        return manifest.subject, body, files


@pytest.fixture
def world() -> World:
    return World(
        nacl.signing.SigningKey.generate(),
        {c: Agency(c, nacl.public.PrivateKey.generate()) for c in (SENDER, RECIPIENT, OUTSIDER)},
    )


@pytest.fixture
def packet(world: World) -> fmt.SealedPacket:
    return world.seal()


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def _with_parts(packet: fmt.SealedPacket, changes: dict[str, bytes | None]) -> fmt.SealedPacket:
    """The packet with parts replaced, added, or (for ``None``) removed."""
    parts = dict(packet.parts)
    for name, blob in changes.items():
        if blob is None:
            del parts[name]
        else:
            parts[name] = blob
    return dataclasses.replace(packet, parts=parts)


def _resigned(
    world: World, packet: fmt.SealedPacket, edit: Callable[[dict[str, Any]], Any]
) -> fmt.SealedPacket:
    """The packet with its header edited and signed again by the genuine sender."""
    header = json.loads(packet.header_bytes)
    edit(header)
    data = canonical_json(header)
    return dataclasses.replace(
        packet, header_bytes=data, signature=world.signer.sign(data).signature
    )


def _signed_raw(world: World, packet: fmt.SealedPacket, header_bytes: bytes) -> fmt.SealedPacket:
    signature = world.signer.sign(header_bytes).signature
    return dataclasses.replace(packet, header_bytes=header_bytes, signature=signature)


def _content_key(world: World, packet: fmt.SealedPacket) -> SecretBytes:
    return fmt.unwrap_content_key(packet, RECIPIENT, world.agencies[RECIPIENT].private_key_for)


def _encrypt(key: bytes, packet_id: str, part: str, plaintext: bytes) -> bytes:
    nonce = nacl.utils.random(24)
    aad = f"mappa-hub/packet/v1/{packet_id}/{part}".encode()
    return nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)


def _fails(action: Callable[[], object]) -> CryptoFailure:
    with pytest.raises(CryptoFailure) as caught:
        action()
    err = caught.value
    assert err.public_message == PUBLIC_MESSAGE
    assert str(err) == PUBLIC_MESSAGE
    return err


# --- round trip ---------------------------------------------------------------------------------


def test_recipient_and_sender_agency_open_the_same_content(
    world: World, packet: fmt.SealedPacket
) -> None:
    expected = ("Home visit", "Met at the approved premises.", [a.data for a in ATTACHMENTS])

    assert world.open(packet, RECIPIENT) == expected
    assert world.open(packet, SENDER) == expected


def test_header_carries_format_fields_and_part_digests(
    world: World, packet: fmt.SealedPacket
) -> None:
    header = fmt.verify_header(packet, world.signer_public)

    assert header["format"] == "mappa-hub/packet"
    assert header["v"] == 1
    assert header["aead"] == "xchacha20poly1305-ietf"
    assert header["wrap"] == "x25519-sealedbox"
    assert header["case"] == "DBY-2026-0001"
    assert header["parts"] == {name: sha256_hex(blob) for name, blob in packet.parts.items()}
    assert set(packet.parts) == {"manifest", "body", "attachment-0", "attachment-1"}
    assert packet.header_bytes == canonical_json(header)
    assert "Home visit" not in packet.header_bytes.decode()


def test_seal_overrides_format_fields_given_by_the_caller(world: World) -> None:
    packet = world.seal(v=9, format="evil", parts={})

    header = fmt.verify_header(packet, world.signer_public)
    assert (header["v"], header["format"]) == (1, "mappa-hub/packet")
    assert set(header["parts"]) == set(packet.parts)


def test_manifest_lists_attachments_with_plaintext_digests(
    world: World, packet: fmt.SealedPacket
) -> None:
    manifest = fmt.decrypt_manifest(packet, PACKET_ID, _content_key(world, packet))

    assert manifest.subject == "Home visit"
    assert manifest.attachments == tuple(
        fmt.ManifestEntry(
            f"attachment-{i}", a.filename, a.content_type, len(a.data), sha256_hex(a.data)
        )
        for i, a in enumerate(ATTACHMENTS)
    )


def test_packet_without_attachments(world: World) -> None:
    packet = world.seal(fmt.PlainContent("No files", "Just text."))

    assert set(packet.parts) == {"manifest", "body"}
    assert world.open(packet) == ("No files", "Just text.", [])


def test_each_part_has_a_fresh_nonce_and_the_key_is_wrapped_once_per_agency(world: World) -> None:
    duplicate = world.agencies[RECIPIENT].recipient()
    other = dataclasses.replace(duplicate, key_id="ignored")
    packet = fmt.seal(
        {"packet_id": "p1"},
        CONTENT,
        [duplicate, other, world.agencies[SENDER].recipient()],
        SecretBytes(bytes(world.signer)),
        "signer",
    )

    assert [(w.agency, w.key_id) for w in packet.wrapped_keys] == [
        (RECIPIENT, duplicate.key_id),
        (SENDER, world.agencies[SENDER].key_id),
    ]
    assert len({blob[:24] for blob in packet.parts.values()}) == len(packet.parts)


def test_envelope_round_trip_is_exact(packet: fmt.SealedPacket) -> None:
    envelope = packet.to_envelope()
    again = fmt.SealedPacket.from_envelope(envelope)

    assert again == packet
    assert again.to_envelope() == envelope
    doc = json.loads(envelope)
    assert doc["format"] == "mappa-hub/packet" and doc["version"] == 1
    assert base64.b64decode(doc["header"]) == packet.header_bytes
    assert [k["agency"] for k in doc["keys"]] == [SENDER, RECIPIENT]


def test_envelope_accepts_any_json_layout(packet: fmt.SealedPacket) -> None:
    pretty = json.dumps(json.loads(packet.to_envelope()), indent=2).encode()

    assert fmt.SealedPacket.from_envelope(pretty) == packet


def test_rewrap_for_a_new_key_opens_the_same_content(
    world: World, packet: fmt.SealedPacket
) -> None:
    rotated = Agency(RECIPIENT, nacl.public.PrivateKey.generate())
    key = _content_key(world, packet)
    wrapped = fmt.rewrap_for(packet, key, rotated.recipient())
    moved = dataclasses.replace(packet, wrapped_keys=(wrapped,))

    assert wrapped.key_id == rotated.key_id
    assert fmt.unwrap_content_key(moved, RECIPIENT, rotated.private_key_for) == key


def test_attachment_part_names() -> None:
    assert [fmt.attachment_part(i) for i in (0, 1, 10)] == [
        "attachment-0",
        "attachment-1",
        "attachment-10",
    ]


# --- tampering: every change is the same failure ---------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 100, -2, -1])
def test_flipped_header_byte(world: World, packet: fmt.SealedPacket, index: int) -> None:
    tampered = dataclasses.replace(packet, header_bytes=_flip(packet.header_bytes, index))

    err = _fails(lambda: fmt.verify_header(tampered, world.signer_public))
    assert err.context["reason"] == "header signature does not verify"


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_flipped_signature_byte(world: World, packet: fmt.SealedPacket, index: int) -> None:
    tampered = dataclasses.replace(packet, signature=_flip(packet.signature, index))

    _fails(lambda: fmt.verify_header(tampered, world.signer_public))


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 65])
def test_signature_of_the_wrong_length(
    world: World, packet: fmt.SealedPacket, signature: bytes
) -> None:
    _fails(
        lambda: fmt.verify_header(
            dataclasses.replace(packet, signature=signature), world.signer_public
        )
    )


@pytest.mark.parametrize("part", ["manifest", "body", "attachment-0", "attachment-1"])
@pytest.mark.parametrize("index", [0, 30, -1])
def test_flipped_part_byte(world: World, packet: fmt.SealedPacket, part: str, index: int) -> None:
    tampered = _with_parts(packet, {part: _flip(packet.parts[part], index)})

    err = _fails(lambda: fmt.verify_header(tampered, world.signer_public))
    assert err.context["reason"] == f"part {part} does not match its signed digest"
    # and even a reader that skipped the digest check cannot decrypt it
    _fails(lambda: fmt.decrypt_part(tampered, PACKET_ID, _content_key(world, packet), part))


def test_part_swapped_from_another_packet(world: World, packet: fmt.SealedPacket) -> None:
    other = world.seal(packet_id=PACKET_ID)
    tampered = _with_parts(packet, {"body": other.parts["body"]})

    _fails(lambda: fmt.verify_header(tampered, world.signer_public))
    _fails(lambda: world.open(tampered))


def test_parts_swapped_within_a_packet_fail_even_if_the_sender_signs_them(
    world: World, packet: fmt.SealedPacket
) -> None:
    swapped = _with_parts(
        packet, {"body": packet.parts["attachment-0"], "attachment-0": packet.parts["body"]}
    )
    _fails(lambda: fmt.verify_header(swapped, world.signer_public))

    def swap_digests(h: dict[str, Any]) -> None:
        h["parts"]["body"], h["parts"]["attachment-0"] = (
            h["parts"]["attachment-0"],
            h["parts"]["body"],
        )

    resigned = _resigned(world, swapped, swap_digests)
    header = fmt.verify_header(resigned, world.signer_public)  # digests now agree ...
    key = _content_key(world, resigned)
    err = _fails(
        lambda: fmt.decrypt_part(resigned, header["packet_id"], key, fmt.BODY)
    )  # ... AAD does not
    assert err.context["reason"] == "part body does not decrypt"


def test_part_bound_to_its_packet_id(world: World, packet: fmt.SealedPacket) -> None:
    key = _content_key(world, packet)

    _fails(lambda: fmt.decrypt_part(packet, "another-packet", key, fmt.BODY))


@pytest.mark.parametrize("part", ["manifest", "body", "attachment-1"])
def test_part_removed(world: World, packet: fmt.SealedPacket, part: str) -> None:
    tampered = _with_parts(packet, {part: None})

    err = _fails(lambda: fmt.verify_header(tampered, world.signer_public))
    assert err.context["reason"] == "parts differ from the signed header"
    _fails(lambda: fmt.decrypt_part(tampered, "x", _content_key(world, packet), part))


def test_part_added(world: World, packet: fmt.SealedPacket) -> None:
    tampered = _with_parts(packet, {"attachment-2": packet.parts["attachment-1"]})

    _fails(lambda: fmt.verify_header(tampered, world.signer_public))


def test_truncated_part_is_refused_before_decryption(
    world: World, packet: fmt.SealedPacket
) -> None:
    tampered = _with_parts(packet, {"body": packet.parts["body"][:39]})

    err = _fails(lambda: fmt.decrypt_part(tampered, "x", _content_key(world, packet), fmt.BODY))
    assert err.context["reason"] == "part body is missing or truncated"


def test_wrapped_key_replaced_by_one_wrapping_a_different_key(
    world: World, packet: fmt.SealedPacket
) -> None:
    box = nacl.public.SealedBox(world.agencies[RECIPIENT].box.public_key)
    forged = tuple(
        dataclasses.replace(w, sealed=box.encrypt(nacl.utils.random(32)))
        if w.agency == RECIPIENT
        else w
        for w in packet.wrapped_keys
    )
    tampered = dataclasses.replace(packet, wrapped_keys=forged)

    fmt.verify_header(tampered, world.signer_public)  # wrapped keys are not signed ...
    key = _content_key(world, tampered)  # ... and the forged one unwraps ...
    err = _fails(lambda: fmt.decrypt_manifest(tampered, PACKET_ID, key))
    assert err.context["reason"] == "part manifest does not decrypt"  # ... but opens nothing
    assert world.open(tampered, SENDER)[0] == "Home visit"


def test_wrapped_key_of_the_wrong_length(world: World, packet: fmt.SealedPacket) -> None:
    box = nacl.public.SealedBox(world.agencies[RECIPIENT].box.public_key)
    short = fmt.WrappedKey(RECIPIENT, world.agencies[RECIPIENT].key_id, box.encrypt(b"k" * 31))
    tampered = dataclasses.replace(packet, wrapped_keys=(short,))

    err = _fails(lambda: _content_key(world, tampered))
    assert err.context["reason"] == "content key has the wrong length"


@pytest.mark.parametrize("sealed", [b"", b"\x00" * 80], ids=["empty", "garbage"])
def test_corrupt_wrapped_key(world: World, packet: fmt.SealedPacket, sealed: bytes) -> None:
    bad = fmt.WrappedKey(RECIPIENT, world.agencies[RECIPIENT].key_id, sealed)

    _fails(lambda: _content_key(world, dataclasses.replace(packet, wrapped_keys=(bad,))))


def test_wrong_agency(world: World, packet: fmt.SealedPacket) -> None:
    err = _fails(
        lambda: fmt.unwrap_content_key(packet, OUTSIDER, world.agencies[OUTSIDER].private_key_for)
    )
    assert err.context["reason"] == "no content key wrapped for this agency"


def test_wrong_private_key(world: World, packet: fmt.SealedPacket) -> None:
    stranger = SecretBytes(bytes(nacl.public.PrivateKey.generate()))

    err = _fails(lambda: fmt.unwrap_content_key(packet, RECIPIENT, lambda _kid: stranger))
    assert err.context["reason"] == "content key does not unwrap"


def test_private_key_of_the_wrong_length(packet: fmt.SealedPacket) -> None:
    _fails(lambda: fmt.unwrap_content_key(packet, RECIPIENT, lambda _kid: SecretBytes(b"short")))


def test_no_private_key_for_the_wrapped_key_id(packet: fmt.SealedPacket) -> None:
    err = _fails(lambda: fmt.unwrap_content_key(packet, RECIPIENT, lambda _kid: None))
    assert err.context["reason"] == "no private key for the wrapped content key"


@pytest.mark.parametrize(
    "public",
    [bytes(nacl.signing.SigningKey.generate().verify_key), b"\x00" * 31, b""],
    ids=["other-key", "short", "empty"],
)
def test_wrong_signer_key(packet: fmt.SealedPacket, public: bytes) -> None:
    _fails(lambda: fmt.verify_header(packet, public))


# --- headers the genuine signer signed but that are still not v1 packets -------------------------


@pytest.mark.parametrize(
    "header_bytes",
    [b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null", b"[" * 100_000 + b"]" * 100_000],
    ids=["text", "not-utf8", "array", "string", "null", "deep"],
)
def test_signed_header_that_is_not_a_json_object(
    world: World, packet: fmt.SealedPacket, header_bytes: bytes
) -> None:
    _fails(lambda: fmt.verify_header(_signed_raw(world, packet, header_bytes), world.signer_public))


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h.update(v=2),
        lambda h: h.update(v=True),
        lambda h: h.update(v="1"),
        lambda h: h.pop("v"),
        lambda h: h.update(format="mappa-hub/other"),
        lambda h: h.pop("format"),
    ],
    ids=["v2", "v-true", "v-string", "no-v", "other-format", "no-format"],
)
def test_signed_header_of_another_version(
    world: World, packet: fmt.SealedPacket, edit: Callable[[dict[str, Any]], Any]
) -> None:
    err = _fails(lambda: fmt.verify_header(_resigned(world, packet, edit), world.signer_public))
    assert err.context["reason"] == "unknown header version"


def test_signed_header_with_float_version_is_refused(
    world: World, packet: fmt.SealedPacket
) -> None:
    data = packet.header_bytes.replace(b'"v":1', b'"v":1.0')

    _fails(lambda: fmt.verify_header(_signed_raw(world, packet, data), world.signer_public))


@pytest.mark.parametrize(
    "edit",
    [lambda h: h.pop("parts"), lambda h: h.update(parts=["body"]), lambda h: h.update(parts="x")],
    ids=["missing", "list", "string"],
)
def test_signed_header_without_a_parts_object(
    world: World, packet: fmt.SealedPacket, edit: Callable[[dict[str, Any]], Any]
) -> None:
    _fails(lambda: fmt.verify_header(_resigned(world, packet, edit), world.signer_public))


# --- manifests and attachments the sender got wrong ------------------------------------------------


@pytest.mark.parametrize(
    "manifest",
    [
        b"not json",
        b"[]",
        b'{"subject": "s"}',
        b'{"subject": "s", "attachments": [1]}',
        b'{"subject": "s", "attachments": [{"part": "attachment-0"}]}',
        b'{"subject": "s", "attachments": [{"part": "a", "filename": "f", "content_type": "t", '
        b'"size": "big", "sha256": "0"}]}',
    ],
    ids=["text", "array", "no-attachments", "entry-not-object", "entry-incomplete", "bad-size"],
)
def test_malformed_manifest(world: World, packet: fmt.SealedPacket, manifest: bytes) -> None:
    key = _content_key(world, packet)
    tampered = _with_parts(packet, {"manifest": _encrypt(key.reveal(), "p", "manifest", manifest)})

    err = _fails(lambda: fmt.decrypt_manifest(tampered, "p", key))
    assert err.context["reason"] == "manifest is malformed"


def test_attachment_that_does_not_match_its_manifest_digest(
    world: World, packet: fmt.SealedPacket
) -> None:
    key = _content_key(world, packet)
    manifest = fmt.decrypt_manifest(packet, PACKET_ID, key)
    wrong = dataclasses.replace(manifest.attachments[0], sha256=sha256_hex(b"something else"))

    err = _fails(lambda: fmt.decrypt_attachment(packet, PACKET_ID, key, wrong))
    assert err.context["reason"] == "attachment does not match its manifest"


def test_attachment_whose_size_differs_from_its_manifest(
    world: World, packet: fmt.SealedPacket
) -> None:
    key = _content_key(world, packet)
    manifest = fmt.decrypt_manifest(packet, PACKET_ID, key)
    wrong = dataclasses.replace(manifest.attachments[0], size=manifest.attachments[0].size + 1)

    err = _fails(lambda: fmt.decrypt_attachment(packet, PACKET_ID, key, wrong))
    assert err.context["reason"] == "attachment does not match its manifest"


# --- envelopes -----------------------------------------------------------------------------------


def _envelope_with(packet: fmt.SealedPacket, edit: Callable[[dict[str, Any]], Any]) -> bytes:
    doc = json.loads(packet.to_envelope())
    edit(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(version=2),
        lambda d: d.update(version=True),
        lambda d: d.update(version=1.0),
        lambda d: d.update(version="1"),
        lambda d: d.pop("version"),
        lambda d: d.update(format="mappa-hub/bundle"),
        lambda d: d.pop("format"),
    ],
    ids=["v2", "v-true", "v-float", "v-string", "no-version", "other-format", "no-format"],
)
def test_envelope_of_another_format_or_version(
    packet: fmt.SealedPacket, edit: Callable[[dict[str, Any]], Any]
) -> None:
    err = _fails(lambda: fmt.SealedPacket.from_envelope(_envelope_with(packet, edit)))
    assert err.context["reason"] == "unknown packet format or version"


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.pop("header"),
        lambda d: d.pop("signature"),
        lambda d: d.pop("signer"),
        lambda d: d.pop("keys"),
        lambda d: d.pop("parts"),
        lambda d: d.update(header=42),
        lambda d: d.update(header="not*base64"),
        lambda d: d.update(signature="QUJD"[:3]),
        lambda d: d.update(keys=[{"agency": "X"}]),
        lambda d: d.update(keys=["x"]),
        lambda d: d.update(keys=5),
        lambda d: d.update(parts=["body"]),
        lambda d: d["parts"].update(body="@@@@"),
    ],
    ids=[
        "no-header",
        "no-signature",
        "no-signer",
        "no-keys",
        "no-parts",
        "header-int",
        "header-bad-char",
        "bad-padding",
        "key-incomplete",
        "key-not-object",
        "keys-int",
        "parts-list",
        "part-bad-base64",
    ],
)
def test_malformed_envelope(
    packet: fmt.SealedPacket, edit: Callable[[dict[str, Any]], Any]
) -> None:
    err = _fails(lambda: fmt.SealedPacket.from_envelope(_envelope_with(packet, edit)))
    assert err.context["reason"] == "malformed packet envelope"


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"\xff", b"[]", b'"packet"', b"[" * 100_000],
    ids=["empty", "truncated", "not-utf8", "array", "string", "deep"],
)
def test_envelope_that_is_not_a_json_object(data: bytes) -> None:
    _fails(lambda: fmt.SealedPacket.from_envelope(data))


def test_failures_share_one_public_message(world: World, packet: fmt.SealedPacket) -> None:
    failures = [
        _fails(lambda: fmt.verify_header(packet, bytes(32))),
        _fails(lambda: fmt.verify_header(_with_parts(packet, {"body": None}), world.signer_public)),
        _fails(lambda: fmt.unwrap_content_key(packet, OUTSIDER, lambda _kid: None)),
        _fails(lambda: fmt.SealedPacket.from_envelope(b"{}")),
    ]

    assert {f.public_message for f in failures} == {PUBLIC_MESSAGE}
    assert len({f.context["reason"] for f in failures}) == len(failures)
    assert all(f.status == 422 and f.code == "integrity_failure" for f in failures)


def test_body_that_is_not_utf8_is_an_integrity_failure() -> None:
    """A sender (e.g. an agency system sealing end to end) may encrypt bytes that are not UTF-8."""
    key = SecretBytes(b"\x01" * 32)
    packet = fmt.SealedPacket(
        b"{}", b"", "", (), {fmt.BODY: fmt._encrypt_part(key.reveal(), "p1", fmt.BODY, b"\xff\xfe")}
    )
    with pytest.raises(CryptoFailure) as info:
        fmt.decrypt_body(packet, "p1", key)
    assert info.value.context["reason"] == "body is not UTF-8"
