"""SECURITY.md, "The KEK wrap format", is enough to open the hub's keys without the hub's code.

The hub's real code makes the blobs (a hub on a real SQLite file: agencies added, a user enrolled,
an API token issued, a checkpoint signed). Everything after that follows only the document: the
KEK file's raw bytes, the rows read with the standard library's sqlite3, and libsodium's
XChaCha20-Poly1305 through PyNaCl's bindings, never ``hub.crypto.kek``. Each unwrapped secret is
then checked against something the hub published independently of the wrapped blob: the stored
public key, the pin file, a checkpoint signature, the enrolment URI shown to the user.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import nacl.bindings as sodium
import nacl.exceptions
import nacl.public
import nacl.signing
import pytest

from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.wiring import Hub, initialise
from tests.conftest import make_config

SECURITY_MD = Path(__file__).resolve().parents[2] / "SECURITY.md"

# The constants below are copied from SECURITY.md (checked by the last test), not imported.
WRAP_VERSION = 0x01
NONCE_BYTES = 24
TAG_BYTES = 16
AAD_PREFIX = "mappa-hub/wrapped-key/v1/"
KEK_ID_PREFIX = b"mappa-hub/kek-id/"


def kek_id(kek: bytes) -> str:
    """Section "The KEK id": the first 16 hex digits of SHA-256("mappa-hub/kek-id/" || KEK)."""
    return hashlib.sha256(KEK_ID_PREFIX + kek).hexdigest()[:16]


def unwrap(kek: bytes, blob: bytes, context: str) -> bytes:
    """Section "The wrapped blob": version || nonce || ciphertext-and-tag, AAD bound to the
    KEK id and the context."""
    assert len(blob) >= 1 + NONCE_BYTES + TAG_BYTES
    assert blob[0] == WRAP_VERSION
    nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    aad = f"{AAD_PREFIX}{kek_id(kek)}/{context}".encode()
    plain: bytes = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, aad, nonce, kek)
    return plain


def public_key_id(purpose: str, public: bytes) -> str:
    """Section "Key ids": the first 32 hex digits of SHA-256("mappa-hub/key/<purpose>/" || pub)."""
    return hashlib.sha256(f"mappa-hub/key/{purpose}/".encode() + public).hexdigest()[:32]


@dataclass(frozen=True)
class MadeByTheHub:
    kek_file: Path
    database_file: Path
    pin_file: Path
    totp_uri: str
    checkpoint_size: int


@pytest.fixture
async def made(tmp_path: Path) -> AsyncIterator[MadeByTheHub]:
    data = tmp_path / "data"
    config = make_config(data, f"sqlite:///{data / 'hub.sqlite3'}")
    await initialise(config)
    hub = await Hub.open(config)
    try:
        await hub.directory.add_area("TST", "Test area", Jurisdiction.ENGLAND_AND_WALES)
        await hub.directory.add_agency("TST-POLICE", "Test police", AgencyType.POLICE, "TST")
        await hub.directory.add_agency(
            "TST-PROBATION", "Test probation", AgencyType.PROBATION, "TST"
        )
        enrolment = await hub.directory.add_user(
            "sam.jones",
            "Sam Jones",
            "TST-POLICE",
            Role.PRACTITIONER,
            "a long enough passphrase for the test",
        )
        await hub.tokens.issue(None, "TST-POLICE", "Case system", ["cases:read"])
        checkpoint = await hub.ledger.checkpoint()
        # A retired key pair stays openable the same way.
        police = next(a.id for a in await hub.directory.agencies() if a.code == "TST-POLICE")
        await hub.keyring.issue(police)
    finally:
        await hub.close()
    yield MadeByTheHub(
        kek_file=config.kek_path,
        database_file=data / "hub.sqlite3",
        pin_file=config.kek_path.parent / "hub-signing.pub",
        totp_uri=enrolment.totp_uri,
        checkpoint_size=checkpoint.tree_size,
    )


def rows(database: Path, sql: str, *params: object) -> list[sqlite3.Row]:
    """Rows read with the standard library alone, the database opened read-only."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_the_kek_file_is_32_raw_bytes_and_its_id_is_recorded_with_every_key(
    made: MadeByTheHub,
) -> None:
    kek = made.kek_file.read_bytes()
    recorded = rows(
        made.database_file,
        "SELECT kek_id FROM agency_keys UNION SELECT kek_id FROM hub_keys",
    )

    assert len(kek) == 32
    assert {r["kek_id"] for r in recorded} == {kek_id(kek)}


def test_agency_private_keys_open_and_match_their_public_keys(made: MadeByTheHub) -> None:
    kek = made.kek_file.read_bytes()
    keys = rows(
        made.database_file,
        "SELECT key_id, purpose, public_key, wrapped_private, retired_at FROM agency_keys",
    )

    # Two agencies, each with a pair per purpose; the police's first pair retired by rotation.
    assert len(keys) == 6
    assert sum(k["retired_at"] is not None for k in keys) == 2
    for key in keys:
        private = unwrap(kek, key["wrapped_private"], key["key_id"])
        assert len(private) == 32
        if key["purpose"] == "x25519":
            derived = bytes(nacl.public.PrivateKey(private).public_key)
        else:
            assert key["purpose"] == "ed25519"
            derived = bytes(nacl.signing.SigningKey(private).verify_key)
        assert derived == key["public_key"]
        assert public_key_id(key["purpose"], derived) == key["key_id"]


def test_the_hub_signing_key_opens_matches_the_pin_file_and_made_the_checkpoint(
    made: MadeByTheHub,
) -> None:
    kek = made.kek_file.read_bytes()
    (hub_key,) = rows(made.database_file, "SELECT * FROM hub_keys")
    (stored,) = rows(
        made.database_file,
        "SELECT body, signature FROM ledger_checkpoints WHERE tree_size = ?",
        made.checkpoint_size,
    )

    seed = unwrap(kek, hub_key["wrapped_private"], hub_key["key_id"])
    signer = nacl.signing.SigningKey(seed)

    assert bytes(signer.verify_key) == hub_key["public_key"]
    assert public_key_id("ed25519", hub_key["public_key"]) == hub_key["key_id"]
    assert made.pin_file.read_text().split() == [hub_key["public_key"].hex()]
    # Ed25519 is deterministic: the unwrapped seed signs the stored body to the stored signature.
    assert signer.sign(stored["body"]).signature == stored["signature"]


def test_a_users_totp_seed_opens_to_the_secret_they_enrolled_with(made: MadeByTheHub) -> None:
    kek = made.kek_file.read_bytes()
    (user,) = rows(
        made.database_file,
        "SELECT username, totp_secret_wrapped FROM users WHERE username = 'sam.jones'",
    )

    secret = unwrap(kek, user["totp_secret_wrapped"], f"totp/{user['username']}")

    enrolled = parse_qs(urlparse(made.totp_uri).query)["secret"][0]
    assert secret.decode("ascii") == enrolled


def test_a_system_accounts_placeholder_seed_opens_under_its_fixed_context(
    made: MadeByTheHub,
) -> None:
    kek = made.kek_file.read_bytes()
    (system,) = rows(
        made.database_file,
        "SELECT totp_secret_wrapped FROM users WHERE username LIKE 'system.%'",
    )

    assert len(unwrap(kek, system["totp_secret_wrapped"], "system-account")) == 20


def test_a_blob_does_not_open_under_another_rows_context(made: MadeByTheHub) -> None:
    """The AAD binds each blob to its row: moving it to another key's row makes it unusable."""
    kek = made.kek_file.read_bytes()
    first, second = rows(
        made.database_file, "SELECT key_id, wrapped_private FROM agency_keys LIMIT 2"
    )

    with pytest.raises(nacl.exceptions.CryptoError):
        unwrap(kek, first["wrapped_private"], second["key_id"])


def test_the_document_states_the_constants_this_test_follows() -> None:
    text = SECURITY_MD.read_text()

    for stated in (
        "`mappa-hub/wrapped-key/v1/<kek id>/<context>`",
        '`SHA-256("mappa-hub/kek-id/" ‖ KEK)`',
        '`SHA-256("mappa-hub/key/<purpose>/" ‖ public key)`',
        "`totp/<username>`",
        "`system-account`",
        "crypto_aead_xchacha20poly1305_ietf_decrypt",
    ):
        assert stated in text, stated
