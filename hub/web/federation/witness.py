"""POST /federation/v1/witness/checkpoints: a pinned peer asks this hub to cosign its checkpoint
(hub.services.witness; the C2SP tlog-witness ``add-checkpoint``, adapted).

The body is an ``AddCheckpoint`` (JSON); the answer a ``Cosignature`` (JSON). A peer asks for its
own log only. The witness's 409 carries, besides the problem document, the ``size`` and the
``checkpoint`` this hub holds for that log, for the log to prove consistency from it (or to learn
that its log no longer contains it).
"""

from __future__ import annotations

import json

from aiohttp import web

from hub.errors import Forbidden, InvalidInput
from hub.ledger.checkpoint import BadCheckpoint
from hub.ledger.cosignature import AddCheckpoint
from hub.services.witness import WitnessConflict
from hub.web.federation.signed import CALL, FederationRoutes
from hub.web.keys import HUB

routes = FederationRoutes()


@routes.post("/witness/checkpoints")
async def add_checkpoint(request: web.Request) -> web.StreamResponse:
    try:
        wanted = AddCheckpoint.from_json(json.loads(await request.read()))
    except (ValueError, BadCheckpoint):
        raise InvalidInput("The body is not an add-checkpoint request.") from None
    if wanted.checkpoint.public_key != request[CALL].peer.signing_key:
        raise Forbidden("A peer asks this hub to cosign its own checkpoints only.")
    try:
        cosignature = await request.app[HUB].witness.add_checkpoint(wanted)
    except WitnessConflict as exc:
        problem = {
            "type": f"urn:mappa-hub:problem:{exc.code}", "title": "witness conflict",
            "status": exc.status, "detail": exc.public_message,
            "size": exc.known.tree_size if exc.known else 0,
            "checkpoint": exc.known.to_json() if exc.known else None,
        }  # fmt: skip
        return web.json_response(
            problem, status=exc.status, content_type="application/problem+json"
        )
    return web.json_response(cosignature.to_json())
