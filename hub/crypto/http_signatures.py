"""RFC 9421 HTTP Message Signatures with Ed25519 for hub-to-hub calls, and RFC 9530 Content-Digest.

The signature base is built by the ``http-message-signatures`` package (checked against RFC 9421
Appendix B.2.6 in the tests); this module fixes the profile the hubs speak and adds what the
package leaves to its caller: the clock window, the nonce, and a body digest computed while the
body streams (a bundle is never held in memory).

Profile: label ``hub``, tag ``mappa-hub-federation``, ``alg="ed25519"``, ``keyid`` the SHA-256
fingerprint of the signer's hub key. A request covers ``@method``, ``@target-uri`` and
``content-digest`` (present on every request, the digest of an empty body for a GET) with
``created`` and a random ``nonce``. A response covers ``@status``, ``content-digest`` and the
request's ``@method`` and ``@target-uri`` (``;req``), and carries the request's nonce: a response
cannot be replayed to another request. Verification raises ``SignatureRefused``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import http_sf
from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)

from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes, constant_time_equals, random_token

LABEL = "hub"
TAG = "mappa-hub-federation"
REQUEST_COMPONENTS = ("@method", "@target-uri", "content-digest")
RESPONSE_COMPONENTS = ("@status", "content-digest", '"@method";req', '"@target-uri";req')
# How far a signature's ``created`` may be from the verifier's clock, either way.
MAX_SKEW = timedelta(minutes=5)


class SignatureRefused(CryptoFailure):
    """A message whose signature, key, time, nonce or digest does not check out. ``reason`` is
    for the log; the peer is told only that the signature was refused."""

    status = 401
    code = "signature_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.public_message = "The hub-to-hub signature was refused."
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def fingerprint(public_key: bytes) -> str:
    """The key id of a hub key: SHA-256 of the raw 32-byte Ed25519 public key, in hex."""
    return hashlib.sha256(public_key).hexdigest()


def new_nonce() -> str:
    return random_token(24)


# -- content digest (RFC 9530) -----------------------------------------------------------------


def content_digest(sha256: bytes) -> str:
    """The Content-Digest field value for a body whose SHA-256 is ``sha256``."""
    return f"sha-256=:{base64.b64encode(sha256).decode()}:"


def digest_of(body: bytes) -> str:
    return content_digest(hashlib.sha256(body).digest())


def require_digest(field_value: str | None, sha256: bytes) -> None:
    """The body's SHA-256 must be the ``sha-256`` member of the (signed) Content-Digest field."""
    if not field_value:
        raise SignatureRefused("no content-digest")
    try:
        parsed = http_sf.parse(field_value.encode("latin-1"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError):
        raise SignatureRefused("content-digest is not a structured dictionary") from None
    member = parsed.get("sha-256") if isinstance(parsed, dict) else None
    value = member[0] if isinstance(member, tuple) else None
    if not isinstance(value, bytes) or not constant_time_equals(value, sha256):
        raise SignatureRefused("content-digest does not match the body")


# -- message views the package reads ----------------------------------------------------------


class _Fields:
    """Header fields as the package wants them: ordered pairs, names matched without case."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._pairs)

    def __setitem__(self, name: str, value: str) -> None:
        self.__delitem__(name)
        self._pairs.append((name, value))

    def __delitem__(self, name: str) -> None:
        self._pairs = [(n, v) for n, v in self._pairs if n.lower() != name.lower()]

    def get(self, name: str) -> str | None:
        values = [v for n, v in self._pairs if n.lower() == name.lower()]
        return ", ".join(values) if values else None


@dataclass
class _Request:
    method: str
    url: str
    headers: _Fields


@dataclass
class _Response:
    status_code: int
    headers: _Fields
    request: _Request


class _Keys(HTTPSignatureKeyResolver):
    def __init__(
        self, key_id: str, *, public: bytes | None = None, private: SecretBytes | None = None
    ) -> None:
        self._key_id, self._public, self._private = key_id, public, private

    def resolve_public_key(self, key_id: str) -> ed25519.Ed25519PublicKey:
        if key_id != self._key_id or self._public is None:
            raise SignatureRefused("signed with a key that is not pinned")
        return ed25519.Ed25519PublicKey.from_public_bytes(self._public)

    def resolve_private_key(self, key_id: str) -> ed25519.Ed25519PrivateKey:
        if key_id != self._key_id or self._private is None:
            raise SignatureRefused("no private key for that key id")
        return ed25519.Ed25519PrivateKey.from_private_bytes(self._private.reveal()[:32])


# -- the general operations (any components; the RFC vectors use these) -----------------------


def sign_message(
    message: _Request | _Response,
    private: SecretBytes,
    key_id: str,
    components: Iterable[str],
    *,
    created: datetime,
    nonce: str | None = None,
    label: str = LABEL,
    tag: str | None = TAG,
    include_alg: bool = True,
) -> None:
    """Add Signature-Input and Signature to ``message.headers``."""
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_Keys(key_id, private=private)
    )
    signer.sign(
        message, key_id=key_id, created=created, nonce=nonce, label=label, tag=tag,
        include_alg=include_alg, covered_component_ids=tuple(components),
        # The digest is computed by the caller while the body streams; the package checks its
        # syntax and the signature covers it.
        use_existing_digest="content-digest" in message.headers,
    )  # fmt: skip


@dataclass(frozen=True)
class Verified:
    key_id: str
    created: datetime
    nonce: str


def signature_key_id(headers: Iterable[tuple[str, str]]) -> str:
    """The ``keyid`` the message says it is signed with (to look the key up; not yet trusted)."""
    value = _Fields(headers).get("Signature-Input")
    if not value:
        raise SignatureRefused("the message is not signed")
    try:
        parsed = http_sf.parse(value.encode("latin-1"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError):
        raise SignatureRefused("Signature-Input is not a structured dictionary") from None
    member = parsed.get(LABEL) if isinstance(parsed, dict) else None
    key_id = member[1].get("keyid") if isinstance(member, tuple) else None
    if not isinstance(key_id, str):
        raise SignatureRefused(f"no signature labelled {LABEL!r} with a key id")
    return key_id


def verify_message(
    message: _Request | _Response,
    public: bytes,
    key_id: str,
    components: Iterable[str],
    *,
    now: datetime,
    tag: str | None = TAG,
    label: str = LABEL,
) -> Verified:
    """Check the signature labelled ``label`` by ``public`` covering at least ``components``,
    created within ``MAX_SKEW`` of ``now`` and carrying a nonce."""
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_Keys(key_id, public=public)
    )
    try:
        results = verifier.verify(
            message, max_age=None, expect_tag=tag,
            # A label is not signed: it selects only together with the signed tag.
            expect_label=label if tag is not None else None,
            require_components=tuple(components),
        )  # fmt: skip
    except (HTTPMessageSignaturesException, ValueError, TypeError) as exc:
        raise SignatureRefused(f"signature does not verify: {exc}") from None
    params = results[0].parameters
    if params.get("keyid") != key_id or params.get("alg") != "ed25519":
        raise SignatureRefused("wrong key id or algorithm")
    created = params.get("created")
    if not isinstance(created, int):
        raise SignatureRefused("no created time")
    when = datetime.fromtimestamp(created, now.tzinfo)
    if abs(now - when) > MAX_SKEW:
        raise SignatureRefused("created time outside the accepted window")
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        raise SignatureRefused("no nonce, or a nonce of the wrong length")
    return Verified(key_id, when, nonce)


# -- the federation profile -------------------------------------------------------------------


def sign_request(
    method: str,
    url: str,
    headers: MutableMapping[str, str],
    private: SecretBytes,
    key_id: str,
    *,
    created: datetime,
    nonce: str,
) -> None:
    """Sign a request whose Content-Digest is already in ``headers``; adds the two fields."""
    fields = _Fields(headers.items())
    sign_message(_Request(method, url, fields), private, key_id, REQUEST_COMPONENTS,
                 created=created, nonce=nonce)  # fmt: skip
    for name in ("Signature-Input", "Signature"):
        headers[name] = fields.get(name) or ""


def verify_request(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    public: bytes,
    key_id: str,
    *,
    now: datetime,
) -> Verified:
    message = _Request(method, url, _Fields(headers))
    return verify_message(message, public, key_id, REQUEST_COMPONENTS, now=now)


def sign_response(
    status: int,
    headers: MutableMapping[str, str],
    request_method: str,
    request_url: str,
    private: SecretBytes,
    key_id: str,
    *,
    created: datetime,
    nonce: str,
) -> None:
    fields = _Fields(headers.items())
    request = _Request(request_method, request_url, _Fields(()))
    sign_message(_Response(status, fields, request), private, key_id, RESPONSE_COMPONENTS,
                 created=created, nonce=nonce)  # fmt: skip
    for name in ("Signature-Input", "Signature"):
        headers[name] = fields.get(name) or ""


def verify_response(
    status: int,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    request_method: str,
    request_url: str,
    public: bytes,
    *,
    now: datetime,
    nonce: str,
) -> Verified:
    """A peer's answer: signed by its pinned key, for this request (same nonce), body intact."""
    fields = _Fields(headers)
    message = _Response(status, fields, _Request(request_method, request_url, _Fields(())))
    verified = verify_message(message, public, fingerprint(public), RESPONSE_COMPONENTS, now=now)
    if not constant_time_equals(verified.nonce, nonce):
        raise SignatureRefused("the response answers another request")
    require_digest(fields.get("Content-Digest"), hashlib.sha256(body).digest())
    return verified


def decode_key(text: str) -> bytes:
    """A hub public key as written in a key file: 64 hex digits or base64 of 32 bytes."""
    text = text.strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise CryptoFailure("not a hex or base64 Ed25519 public key") from None
    if len(raw) != 32:
        raise CryptoFailure("an Ed25519 public key is 32 bytes")
    return raw
