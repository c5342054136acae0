"""The policy in force: decided from, reloaded without a restart, every version archived."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from hub.clock import Clock
from hub.crypto.canonical import canonical_json
from hub.policy.engine import evaluate
from hub.policy.loader import PolicySet, load_policy
from hub.policy.model import Decision, ShareRequest
from hub.store import policy as store
from hub.store.database import Database

log = logging.getLogger("hub.policy")


class PolicyService:
    def __init__(self, db: Database, clock: Clock, policy_dir: Path, policy: PolicySet) -> None:
        self._db = db
        self._clock = clock
        self._dir = policy_dir
        self._current = policy

    @property
    def current(self) -> PolicySet:
        return self._current

    def decide(self, request: ShareRequest) -> Decision:
        """Decide by the version in force: its memo, then its lookup tables (compiled at load)."""
        return evaluate(self._current, request)

    async def archive_current(self) -> None:
        await self._archive(self._current)

    async def _archive(self, policy: PolicySet) -> None:
        """Keep a version's files so decisions made under it can be explained later."""
        files = canonical_json({n: d.decode("utf-8") for n, d in policy.files.items()})
        try:
            async with self._db.write() as conn:
                await store.archive_version(conn, policy.version, files, self._clock.now())
        except IntegrityError:
            pass  # another gateway archived the same version at the same moment

    async def reload(self) -> PolicySet:
        """Re-read the files. A bad file raises PolicyError and the old version stays in force.

        The new version is archived before it is put in force, so no decision is ever made under
        a version the database does not hold.
        """
        new = load_policy(self._dir)
        await self._archive(new)
        old = self._current
        self._current = new
        if new.version != old.version:
            log.warning("policy reloaded: %s -> %s", old.short_version, new.short_version)
        return new

    async def archived(self, digest: str) -> dict[str, str] | None:
        async with self._db.read() as conn:
            files = await store.version_files(conn, digest)
        return json.loads(files) if files is not None else None
