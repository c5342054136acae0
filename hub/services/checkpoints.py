"""The verifiable ledger: the Merkle tree over the log, signed checkpoints, receipts, verification.

History cannot be rewritten without detection even by someone with full database access: the
checkpoints are signed with the hub's key (wrapped under the KEK, outside the database), the hub's
public keys are pinned in a file beside the KEK, and exported checkpoints held elsewhere (e.g. by
the Strategic Management Board) can be checked against the log at any later time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto import signing
from hub.crypto.agency_keys import KeyPurpose, generate_key_pair
from hub.crypto.kek import KeyEncryptionKey
from hub.crypto.secrets import SecretBytes
from hub.errors import ConfigError, Forbidden, IntegrityFailure, NotFound
from hub.ledger.checkpoint import BadCheckpoint, Checkpoint, Receipt
from hub.ledger.merkle import MerkleTree, ProofError, verify_consistency
from hub.model.directory import Role
from hub.services import ledger
from hub.services.actor import Actor
from hub.services.cosigned import held_checkpoints
from hub.services.refusals import refusal_on_case
from hub.store import checkpoints as store
from hub.store import ledger as ledger_store
from hub.store import packets as packet_store
from hub.store.checkpoints import StoredCheckpoint, StoredHubKey
from hub.store.database import Database

# Run inside the transaction that stores a checkpoint; raises to refuse (hub.services.leases).
Fence = Callable[[AsyncConnection], Awaitable[None]]

PIN_FILE = "hub-signing.pub"


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    checkpoints: int
    trusted_checkpoints: int
    root: bytes
    cosigned_checkpoints: int = 0


def pin_path(kek_path: Path) -> Path:
    """The hub's public keys, pinned outside the database: $MAPPA_HUB_KEY_PINS, else beside
    the KEK (a deployment whose KEK directory is read-only points the variable elsewhere)."""
    configured = os.environ.get("MAPPA_HUB_KEY_PINS")
    return Path(configured) if configured else kek_path.parent / PIN_FILE


class ReceiptRefused(IntegrityFailure):
    """A receipt that does not verify. ``failed`` names the check, for words on a page:
    ``format`` (not a receipt), ``key`` (not signed by a pinned hub key), ``signature``, ``entry``
    (the entry is not the one the receipt names), ``inclusion`` (the proof does not lead to the
    checkpoint's root), ``log`` (signed by this hub, but its log no longer holds it)."""

    code = "receipt_refused"

    def __init__(self, failed: str) -> None:
        super().__init__("The receipt does not verify.", failed=failed)
        self.failed = failed


@dataclass(frozen=True)
class CheckedReceipt:
    receipt: Receipt
    entry: dict[str, Any]


def check_receipt(data: bytes, pins: set[bytes]) -> CheckedReceipt:
    """The offline check of ``mappa-hub ledger check-receipt`` (``Receipt.verify``), against the
    pinned hub keys, naming the check that failed in ``ReceiptRefused``."""
    try:
        receipt = Receipt.from_bytes(data)
    except BadCheckpoint:
        raise ReceiptRefused("format") from None
    if receipt.checkpoint.public_key not in pins:
        raise ReceiptRefused("key")
    try:
        receipt.checkpoint.verify()
    except BadCheckpoint:
        raise ReceiptRefused("signature") from None
    try:
        entry = receipt.verify()
    except ProofError:
        raise ReceiptRefused("inclusion") from None
    except BadCheckpoint:
        raise ReceiptRefused("entry") from None
    return CheckedReceipt(receipt, entry)


def read_pins(path: Path) -> set[bytes]:
    try:
        return {
            bytes.fromhex(line.strip()) for line in path.read_text().splitlines() if line.strip()
        }
    except FileNotFoundError:
        return set()


class LedgerService:
    def __init__(self, db: Database, kek: KeyEncryptionKey, clock: Clock, pins: Path) -> None:
        self._db = db
        self._kek = kek
        self._clock = clock
        self._pins = pins
        self._tree = MerkleTree()

    # -- the hub's key -----------------------------------------------------------------------

    async def ensure_hub_key(self) -> StoredHubKey:
        """Create the hub signing key on first use and pin its public half in a file.

        Only a key created here is pinned, or, when no pin file exists yet, the key in force
        (trust on first use). A key that appears in the database later is never pinned
        automatically: that is exactly what a hostile database administrator would add.
        """
        pinned = read_pins(self._pins)
        async with self._db.write() as conn:
            keys = [k for k in await store.all_hub_keys(conn) if k.retired_at is None]
            if keys and (not pinned or any(k.public_key in pinned for k in keys)):
                key = next((k for k in reversed(keys) if k.public_key in pinned), keys[-1])
            elif keys:
                raise ConfigError(
                    f"none of the hub signing keys in the database is pinned in {self._pins}: "
                    "restore the pin file from the KEK backup"
                )
            else:
                pair = generate_key_pair(KeyPurpose.SIGNING, self._kek)
                key = StoredHubKey(
                    pair.key_id, pair.public, pair.wrapped_private, self._kek.kek_id,
                    self._clock.now(), None,
                )  # fmt: skip
                await store.add_hub_key(conn, key)
        if key.public_key not in pinned:
            self._pins.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self._pins.open("a") as fh:
                fh.write(key.public_key.hex() + "\n")
        return key

    async def hub_signing_key(self) -> tuple[StoredHubKey, SecretBytes]:
        """The hub's pinned signing key in force and its private half: what it signs its
        statements to peer hubs with (directory documents, federation calls, bundles)."""
        return await self._signing_key()

    async def _signing_key(self) -> tuple[StoredHubKey, SecretBytes]:
        pins = read_pins(self._pins)
        async with self._db.read() as conn:
            keys = [
                k
                for k in await store.all_hub_keys(conn)
                if k.retired_at is None and (not pins or k.public_key in pins)
            ]
        if not keys:
            raise ConfigError("the hub has no signing key; run 'mappa-hub init'")
        key = keys[-1]
        return key, self._kek.unwrap(key.wrapped_private, key.key_id)

    # -- the tree ----------------------------------------------------------------------------

    async def _tree_upto(self, conn: AsyncConnection, size: int) -> MerkleTree:
        """The cached tree, extended with the leaves appended since it was last read."""
        if size > self._tree.size:
            async for batch in store.leaf_hash_batches(conn, self._tree.size, size):
                self._tree.extend(batch)
        return self._tree

    async def checkpoint(self, fence: Fence | None = None) -> Checkpoint:
        """Sign the tree head at the current size (returning the existing one if already signed).

        ``fence`` runs inside the transaction that stores the signature: the background signer
        passes its lease's check, so no two processes ever store checkpoints at once."""
        async with self._db.read() as conn:
            size, _ = await ledger_store.head(conn)
            existing = await store.checkpoint_at(conn, size)
            if existing is None:
                root = (await self._tree_upto(conn, size)).root(size)
        if existing is not None:
            return await self._loaded(existing)
        key, private = await self._signing_key()
        now = self._clock.now()
        cp = Checkpoint(size, root, now, key.key_id, key.public_key, b"")
        signature = signing.sign(private, cp.body)
        stored = StoredCheckpoint(size, root.hex(), now, key.key_id, cp.body, signature)
        async with self._db.write() as conn:
            if fence is not None:
                await fence(conn)
            if await store.checkpoint_at(conn, size) is None:
                await store.add_checkpoint(conn, stored)
        return Checkpoint(size, root, cp.signed_at, key.key_id, key.public_key, signature)

    async def checkpoint_if_grown(self, fence: Fence | None = None) -> Checkpoint | None:
        async with self._db.read() as conn:
            size, _ = await ledger_store.head(conn)
            latest = await store.latest_checkpoint(conn)
        if size == 0 or (latest is not None and latest.tree_size >= size):
            return None
        return await self.checkpoint(fence)

    async def latest_checkpoint(self) -> Checkpoint | None:
        """The newest signed checkpoint, None before the first."""
        async with self._db.read() as conn:
            latest = await store.latest_checkpoint(conn)
        return await self._loaded(latest) if latest else None

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 PROOF(old_size, D[new_size]) over the log (for the peers that witness it)."""
        async with self._db.read() as conn:
            tree = await self._tree_upto(conn, new_size)
        return tree.consistency_proof(old_size, new_size)

    async def root_at(self, size: int) -> bytes | None:
        """The root over the log's first ``size`` entries as the rows are now (not the cached
        tree: this answers whether the log still holds what a witness saw), None if shorter."""
        async with self._db.read() as conn:
            head, _ = await ledger_store.head(conn)
            if size > head:
                return None
            leaves = await store.leaf_hashes(conn, 0, size)
        return MerkleTree.from_packed(leaves).root(size)

    async def _loaded(self, stored: StoredCheckpoint) -> Checkpoint:
        async with self._db.read() as conn:
            keys = {k.key_id: k for k in await store.all_hub_keys(conn)}
        key = keys.get(stored.key_id)
        if key is None:
            raise BadCheckpoint(f"checkpoint {stored.tree_size} names an unknown hub key")
        return Checkpoint(
            stored.tree_size, bytes.fromhex(stored.root_hash), stored.signed_at,
            stored.key_id, key.public_key, stored.signature,
        )  # fmt: skip

    # -- receipts ----------------------------------------------------------------------------

    async def receipt(self, actor: Actor, packet_id: str) -> Receipt:
        """Proof for the sender that a share is on the log: its entry, a checkpoint, the path."""
        if not actor.has_role(Role.PRACTITIONER, Role.COORDINATOR, Role.AUDITOR):
            raise Forbidden("Your role cannot download receipts.")
        async with self._db.read() as conn:
            row = await packet_store.packet_by_id(conn, packet_id)
            seq = await store.sent_entry_seq(conn, packet_id)
            if row is None or seq is None:
                raise NotFound("No such packet.")
            if row.sender_agency_id != actor.agency.id:
                raise await refusal_on_case(
                    conn,
                    actor,
                    row.case_id,
                    "Only the sending agency can download the receipt for a share.",
                    "No such packet.",
                )
        cp = await self.checkpoint()
        async with self._db.read() as conn:
            entry = await store.entry_by_seq(conn, seq)
            tree = await self._tree_upto(conn, cp.tree_size)
        if entry is None:
            raise NotFound("No such log entry.")
        proof = tree.inclusion_proof(seq - 1, cp.tree_size)
        return Receipt(seq, entry, cp, tuple(proof))

    @staticmethod
    def require_receipt_checker(actor: Actor) -> None:
        """Anyone signed in checks receipts, but an agency admin (keys and tokens, not shares)."""
        if actor.has_role(Role.AGENCY_ADMIN):
            raise Forbidden("Your role does not check receipts.")

    async def check_receipt(self, actor: Actor, data: bytes) -> CheckedReceipt:
        """A receipt someone holds, checked as the CLI checks it (``check_receipt``) against this
        hub's pinned keys, and then against this hub's own log: the checkpoint must be one it
        signed and stored, and the entry the one at that place in the log now."""
        self.require_receipt_checker(actor)
        checked = check_receipt(data, read_pins(self._pins))
        receipt = checked.receipt
        async with self._db.read() as conn:
            stored = await store.checkpoint_at(conn, receipt.checkpoint.tree_size)
            entry = await store.entry_by_seq(conn, receipt.seq)
        if stored is None or stored.root_hash != receipt.checkpoint.root.hex():
            raise ReceiptRefused("log")
        if entry is None or bytes(entry) != receipt.entry:
            raise ReceiptRefused("log")
        return checked

    # -- verification ------------------------------------------------------------------------

    async def verify(
        self, trusted: Sequence[Checkpoint] = (), progress: ledger.Progress | None = None
    ) -> VerifyReport:
        """Recompute everything from the rows: the chain, the Merkle tree, every stored checkpoint
        (signature, pinned key, root) and any exported checkpoints given as ``trusted``."""
        pins = read_pins(self._pins)
        if not pins:
            raise BadCheckpoint(f"no pinned hub key at {self._pins}: checkpoints cannot be trusted")
        async with self._db.read() as conn:
            head_seq, head_hash = await ledger_store.head(conn)
            keys = {k.key_id: k for k in await store.all_hub_keys(conn)}
            stored = await store.all_checkpoints(conn)
            loaded = [_loaded(cp, keys, pins) for cp in stored]
            # The stored checkpoints' signatures are checked on another thread while this one
            # reads and hashes the log (PyNaCl releases the GIL): off the critical path.
            loop = asyncio.get_running_loop()
            signatures = loop.run_in_executor(None, _first_bad_signature, stored, loaded)
            try:
                scan = await ledger.scan(self._db, conn, head_seq, head_hash, progress)
            finally:
                bad = await signatures
        if bad is not None:
            raise BadCheckpoint(bad)
        tree = scan.tree
        for cp in loaded:
            _check_against(tree, cp, f"stored checkpoint at size {cp.tree_size}")
        # Checkpoints cosigned by peers (in the database and in the file beside the pins) are
        # held checkpoints too: a log cut back after a witness saw it fails here.
        cosigned = await held_checkpoints(self._db, self._pins)
        exported = [(f"exported checkpoint at size {h.tree_size}", h) for h in trusted]
        for what, held in [*exported, *cosigned]:
            if held.public_key not in pins:
                raise BadCheckpoint(f"{what}: key is not pinned")
            held.verify()
            _check_against(tree, held, what)
        return VerifyReport(scan.entries, len(stored), len(trusted), tree.root(), len(cosigned))


def _loaded(cp: StoredCheckpoint, keys: dict[str, StoredHubKey], pins: set[bytes]) -> Checkpoint:
    """A stored checkpoint with the public key it names, which must be a pinned hub key."""
    key = keys.get(cp.key_id)
    if key is None:
        raise BadCheckpoint(f"checkpoint at size {cp.tree_size} names an unknown key")
    if key.public_key not in pins:
        raise BadCheckpoint(f"checkpoint at size {cp.tree_size}: key is not pinned")
    return Checkpoint(
        cp.tree_size, bytes.fromhex(cp.root_hash), cp.signed_at, cp.key_id,
        key.public_key, cp.signature,
    )  # fmt: skip


def _first_bad_signature(
    stored: Sequence[StoredCheckpoint], loaded: list[Checkpoint]
) -> str | None:
    """What is wrong with the first checkpoint whose signature or body fails, if any."""
    for cp, checkpoint in zip(stored, loaded, strict=True):
        try:
            checkpoint.verify()
        except BadCheckpoint:
            return f"checkpoint at size {cp.tree_size}: bad signature"
        if checkpoint.body != cp.body:
            return f"checkpoint at size {cp.tree_size}: body does not match"
    return None


def _check_against(tree: MerkleTree, cp: Checkpoint, what: str) -> None:
    """The log as it is now must contain the checkpointed tree as a prefix."""
    if cp.tree_size > tree.size:
        raise BadCheckpoint(f"{what}: the log is shorter than the checkpoint (entries deleted)")
    if tree.root(cp.tree_size) != cp.root:
        raise BadCheckpoint(f"{what}: the log's first {cp.tree_size} entries have been changed")
    try:  # what a remote holder of the checkpoint would check against our current head
        verify_consistency(
            cp.tree_size, tree.size, cp.root, tree.root(), tree.consistency_proof(cp.tree_size)
        )
    except ProofError:
        raise BadCheckpoint(f"{what}: not consistent with the current log") from None
