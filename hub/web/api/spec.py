"""One registry for the API's routes and their description, so the OpenAPI document cannot drift.

Each handler is declared with ``@endpoint(...)``: that adds the aiohttp route and the operation in
the OpenAPI 3.1 document (``document()``), with its scope, body, response and error statuses.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from hub.services.api_callers import ON_BEHALF_OF
from hub.services.tokens import Scope
from hub.web.api.models import Problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PARAM = re.compile(r"\{(\w+)(?::([^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}")


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # query | header
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as aiohttp routes it, with {name:regex}
    summary: str
    scope: Scope | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    params: tuple[Param, ...]
    raw_response: str | None  # a non-JSON media type (attachments)
    operation_id: str
    also: tuple[tuple[int, str], ...] = ()  # other success statuses (same body), described
    # Other success statuses with a body of their own: (status, description, model).
    other: tuple[tuple[int, str, type[BaseModel]], ...] = ()

    @property
    def openapi_path(self) -> str:
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    def path_params(self) -> list[tuple[str, str]]:
        return [(m.group(1), m.group(2) or "") for m in _PARAM.finditer(self.path)]


ENDPOINTS: list[Endpoint] = []
routes = web.RouteTableDef()
# Every authenticated operation can answer these.
_COMMON_ERRORS = (401, 403, 429)
# Ids are 32-bit integers in the store, whatever width a route's pattern allows.
_MAX_ID = 2**31 - 1
# Every authenticated operation takes it: the person the system acts for (hub/services/tokens.py).
_ON_BEHALF_OF = {
    "name": ON_BEHALF_OF,
    "in": "header",
    "required": False,
    "description": (
        "The username of the person this call is made for: an active person of the token's "
        "agency (403 otherwise). Without it the token acts for the admin who issued it. "
        "A packet sent for the person named names them as its sender (`sender_user`; a sealed "
        "packet's signed header must, 403 `wrong_sender_user` otherwise); without this header "
        "a packet names the token's own system account. "
        "Proposing a disclosure and recording one as made need a person (a token issued at the "
        "command line has none); deciding one needs a coordinator or senior manager other than "
        "the proposer, and only when the policy allows delegated decisions."
    ),
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{2,63}$"},
}
_DIGITS = re.compile(r"\\d(?:\+|\{(?:\d+,)?(\d+)\})?")


def endpoint(
    method: str,
    path: str,
    summary: str,
    *,
    scope: Scope | None,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    params: tuple[Param, ...] = (),
    raw_response: str | None = None,
    table: web.RouteTableDef | None = None,
    also: tuple[tuple[int, str], ...] = (),
    other: tuple[tuple[int, str, type[BaseModel]], ...] = (),
) -> Callable[[Handler], Handler]:
    """``table``: the route table of a module the app adds on its own (default: ``routes``).
    ``also``: other success statuses answering the same body, each with its description;
    ``other``: success statuses answering another body (status, description, model)."""

    def register(handler: Handler) -> Handler:
        ENDPOINTS.append(
            Endpoint(
                method=method,
                path=path,
                summary=summary,
                scope=scope,
                body=body,
                response=response,
                status=status,
                errors=errors,
                params=params,
                raw_response=raw_response,
                operation_id=handler.__name__,
                also=also,
                other=other,
            )
        )
        (routes if table is None else table).route(method, path)(handler)
        return handler

    return register


def _max_number(digits: re.Match[str]) -> int:
    """The largest id a digits pattern (``\\d``, ``\\d+``, ``\\d{1,12}``) lets through to the store."""
    if digits.group(0).endswith("+"):
        return _MAX_ID
    return min(_MAX_ID, int("9" * int(digits.group(1) or 1)))


def _schema_ref(model: type[BaseModel], schemas: dict[str, Any], mode: str) -> dict[str, str]:
    doc = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
    for name, sub in doc.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas[model.__name__] = doc
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _problem(status: int, schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": {
            400: "The request is malformed or fails validation.",
            401: "No valid bearer token.",
            403: "The token's scope, the agency or the policy does not allow it.",
            404: "No such thing (or not visible to this token).",
            409: "In conflict with the current state (already answered, key reused...).",
            410: "Gone: the content was erased.",
            413: "The request body is too large.",
            415: "The request body is not JSON (Content-Type: application/json).",
            429: "Too many requests for this token; see Retry-After.",
        }.get(status, "Error."),
        "content": {
            "application/problem+json": {"schema": _schema_ref(Problem, schemas, "serialization")}
        },
    }


def document(server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 description of every registered endpoint."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        op: dict[str, Any] = {
            "operationId": ep.operation_id,
            "summary": ep.summary,
            "parameters": [],
            "responses": {},
        }
        if ep.scope is None:
            op["security"] = []
        else:
            op["description"] = f"Requires the token scope `{ep.scope.value}`."
        for name, regex in ep.path_params():
            digits = _DIGITS.fullmatch(regex)
            numeric = digits is not None
            schema: dict[str, Any] = (
                {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": _max_number(digits),
                }
                if digits is not None
                else {"type": "string", "maxLength": 64}
            )
            if not numeric and regex:
                schema["pattern"] = f"^{regex}$"
            op["parameters"].append(
                {"name": name, "in": "path", "required": True, "schema": schema}
            )
        for p in ep.params:
            op["parameters"].append(
                {
                    "name": p.name,
                    "in": p.where,
                    "required": p.required,
                    "description": p.description,
                    "schema": p.schema,
                }
            )
        if ep.scope is not None:
            op["parameters"].append(dict(_ON_BEHALF_OF))
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": _schema_ref(ep.body, schemas, "validation")}
                },
            }
        ok: dict[str, Any] = {"description": "Success."}
        if ep.raw_response:
            ok["content"] = {ep.raw_response: {"schema": {"type": "string", "format": "binary"}}}
        elif ep.response is not None:
            ok["content"] = {
                "application/json": {"schema": _schema_ref(ep.response, schemas, "serialization")}
            }
        op["responses"][str(ep.status)] = ok
        for status, description in ep.also:
            op["responses"][str(status)] = {**ok, "description": description}
        for status, description, model in ep.other:
            op["responses"][str(status)] = {
                "description": description,
                "content": {
                    "application/json": {"schema": _schema_ref(model, schemas, "serialization")}
                },
            }
        codes = set(ep.errors) | ({400, 413, 415} if ep.body is not None else set())
        if ep.scope is not None:
            codes |= set(_COMMON_ERRORS)
        for code in sorted(codes):
            op["responses"][str(code)] = _problem(code, schemas)
        paths.setdefault(ep.openapi_path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MAPPA Hub API",
            "version": "1",
            "description": (
                "Sharing packets between MAPPA agencies' systems. Every call needs a bearer token "
                "issued by the agency's admin; every share and every read is on the hub's log, "
                "attributed to the token and its agency. Each call is made for a person: the one "
                "named in `On-Behalf-Of`, or else the admin who issued the token; separation of "
                "duties (never the proposer, one decision per person) compares people, whichever "
                "tokens or sign-ins they act through. Errors are RFC 9457 problem details."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "mh_<id>_<secret>",
                }
            },
        },
    }
