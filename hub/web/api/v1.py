"""``/api/v1``: what the inbox does, for agency systems holding a bearer token.

Handlers only translate: JSON in and out, the token's scope and case limits checked first
(hub.web.api.handlers); every rule is the services' (the same ones the inbox calls), and so is
every log entry. One module per resource, as Synapse keeps one servlet file per resource; they
register on the one route table of hub.web.api.spec, in the order imported here (the OpenAPI
document lists them in that order).
"""

from __future__ import annotations

from aiohttp import web

from hub.web.api import cases, disclosures, info_requests, packets
from hub.web.api.spec import document, endpoint, routes

__all__ = ["cases", "disclosures", "info_requests", "packets", "routes"]


@endpoint("GET", "/api/v1/openapi.json", "This API's OpenAPI 3.1 description.", scope=None)
async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(document())
