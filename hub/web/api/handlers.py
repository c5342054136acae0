"""What every ``/api/v1`` handler does first: the caller and its scope, the JSON body read
strictly, ids from the path, agency codes; and how a model goes out. The handlers themselves are
one module per resource (hub.web.api.cases, packets, info_requests, disclosures, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.crypto.canonical import DuplicateMember, NotCanonical, loads_unique
from hub.errors import InvalidInput, NotFound
from hub.services.directory import AgencyIndex
from hub.services.tokens import ApiActor, Scope
from hub.web.keys import API_CALLER, HUB

M = TypeVar("M", bound=BaseModel)


def api_caller(request: web.Request, scope: Scope) -> ApiActor:
    caller = request[API_CALLER]
    caller.require(scope)
    return caller


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    return json_bytes_response(model.model_dump_json().encode(), status)


def json_bytes_response(body: bytes, status: int = 200) -> web.Response:
    """JSON already serialised (UTF-8)."""
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


class UnsupportedMediaType(InvalidInput):
    status = 415
    code = "unsupported_media_type"


# A body once parsed, so that a route's first read (hub.web.api.first_read) and its handler
# parse it once between them.
_PARSED = web.RequestKey("mappa.parsed_body", BaseModel)


async def read_body(request: web.Request, model: type[M]) -> M:
    parsed = request.get(_PARSED)
    if isinstance(parsed, model):
        return parsed
    body = await _parse_body(request, model)
    kept: BaseModel = body
    request[_PARSED] = kept
    return body


async def _parse_body(request: web.Request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "Send a JSON body with Content-Type: application/json.", field="body"
        )
    raw = await request.read()
    try:
        # Parsers differ on a member named twice (first, last, or an error): refuse it. Other
        # faults (not JSON at all) are left for the model's own message below.
        loads_unique(raw)
    except DuplicateMember as exc:
        raise InvalidInput(f"The request body is not valid: {exc}.", field="body") from None
    except NotCanonical:
        pass
    try:
        # Strict: 1 is not "1", 1.0 or true, and a string is not a number (hub.web.api.models).
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        raise InvalidInput(
            "The request body is not valid: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10]),
            field=errors[0]["field"] if errors else "body",
            errors=errors,
        ) from None


# Ids are 32-bit in the store: a larger number names nothing (PostgreSQL would refuse the query).
MAX_ID = 2**31 - 1


def path_id(request: web.Request, name: str) -> int:
    value = int(request.match_info[name])
    if value > MAX_ID:
        raise NotFound(f"No {name.removesuffix('_id')} {value}.")
    return value


async def agency_index(request: web.Request, wanted: Iterable[int | str] = ()) -> AgencyIndex:
    """Agency ids to codes and back, from the directory's short-lived list; read afresh if any of
    ``wanted`` (ids or codes) is missing from it (an agency added a moment ago)."""
    directory = request.app[HUB].directory
    index = await directory.agency_index()
    if not all(index.knows(w) for w in wanted):
        index = await directory.agency_index(refresh=True)
    return index


async def agency_codes(request: web.Request, wanted: Iterable[int | str] = ()) -> Mapping[int, str]:
    """Agency ids to codes (``agency_index``)."""
    return (await agency_index(request, wanted)).codes
