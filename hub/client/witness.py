"""The witness exchange over the signed hub-to-hub HTTP (``hub.client.peer``): this hub's
add-checkpoint requests to its peers, and their answers back into the witness service's terms."""

from __future__ import annotations

from hub.client.peer import PeerClient, PeerRefused
from hub.clock import Clock
from hub.errors import IntegrityFailure
from hub.ledger.checkpoint import BadCheckpoint, Checkpoint
from hub.ledger.cosignature import AddCheckpoint, Cosignature
from hub.services.peers import Peer, PeerService
from hub.services.witness import WitnessConflict

WITNESS_PATH = "/federation/v1/witness/checkpoints"


class HttpWitnessTransport:
    """``WitnessTransport`` over signed HTTP: the answer, refusals included, is verified against the
    peer's pinned key by the client before it is read here."""

    def __init__(self, peers: PeerService, clock: Clock) -> None:
        self._peers = peers
        self._clock = clock

    async def add_checkpoint(self, peer: Peer, request: AddCheckpoint) -> Cosignature:
        async with PeerClient(await self._peers.hub_key(), self._clock, timeout=60) as client:
            try:
                answer = await client.post_json(peer, WITNESS_PATH, request.to_json())
            except PeerRefused as exc:
                if exc.peer_status == 409 and exc.problem_code == WitnessConflict.code:
                    raise WitnessConflict(_known(exc.problem.get("checkpoint"))) from None
                raise
        try:
            return Cosignature.from_json(answer.json())
        except (BadCheckpoint, ValueError):
            raise IntegrityFailure(f"Peer {peer.name} answered with no cosignature.") from None


def _known(doc: object) -> Checkpoint | None:
    """The checkpoint the witness says it holds (its signature is checked by the caller)."""
    if doc is None:
        return None
    try:
        return Checkpoint.from_json(doc)
    except BadCheckpoint:
        raise IntegrityFailure("The peer's conflict answer holds no readable checkpoint.") from None
