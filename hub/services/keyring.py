"""Agency keys in memory: public keys, and private keys unwrapped on first use under the KEK."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto.agency_keys import (
    KeyPurpose,
    checked_public_key,
    generate_key_pair,
    unwrap_private,
)
from hub.crypto.kek import KeyEncryptionKey
from hub.crypto.secrets import SecretBytes
from hub.errors import ConfigError, Conflict, InvalidInput
from hub.ledger.entries import Event
from hub.services import key_events, ledger
from hub.store import keys as key_store
from hub.store.database import Database
from hub.store.keys import StoredKey

# How long a gateway may go on sealing to a key that another process has just retired (the
# retired key still opens everything sealed to it, so this bounds staleness, not safety).
REFRESH = timedelta(seconds=60)


class KeysHeldElsewhere(Conflict):
    """The hub has only the public half: the agency's own system holds the private key."""

    code = "keys_held_elsewhere"

    def __init__(self) -> None:
        super().__init__(
            "This agency's keys are held by its own system: the hub cannot open or sign packets "
            "for it. Use the agency's own system (the API's sealed endpoints)."
        )


@dataclass(frozen=True)
class ActiveKeys:
    encryption: StoredKey
    signing: StoredKey


def _active_pairs(keys: Iterable[StoredKey]) -> dict[int, ActiveKeys]:
    """Each agency's active encryption and signing keys, for the agencies that have both; of two
    active keys of one purpose (never left by a rotation), the later in ``keys``."""
    encryption: dict[int, StoredKey] = {}
    signing: dict[int, StoredKey] = {}
    for k in keys:
        if not k.active:
            continue
        if k.purpose == KeyPurpose.ENCRYPTION.value:
            encryption[k.agency_id] = k
        elif k.purpose == KeyPurpose.SIGNING.value:
            signing[k.agency_id] = k
    return {a: ActiveKeys(e, signing[a]) for a, e in encryption.items() if a in signing}


class KeyRing:
    def __init__(self, db: Database, kek: KeyEncryptionKey, clock: Clock) -> None:
        self._db = db
        self._kek = kek
        self._clock = clock
        self._by_id: dict[str, StoredKey] = {}
        # Each agency's active pair, found once a reload: every share asks for its sender's and
        # each recipient's, and the keys (retired ones too) grow with every rotation.
        self._active_by_agency: dict[int, ActiveKeys] = {}
        self._private: dict[str, SecretBytes] = {}
        self._loaded_at: datetime | None = None

    def __repr__(self) -> str:
        return f"<KeyRing keys={len(self._by_id)}>"

    async def reload(self) -> None:
        async with self._db.read() as conn:
            found = await key_store.all_keys(conn)
        self._by_id = {k.key_id: k for k in found}
        self._active_by_agency = _active_pairs(self._by_id.values())
        self._loaded_at = self._clock.now()

    async def key(self, key_id: str) -> StoredKey | None:
        if key_id not in self._by_id:
            await self.reload()  # another process may have rotated keys
        return self._by_id.get(key_id)

    async def active(self, agency_id: int) -> ActiveKeys:
        """The agency's current keys. Another gateway's rotation is seen within ``REFRESH``."""
        if self._loaded_at is None or self._clock.now() - self._loaded_at > REFRESH:
            await self.reload()
        found = self._active(agency_id)
        if found is None:
            await self.reload()
            found = self._active(agency_id)
        if found is None:
            raise ConfigError(f"agency {agency_id} has no active keys; run 'mappa-hub keys rotate'")
        return found

    def _active(self, agency_id: int) -> ActiveKeys | None:
        return self._active_by_agency.get(agency_id)

    def private(self, stored: StoredKey) -> SecretBytes:
        """The private half, unwrapped under the KEK. ``KeysHeldElsewhere`` for an imported key."""
        cached = self._private.get(stored.key_id)
        if cached is None:
            if stored.wrapped_private is None:
                raise KeysHeldElsewhere()
            cached = unwrap_private(self._kek, stored.key_id, stored.wrapped_private)
            self._private[stored.key_id] = cached
        return cached

    async def issue(self, agency_id: int) -> ActiveKeys:
        """Generate fresh key pairs for an agency, retiring (not deleting) the current ones.

        Retired private keys stay, so every packet sealed before the rotation stays readable.
        """
        async with self._db.write() as conn:
            await self.issue_in(conn, agency_id, self._clock.now())
        await self.reload()
        return await self.active(agency_id)

    async def issue_in(self, conn: AsyncConnection, agency_id: int, now: datetime) -> None:
        """``issue`` in the caller's write transaction, with its entry on the log; the caller
        reloads once it has committed."""
        retired = await _retire_active(conn, agency_id, now)
        made = []
        for purpose in (KeyPurpose.ENCRYPTION, KeyPurpose.SIGNING):
            pair = generate_key_pair(purpose, self._kek)
            await key_store.add_key(
                conn,
                key_id=pair.key_id,
                agency_id=agency_id,
                purpose=purpose.value,
                public_key=pair.public,
                wrapped_private=pair.wrapped_private,
                kek_id=self._kek.kek_id,
                created_at=now,
            )
            made.append(pair.key_id)
        await ledger.append(
            conn, key_events.keys_changed(Event.KEYS_ISSUED, agency_id, made, retired, now)
        )

    async def import_public(
        self, agency_id: int, encryption_public: bytes, signing_public: bytes
    ) -> ActiveKeys:
        """Make an agency's own public keys its active ones (end-to-end mode).

        The hub then wraps content keys for the imported X25519 key and verifies headers with the
        imported Ed25519 key; it holds neither private half. The keys it held before are retired,
        not deleted, so packets sealed to them stay readable on the hub.
        """
        try:
            enc = checked_public_key(KeyPurpose.ENCRYPTION, encryption_public)
            sig = checked_public_key(KeyPurpose.SIGNING, signing_public)
        except ValueError as exc:
            raise InvalidInput(f"Not a usable public key: {exc}.", field="public_key") from None
        now = self._clock.now()
        async with self._db.write() as conn:
            existing = {k.key_id: k for k in await key_store.keys_for_agency(conn, agency_id)}
            known = [k for k in (enc, sig) if k.key_id in existing]
            if len(known) == 2 and all(existing[k.key_id].active for k in known):
                raise Conflict("These keys are already this agency's active keys.")
            if known:
                raise Conflict(
                    "One of these keys was registered before: an agency system generates a fresh "
                    "pair for each rotation."
                )
            await self._reject_foreign(conn, enc.key_id, sig.key_id)
            retired = await _retire_active(conn, agency_id, now)
            for key in (enc, sig):
                await key_store.add_key(
                    conn,
                    key_id=key.key_id,
                    agency_id=agency_id,
                    purpose=key.purpose.value,
                    public_key=key.public,
                    wrapped_private=None,
                    kek_id=None,
                    created_at=now,
                )
            await ledger.append(
                conn,
                key_events.keys_changed(
                    Event.KEYS_IMPORTED, agency_id, [enc.key_id, sig.key_id], retired, now
                ),
            )
        await self.reload()
        return await self.active(agency_id)

    @staticmethod
    async def _reject_foreign(conn: AsyncConnection, *key_ids: str) -> None:
        for kid in key_ids:
            if await key_store.key_by_id(conn, kid) is not None:
                raise Conflict("This public key is already registered for another agency.")

    def wrap_secret(self, secret: bytes, context: str) -> bytes:
        return self._kek.wrap(secret, context)

    def unwrap_secret(self, blob: bytes, context: str) -> SecretBytes:
        return self._kek.unwrap(blob, context)

    async def history(self, agency_id: int) -> list[StoredKey]:
        """Every key the agency has had, current and retired, oldest first (public halves and
        dates only are of use to a caller: private halves stay wrapped)."""
        async with self._db.read() as conn:
            return await key_store.keys_for_agency(conn, agency_id)

    def derived_key(self, purpose: str) -> SecretBytes:
        """A key derived from the KEK for one purpose (``KeyEncryptionKey.derive``)."""
        return self._kek.derive(purpose)


async def _retire_active(conn: AsyncConnection, agency_id: int, now: datetime) -> list[str]:
    """Retire the agency's active keys of both purposes; their ids."""
    active = [k.key_id for k in await key_store.keys_for_agency(conn, agency_id) if k.active]
    for purpose in (KeyPurpose.ENCRYPTION, KeyPurpose.SIGNING):
        await key_store.retire_active(conn, agency_id, purpose.value, now)
    return active
