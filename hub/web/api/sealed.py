"""``/api/v1`` end-to-end mode: packets sealed and opened by an agency's own system.

The hub routes these without being able to read them (``hub.services.sealed``); hub mode, where the
hub seals and opens for the agency, is ``hub.web.api.packets``.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from aiohttp import web
from pydantic import ConfigDict, Field

from hub.services.tokens import Scope
from hub.web.api import models as m
from hub.web.api.handlers import agency_codes, api_caller, json_response, read_body
from hub.web.api.packets import packet_out
from hub.web.api.spec import endpoint
from hub.web.keys import HUB

__all__ = ["routes"]

routes = web.RouteTableDef()


class WrappedKeyOut(m.ApiModel):
    agency: str
    key_id: str
    sealed: Annotated[str, Field(description="base64 of crypto_box_seal(content key)")]


class EnvelopeOut(m.ApiModel):
    """A packet in format v1 (``hub/crypto/PACKET_FORMAT.md``), as the hub stores it."""

    model_config = ConfigDict(extra="allow")
    format: Literal["mappa-hub/packet"]
    version: Literal[1]
    header: Annotated[str, Field(description="base64 of the signed canonical JSON header")]
    signature: Annotated[str, Field(description="base64 of the Ed25519 signature of the header")]
    signer: Annotated[str, Field(description="key id of the sending agency's signing key")]
    keys: Annotated[
        list[WrappedKeyOut], Field(description="only the calling agency's wrapped content key")
    ]
    parts: Annotated[dict[str, str], Field(description="part name to base64 of the part")]


_PACKET_ID = "{packet_id:[0-9a-f-]{36}}"


@endpoint(
    "POST", "/api/v1/sealed",
    "Submit a packet your system sealed with its own agency keys (end-to-end mode). The hub "
    "verifies the signed header against your agency's registered signing key, decides the policy "
    "on the header alone (its `necessity` statement included), checks that every party can open "
    "it, then stores and logs it as a send; it cannot read the content. Only `note` packets are "
    "accepted sealed. Resubmitting the same envelope returns the stored packet (200).",
    scope=Scope.SEALED_SUBMIT, body=m.SealedIn, response=m.PacketOut, status=201,
    errors=(409,), table=routes,
)  # fmt: skip
async def submit_sealed(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.SEALED_SUBMIT)
    body = await read_body(request, m.SealedIn)
    envelope = json.dumps(body.envelope, ensure_ascii=False).encode("utf-8")
    submitted = await hub.sealed.submit(caller, envelope)
    out = json_response(
        packet_out(submitted.summary, await agency_codes(request)),
        201 if submitted.created else 200,
    )
    if not submitted.created:
        out.headers["Idempotent-Replayed"] = "true"
    return out


@endpoint(
    "GET", f"/api/v1/packets/{_PACKET_ID}/sealed",
    "A packet sent to or by your agency in its sealed form (format v1), for your system to verify "
    "and open with its own keys. Logged as a consultation: the hub cannot tell whether it is "
    "opened.",
    scope=Scope.SEALED_READ, response=EnvelopeOut, errors=(404, 410), table=routes,
)  # fmt: skip
async def fetch_sealed(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    caller = api_caller(request, Scope.SEALED_READ)
    envelope = await hub.sealed.fetch(caller, request.match_info["packet_id"])
    return web.Response(body=envelope, content_type="application/json")
