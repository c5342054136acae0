"""Peer hubs: pinning by their signing key, their signed directory documents, replay protection.

Every hub-to-hub check starts here: a peer is known only by the key an operator pinned after
checking its fingerprint out of band. Unknown, unpinned or removed peers are refused everywhere:
``get``, ``pinned_key``, ``for_key_id`` and ``receiving_agencies`` answer only for active peers.
Pinning and removal are operator actions (the console), each on the log.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from hub.clock import Clock
from hub.crypto.canonical import canonical_json
from hub.crypto.http_signatures import MAX_SKEW, SignatureRefused, fingerprint
from hub.crypto.secrets import SecretBytes
from hub.errors import ConfigError, Conflict, Forbidden, IntegrityFailure, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.services import directory_document, ledger
from hub.services.actor import Actor
from hub.services.checkpoints import LedgerService
from hub.services.directory_document import PublishedKey, ReceivingAgency
from hub.services.keyring import KeyRing
from hub.store import directory as directory_store
from hub.store import peers as store
from hub.store.database import Database
from hub.store.peers import StoredPeer

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class Peer:
    id: int
    name: str
    url: str
    signing_key: bytes
    fingerprint: str
    active: bool
    directory_fetched_at: datetime | None
    added_at: datetime


@dataclass(frozen=True)
class HubKey:
    """This hub's signing key in force: what its federation calls, responses, directory documents
    and acknowledgements are signed with. ``repr`` shows no key material (SecretBytes)."""

    public: bytes
    fingerprint: str
    private: SecretBytes


class PeerNotPinned(NotFound):
    code = "peer_not_pinned"


def _peer(row: StoredPeer) -> Peer:
    return Peer(
        row.id, row.name, row.url, row.signing_key, row.fingerprint, row.active,
        row.directory_fetched_at, row.added_at,
    )  # fmt: skip


def normalise_url(url: str) -> str:
    """A peer's base URL: https, or http only to a loopback address (tests, a local proxy)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("A peer's URL is https://host[:port][/path].", field="url")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput("A peer's URL has no query, fragment or credentials.", field="url")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InvalidInput("A peer on another machine is reached over https.", field="url")
    return url.strip().rstrip("/")


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PeerService:
    def __init__(
        self, db: Database, keyring: KeyRing, ledger_service: LedgerService, clock: Clock
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._ledger = ledger_service
        self._clock = clock

    # -- this hub --------------------------------------------------------------------------

    async def hub_key(self) -> HubKey:
        stored, private = await self._ledger.hub_signing_key()
        return HubKey(stored.public_key, fingerprint(stored.public_key), private)

    # -- pinning ---------------------------------------------------------------------------

    async def add(self, actor: Actor | None, name: str, url: str, key: bytes) -> Peer:
        """Pin a peer hub (or pin a removed one again). The operator has checked the fingerprint."""
        _operator_only(actor)
        if not _NAME.match(name):
            raise InvalidInput("A peer's name is lower-case letters, digits and '-'.", field="name")
        url = normalise_url(url)
        if len(key) != 32:
            raise InvalidInput("A hub signing key is a 32-byte Ed25519 public key.", field="key")
        own = await self.hub_key()
        if key == own.public:
            raise InvalidInput("That is this hub's own key.", field="key")
        fp, now = fingerprint(key), self._clock.now()
        async with self._db.write() as conn:
            by_name = await store.peer_by_name_or_fingerprint(conn, name)
            by_key = await store.peer_by_key(conn, key)
            if by_key is not None and by_key.name != name:
                raise Conflict(f"That key is already pinned for peer {by_key.name}.")
            if by_name is not None and by_name.active:
                raise Conflict(f"A peer named {name} is already pinned: remove it first.")
            if by_name is not None:
                await store.repin_peer(conn, by_name.id, url, key, fp, now)
                peer_id = by_name.id
            else:
                peer_id = (await store.add_peer(conn, name, url, key, fp, now)).id
            await ledger.append(conn, _record(Event.PEER_PINNED, now, name, url, fp))
            row = await store.peer_by_name_or_fingerprint(conn, name)
        assert row is not None and row.id == peer_id  # noqa: S101 - written just above
        return _peer(row)

    async def remove(self, actor: Actor | None, name: str) -> Peer:
        _operator_only(actor)
        now = self._clock.now()
        async with self._db.write() as conn:
            row = await store.peer_by_name_or_fingerprint(conn, name)
            if row is None or not row.active:
                raise PeerNotPinned(f"No pinned peer {name}.")
            await store.deactivate_peer(conn, row.id)
            await ledger.append(conn, _record(Event.PEER_REMOVED, now, row.name, row.url,
                                              row.fingerprint))  # fmt: skip
        return _peer(row)

    async def list(self) -> list[Peer]:
        async with self._db.read() as conn:
            return [_peer(r) for r in await store.all_peers(conn)]

    async def get(self, name_or_fingerprint: str) -> Peer:
        """An active pinned peer, by name or fingerprint; ``PeerNotPinned`` for anything else."""
        async with self._db.read() as conn:
            row = await store.peer_by_name_or_fingerprint(conn, name_or_fingerprint)
        if row is None or not row.active:
            raise PeerNotPinned(f"No pinned peer {name_or_fingerprint}.")
        return _peer(row)

    async def pinned_key(self, name_or_fingerprint: str) -> bytes:
        """The Ed25519 key to check a peer's signatures (bundles, acknowledgements) against."""
        return (await self.get(name_or_fingerprint)).signing_key

    # -- authenticating calls ---------------------------------------------------------------

    async def for_key_id(self, key_id: str) -> Peer:
        """The active peer whose key has this fingerprint (the ``keyid`` of a signed call)."""
        if not re.fullmatch(r"[0-9a-f]{64}", key_id):
            raise SignatureRefused("key id is not a hub key fingerprint")
        async with self._db.read() as conn:
            row = await store.peer_by_name_or_fingerprint(conn, key_id)
        if row is None or not row.active or row.fingerprint != key_id:
            raise SignatureRefused("signed with a key that is not pinned")
        return _peer(row)

    async def accept_nonce(self, peer: Peer, nonce: str) -> None:
        """Each nonce once per peer within the accepted window; older ones are forgotten."""
        now = self._clock.now()
        async with self._db.write() as conn:
            fresh = await store.remember_nonce(conn, peer.id, nonce, now)
            if fresh:
                # The window either side of ``created``: a nonce older than both can never
                # come back inside it.
                await store.forget_nonces_before(conn, now - 2 * MAX_SKEW)
        if not fresh:
            raise SignatureRefused("nonce already used (a replayed request)")

    # -- directory documents ------------------------------------------------------------------

    async def publish_directory(self) -> bytes:
        """This hub's directory document, signed: every agency with active keys, and its area."""
        own = await self.hub_key()
        async with self._db.read() as conn:
            agencies = await directory_store.list_agencies(conn)
            areas = {a.id: a for a in await directory_store.list_areas(conn)}
        await self._keyring.reload()
        entries = []
        for agency in agencies:
            try:
                keys = await self._keyring.active(agency.id)
            except ConfigError:  # an agency without keys cannot receive: not listed
                continue
            enc = PublishedKey(keys.encryption.key_id, keys.encryption.public_key,
                               keys.encryption.created_at)  # fmt: skip
            sig = PublishedKey(keys.signing.key_id, keys.signing.public_key,
                               keys.signing.created_at)  # fmt: skip
            entries.append((agency, areas[agency.area_id], enc, sig))
        document = directory_document.build(own.public, entries, self._clock.now())
        return directory_document.sign(document, own.private)

    async def store_directory(self, name: str, data: bytes) -> directory_document.PeerDirectory:
        """A document fetched from the peer: kept only if its pinned key signed it."""
        peer = await self.get(name)
        checked = directory_document.verify(data, peer.signing_key, self._clock.now())
        async with self._db.write() as conn:
            await store.store_directory(conn, peer.id, data, self._clock.now())
        return checked

    async def receiving_agencies(self, name_or_fingerprint: str) -> tuple[ReceivingAgency, ...]:
        """The peer's agencies and their keys, from its stored directory document, checked again
        against the pinned key (the database is not trusted to keep it unaltered)."""
        peer = await self.get(name_or_fingerprint)
        async with self._db.read() as conn:
            row = await store.peer_by_name_or_fingerprint(conn, peer.name)
        if row is None or row.directory is None:
            raise IntegrityFailure(
                f"No directory from peer {peer.name} yet: run 'mappa-hub peer fetch-directory'.",
                code="no_directory",
            )
        return directory_document.verify(
            row.directory, peer.signing_key, self._clock.now()
        ).agencies


def _operator_only(actor: Actor | None) -> None:
    if actor is not None:
        raise Forbidden("Peer hubs are pinned and removed by the operator, at the console.")


def _record(event: Event, when: datetime, name: str, url: str, fp: str) -> Record:
    """Who this hub trusts to send and receive cases (alteration); the entry holds a digest of
    the pin, which anyone holding the peers row can recompute."""
    digest = hashlib.sha256(
        canonical_json({"peer": name, "url": url, "fingerprint": fp, "event": event.value})
    ).hexdigest()
    return Record(
        action=Action.ALTERATION,
        event=event,
        recorded_at=when,
        actor_user_id=None,
        actor_agency_id=None,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        content_digest=digest,
    )
