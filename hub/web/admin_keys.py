"""The agency's keys, for its admin: current and past encryption and signing keys, read-only.

Keys are rotated by the hub's operator on the command line (``mappa-hub keys rotate``); this page
shows what there is, so an admin can compare fingerprints with an agency system's configuration.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from hub.crypto.agency_keys import KeyPurpose
from hub.errors import Forbidden
from hub.model.directory import Role
from hub.store.keys import StoredKey
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()

_PURPOSES = {
    KeyPurpose.ENCRYPTION.value: "Encryption (X25519)",
    KeyPurpose.SIGNING.value: "Signing (Ed25519)",
}


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    purpose: str
    fingerprint: str  # the key id in groups of four, as people read it aloud
    public_key: str  # standard base64, as ``mappa-hub keys import`` takes it
    created_at: datetime
    retired_at: datetime | None
    held_by_hub: bool


def _row(key: StoredKey) -> KeyRow:
    return KeyRow(
        key_id=key.key_id,
        purpose=_PURPOSES.get(key.purpose, key.purpose),
        fingerprint=" ".join(key.key_id[i : i + 4] for i in range(0, len(key.key_id), 4)),
        public_key=base64.b64encode(key.public_key).decode(),
        created_at=key.created_at,
        retired_at=key.retired_at,
        held_by_hub=key.held_by_hub,
    )


@routes.get("/admin/keys")
async def keys_page(request: web.Request) -> web.StreamResponse:
    actor = request[ACTOR]
    if not actor.has_role(Role.AGENCY_ADMIN):
        raise Forbidden("Only an agency admin sees the agency's keys.")
    keys = [_row(k) for k in await request.app[HUB].keyring.history(actor.agency.id)]
    current = sorted((k for k in keys if k.retired_at is None), key=lambda k: k.purpose)
    past = sorted((k for k in keys if k.retired_at is not None), key=lambda k: k.created_at)
    return render(
        request,
        "admin_keys.html",
        current=current,
        past=list(reversed(past)),
        code=actor.agency.code,
    )
