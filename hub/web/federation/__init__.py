"""Hub-to-hub routes under ``/federation/v1``, each a signed call (``signed.FederationRoutes``).

A module that serves peers declares ``routes = FederationRoutes()`` and is listed in ``ROUTES``
(one line); ``add_routes`` puts them all on the app.
"""

from __future__ import annotations

from aiohttp import web

from hub.web.federation import directory, transfer_messages, transfers, witness
from hub.web.federation.signed import FederationRoutes

ROUTES: tuple[FederationRoutes, ...] = (
    directory.routes,
    transfers.routes,
    transfer_messages.routes,
    witness.routes,
)


def add_routes(app: web.Application) -> None:
    for table in ROUTES:
        app.add_routes(table.table)
