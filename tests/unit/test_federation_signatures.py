"""RFC 9421 signatures as the hubs use them: the RFC's Ed25519 vector, then the hub profile.

The vector (RFC 9421 Appendix B.2.6, key test-key-ed25519 of B.1.4) fixes the signature base the
package builds; Ed25519 is deterministic, so the exact published signature must come out.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from hub.crypto import http_signatures as hs
from hub.crypto.agency_keys import KeyPurpose, generate_local_pair
from hub.crypto.secrets import SecretBytes
from hub.services import directory_document, peer_ack
from hub.services.directory_document import DirectoryRefused
from hub.services.peer_ack import AckRefused

# RFC 9421 B.1.4 test-key-ed25519: the PKCS#8 private key's last 32 bytes are the seed.
RFC_PRIVATE_PKCS8 = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF"
RFC_PUBLIC_SPKI = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs="
RFC_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");'
    'created=1618884473;keyid="test-key-ed25519"'
)
RFC_SIGNATURE = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
RFC_COMPONENTS = ("date", "@method", "@path", "@authority", "content-type", "content-length")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _rfc_request(*extra: tuple[str, str]) -> hs._Request:
    fields = hs._Fields(
        [
            ("Host", "example.com"),
            ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
            ("Content-Type", "application/json"),
            ("Content-Length", "18"),
            *extra,
        ]
    )
    return hs._Request("POST", "https://example.com/foo?param=Value&Pet=dog", fields)


def test_rfc9421_b26_ed25519_signature_is_reproduced() -> None:
    seed = SecretBytes(base64.b64decode(RFC_PRIVATE_PKCS8)[-32:])
    message = _rfc_request()
    hs.sign_message(
        message, seed, "test-key-ed25519", RFC_COMPONENTS,
        created=datetime.fromtimestamp(1618884473, UTC), label="sig-b26", tag=None,
        include_alg=False,
    )  # fmt: skip
    assert message.headers.get("Signature-Input") == RFC_INPUT
    assert message.headers.get("Signature") == RFC_SIGNATURE


def test_rfc9421_b26_signature_verifies_with_the_published_public_key() -> None:
    public = base64.b64decode(RFC_PUBLIC_SPKI)[-32:]
    message = _rfc_request(("Signature-Input", RFC_INPUT), ("Signature", RFC_SIGNATURE))
    # The signature checks out; the vector then fails only the hub profile (no ``alg``, no nonce).
    with pytest.raises(hs.SignatureRefused) as refused:
        hs.verify_message(
            message, public, "test-key-ed25519", RFC_COMPONENTS,
            now=datetime.fromtimestamp(1618884473, UTC), tag=None, label="sig-b26",
        )  # fmt: skip
    assert refused.value.reason == "wrong key id or algorithm"
    wrong = base64.b64decode(RFC_PUBLIC_SPKI)[-32:][::-1]
    with pytest.raises(hs.SignatureRefused, match="does not verify"):
        hs.verify_message(
            message, wrong, "test-key-ed25519", RFC_COMPONENTS,
            now=datetime.fromtimestamp(1618884473, UTC), tag=None, label="sig-b26",
        )  # fmt: skip


def _hub_key() -> tuple[bytes, SecretBytes, str]:
    pair = generate_local_pair(KeyPurpose.SIGNING)
    return pair.public, pair.private, hs.fingerprint(pair.public)


def _signed(url: str, body: bytes, when: datetime) -> tuple[dict[str, str], bytes, str]:
    public, private, fp = _hub_key()
    headers = {"Content-Digest": hs.digest_of(body)}
    nonce = hs.new_nonce()
    hs.sign_request("POST", url, headers, private, fp, created=when, nonce=nonce)
    return headers, public, nonce


def test_the_request_profile_binds_method_target_digest_time_and_nonce() -> None:
    url = "https://hub.example/federation/v1/transfers"
    headers, public, nonce = _signed(url, b"bundle", NOW)
    fp = hs.fingerprint(public)
    assert hs.signature_key_id(headers.items()) == fp
    verified = hs.verify_request("POST", url, headers.items(), public, fp, now=NOW)
    assert verified.nonce == nonce and verified.created == NOW
    with pytest.raises(hs.SignatureRefused):  # another path
        hs.verify_request("POST", url + "x", headers.items(), public, fp, now=NOW)
    with pytest.raises(hs.SignatureRefused):  # another method
        hs.verify_request("PUT", url, headers.items(), public, fp, now=NOW)
    with pytest.raises(hs.SignatureRefused, match="window"):
        hs.verify_request("POST", url, headers.items(), public, fp, now=NOW + timedelta(minutes=6))
    forged = {**headers, "Content-Digest": hs.digest_of(b"other")}
    with pytest.raises(hs.SignatureRefused):  # the digest header is covered
        hs.verify_request("POST", url, forged.items(), public, fp, now=NOW)
    with pytest.raises(hs.SignatureRefused, match="does not match"):
        hs.require_digest(headers["Content-Digest"], hs.hashlib.sha256(b"bundlE").digest())


def test_a_response_is_bound_to_its_request_by_the_nonce() -> None:
    public, private, fp = _hub_key()
    url = "https://hub.example/federation/v1/directory"
    body = b'{"ok":true}'
    headers = {"Content-Digest": hs.digest_of(body)}
    hs.sign_response(200, headers, "GET", url, private, fp, created=NOW, nonce="n" * 32)
    hs.verify_response(200, headers.items(), body, "GET", url, public, now=NOW, nonce="n" * 32)
    with pytest.raises(hs.SignatureRefused, match="another request"):
        hs.verify_response(200, headers.items(), body, "GET", url, public, now=NOW, nonce="m" * 32)
    with pytest.raises(hs.SignatureRefused):  # the status is covered
        hs.verify_response(500, headers.items(), body, "GET", url, public, now=NOW, nonce="n" * 32)
    with pytest.raises(hs.SignatureRefused, match="does not match"):
        hs.verify_response(200, headers.items(), b"{}", "GET", url, public, now=NOW, nonce="n" * 32)


def test_directory_and_ack_verify_only_against_the_pinned_key() -> None:
    public, private, _ = _hub_key()
    other, _, _ = _hub_key()
    data = directory_document.sign(directory_document.build(public, [], NOW), private)
    assert directory_document.verify(data, public, NOW).agencies == ()
    with pytest.raises(DirectoryRefused):
        directory_document.verify(data, other, NOW)
    with pytest.raises(DirectoryRefused):
        directory_document.verify(data, public, NOW + directory_document.LIFETIME)
    ack = peer_ack.make("bundle-1", "ab" * 32, NOW, public, private)
    assert peer_ack.verify(ack, public, "ab" * 32).bundle_id == "bundle-1"
    with pytest.raises(AckRefused):
        peer_ack.verify(ack, other, "ab" * 32)
    with pytest.raises(AckRefused):
        peer_ack.verify(ack, public, "cd" * 32)
