"""Check a receipt on the page: the same check as ``mappa-hub ledger check-receipt``, no command line.

A sender downloads a receipt for each share (``/packets/ID/receipt``); whoever holds it later (the
sender, an auditor, a recipient it was handed to) uploads it here. The ledger service checks it
against the hub's pinned signing keys and its own log, and the page says in words what it proves,
or which check failed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from hub.services.checkpoints import CheckedReceipt, ReceiptRefused
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()

# A receipt is a few kilobytes (an entry, a checkpoint, a proof of log2(n) hashes).
MAX_RECEIPT_BYTES = 64 * 1024

# What each failed check means, for the person holding the receipt.
FAILED = {
    "format": "The file is not a MAPPA Hub receipt, or it has been changed so that it can no "
    "longer be read as one.",
    "key": "The receipt is not signed with this hub's signing key. It may come from another "
    "hub, or it may have been forged.",
    "signature": "The checkpoint in the receipt has been changed since the hub signed it.",
    "entry": "The log entry in the receipt has been changed: it is not the entry the receipt "
    "claims to prove.",
    "inclusion": "The proof in the receipt does not connect its log entry to the signed "
    "checkpoint: the entry or the proof has been changed.",
    "log": "The receipt is signed by this hub, but the hub's log no longer holds the entry or the "
    "checkpoint it proves. The log may have been altered.",
}


def _page(request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
    context.setdefault("error", "")
    context.setdefault("checked", None)
    context.setdefault("failed", "")
    return render(
        request,
        "receipt_check.html",
        status=status,
        error_title_prefix=bool(context["error"]),
        max_kb=MAX_RECEIPT_BYTES // 1024,
        **context,
    )


def _recorded_at(checked: CheckedReceipt) -> datetime | None:
    try:
        return datetime.strptime(str(checked.entry.get("at")), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=UTC
        )
    except ValueError:
        return None


@routes.get("/receipts/check")
async def form(request: web.Request) -> web.StreamResponse:
    request.app[HUB].ledger.require_receipt_checker(request[ACTOR])
    return _page(request)


@routes.post("/receipts/check")
async def check(request: web.Request) -> web.StreamResponse:
    posted = await request.post()  # already read (and limited) by the CSRF check
    upload = posted.get("receipt")
    if not isinstance(upload, FileField) or not upload.filename:
        return _page(request, status=400, error="Select a receipt file")
    data = upload.file.read(MAX_RECEIPT_BYTES + 1)
    if not data:
        return _page(request, status=400, error="The selected file is empty")
    if len(data) > MAX_RECEIPT_BYTES:
        error = f"The selected file must be smaller than {MAX_RECEIPT_BYTES // 1024} KB"
        return _page(request, status=400, error=error)
    try:
        checked = await request.app[HUB].ledger.check_receipt(request[ACTOR], data)
    except ReceiptRefused as exc:
        if exc.failed == "format":
            error = (
                "The selected file is not a MAPPA Hub receipt. Choose the receipt file (named "
                "like receipt-1234.json) that the hub gave for a share"
            )
            return _page(request, status=400, error=error)
        return _page(request, failed=FAILED[exc.failed], filename=upload.filename)
    return _page(
        request,
        checked=checked,
        recorded_at=_recorded_at(checked),
        filename=upload.filename,
    )
