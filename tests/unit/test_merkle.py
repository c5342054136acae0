"""The ledger's Merkle tree (hub.ledger.merkle) against RFC 6962 / RFC 9162.

Three independent sources of truth: the Certificate Transparency reference vectors, a deliberately
naive recursive transcription of RFC 6962's MTH, PATH and SUBPROOF below, and the verifiers, which
follow RFC 9162's algorithms and are exercised with every proof for every size up to 70 and with
tampered copies of each.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Sequence

import pytest

from hub.errors import IntegrityFailure
from hub.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

MAX = 70  # every tree size up to here is checked exhaustively

# --- a straightforward recursive reference, transcribed from RFC 6962 s2.1 ----------------------


def _ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes* (so MTH of one entry is the entry itself)."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return d[0]
    k = _ref_k(n)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# Twice MAX leaves, so that a wrong size can be larger than the real one and still have a root.
LEAVES = [_ref_leaf(b"ledger entry %d" % i) for i in range(2 * MAX)]
ROOTS = [ref_mth(LEAVES[:n]) for n in range(2 * MAX + 1)]
TREE = MerkleTree(LEAVES[:MAX])
SIZES = range(1, MAX + 1)

# --- the Certificate Transparency reference vectors ---------------------------------------------
# From the certificate-transparency reference implementation's merkle tree tests (also in
# transparency-dev/merkle): leaf inputs, then the roots of the trees of the first 1..8 of them.

CT_INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_LEAVES = [_ref_leaf(x) for x in CT_INPUTS]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # size 0
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",  # size 8
]
# (index, size, path); the reference numbers leaves from 1, these are 0-based.
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old_size, new_size, proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        2,
        8,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
]


def _hex(hashes: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def _flip(h: bytes, at: int = 0) -> bytes:
    b = bytearray(h)
    b[at] ^= 0x01
    return bytes(b)


def test_hash_primitives_are_rfc_6962s() -> None:
    a, b = LEAVES[0], LEAVES[1]
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)
    assert HASH_SIZE == 32


def test_ct_leaf_hashes() -> None:
    # The first leaf hash is the size-1 root; leaves 1 and 4 appear in the reference paths.
    assert CT_LEAVES[0].hex() == CT_ROOTS[1]
    assert CT_LEAVES[1].hex() == CT_INCLUSION[1][2][0]
    assert CT_LEAVES[4].hex() == CT_INCLUSION[2][2][0]


def test_ct_roots() -> None:
    tree = MerkleTree(CT_LEAVES)
    for n in range(len(CT_LEAVES) + 1):
        assert root(CT_LEAVES[:n]).hex() == CT_ROOTS[n], n
        assert tree.root(n).hex() == CT_ROOTS[n], n
        assert ref_mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n], n  # the reference agrees too
    assert tree.root() == tree.root(8)


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_inclusion_vectors(index: int, size: int, path: list[str]) -> None:
    leaves = CT_LEAVES[:size]
    assert _hex(inclusion_proof(leaves, index)) == path
    assert _hex(MerkleTree(CT_LEAVES).inclusion_proof(index, size)) == path
    assert _hex(ref_path(index, leaves)) == path
    verify_inclusion(
        CT_LEAVES[index],
        index,
        size,
        [bytes.fromhex(p) for p in path],
        bytes.fromhex(CT_ROOTS[size]),
    )


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY)
def test_ct_consistency_vectors(old: int, new: int, proof: list[str]) -> None:
    assert _hex(consistency_proof(CT_LEAVES[:new], old)) == proof
    assert _hex(MerkleTree(CT_LEAVES).consistency_proof(old, new)) == proof
    if old < new:
        assert _hex(ref_proof(old, CT_LEAVES[:new])) == proof
    verify_consistency(
        old,
        new,
        bytes.fromhex(CT_ROOTS[old]),
        bytes.fromhex(CT_ROOTS[new]),
        [bytes.fromhex(p) for p in proof],
    )


# --- exhaustive agreement with the recursive definition, sizes 0..70 ----------------------------


@pytest.mark.parametrize("n", range(MAX + 1))
def test_root_bottom_up_equals_the_recursive_definition(n: int) -> None:
    # Bottom up with the odd last node promoted unchanged is the same tree as RFC 6962's split.
    assert root(LEAVES[:n]) == ROOTS[n]
    assert MerkleTree(LEAVES[:n]).root() == ROOTS[n]
    assert TREE.root(n) == ROOTS[n]


@pytest.mark.parametrize("n", SIZES)
def test_every_inclusion_proof_matches_the_rfc_and_verifies(n: int) -> None:
    leaves = LEAVES[:n]
    for i in range(n):
        proof = inclusion_proof(leaves, i)
        assert proof == ref_path(i, leaves), i
        assert TREE.inclusion_proof(i, n) == proof, i
        assert len(proof) <= math.ceil(math.log2(n)), i
        verify_inclusion(leaves[i], i, n, proof, ROOTS[n])


@pytest.mark.parametrize("n", SIZES)
def test_every_consistency_proof_matches_the_rfc_and_verifies(n: int) -> None:
    leaves = LEAVES[:n]
    for m in range(n + 1):
        proof = consistency_proof(leaves, m)
        assert proof == (ref_proof(m, leaves) if 0 < m < n else []), m
        assert TREE.consistency_proof(m, n) == proof, m
        assert len(proof) <= math.ceil(math.log2(n)) + 1, m
        verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


def test_consistency_from_the_empty_tree_and_between_equal_sizes() -> None:
    assert consistency_proof([], 0) == []
    assert MerkleTree().consistency_proof(0) == []
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, MAX, EMPTY_ROOT, ROOTS[MAX], [])
    verify_consistency(MAX, MAX, ROOTS[MAX], ROOTS[MAX], [])


def test_tree_defaults_to_its_full_size() -> None:
    assert len(TREE) == TREE.size == MAX
    assert TREE.root() == ROOTS[MAX]
    assert TREE.inclusion_proof(5) == TREE.inclusion_proof(5, MAX)
    assert TREE.consistency_proof(5) == TREE.consistency_proof(5, MAX)
    empty = MerkleTree()
    assert len(empty) == 0
    assert empty.root() == EMPTY_ROOT


def _assert_tree_agrees(tree: MerkleTree, leaves: Sequence[bytes]) -> None:
    n = len(leaves)
    assert len(tree) == n
    assert tree.root() == root(leaves) == ROOTS[n]
    for i in range(n):
        assert tree.inclusion_proof(i) == inclusion_proof(leaves, i), (n, i)
    for m in range(n + 1):
        assert tree.consistency_proof(m) == consistency_proof(leaves, m), (n, m)


def test_append_keeps_the_tree_equal_to_one_built_at_once() -> None:
    tree = MerkleTree()
    for n in SIZES:
        tree.append(LEAVES[n - 1])
        assert tree._levels == MerkleTree(LEAVES[:n])._levels, n
        _assert_tree_agrees(tree, LEAVES[:n])


def test_append_to_a_tree_built_from_leaves() -> None:
    tree = MerkleTree(LEAVES[:37])
    for n in range(38, MAX + 1):
        tree.append(LEAVES[n - 1])
        # Earlier sizes still answer the same after the tree has grown.
        assert tree.root(37) == ROOTS[37]
        assert tree.inclusion_proof(36, 37) == inclusion_proof(LEAVES[:37], 36)
    _assert_tree_agrees(tree, LEAVES[:MAX])


def test_tree_accepts_any_iterable_of_leaves() -> None:
    assert MerkleTree(iter(LEAVES[:9])).root() == ROOTS[9]
    assert MerkleTree(tuple(LEAVES[:9])).root() == ROOTS[9]


# --- tampering ----------------------------------------------------------------------------------

InclusionProbe = tuple[str, bytes, int, int, list[bytes], bytes]
ConsistencyProbe = tuple[str, int, int, bytes, bytes, list[bytes]]


def _inclusion_probes(i: int, n: int) -> list[InclusionProbe]:
    leaf, proof, r = LEAVES[i], TREE.inclusion_proof(i, n), ROOTS[n]
    probes: list[InclusionProbe] = [
        ("other leaf", LEAVES[(i + 1) % n] if n > 1 else LEAVES[n], i, n, proof, r),
        ("flipped leaf", _flip(leaf), i, n, proof, r),
        ("flipped root", leaf, i, n, proof, _flip(r, HASH_SIZE - 1)),
        ("empty-tree root", leaf, i, n, proof, EMPTY_ROOT),
        ("root one leaf smaller", leaf, i, n, proof, ROOTS[n - 1]),
        ("root one leaf larger", leaf, i, n, proof, ROOTS[n + 1]),
        ("extended with the root", leaf, i, n, [*proof, r], r),
        ("extended with garbage", leaf, i, n, [*proof, EMPTY_ROOT], r),
        ("prefixed with the root", leaf, i, n, [r, *proof], r),
        ("prefixed with the leaf", leaf, i, n, [leaf, *proof], r),
    ]
    if n > 1:
        probes.append(("the leaf as the root", leaf, i, n, proof, leaf))
    for j in {i - 1, i + 1, i ^ 1, i ^ 2, n - 1 - i, n, n + 1, 2 * n, -1} - {i}:
        probes.append((f"index {j}", leaf, j, n, proof, r))
    # A different size with the root of a tree of that size: what a forged tree head would need.
    for size in {n - 1, n + 1, n // 2, 2 * n, 1} - {0, n}:
        probes.append((f"size {size} with its root", leaf, i, size, proof, ROOTS[size]))
    if proof:
        probes.append(("truncated at the top", leaf, i, n, proof[:-1], r))
        probes.append(("truncated at the bottom", leaf, i, n, proof[1:], r))
        probes.append(("node repeated", leaf, i, n, [proof[0], *proof], r))
        probes.append(("node inserted", leaf, i, n, [proof[0], EMPTY_ROOT, *proof[1:]], r))
    if len(proof) > 1:
        probes.append(("two nodes swapped", leaf, i, n, [proof[1], proof[0], *proof[2:]], r))
        probes.append(("reversed", leaf, i, n, proof[::-1], r))
    for k in range(len(proof)):
        for at in (0, HASH_SIZE - 1):
            bad = [*proof[:k], _flip(proof[k], at), *proof[k + 1 :]]
            probes.append((f"node {k} byte {at} flipped", leaf, i, n, bad, r))
    return probes


def _accepted_inclusion(probes: list[InclusionProbe]) -> list[str]:
    accepted = []
    for name, leaf, index, size, proof, r in probes:
        try:
            verify_inclusion(leaf, index, size, proof, r)
        except ProofError:
            continue
        accepted.append(name)
    return accepted


@pytest.mark.parametrize("n", SIZES)
def test_tampered_inclusion_proofs_are_rejected(n: int) -> None:
    for i in range(n):
        assert _accepted_inclusion(_inclusion_probes(i, n)) == [], (i, n)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 21, 34, 55, 70])
def test_inclusion_proof_names_one_leaf_and_one_tree(n: int) -> None:
    # Every other index in the same tree, and every other size with that size's root, fails.
    for i in {0, n // 2, n - 1}:
        proof = TREE.inclusion_proof(i, n)
        for j in range(n):
            if j != i:
                with pytest.raises(ProofError):
                    verify_inclusion(LEAVES[i], j, n, proof, ROOTS[n])
        for size in range(1, 2 * MAX + 1):
            if size != n:
                with pytest.raises(ProofError):
                    verify_inclusion(LEAVES[i], i, size, proof, ROOTS[size])


def test_the_size_is_bound_by_the_tree_head_not_by_the_proof() -> None:
    # RFC 9162 as written: a proof proves a leaf under a root. Leaf 0's path in the tree of 3 has
    # the same shape in a tree of 4, so the same root "verifies" at either size; the hub must
    # take size and root together from one tree head.
    proof = TREE.inclusion_proof(0, 3)
    verify_inclusion(LEAVES[0], 0, 3, proof, ROOTS[3])
    verify_inclusion(LEAVES[0], 0, 4, proof, ROOTS[3])
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], 0, 4, proof, ROOTS[4])


def _consistency_probes(m: int, n: int) -> list[ConsistencyProbe]:
    old, new, proof = ROOTS[m], ROOTS[n], TREE.consistency_proof(m, n)
    probes: list[ConsistencyProbe] = [
        ("sizes and roots swapped", n, m, new, old, proof),
        ("roots swapped", m, n, new, old, proof),
        ("flipped old root", m, n, _flip(old), new, proof),
        ("flipped new root", m, n, old, _flip(new, HASH_SIZE - 1), proof),
        ("old root one leaf smaller", m, n, ROOTS[m - 1], new, proof),
        ("new root one leaf larger", m, n, old, ROOTS[n + 1], proof),
        ("empty-tree old root", m, n, EMPTY_ROOT, new, proof),
        ("empty proof", m, n, old, new, []),
        ("truncated at the top", m, n, old, new, proof[:-1]),
        ("truncated at the bottom", m, n, old, new, proof[1:]),
        ("extended with the old root", m, n, old, new, [*proof, old]),
        ("extended with the new root", m, n, old, new, [*proof, new]),
        ("prefixed with the old root", m, n, old, new, [old, *proof]),
        ("prefixed with the new root", m, n, old, new, [new, *proof]),
        ("first node repeated", m, n, old, new, [proof[0], *proof]),
        ("node inserted", m, n, old, new, [proof[0], EMPTY_ROOT, *proof[1:]]),
        ("from the empty tree with a proof", 0, n, EMPTY_ROOT, new, proof),
        ("to the same size with a proof", n, n, new, new, proof),
    ]
    # Other sizes with their own roots: what a forged tree head would need.
    for size in {m - 1, m + 1, m ^ 1, m ^ 2, m // 2, 2 * m} - {0, m}:
        if size <= n:
            probes.append((f"old size {size} with its root", size, n, ROOTS[size], new, proof))
    for size in {n - 1, n + 1, n // 2, 2 * n} - {n}:
        if size >= m:
            probes.append((f"new size {size} with its root", m, size, old, ROOTS[size], proof))
    if len(proof) > 1:
        probes.append(("two nodes swapped", m, n, old, new, [proof[1], proof[0], *proof[2:]]))
    for k in range(len(proof)):
        for at in (0, HASH_SIZE - 1):
            bad = [*proof[:k], _flip(proof[k], at), *proof[k + 1 :]]
            probes.append((f"node {k} byte {at} flipped", m, n, old, new, bad))
    return probes


def _accepted_consistency(probes: list[ConsistencyProbe]) -> list[str]:
    accepted = []
    for name, m, n, old, new, proof in probes:
        try:
            verify_consistency(m, n, old, new, proof)
        except ProofError:
            continue
        accepted.append(name)
    return accepted


@pytest.mark.parametrize("n", range(2, MAX + 1))
def test_tampered_consistency_proofs_are_rejected(n: int) -> None:
    for m in range(1, n):
        assert _accepted_consistency(_consistency_probes(m, n)) == [], (m, n)


# --- verification edge cases (RFC 9162 s2.1.3.2, s2.1.4.2) ------------------------------------


def _reason(exc: pytest.ExceptionInfo[ProofError]) -> str:
    assert exc.value.public_message == "The proof does not verify."
    assert str(exc.value) == "The proof does not verify."
    assert exc.value.context == {"reason": exc.value.reason}
    return exc.value.reason


def test_proof_error_is_a_vague_integrity_failure() -> None:
    with pytest.raises(IntegrityFailure) as exc:
        verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[1])
    assert isinstance(exc.value, ProofError)
    assert exc.value.status == 422
    assert exc.value.code == "integrity_failure"
    assert exc.value.context == {"reason": "the proof does not lead to the root"}


def test_single_leaf_tree() -> None:
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    with pytest.raises(ProofError) as exc:
        verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[1])
    assert _reason(exc) == "the proof does not lead to the root"


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 1), (5, 5), (6, 5), (-1, 5), (0, -1)])
def test_inclusion_index_outside_the_tree(index: int, size: int) -> None:
    with pytest.raises(ProofError) as exc:
        verify_inclusion(LEAVES[0], index, size, [], ROOTS[1])
    assert _reason(exc) == "the leaf index is not inside the tree"


def test_inclusion_proof_length_is_checked_both_ways() -> None:
    proof = TREE.inclusion_proof(3, 8)
    with pytest.raises(ProofError) as exc:
        verify_inclusion(LEAVES[3], 3, 8, [*proof, ROOTS[8]], ROOTS[8])
    assert _reason(exc) == "the proof is too long"
    with pytest.raises(ProofError) as exc:
        verify_inclusion(LEAVES[3], 3, 8, proof[:2], ROOTS[8])
    assert _reason(exc) == "the proof is too short"
    with pytest.raises(ProofError) as exc:
        verify_inclusion(LEAVES[0], 0, 1, [ROOTS[1]], ROOTS[1])
    assert _reason(exc) == "the proof is too long"


def test_consistency_edge_cases() -> None:
    some = ROOTS[5]
    cases: list[tuple[int, int, bytes, bytes, list[bytes], str]] = [
        (1, 0, ROOTS[1], EMPTY_ROOT, [], "the old size is not between 0 and the new size"),
        (6, 5, ROOTS[6], ROOTS[5], [], "the old size is not between 0 and the new size"),
        (-1, 5, EMPTY_ROOT, some, [], "the old size is not between 0 and the new size"),
        (5, 5, some, some, [some], "the proof should be empty"),
        (0, 5, EMPTY_ROOT, some, [some], "the proof should be empty"),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "the proof should be empty"),
        (0, 5, ROOTS[1], some, [], "the old root is not the root of the empty tree"),
        (0, 0, EMPTY_ROOT, some, [], "the roots of two trees of the same size differ"),
        (5, 5, ROOTS[5], ROOTS[6], [], "the roots of two trees of the same size differ"),
        (3, 5, ROOTS[3], ROOTS[5], [], "the proof is empty"),
        (4, 5, ROOTS[4], ROOTS[5], [], "the proof is empty"),
    ]
    for old_size, new_size, old_root, new_root, proof, reason in cases:
        with pytest.raises(ProofError) as exc:
            verify_consistency(old_size, new_size, old_root, new_root, proof)
        assert _reason(exc) == reason, (old_size, new_size)


def test_consistency_proof_length_and_roots_are_checked() -> None:
    proof = TREE.consistency_proof(3, 7)
    cases: list[tuple[list[bytes], bytes, bytes, str]] = [
        ([*proof, ROOTS[7]], ROOTS[3], ROOTS[7], "the proof is too long"),
        (proof[:-1], ROOTS[3], ROOTS[7], "the proof is too short"),
        (proof, ROOTS[4], ROOTS[7], "the proof does not lead to the old root"),
        (proof, ROOTS[3], ROOTS[6], "the proof does not lead to the new root"),
    ]
    for bad, old_root, new_root, reason in cases:
        with pytest.raises(ProofError) as exc:
            verify_consistency(3, 7, old_root, new_root, bad)
        assert _reason(exc) == reason


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_hashes_of_the_wrong_length_are_refused(length: int) -> None:
    wrong = b"\x00" * length
    proof = TREE.inclusion_proof(2, 5)
    cproof = TREE.consistency_proof(2, 5)
    attempts = [
        lambda: verify_inclusion(wrong, 2, 5, proof, ROOTS[5]),
        lambda: verify_inclusion(LEAVES[2], 2, 5, proof, wrong),
        lambda: verify_inclusion(LEAVES[2], 2, 5, [*proof[:1], wrong, *proof[2:]], ROOTS[5]),
        lambda: verify_consistency(2, 5, wrong, ROOTS[5], cproof),
        lambda: verify_consistency(2, 5, ROOTS[2], wrong, cproof),
        lambda: verify_consistency(2, 5, ROOTS[2], ROOTS[5], [wrong, *cproof[1:]]),
        lambda: verify_consistency(0, 0, wrong, wrong, []),
    ]
    for attempt in attempts:
        with pytest.raises(ProofError) as exc:
            attempt()
        assert _reason(exc) == "a hash is not 32 bytes"


# --- generation refuses what it cannot answer ---------------------------------------------------


def test_generation_refuses_bad_arguments() -> None:
    leaves = LEAVES[:5]
    tree = MerkleTree(leaves)
    refused = [
        lambda: inclusion_proof(leaves, 5),
        lambda: inclusion_proof(leaves, -1),
        lambda: inclusion_proof([], 0),
        lambda: consistency_proof(leaves, 6),
        lambda: consistency_proof(leaves, -1),
        lambda: tree.root(6),
        lambda: tree.root(-1),
        lambda: tree.inclusion_proof(5),
        lambda: tree.inclusion_proof(3, 3),
        lambda: tree.inclusion_proof(0, 0),
        lambda: tree.inclusion_proof(-1),
        lambda: tree.inclusion_proof(0, 6),
        lambda: tree.consistency_proof(4, 3),
        lambda: tree.consistency_proof(-1),
        lambda: tree.consistency_proof(1, 6),
    ]
    for attempt in refused:
        with pytest.raises(ValueError):
            attempt()


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "a" * 64])
def test_leaves_must_be_32_byte_hashes(bad: bytes) -> None:
    leaves = [*LEAVES[:3], bad]
    with pytest.raises(ValueError, match="32-byte hash"):
        root(leaves)
    with pytest.raises(ValueError, match="32-byte hash"):
        inclusion_proof(leaves, 0)
    with pytest.raises(ValueError, match="32-byte hash"):
        consistency_proof(leaves, 1)
    with pytest.raises(ValueError, match="32-byte hash"):
        MerkleTree(leaves)
    tree = MerkleTree(LEAVES[:3])
    with pytest.raises(ValueError, match="32-byte hash"):
        tree.append(bad)
    assert len(tree) == 3 and tree.root() == ROOTS[3]  # nothing was half-added


# --- scale --------------------------------------------------------------------------------------


def test_a_tree_of_100_000_leaves() -> None:
    n = 100_000
    blob = random.Random(6962).randbytes(HASH_SIZE * n)
    leaves = [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]
    tree = MerkleTree(leaves)
    full = root(leaves)
    assert tree.root() == full
    assert tree.root(65_537) == root(leaves[:65_537])

    for index, size in [(0, n), (n - 1, n), (54_321, n), (65_535, 65_536), (65_536, 65_537)]:
        proof = tree.inclusion_proof(index, size)
        assert len(proof) <= math.ceil(math.log2(size))
        verify_inclusion(leaves[index], index, size, proof, tree.root(size))
    assert tree.inclusion_proof(77_777) == inclusion_proof(leaves, 77_777)

    for old, new in [(1, n), (65_536, n), (65_537, n), (77_777, 99_999), (n - 1, n)]:
        proof = tree.consistency_proof(old, new)
        assert len(proof) <= math.ceil(math.log2(new)) + 1
        verify_consistency(old, new, tree.root(old), tree.root(new), proof)
    assert tree.consistency_proof(77_777) == consistency_proof(leaves, 77_777)

    extra = hashlib.sha256(b"one more").digest()
    tree.append(extra)
    leaves.append(extra)
    assert tree.root() == root(leaves)
    proof = tree.consistency_proof(n)
    verify_consistency(n, n + 1, full, tree.root(), proof)


# --- packed leaves, and trees joined from runs of leaves (as the verifier's workers build them) --


def test_extend_with_packed_leaves_equals_one_leaf_at_a_time() -> None:
    for split in (0, 1, 5, 32, 33, MAX):
        tree = MerkleTree.from_packed(b"".join(LEAVES[:split]))
        tree.extend(b"".join(LEAVES[split : 2 * MAX]))
        assert tree._levels == MerkleTree(LEAVES[: 2 * MAX])._levels, split
        assert tree.root() == ROOTS[2 * MAX]


def test_extend_refuses_a_partial_hash() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        MerkleTree().extend(b"\x00" * 33)


@pytest.mark.parametrize(
    "bounds",
    [
        (0, 64, 128, 140),  # runs on a power of two, as the verifier plans them
        (0, 32, 64, 96, 128),
        (0, 3, 40, 140),  # anywhere: the straddling levels are hashed again
        (0, 0, 7, 7, 140),  # empty runs
        (0, 140),
        (0, 1),
    ],
)
def test_concat_of_runs_equals_the_whole_tree(bounds: tuple[int, ...]) -> None:
    runs = [
        MerkleTree.from_packed(b"".join(LEAVES[lo:hi])).levels()
        for lo, hi in itertools.pairwise(bounds)
    ]
    whole = MerkleTree(LEAVES[: bounds[-1]])
    joined = MerkleTree.concat(runs)
    assert joined._levels == whole._levels
    assert joined.root() == ROOTS[bounds[-1]]
    assert joined.levels() == whole.levels()


def test_concat_refuses_levels_that_do_not_fit_their_leaves() -> None:
    good = MerkleTree(LEAVES[:8]).levels()
    with pytest.raises(ValueError, match="sizes of its leaves"):
        MerkleTree.concat([[*good[:1], good[1][:32]]])
