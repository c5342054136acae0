"""Peers witness each other's logs (the C2SP tlog-witness protocol, adapted: hub.ledger.cosignature).

Witness side, ``add_checkpoint``: a pinned peer sends its newest checkpoint with a consistency
proof from the size this hub last cosigned for it. The checkpoint must be signed by the peer's
pinned key, no smaller than that size, and (by the proof) an extension of it; then this hub
cosigns it with its own signing key and keeps it as the peer's new state. A fork (same size,
another root), a smaller tree or a bad proof is refused and the state stays where it was.

Log side, ``run``: after this hub signs a checkpoint it asks every active peer to cosign it,
proving consistency from the size that peer last cosigned, and keeps each cosignature (checked
against the peer's pinned key) in the database and in the file beside the pins
(hub.services.cosigned), where ``ledger verify`` holds the log to it.

No ledger entry is written for a cosignature: cosigning processes no personal data (a size, a
root and two times), so it is none of DPA 2018 s62's categories, and the state and signatures
are kept in their own tables. An entry would also grow each peer's log by one entry per round,
which its witnesses would then cosign in turn, for ever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hub.clock import Clock
from hub.crypto import signing
from hub.errors import ConfigError, Conflict, HubError, IntegrityFailure, NotFound
from hub.ledger.checkpoint import BadCheckpoint, Checkpoint
from hub.ledger.cosignature import AddCheckpoint, Cosignature, CosignedCheckpoint
from hub.ledger.merkle import EMPTY_ROOT, ProofError, verify_consistency
from hub.services.checkpoints import LedgerService, read_pins
from hub.services.cosigned import cosigned_path, record_cosigned
from hub.services.peers import Peer, PeerService
from hub.store import cosignatures as store
from hub.store.cosignatures import Received, Witnessed
from hub.store.database import Database

log = logging.getLogger("hub.witness")


class UnknownLog(NotFound):
    """The checkpoint is not signed by the key of any active pinned peer."""

    code = "unknown_log"

    def __init__(self) -> None:
        super().__init__("This hub does not witness that log: its key is not a pinned peer's.")


class WitnessRefused(IntegrityFailure):
    """A checkpoint this hub will not cosign. ``reason`` is ``signature``, ``smaller`` (a tree
    smaller than the one cosigned before), ``fork`` (same size, another root) or ``proof``."""

    code = "witness_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


class WitnessConflict(Conflict):
    """The request's old size is not the size this witness holds for the log (tlog-witness's
    409): ``known`` is the checkpoint it holds, for the log to prove consistency from (or to
    learn that its log no longer contains it)."""

    code = "witness_conflict"

    def __init__(self, known: Checkpoint | None) -> None:
        size = known.tree_size if known else 0
        super().__init__(f"This witness holds the log at size {size}.", size=size)
        self.known = known


class LogTruncated(IntegrityFailure):
    """A witness holds a checkpoint of this hub's own log (signed by its pinned key) that the log
    no longer contains: entries were deleted or rewritten after the witness saw them."""

    code = "log_truncated"

    def __init__(self, peer: str, checkpoint: Checkpoint, how: str) -> None:
        super().__init__(
            f"Peer {peer} holds this hub's checkpoint at size {checkpoint.tree_size}, cosigned; "
            f"the log {how}.",
            peer=peer,
        )


class WitnessTransport(Protocol):
    """Carries an add-checkpoint request to a peer's witness (the signed hub-to-hub HTTP client in
    production). Raises ``WitnessConflict`` for the peer's 409, another ``HubError`` otherwise."""

    async def add_checkpoint(self, peer: Peer, request: AddCheckpoint) -> Cosignature: ...


@dataclass(frozen=True)
class Outcome:
    """What one peer said when asked to cosign: a cosignature, or why not (safe to print)."""

    peer: str
    tree_size: int
    cosignature: Cosignature | None = None
    error: str | None = None


class WitnessService:
    def __init__(
        self,
        db: Database,
        ledger: LedgerService,
        peers: PeerService,
        clock: Clock,
        pins: Path,
        transport: WitnessTransport | None = None,
    ) -> None:
        self._db = db
        self._ledger = ledger
        self._peers = peers
        self._clock = clock
        self._pins = pins
        self._transport = transport

    # -- witness side ----------------------------------------------------------------------

    async def add_checkpoint(self, request: AddCheckpoint) -> Cosignature:
        """Cosign a pinned peer's checkpoint if it extends the one cosigned before (see module)."""
        cp = request.checkpoint
        peer = next((p for p in await self._active_peers() if p.signing_key == cp.public_key), None)
        if peer is None:
            raise UnknownLog()
        async with self._db.read() as conn:
            held = await store.witnessed_for(conn, peer.id)
        try:
            cp.verify(peer.signing_key)
        except BadCheckpoint:
            raise WitnessRefused(
                "signature", "The checkpoint's signature does not verify."
            ) from None
        old = held.checkpoint if held else None
        if request.old_size != (old.tree_size if old else 0):
            raise WitnessConflict(old)
        if held is not None and held.checkpoint.body == cp.body:
            return held.cosignature  # the same checkpoint again: the same answer
        _check_extends(old, cp, request.proof)
        key, private = await self._ledger.hub_signing_key()
        cosignature = Cosignature.sign(
            cp, key.public_key, self._clock.now(), lambda body: signing.sign(private, body)
        )
        async with self._db.write() as conn:
            moved = await store.advance_witnessed(conn, peer.id, old, cp, cosignature)
        if not moved:  # another request moved the state first: the log retries from there
            async with self._db.read() as conn:
                now_held = await store.witnessed_for(conn, peer.id)
            raise WitnessConflict(now_held.checkpoint if now_held else None)
        return cosignature

    async def witnessed(self) -> list[Witnessed]:
        """The newest checkpoint of each peer that this hub cosigned."""
        async with self._db.read() as conn:
            return await store.all_witnessed(conn)

    async def export_witnessed(self, peer_name: str) -> CosignedCheckpoint:
        """The peer's newest checkpoint with this hub's cosignature, for the peer's operator to
        hold its log to (``mappa-hub ledger verify --checkpoint FILE`` on the peer)."""
        peer = next((p for p in await self._peers.list() if p.name == peer_name), None)
        if peer is None:
            raise NotFound(f"No pinned peer named {peer_name}.")
        async with self._db.read() as conn:
            held = await store.witnessed_for(conn, peer.id)
        if held is None:
            raise NotFound(f"This hub has not cosigned a checkpoint of {peer_name} yet.")
        return CosignedCheckpoint(held.checkpoint, (held.cosignature,))

    # -- log side --------------------------------------------------------------------------

    async def received(self) -> list[Received]:
        async with self._db.read() as conn:
            return await store.all_received(conn)

    @property
    def has_transport(self) -> bool:
        return self._transport is not None

    async def run(self) -> list[Outcome]:
        """Ask every active peer to cosign this hub's newest checkpoint (signing one first if the
        log has grown). One peer's failure is reported and does not stop the others; a peer
        that shows this hub's log was cut short raises ``LogTruncated`` after the others ran."""
        transport = self._transport
        if transport is None:
            raise ConfigError("no transport to peer hubs is configured for witnessing")
        await self._ledger.checkpoint_if_grown()
        cp = await self._ledger.latest_checkpoint()
        if cp is None:
            return []
        peers = await self._active_peers()
        outcomes: list[Outcome] = []
        truncated: LogTruncated | None = None
        for peer in peers:
            try:
                cosignature = await self._ask(transport, peer, cp)
            except LogTruncated as exc:
                truncated = truncated or exc
                outcomes.append(Outcome(peer.name, cp.tree_size, error=exc.public_message))
            except HubError as exc:
                log.warning(
                    "witness %s refused checkpoint %s: %s", peer.name, cp.tree_size, exc.code
                )
                outcomes.append(Outcome(peer.name, cp.tree_size, error=exc.public_message))
            except OSError as exc:  # the peer is unreachable: try again next round
                log.warning("witness %s unreachable: %s", peer.name, type(exc).__name__)
                outcomes.append(Outcome(peer.name, cp.tree_size, error="unreachable"))
            else:
                outcomes.append(Outcome(peer.name, cp.tree_size, cosignature))
        if truncated is not None:
            raise truncated
        return outcomes

    async def _ask(self, transport: WitnessTransport, peer: Peer, cp: Checkpoint) -> Cosignature:
        async with self._db.read() as conn:
            last = await store.latest_received(conn, peer.id)
        if last is not None and last.checkpoint.body == cp.body:
            return last.cosignature  # this peer has cosigned it already: nothing to ask
        if last is not None and last.checkpoint.tree_size > cp.tree_size:
            raise LogTruncated(peer.name, last.checkpoint, "is now shorter")
        old_size = last.checkpoint.tree_size if last else 0
        try:
            cosignature = await transport.add_checkpoint(peer, await self._request(old_size, cp))
        except WitnessConflict as conflict:
            # The witness's copy is the authoritative one: this hub's record of what it was last
            # given may have been lost, or cut back with the log.
            known = conflict.known
            if known is not None:
                await self._check_held_by_peer(peer, known, cp)
            size = known.tree_size if known else 0
            cosignature = await transport.add_checkpoint(peer, await self._request(size, cp))
        try:
            cosignature.verify(cp, peer.signing_key)
        except BadCheckpoint:
            raise WitnessRefused(
                "signature", f"Peer {peer.name}'s cosignature does not verify."
            ) from None
        async with self._db.write() as conn:
            await store.add_received(conn, peer.id, cp, cosignature)
        path = cosigned_path(self._pins)
        try:
            record_cosigned(path, cp, cosignature)
        except OSError:  # said as such, not taken for an unreachable peer
            raise ConfigError(f"cannot write the cosigned checkpoint file {path}") from None
        return cosignature

    async def _active_peers(self) -> list[Peer]:
        return [p for p in await self._peers.list() if p.active]

    async def _request(self, old_size: int, cp: Checkpoint) -> AddCheckpoint:
        proof = await self._ledger.consistency_proof(old_size, cp.tree_size)
        return AddCheckpoint(old_size, tuple(proof), cp)

    async def _check_held_by_peer(self, peer: Peer, known: Checkpoint, cp: Checkpoint) -> None:
        """A checkpoint the witness holds of this log: if this hub signed it (a pinned key), the
        log must still contain it."""
        if known.public_key not in read_pins(self._pins):
            raise WitnessRefused(
                "signature", f"Peer {peer.name} holds a checkpoint not signed by this hub."
            )
        try:
            known.verify()
        except BadCheckpoint:
            raise WitnessRefused(
                "signature", f"Peer {peer.name} holds a checkpoint not signed by this hub."
            ) from None
        if known.tree_size > cp.tree_size:
            raise LogTruncated(peer.name, known, "is now shorter")
        if await self._ledger.root_at(known.tree_size) != known.root:
            raise LogTruncated(peer.name, known, "has another root at that size")


def _check_extends(old: Checkpoint | None, new: Checkpoint, proof: tuple[bytes, ...]) -> None:
    old_size, old_root = (old.tree_size, old.root) if old else (0, EMPTY_ROOT)
    if new.tree_size < old_size:
        raise WitnessRefused(
            "smaller", f"The checkpoint is smaller than the one cosigned before ({old_size})."
        )
    if new.tree_size == old_size and new.root != old_root:
        raise WitnessRefused(
            "fork", f"The checkpoint has another root at the size cosigned before ({old_size})."
        )
    try:
        verify_consistency(old_size, new.tree_size, old_root, new.root, proof)
    except ProofError:
        raise WitnessRefused(
            "proof", f"The consistency proof from size {old_size} does not verify."
        ) from None
