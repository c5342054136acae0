"""Each agency's active key pair, as the key ring indexes it at a reload (``_active_pairs``)."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.crypto.agency_keys import KeyPurpose
from hub.services.keyring import ActiveKeys, _active_pairs
from hub.store.keys import StoredKey

WHEN = datetime(2026, 12, 6, tzinfo=UTC)
ENC, SIG = KeyPurpose.ENCRYPTION.value, KeyPurpose.SIGNING.value


def _key(key_id: str, agency: int, purpose: str, *, retired: bool = False) -> StoredKey:
    return StoredKey(
        key_id, agency, purpose, b"p" * 32, None, None, WHEN, WHEN if retired else None
    )


def test_each_agency_gets_its_active_pair_and_nothing_else() -> None:
    keys = [
        _key("old-enc", 1, ENC, retired=True),
        _key("enc-1", 1, ENC),
        _key("old-sig", 1, SIG, retired=True),
        _key("sig-1", 1, SIG),
        _key("enc-2", 2, ENC),  # no signing key: agency 2 has no pair
        _key("sig-3", 3, SIG, retired=True),
        _key("enc-3", 3, ENC),  # its signing key retired: no pair
    ]
    pairs = _active_pairs(keys)
    assert pairs == {1: ActiveKeys(keys[1], keys[3])}


def test_of_two_active_keys_of_one_purpose_the_later_is_taken() -> None:
    keys = [_key("enc-a", 4, ENC), _key("sig", 4, SIG), _key("enc-b", 4, ENC)]
    assert _active_pairs(keys)[4].encryption.key_id == "enc-b"
    assert _active_pairs(list(reversed(keys)))[4].encryption.key_id == "enc-a"
