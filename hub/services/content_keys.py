"""Unwrapping a packet's content key for the agency reading it, with a cache of recent ones.

Listing decrypts every subject shown and opening decrypts the rest: both start here.
"""

from __future__ import annotations

from collections import OrderedDict

from hub.crypto import packet_format as fmt
from hub.crypto.secrets import SecretBytes
from hub.model.directory import Agency
from hub.services.keyring import KeyRing, KeysHeldElsewhere

# Content keys unwrapped lately, by the wrapped key they came from: an inbox shows the same
# newest packets on every visit, and unwrapping (an X25519 operation per packet) is most of a
# listing's cost. About 200 bytes each; the hub holds the agencies' private keys anyway.
UNWRAP_CACHE_SIZE = 50_000


class UnwrapCache:
    """A bounded LRU map from (key id, wrapped key) to the content key it unwraps to.

    Keyed by the stored wrapped key itself, so it answers only a caller that presents that
    wrapped key: once a packet is erased (its wrapped keys deleted) nothing can ask for it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys: OrderedDict[tuple[str, bytes], SecretBytes] = OrderedDict()

    def get(self, wrapped: tuple[str, bytes]) -> SecretBytes | None:
        found = self._keys.get(wrapped)
        if found is not None:
            self._keys.move_to_end(wrapped)
        return found

    def put(self, wrapped: tuple[str, bytes], content_key: SecretBytes) -> None:
        self._keys[wrapped] = content_key
        self._keys.move_to_end(wrapped)
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)


class ContentKeys:
    """Content keys unwrapped with an agency's private keys (current or retired), cached."""

    def __init__(self, keyring: KeyRing, size: int = UNWRAP_CACHE_SIZE) -> None:
        self._keyring = keyring
        self._unwrapped = UnwrapCache(size)

    async def content_key(self, agency: Agency, sealed: fmt.SealedPacket) -> SecretBytes:
        """Unwrap the content key with the agency's private key (current or retired).

        ``KeysHeldElsewhere`` when it is wrapped only for keys the agency's own system holds.
        """
        mine = [w for w in sealed.wrapped_keys if w.agency == agency.code]
        if len(mine) == 1:
            cached = self._unwrapped.get((mine[0].key_id, mine[0].sealed))
            if cached is not None:
                return cached
        privates: dict[str, SecretBytes] = {}
        elsewhere = False
        for wrapped in sealed.wrapped_keys:
            if wrapped.agency != agency.code:
                continue
            stored = await self._keyring.key(wrapped.key_id)
            if stored is not None and stored.agency_id == agency.id:
                if not stored.held_by_hub:
                    elsewhere = True
                    continue
                privates[wrapped.key_id] = self._keyring.private(stored)
        if elsewhere and not privates:
            raise KeysHeldElsewhere()
        content_key = fmt.unwrap_content_key(sealed, agency.code, privates.get)
        if len(mine) == 1:
            self._unwrapped.put((mine[0].key_id, mine[0].sealed), content_key)
        return content_key
