"""The subject and attachment count a listing shows for each packet, decrypted in memory.

Decrypting a manifest (unwrapping the content key, then the manifest's AEAD and its JSON) was a
third of an inbox page's cost, and staff see the same newest packets on every visit. The same
stored bytes (the packet id, the reading agency's wrapped keys, the manifest's ciphertext)
always decrypt to the same manifest, so what they decrypted to is remembered for the most recent
``MEMO_SIZE`` packets, with those bytes: it is given again only for the same bytes, compared in
full. (Not by a digest of them: hashing them with SHA-256 cost more than the rest of the
lookup.) The memo holds no more than the content keys cached beside it
(``hub.services.content_keys``) already unlock, and only for bytes presented again: once a
packet is erased its wrapped keys are gone and it shows as erased before the memo is asked.
Nothing of it is ever stored.

A subject needs only the reading agency's wrapped key and the manifest: the content key is
unwrapped from the one, and the manifest's AEAD binds the packet id and the part's name. The
signed header is verified against the stored columns when the packet is opened
(``hub.services.packet_opening``), so a listing reads none (``hub.store.box_pages.ListedRow``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

from hub.crypto import packet_format as fmt
from hub.crypto.errors import CryptoFailure
from hub.services.actor import Actor
from hub.services.content_keys import ContentKeys
from hub.services.keyring import KeysHeldElsewhere
from hub.store.packets import StoredWrappedKey

UNREADABLE_SUBJECT = "(this packet failed an integrity check)"
ERASED_SUBJECT = "(content erased)"
# Sealed to keys the agency's own system holds (end-to-end mode): the hub cannot show it.
ELSEWHERE_SUBJECT = "(sealed for your agency's own system: open it there)"
PLACEHOLDERS = frozenset({UNREADABLE_SUBJECT, ERASED_SUBJECT, ELSEWHERE_SUBJECT})

# About 600 bytes each (the bytes, a subject, a count): about 12 MB for every gateway process.
MEMO_SIZE = 20_000


class _Remembered(NamedTuple):
    wrapped: tuple[StoredWrappedKey, ...]
    manifest: bytes
    found: tuple[str, int]


class ListedSubjects:
    """Decrypts the subjects a listing shows, remembering the latest (see the module's note)."""

    def __init__(self, keys: ContentKeys, size: int = MEMO_SIZE) -> None:
        self._keys = keys
        self._size = size
        # By (reading agency, packet id).
        self._memo: OrderedDict[tuple[int, str], _Remembered] = OrderedDict()

    def remembered(
        self, actor: Actor, packet_id: str, wrapped: Sequence[StoredWrappedKey], manifest: bytes
    ) -> tuple[str, int] | None:
        """What ``subject`` answers without decrypting: erased, or remembered from the same
        bytes; else None. (A listing asks this first: most rows are remembered, and awaiting
        costs each one.)"""
        if not wrapped:
            return ERASED_SUBJECT, 0
        key = (actor.agency.id, packet_id)
        entry = self._memo.get(key)
        if entry is None or entry.manifest != manifest or entry.wrapped != tuple(wrapped):
            return None
        self._memo.move_to_end(key)
        return entry.found

    async def subject(
        self,
        actor: Actor,
        packet_id: str,
        wrapped: Sequence[StoredWrappedKey],
        manifest: bytes,
    ) -> tuple[str, int]:
        """(subject, attachment count) of a packet for the actor's agency, or a placeholder."""
        found = self.remembered(actor, packet_id, wrapped, manifest)
        if found is not None:
            return found
        return await self.decrypt(actor, packet_id, wrapped, manifest)

    async def decrypt(
        self,
        actor: Actor,
        packet_id: str,
        wrapped: Sequence[StoredWrappedKey],
        manifest: bytes,
    ) -> tuple[str, int]:
        """``subject`` for a packet ``remembered`` did not answer (it has wrapped keys):
        decrypted, and remembered."""
        # Only the keys and the manifest (module note): no header, signature or signer.
        packet = fmt.SealedPacket(
            header_bytes=b"",
            signature=b"",
            signer_key_id="",
            wrapped_keys=tuple(
                fmt.WrappedKey(actor.agency.code, w.key_id, w.sealed) for w in wrapped
            ),
            parts={fmt.MANIFEST: manifest},
        )
        try:
            content_key = await self._keys.content_key(actor.agency, packet)
            opened = fmt.decrypt_manifest(packet, packet_id, content_key)
        except KeysHeldElsewhere:
            return ELSEWHERE_SUBJECT, 0
        except CryptoFailure:
            return UNREADABLE_SUBJECT, 0  # opening it reports the failure properly
        found = (opened.subject, len(opened.attachments))
        key = (actor.agency.id, packet_id)
        self._memo[key] = _Remembered(tuple(wrapped), manifest, found)
        self._memo.move_to_end(key)  # a packet's bytes decrypted anew (tampered with, re-keyed)
        if len(self._memo) > self._size:
            self._memo.popitem(last=False)
        return found
