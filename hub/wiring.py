"""The Hub: builds each dependency once. The web app and the CLI both hang off one of these."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hub.clock import Clock, SystemClock
from hub.config import Config
from hub.crypto.kek import KeyEncryptionKey, load_or_create_kek
from hub.crypto.passwords import PasswordHasher
from hub.policy.catalogue import DEFAULT_POLICY_DIR, Catalogue, load_catalogue
from hub.services.auth import AuthService
from hub.services.cases import CaseService
from hub.services.directory import DirectoryService
from hub.services.keyring import KeyRing
from hub.services.packets import PacketService
from hub.store.database import Database


@dataclass
class Hub:
    config: Config
    clock: Clock
    db: Database
    kek: KeyEncryptionKey
    keyring: KeyRing
    catalogue: Catalogue
    hasher: PasswordHasher
    directory: DirectoryService
    cases: CaseService
    packets: PacketService
    auth: AuthService

    @classmethod
    async def open(
        cls,
        config: Config,
        clock: Clock | None = None,
        *,
        policy_dir: Path = DEFAULT_POLICY_DIR,
    ) -> Hub:
        """Open a hub on an initialised data directory and a migrated database."""
        clock = clock or SystemClock()
        catalogue = load_catalogue(policy_dir)
        kek = KeyEncryptionKey.load(config.kek_path)
        db = Database(config.database_url)
        try:
            await db.require_migrated()
        except Exception:
            await db.dispose()
            raise
        keyring = KeyRing(db, kek, clock)
        await keyring.reload()
        hasher = PasswordHasher(config.passwords)
        return cls(
            config=config,
            clock=clock,
            db=db,
            kek=kek,
            keyring=keyring,
            catalogue=catalogue,
            hasher=hasher,
            directory=DirectoryService(db, keyring, hasher, clock),
            cases=CaseService(db, clock),
            packets=PacketService(db, keyring, catalogue, clock, config.limits),
            auth=AuthService(db, keyring, hasher, clock, config.sessions),
        )

    async def close(self) -> None:
        await self.db.dispose()


async def initialise(config: Config) -> bool:
    """Create the data directory and KEK if missing, and migrate the database to the newest schema.

    Returns True if a new key-encryption key was created (the operator must back it up).
    """
    config.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(config.data_dir, 0o700)
    _, created = load_or_create_kek(config.kek_path)
    db = Database(config.database_url)
    try:
        await db.migrate()
    finally:
        await db.dispose()
    return created
