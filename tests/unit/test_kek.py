"""The key-encryption key (hub.crypto.kek) and agency key pairs wrapped under it."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import nacl.public
import nacl.signing
import pytest

from hub.crypto.agency_keys import KeyPurpose, generate_key_pair, key_id, unwrap_private
from hub.crypto.errors import CryptoFailure
from hub.crypto.kek import KEK_BYTES, KeyEncryptionKey, load_or_create_kek
from hub.crypto.secrets import SecretBytes
from hub.errors import ConfigError

RAW = bytes(range(32))


@pytest.fixture
def kek() -> KeyEncryptionKey:
    return KeyEncryptionKey(SecretBytes(RAW))


def test_wrap_then_unwrap_returns_the_secret(kek: KeyEncryptionKey) -> None:
    blob = kek.wrap(b"agency private key", "key-1")

    assert kek.unwrap(blob, "key-1") == SecretBytes(b"agency private key")
    assert blob[0] == 1  # format version
    assert len(blob) == 1 + 24 + len(b"agency private key") + 16
    assert b"agency private key" not in blob


def test_each_wrap_uses_a_fresh_nonce(kek: KeyEncryptionKey) -> None:
    assert kek.wrap(b"secret", "key-1") != kek.wrap(b"secret", "key-1")


def test_wrong_context_is_refused(kek: KeyEncryptionKey) -> None:
    blob = kek.wrap(b"secret", "key-1")

    with pytest.raises(CryptoFailure) as caught:
        kek.unwrap(blob, "key-2")
    assert caught.value.context["reason"] == "private key does not decrypt under this KEK"


def test_wrong_kek_is_refused(kek: KeyEncryptionKey) -> None:
    blob = kek.wrap(b"secret", "key-1")

    with pytest.raises(CryptoFailure):
        KeyEncryptionKey.generate().unwrap(blob, "key-1")


@pytest.mark.parametrize("cut", [0, 1, 25, 40], ids=["empty", "version", "nonce", "no-tag"])
def test_truncated_blob_is_refused(kek: KeyEncryptionKey, cut: int) -> None:
    blob = kek.wrap(b"", "key-1")
    assert len(blob) == 41

    with pytest.raises(CryptoFailure) as caught:
        kek.unwrap(blob[:cut], "key-1")
    assert caught.value.context["reason"] == "wrapped key has an unknown format"


def test_unknown_wrap_version_is_refused(kek: KeyEncryptionKey) -> None:
    blob = kek.wrap(b"secret", "key-1")

    with pytest.raises(CryptoFailure):
        kek.unwrap(b"\x02" + blob[1:], "key-1")


def test_flipped_ciphertext_byte_is_refused(kek: KeyEncryptionKey) -> None:
    blob = bytearray(kek.wrap(b"secret", "key-1"))
    blob[-1] ^= 0x80

    with pytest.raises(CryptoFailure):
        kek.unwrap(bytes(blob), "key-1")


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_kek_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ConfigError) as caught:
        KeyEncryptionKey(SecretBytes(b"k" * size))
    assert caught.value.context["key"] == "kek_path"


def test_repr_shows_the_id_not_the_key(kek: KeyEncryptionKey) -> None:
    text = repr(kek)

    assert text == f"<KeyEncryptionKey id={kek.kek_id}>"
    assert RAW.hex() not in text and str(RAW) not in text
    assert len(kek.kek_id) == 16
    assert kek.kek_id != KeyEncryptionKey.generate().kek_id


def test_save_writes_mode_0600_and_load_reads_it_back(
    kek: KeyEncryptionKey, tmp_path: Path
) -> None:
    path = tmp_path / "keys" / "kek.key"
    kek.save(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == RAW
    loaded = KeyEncryptionKey.load(path)
    assert loaded.kek_id == kek.kek_id
    assert loaded.unwrap(kek.wrap(b"secret", "c"), "c") == SecretBytes(b"secret")


def test_save_refuses_to_overwrite(kek: KeyEncryptionKey, tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    KeyEncryptionKey.generate().save(path)
    before = path.read_bytes()

    with pytest.raises(FileExistsError):
        kek.save(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o610, 0o601])
def test_load_refuses_a_file_readable_by_group_or_others(
    kek: KeyEncryptionKey, tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "kek.key"
    kek.save(path)
    os.chmod(path, mode)

    with pytest.raises(ConfigError) as caught:
        KeyEncryptionKey.load(path)
    assert "chmod 600" in caught.value.public_message
    assert caught.value.context["key"] == "kek_path"


def test_load_of_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        KeyEncryptionKey.load(tmp_path / "absent.key")
    assert "mappa-hub init" in caught.value.public_message


def test_load_refuses_a_file_of_the_wrong_size(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    path.write_bytes(b"x" * (KEK_BYTES - 1))
    path.chmod(0o600)

    with pytest.raises(ConfigError):
        KeyEncryptionKey.load(path)


def test_load_or_create_creates_once_then_loads(tmp_path: Path) -> None:
    path = tmp_path / "data" / "keys" / "kek.key"

    first, created = load_or_create_kek(path)
    second, created_again = load_or_create_kek(path)

    assert (created, created_again) == (True, False)
    assert first.kek_id == second.kek_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- agency key pairs (hub.crypto.agency_keys) --------------------------------------------------


def test_key_id_is_a_truncated_digest_separated_by_purpose() -> None:
    public = bytes(32)

    enc, sig = key_id(KeyPurpose.ENCRYPTION, public), key_id(KeyPurpose.SIGNING, public)
    assert enc != sig
    assert len(enc) == len(sig) == 32
    assert enc == key_id(KeyPurpose.ENCRYPTION, public)
    assert enc == hashlib.sha256(b"mappa-hub/key/x25519/" + public).hexdigest()[:32]
    assert sig == hashlib.sha256(b"mappa-hub/key/ed25519/" + public).hexdigest()[:32]


def test_generated_encryption_pair_unwraps_to_a_matching_x25519_key(kek: KeyEncryptionKey) -> None:
    pair = generate_key_pair(KeyPurpose.ENCRYPTION, kek)
    private = unwrap_private(kek, pair.key_id, pair.wrapped_private)

    assert pair.purpose is KeyPurpose.ENCRYPTION
    assert pair.key_id == key_id(KeyPurpose.ENCRYPTION, pair.public)
    assert bytes(nacl.public.PrivateKey(private.reveal()).public_key) == pair.public
    assert private.reveal() not in pair.wrapped_private


def test_generated_signing_pair_unwraps_to_a_matching_ed25519_key(kek: KeyEncryptionKey) -> None:
    pair = generate_key_pair(KeyPurpose.SIGNING, kek)
    private = unwrap_private(kek, pair.key_id, pair.wrapped_private)

    assert pair.key_id == key_id(KeyPurpose.SIGNING, pair.public)
    signing = nacl.signing.SigningKey(private.reveal())
    assert bytes(signing.verify_key) == pair.public


def test_wrapped_private_key_is_bound_to_its_key_id(kek: KeyEncryptionKey) -> None:
    pair = generate_key_pair(KeyPurpose.ENCRYPTION, kek)

    with pytest.raises(CryptoFailure):
        unwrap_private(kek, "another-key-id", pair.wrapped_private)
