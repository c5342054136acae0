"""The nominal record on the web: its download (an export, a share) and the import page.

The case page shows the record (``hub.web.casework`` asks ``hub.visor.view``, which logs the
reading); the service decides who may read, export and import, again, whatever a page offered.
"""

from __future__ import annotations

from aiohttp import web

from adapters.visor.exchange import VisorExchange, VisorInvalid, export_record
from adapters.visor.format import MAX_BYTES
from hub.errors import InvalidInput, TooLarge
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()


@routes.get("/cases/{case_id:\\d{1,12}}/visor-record.json")
async def download(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    exported = await export_record(
        hub.visor_export, request[ACTOR], int(request.match_info["case_id"])
    )
    return web.Response(
        body=exported.data,
        content_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{exported.case.reference}-visor.json"',
            "Cache-Control": "no-store",
        },
    )


@routes.get("/visor/import")
async def import_page(request: web.Request) -> web.StreamResponse:
    request.app[HUB].visor.require_importer(request[ACTOR])
    return render(request, "visor_import.html", errors=[], max_mb=MAX_BYTES // (1024 * 1024))


@routes.post("/visor/import")
async def import_upload(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    hub.visor.require_importer(actor)
    form = await request.post()
    upload = form.get("record")
    errors: list[dict[str, str]] = []
    data = b""
    if isinstance(upload, web.FileField):
        data = upload.file.read(MAX_BYTES + 1)
    if not data:
        errors = [{"text": "Choose a nominal record file (JSON) to import.", "href": "#record"}]
    else:
        try:
            done = await VisorExchange(hub.visor).import_file(actor, data)
        except (VisorInvalid, TooLarge, InvalidInput) as exc:
            listed = getattr(exc, "errors", ()) or [{"field": "/", "message": exc.public_message}]
            errors = [{"text": f"{e['field']}: {e['message']}", "href": "#record"} for e in listed]
        else:
            raise web.HTTPSeeOther(f"/cases/{done.case.id}?done=visor-imported")
    return render(
        request, "visor_import.html", status=400, errors=errors, max_mb=MAX_BYTES // (1024 * 1024)
    )
