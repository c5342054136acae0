"""A route's first read, made in its token's statement: a round trip fewer on every share.

Every API call reads its token (``ApiCallers.authenticate_taking``), and a share then reads its
case. A route registered here (``reads_first``) names that next read from its body, and the gate
(``hub.web.sessions``) makes it in the token's statement. The row is handed to the handler
(``first_read_row``) only once the caller is authenticated; it authorises nothing, and the
service that uses it checks the caller against it as it checks a case it reads itself.

Naming the read means parsing the body before the token is checked. So it is done only for a
small body (``MAX_BODY``: a share without large attachments) that has already arrived whole (an
unauthenticated caller cannot hold the gate waiting for one), the parse has no effect but to keep
the parsed body for the handler (``hub.web.api.handlers.read_body``), and whatever it raises is
dropped: the gate then authenticates as it always does, and the handler reads the body in its own
place and meets the same error there, after the token's (401, 429) and scope's (403) checks, as
before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.store.hot import HotRead

# The largest body parsed before its token is checked: unauthenticated work stays small.
MAX_BODY = 64 * 1024

# Reads the request's body (without effect) and names its first read, with that read's values.
Namer = Callable[[web.Request], Awaitable[tuple[HotRead, Mapping[str, Any]]]]

_NAMERS: dict[Handler, Namer] = {}


@dataclass(frozen=True)
class FirstRead:
    """What the gate read with the token: the read, its values, and its first row (None: none)."""

    read: HotRead
    values: Mapping[str, Any]
    row: dict[str, Any] | None


FIRST_READ = web.RequestKey("mappa.first_read", FirstRead)


def reads_first(namer: Namer) -> Callable[[Handler], Handler]:
    """Register a handler whose first read ``namer`` names (see the module's note)."""

    def register(handler: Handler) -> Handler:
        _NAMERS[handler] = namer
        return handler

    return register


async def named(request: web.Request) -> tuple[HotRead, Mapping[str, Any]] | None:
    """The first read of the request's route, or None: none registered, a body too large, of
    unknown length or not yet all arrived, or one that does not parse (the handler meets that
    error in its place)."""
    namer = _NAMERS.get(request.match_info.handler)
    length = request.content_length
    if namer is None or length is None or length > MAX_BODY or not request.content.is_eof():
        return None
    try:
        return await namer(request)
    except Exception:  # any fault is the handler's to report, after the token's
        return None


def first_read_row(
    request: web.Request, read: HotRead, values: Mapping[str, Any]
) -> tuple[bool, dict[str, Any] | None]:
    """(True, the row) if the gate made ``read`` with these values for this request; else
    (False, None), and the caller reads for itself."""
    found = request.get(FIRST_READ)
    if found is None or found.read is not read or dict(found.values) != dict(values):
        return False, None
    return True, found.row
