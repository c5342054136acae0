"""Reading a posted form once, in one place, so that a malformed one is a 400 and not a 500.

aiohttp parses a form on the first ``request.post()`` and caches it for the handler. A NUL in a
multipart part's headers (its name, file name or content type), a part with no name, an unknown
charset or transfer encoding, a broken boundary or undecodable text make that call raise an
``HttpProcessingError``, ``ValueError``, ``LookupError`` or ``RuntimeError``, whose message quotes
the offending header. Left alone it becomes an "unhandled error" with the header in the log;
here it becomes ``InvalidInput``, whose log line names only the kind of fault. Nothing has been
saved at this point: the handler has not run.

A form that parses is checked as well: no part's name, file name or content type may hold a
control character (``%00`` in an RFC 2231 ``filename*`` decodes to a NUL that the header parser
never sees). Bidirectional and other invisible format characters in a file name are not refused
here: the file is the person's and its name came from their computer; the name is cleaned for
display when the packet is sealed (``hub.services.drafts.clean_filename``).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BadContentDispositionHeader, BadContentDispositionParam
from aiohttp.typedefs import Handler
from multidict import MultiDictProxy

from hub.errors import InvalidInput
from hub.text import line_problem

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
UNREADABLE = (
    "The form could not be read: part of it, such as the name of a file you chose, is not in a "
    "form the hub accepts. Nothing was saved. Rename the file or choose another, and try again."
)
# Controls, line separators and unpaired surrogates; not the bidirectional format characters.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_PARSE_ERRORS = (
    HttpProcessingError,
    ValueError,
    LookupError,
    RuntimeError,
    BadContentDispositionHeader,  # warnings, raised as errors (form_body_middleware)
    BadContentDispositionParam,
)


def form_body_middleware() -> web.typedefs.Middleware:  # type: ignore[name-defined]
    """Read every posted form before the handler (and the CSRF check) does."""
    # aiohttp only warns of a malformed Content-Disposition (the warning quotes it) and carries
    # on without the part's name or file name: refuse such a part instead.
    warnings.filterwarnings("error", category=BadContentDispositionHeader)
    warnings.filterwarnings("error", category=BadContentDispositionParam)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in request.POST_METHODS and request.content_type in FORM_TYPES:
            await read_form(request)
        return await handler(request)

    return middleware


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form (cached by aiohttp); ``InvalidInput`` if it cannot be read or a part's
    name, file name or content type holds a control character. ``TooLarge`` stays a 413."""
    try:
        form = await request.post()
    except web.HTTPException:
        raise  # 413: too large
    except _PARSE_ERRORS as exc:
        # The message quotes the header it choked on: log only the kind of fault.
        raise InvalidInput(UNREADABLE, field="form", fault=type(exc).__name__) from None
    for name, value in form.items():
        if _CONTROL.search(name):
            raise InvalidInput(UNREADABLE, field="form", fault="control character in a name")
        if isinstance(value, web.FileField) and (
            _CONTROL.search(value.filename) or line_problem(value.content_type)
        ):
            raise InvalidInput(UNREADABLE, field="form", fault="control character in a file part")
    return form
