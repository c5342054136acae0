"""The Merkle tree over the ledger, as in Certificate Transparency (RFC 6962 s2.1, RFC 9162 s2.1).

Pure functions and one in-memory class; no I/O, only ``hashlib``. Everything works on leaf hashes:
32-byte ``bytes`` that are already ``SHA-256(0x00 || entry_bytes)`` (``Entry.entry_hash``, hex, is
exactly that, so ``bytes.fromhex(entry.entry_hash)`` is a leaf). Interior nodes are
``SHA-256(0x01 || left || right)`` and the tree of no leaves has the root ``SHA-256(b"")``.

The tree has RFC 6962's shape: a tree of n > 1 leaves is split at k, the largest power of two below
n, into D[0:k] and D[k:n]. Computed bottom up level by level, that is the same as pairing
neighbours and *promoting* an odd last node unchanged to the next level: every left part D[0:k] is
a complete, aligned subtree, so pairing never crosses a split, and the only node without a partner
on a level is the top of the incomplete right edge, which RFC 6962 hashes in one level further up
without changing it. ``root`` relies on this; the unit tests check it against the recursive
definition for every size from 0 to 70.

Two ways to make proofs:

* ``root``, ``inclusion_proof`` and ``consistency_proof`` take the leaves and follow RFC 6962's
  MTH, PATH and SUBPROOF directly (iteratively; O(n) hashing per call).
* ``MerkleTree`` hashes once, keeps every level (about 2n hashes, packed) and answers for any
  prefix of the leaves from the stored nodes: complete power-of-two-aligned subtrees are stored, and
  an incomplete right edge is folded from at most one stored node per level. ``append`` costs
  O(log n); ``concat`` joins trees built over consecutive runs of leaves (in worker processes).

Proofs are listed from the leaf (or the old tree's subtree) upwards, as in RFC 9162.

``verify_inclusion`` and ``verify_consistency`` follow RFC 9162 s2.1.3.2 and s2.1.4.2 step by step
and raise ``ProofError`` rather than return a bool. A proof binds a leaf or an old tree to a *root*;
the tree size it is checked at must come with that root (from one signed tree head), because for
some sizes a proof has the same shape in a tree one leaf larger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from hub.errors import IntegrityFailure

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

# The hash state after the interior-node prefix 0x01; copying it is cheaper than hashing it again.
_NODE_PREFIX = hashlib.sha256(b"\x01")


class ProofError(IntegrityFailure):
    """A Merkle proof does not verify. Which step failed is in ``context["reason"]`` only."""

    def __init__(self, reason: str) -> None:
        super().__init__("The proof does not verify.", reason=reason)
        self.reason = reason


def node_hash(left: bytes, right: bytes) -> bytes:
    """The interior node over two children: ``SHA-256(0x01 || left || right)``."""
    h = _NODE_PREFIX.copy()
    h.update(left)
    h.update(right)
    return h.digest()


# --- hashing levels ----------------------------------------------------------------------------


def _check_leaves(leaves: Sequence[bytes]) -> None:
    if not set(map(len, leaves)) <= {HASH_SIZE}:
        raise ValueError(f"every leaf must be a {HASH_SIZE}-byte hash")


def _parents(level: Sequence[bytes]) -> list[bytes]:
    """The hashes of each complete pair on a level; an odd last node is left out."""
    prefix = _NODE_PREFIX
    out: list[bytes] = []
    append = out.append
    pairs = iter(level)
    for left, right in zip(pairs, pairs, strict=False):
        h = prefix.copy()
        h.update(left)
        h.update(right)
        append(h.digest())
    return out


def _mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) bottom up, promoting an odd last node unchanged (the same as RFC 6962's split)."""
    if not leaves:
        return EMPTY_ROOT
    level = leaves
    while len(level) > 1:
        parents = _parents(level)
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): where RFC 6962 splits a tree of n."""
    return 1 << ((n - 1).bit_length() - 1)


# --- functions on a list of leaves -------------------------------------------------------------


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash MTH(D[n]) of the leaf hashes (``EMPTY_ROOT`` for none)."""
    _check_leaves(leaves)
    return _mth(leaves)


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path PATH(index, D[n]) of RFC 6962 s2.1.1 (RFC 9162 s2.1.3.1), leaf upwards."""
    _check_leaves(leaves)
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} is not in a tree of size {n}")
    path: list[bytes] = []  # collected from the root down, returned from the leaf up
    lo, hi = 0, n
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(_mth(leaves[mid:hi]))
            hi = mid
        else:
            path.append(_mth(leaves[lo:mid]))
            lo = mid
    path.reverse()
    return path


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 6962 s2.1.2 (RFC 9162 s2.1.4.1); empty if old_size is 0 or n."""
    _check_leaves(leaves)
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} is not between 0 and the tree size {n}")
    if old_size in (0, n):
        return []
    proof: list[bytes] = []  # SUBPROOF's nodes from the root down, returned in RFC order
    lo, hi, m, whole = 0, n, old_size, True  # SUBPROOF(m, D[lo:hi], whole)
    while m != hi - lo:
        mid = lo + _split(hi - lo)
        if m <= mid - lo:
            proof.append(_mth(leaves[mid:hi]))
            hi = mid
        else:
            proof.append(_mth(leaves[lo:mid]))
            m -= mid - lo
            lo = mid
            whole = False
    if not whole:
        proof.append(_mth(leaves[lo:hi]))
    proof.reverse()
    return proof


# --- the stored tree ---------------------------------------------------------------------------


def _packed_parents(level: bytes | bytearray, start: int, stop: int) -> bytes:
    """The parents of pairs ``start`` to ``stop - 1`` of a packed level (32 bytes a node)."""
    sha = hashlib.sha256
    return b"".join(
        [sha(b"\x01" + level[i : i + 64]).digest() for i in range(64 * start, 64 * stop, 64)]
    )


class MerkleTree:
    """Every level of the tree, for proofs about any prefix of the leaves without rehashing.

    ``_levels[h]`` holds the roots of the complete subtrees of leaves ``[i * 2**h, (i + 1) * 2**h)``,
    packed 32 bytes each (a million leaves are about 64 MB, not two million objects); level h holds
    ``n >> h`` nodes (an odd last node is not promoted into the store), and there are
    ``max(1, n.bit_length())`` levels.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        level = list(leaves)
        _check_leaves(level)
        self._levels: list[bytearray] = [bytearray()]
        self.extend(b"".join(level))

    @classmethod
    def from_packed(cls, leaves: bytes | bytearray) -> MerkleTree:
        """The tree over leaf hashes packed 32 bytes each."""
        tree = cls()
        tree.extend(leaves)
        return tree

    @classmethod
    def concat(cls, parts: Sequence[Sequence[bytes]]) -> MerkleTree:
        """The tree over consecutive runs of leaves, given each run's own ``levels()``.

        A run's nodes are reused on every level where no pair straddles two runs (each run but the
        last holds a multiple of 2**h leaves); the levels above are hashed here, so runs that
        start on a large power of two cost only the few nodes above them.
        """
        sizes = [len(p[0]) // HASH_SIZE if p else 0 for p in parts]
        for part, size in zip(parts, sizes, strict=True):
            if any(len(part[h]) != (size >> h) * HASH_SIZE for h in range(len(part))):
                raise ValueError("a run's levels do not have the sizes of its leaves")
        tree = cls()
        levels = tree._levels
        levels[0] += b"".join(p[0] for p in parts if p)
        joining = True
        while len(levels[-1]) >= 2 * HASH_SIZE:
            h = len(levels)
            joining = joining and all(size % (1 << h) == 0 for size in sizes[:-1])
            if joining and all(
                len(p) > h or size >> h == 0 for p, size in zip(parts, sizes, strict=True)
            ):
                level = bytearray(
                    b"".join(p[h] for p, size in zip(parts, sizes, strict=True) if size >> h)
                )
            else:
                joining = False
                below = levels[-1]
                level = bytearray(_packed_parents(below, 0, len(below) // (2 * HASH_SIZE)))
            levels.append(level)
        return tree

    def levels(self) -> list[bytes]:
        """The packed levels, leaves first (what ``concat`` takes)."""
        return [bytes(level) for level in self._levels]

    def __len__(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash, completing at most one new node per level."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf must be a {HASH_SIZE}-byte hash")
        self.extend(leaf)

    def extend(self, leaves: bytes | bytearray) -> None:
        """Add leaf hashes packed 32 bytes each, hashing only the nodes they complete."""
        if len(leaves) % HASH_SIZE:
            raise ValueError(f"packed leaves must be a multiple of {HASH_SIZE} bytes")
        levels = self._levels
        levels[0] += leaves
        h = 0
        while len(levels[h]) >= 2 * HASH_SIZE:
            if h + 1 == len(levels):
                levels.append(bytearray())
            below, above = levels[h], levels[h + 1]
            have, want = len(above) // HASH_SIZE, len(below) // (2 * HASH_SIZE)
            if have == want:  # nothing new here, so nothing new above either
                break
            above += _packed_parents(below, have, want)
            h += 1

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all of them by default)."""
        size = self._size(size)
        return self._subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) for the first ``size`` leaves (all of them by default)."""
        size = self._size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is not in a tree of size {size}")
        return self._path(0, index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]); empty if old_size is 0 or equals new_size."""
        new_size = self._size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} is not between 0 and the new size {new_size}")
        if old_size in (0, new_size):
            return []
        # The old tree's last complete subtree ends at old_size; the proof is its path in the new
        # tree, preceded by the subtree itself unless it is the whole old tree (a power of two),
        # whose root the verifier already has.
        level = (old_size & -old_size).bit_length() - 1
        index = (old_size - 1) >> level
        proof = self._path(level, index, new_size)
        if index:
            proof.insert(0, self._node(level, index))
        return proof

    def _node(self, level: int, index: int) -> bytes:
        return bytes(self._levels[level][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def _size(self, size: int | None) -> int:
        n = len(self)
        if size is None:
            return n
        if not 0 <= size <= n:
            raise ValueError(f"size {size} is not between 0 and the tree size {n}")
        return size

    def _subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for hi > lo, where lo is a multiple of a power of two >= hi - lo.

        Such a range is complete subtrees, largest first, one per set bit of hi - lo; RFC 6962
        hashes them together from the right.
        """
        nodes: list[bytes] = []
        pos, remaining = lo, hi - lo
        while remaining:
            h = remaining.bit_length() - 1
            nodes.append(self._node(h, pos >> h))
            pos += 1 << h
            remaining -= 1 << h
        acc = nodes.pop()
        while nodes:
            acc = node_hash(nodes.pop(), acc)
        return acc

    def _path(self, level: int, index: int, size: int) -> list[bytes]:
        """The path from the stored node (level, index) to the root of the first ``size`` leaves.

        Below the level where its path and the last leaf's part, every sibling is a complete
        subtree except the topmost, which runs to the right edge; above it the node is on the right
        edge, with a complete left sibling where it is a right child and none where it is promoted.
        """
        last = (size - 1) >> level
        inner = (index ^ last).bit_length()
        proof: list[bytes] = []
        for h in range(inner):
            width = 1 << (level + h)
            lo = ((index >> h) ^ 1) * width
            proof.append(self._subtree(lo, min(lo + width, size)))
        for h in range(inner, index.bit_length()):
            if (index >> h) & 1:
                proof.append(self._node(level + h, (index >> h) - 1))
        return proof


# --- verification (RFC 9162 s2.1.3.2 and s2.1.4.2) ---------------------------------------------


def _check_hashes(proof: Sequence[bytes], *hashes: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in hashes) or any(len(p) != HASH_SIZE for p in proof):
        raise ProofError(f"a hash is not {HASH_SIZE} bytes")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Raises ``ProofError`` if it is not shown to be.
    """
    _check_hashes(proof, leaf_hash, root)
    if not 0 <= index < size:
        raise ProofError("the leaf index is not inside the tree")
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("the proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is too short")
    if r != root:
        raise ProofError("the proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``old_size`` leaves with ``old_root`` is a prefix of the tree of
    ``new_size`` leaves with ``new_root``.

    Besides RFC 9162's case 0 < old_size < new_size: equal sizes need an empty proof and equal
    roots; old_size 0 needs an empty proof and ``old_root == EMPTY_ROOT`` (every tree extends the
    empty one). Raises ``ProofError`` if consistency is not shown.
    """
    _check_hashes(proof, old_root, new_root)
    if not 0 <= old_size <= new_size:
        raise ProofError("the old size is not between 0 and the new size")
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofError("the proof should be empty")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("the old root is not the root of the empty tree")
        if old_size == new_size and old_root != new_root:
            raise ProofError("the roots of two trees of the same size differ")
        return
    if not proof:
        raise ProofError("the proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is too short")
    if fr != old_root:
        raise ProofError("the proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("the proof does not lead to the new root")
