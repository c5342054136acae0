"""Every input the fuzzers found that crashed a parser, as a plain test: each is now the
documented refusal. (Inputs found by atheris are kept as files under ``regressions/<target>/``
and replayed by ``test_atheris.py``; those found through the web are in the web test modules.)
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.public
import nacl.utils
import pytest
import tomli_w

from hub.crypto import packet_format as fmt
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes
from hub.policy.casetable import load_cases
from hub.policy.loader import PolicyError, load_policy

POLICIES = Path(__file__).resolve().parents[2] / "policies"
PACKET_ID = "3f0c8a52-2a41-4d0e-9b7e-6c1d2f4e5a60"

# -- packet format: a manifest its sender encrypted (authenticated, so only a sender can) ------


def _with_manifest(plaintext: bytes) -> tuple[fmt.SealedPacket, SecretBytes]:
    key = nacl.utils.random(32)
    nonce = nacl.utils.random(24)
    aad = f"mappa-hub/packet/v1/{PACKET_ID}/manifest".encode()
    part = nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)
    return fmt.SealedPacket(b"", b"", "", (), {fmt.MANIFEST: part}), SecretBytes(key)


@pytest.mark.parametrize(
    "plaintext",
    [
        # OverflowError: int(float("inf")) - Python's json reads Infinity.
        b'{"subject":"s","attachments":[{"part":"attachment-0","filename":"f",'
        b'"content_type":"t","size":Infinity,"sha256":"00"}]}',
        b'{"subject":"s","attachments":[{"part":"attachment-0","filename":"f",'
        b'"content_type":"t","size":-Infinity,"sha256":"00"}]}',
        # RecursionError from the JSON decoder.
        b"[" * 100_000,
        b'{"subject":"s","attachments":[],"necessity":{"why":' + b"[" * 100_000 + b"}}",
    ],
    ids=["size-infinity", "size-minus-infinity", "deep-array", "deep-necessity"],
)
def test_a_manifest_that_crashed_the_reader_is_one_integrity_failure(plaintext: bytes) -> None:
    packet, key = _with_manifest(plaintext)
    with pytest.raises(CryptoFailure):
        fmt.decrypt_manifest(packet, PACKET_ID, key)


# -- the policy loader ------------------------------------------------------------------------


def _policy_with(tmp_path: Path, name: str, change: Any) -> Path:
    """The shipped policies with ``change(doc)`` applied to ``name``, as a new directory."""
    where = tmp_path / "policies"
    shutil.copytree(POLICIES, where)
    doc = tomllib.loads((where / name).read_text(encoding="utf-8"))
    change(doc)
    (where / name).write_text(tomli_w.dumps(doc), encoding="utf-8")
    return where


def _set(path: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        for p in parents:
            doc = doc[int(p)] if p.isdigit() else doc[p]  # type: ignore[index]
        doc[int(last) if last.isdigit() else last] = value  # type: ignore[index]

    return change


@pytest.mark.parametrize(
    ("name", "change", "reason"),
    [
        # TypeError: unhashable type: 'list' (looked up in the policy documents).
        ("conditions.toml", _set("conditions/sch1-para6/policy_document", ["apd-mappa-part2"]),
         "unknown policy document"),
        # TypeError: unhashable type: 'list' (set(levels)).
        ("approvals.toml", _set("rules/1/levels", [[3]]), "levels must be a list of 1, 2 or 3"),
        # Accepted, as 1: TOML's true is not a number.
        ("approvals.toml", _set("rules/1/levels", [True]), "levels must be a list of 1, 2 or 3"),
        ("approvals.toml", _set("rules/0/count", True), "count must be at least 1"),
        ("necessity.toml", _set("min_chars", True), "min_chars must be a whole number"),
        ("packet_types.toml", _set("packet_types/note/retention_years", True),
         "retention_years must be a positive whole number"),
        # AttributeError: 'list' object has no attribute 'items'.
        ("statistics.toml", _set("populations", [1]), "[populations] is a table of areas"),
    ],
    ids=["document-list", "levels-nested", "levels-true", "count-true", "min-chars-true",
         "retention-true", "populations-list"],
)  # fmt: skip
def test_a_policy_value_that_crashed_the_loader_is_refused_with_its_file(
    tmp_path: Path, name: str, change: Any, reason: str
) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(_policy_with(tmp_path, name, change))
    assert info.value.file == name and reason in info.value.reason


@pytest.mark.parametrize("text", [b"a = " + b"[" * 100_000, b"a = " + b"{b = " * 100_000])
def test_a_policy_file_nested_too_deeply_is_refused(tmp_path: Path, text: bytes) -> None:
    """RecursionError from tomllib, before."""
    where = tmp_path / "policies"
    shutil.copytree(POLICIES, where)
    (where / "channels.toml").write_bytes(text)
    with pytest.raises(PolicyError, match="nested too deeply") as info:
        load_policy(where)
    assert info.value.file == "channels.toml"


# -- the case tables (mappa-hub policy test) ----------------------------------------------------

_CASE = """
[[cases]]
name = "x"
sender = "probation"
recipients = ["housing"]
categories = ["address"]
purpose = "risk-management"
lawful_basis = "cja2003-s325"
mappa_category = 2
level = 2
expect = "PERMIT"
"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # TypeError in {**defaults, **raw}.
        (b'defaults = 1\n' + _CASE.encode(), "[defaults] must be a table"),
        (b"cases = [1]\n", "each [[cases]] entry must be a table"),
        # Iterating a table's keys as cases.
        (b"[cases]\na = 1\n", "the cases are a list"),
        # TypeError: unhashable type (the engine's decision cache) and join() of a number.
        (_CASE.replace('["address"]', '[["address"]]').encode(), "'categories' must be a list of names"),
        (_CASE.replace('["address"]', "[1]").encode(), "'categories' must be a list of names"),
        # AttributeError: 'int' object has no attribute 'isascii' (the necessity statement).
        (_CASE.encode() + b"necessity = {why = 1}\n", "'necessity' must be a table of text"),
        # TypeError: 'int' object is not iterable (frozenset(expect_failed)).
        (_CASE.encode() + b"expect_failed = 1\n", "'expect_failed' must be a list of names"),
        (_CASE.encode() + b"condition = [1]\n", "'condition' must be text"),
        # UnicodeDecodeError, RecursionError.
        (b"\xff\xfe", "not UTF-8"),
        (b"a = " + b"[" * 100_000, "nested too deeply"),
    ],
    ids=["defaults-number", "case-number", "cases-table", "categories-nested",
         "categories-number", "necessity-number", "expect-failed-number", "condition-list",
         "not-utf8", "deep"],
)  # fmt: skip
def test_a_case_table_that_crashed_policy_test_is_refused(
    tmp_path: Path, text: bytes, reason: str
) -> None:
    (tmp_path / "table.toml").write_bytes(text)
    with pytest.raises(PolicyError) as info:
        load_cases(tmp_path)
    assert info.value.file == "table.toml" and reason in info.value.reason


# -- the bundle importer, before the signature is looked at ------------------------------------

CORPUS_TAR = Path(__file__).resolve().parent / "corpus" / "bundle_tar" / "harlow.tar"


def _retarred(tmp_path: Path, change: Any) -> Path:
    """The seed bundle with ``change(bag_dir)`` applied, tarred again."""
    import tarfile

    with tarfile.open(CORPUS_TAR) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    (bag,) = (tmp_path / "x").iterdir()
    change(bag)
    out = tmp_path / "changed.tar"
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(bag, arcname=bag.name)
    return out


def _replace(name: str, old: bytes, new: bytes) -> Any:
    def change(bag: Path) -> None:
        data = (bag / name).read_bytes()
        assert old in data
        (bag / name).write_bytes(data.replace(old, new, 1))

    return change


@pytest.mark.parametrize(
    "change",
    [
        # UnicodeDecodeError from bagit reading a manifest (found by atheris: the regression
        # file tests/fuzz/regressions/bundle_tar/manifest-not-utf8.tar).
        _replace("manifest-sha256.txt", b"data/", b"\xf6ata/"),
        # UnicodeDecodeError too: bagit reads the tag files in the encoding bagit.txt names.
        _replace("bagit.txt", b"UTF-8", b"UTF-32"),
    ],
    ids=["manifest-not-utf8", "tag-files-not-in-their-encoding"],
)
def test_a_bag_whose_tag_files_cannot_be_read_is_refused(tmp_path: Path, change: Any) -> None:
    from adapters.transfer import verify
    from hub.services.transfer_bundle import BundleRefused

    unpacked = verify.unpack(_retarred(tmp_path, change), tmp_path / "unpacked")
    verify.check_tree(unpacked.bag_dir)
    with pytest.raises(BundleRefused, match="the bag does not validate"):
        verify.validate_bag(unpacked.bag_dir, unpacked.sha256)
