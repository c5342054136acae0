"""The cache of unwrapped content keys: bounded, least recently used out first."""

from __future__ import annotations

from hub.crypto.secrets import SecretBytes
from hub.services.packets import UnwrapCache


def test_answers_only_the_wrapped_key_it_was_given() -> None:
    cache = UnwrapCache(4)
    cache.put(("k1", b"wrapped-a"), SecretBytes(b"A" * 32))
    assert cache.get(("k1", b"wrapped-a")) == SecretBytes(b"A" * 32)
    assert cache.get(("k1", b"wrapped-b")) is None
    assert cache.get(("k2", b"wrapped-a")) is None


def test_evicts_the_least_recently_used() -> None:
    cache = UnwrapCache(2)
    cache.put(("k", b"1"), SecretBytes(b"1" * 32))
    cache.put(("k", b"2"), SecretBytes(b"2" * 32))
    assert cache.get(("k", b"1")) is not None  # 1 is now the most recent
    cache.put(("k", b"3"), SecretBytes(b"3" * 32))
    assert cache.get(("k", b"2")) is None
    assert cache.get(("k", b"1")) is not None
    assert cache.get(("k", b"3")) is not None
