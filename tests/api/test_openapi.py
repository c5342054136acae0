"""The OpenAPI 3.1 document the hub serves: valid, and exactly the API routes the app has.

The route check walks the running application's router, so a route added anywhere under ``/api/``
without its description (or a description whose route was removed) fails here.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openapi_spec_validator import validate

from hub.web.app import build_app
from tests.api.conftest import Api

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
# The document and the router do not depend on the database: SQLite is enough.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PROBLEM = "application/problem+json"
# ``{name}`` or ``{name:regex}``, where the regex may itself hold ``{m,n}`` quantifiers.
_PARAM = re.compile(r"\{(\w+)(?::(?:[^{}]|\{[^{}]*\})*)?\}")


def normalise(path: str) -> str:
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def routed(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) for every route the app has under /api/, with path templates normalised."""
    found: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path") or info.get("prefix") or ""
        if path.startswith("/api/"):
            found.add((route.method.upper(), normalise(path)))
    # aiohttp answers HEAD for a GET route by itself; the document describes the GET.
    return {(m, p) for m, p in found if not (m == "HEAD" and ("GET", p) in found)}


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


async def _served(api: Api) -> tuple[dict[str, Any], aiohttp.ClientResponse]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(api.url + "api/v1/openapi.json") as resp,
    ):
        return await resp.json(), resp


def test_normalise_handles_regex_quantifiers() -> None:
    assert normalise("/a/{case_id:\\d{1,12}}/b/{index:\\d{1,3}}") == "/a/{case_id}/b/{index}"
    assert normalise("/p/{packet_id:[0-9a-f-]{36}}/{x}") == "/p/{packet_id}/{x}"


@sqlite_only
async def test_the_document_is_served_without_a_token_and_is_valid_openapi_31(api: Api) -> None:
    doc, resp = await _served(api)
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert doc["openapi"].startswith("3.1.")
    validate(doc)  # raises with the first violation of the OpenAPI 3.1 schema
    assert doc["paths"], "the document describes no operation"


@sqlite_only
async def test_every_api_route_is_documented_and_every_documented_route_exists(api: Api) -> None:
    doc, _ = await _served(api)
    in_router = routed(build_app(api.hub))
    in_doc = documented(doc)
    assert in_router, "the app has no route under /api/"
    assert sorted(in_router - in_doc) == [], "routes with no description in the document"
    assert sorted(in_doc - in_router) == [], "documented operations the app does not route"
    # The router of the running server says the same as a freshly built one.
    assert routed(api.server.app) == in_router


@sqlite_only
async def test_every_operation_declares_its_errors_as_problem_documents(api: Api) -> None:
    doc, _ = await _served(api)
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids)), "operationIds are unique"
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": schemes["bearerAuth"].get("bearerFormat"),
    }
    for method, path, op in operations(doc):
        where = f"{method} {path}"
        responses = op["responses"]
        assert any(code.startswith("2") for code in responses), where
        errors = {code: r for code, r in responses.items() if code[0] in "45"}
        for code, response in errors.items():
            assert list(response.get("content", {})) == [PROBLEM], f"{where} {code}"
            schema = response["content"][PROBLEM]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, f"{where} {code}"
        authenticated = op.get("security", doc["security"]) != []
        if authenticated:
            assert {"401", "403", "429"} <= set(errors), where
        if "requestBody" in op:
            assert {"400", "413", "415"} <= set(errors), where
            assert "application/json" in op["requestBody"]["content"], where
        path_params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert path_params == set(re.findall(r"\{(\w+)\}", path)), where
        if path_params:
            assert "404" in errors, f"{where}: a path naming a thing can answer 404"
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])


@sqlite_only
async def test_the_document_matches_what_the_routes_answer_without_a_token(api: Api) -> None:
    """An authenticated operation called without a token answers its documented 401."""
    doc, _ = await _served(api)
    async with aiohttp.ClientSession() as session:
        for method, path, op in operations(doc):
            if op.get("security", doc["security"]) == []:
                continue
            concrete = re.sub(r"\{(\w+)\}", "1", path)
            if "packet_id" in path:
                concrete = path.replace("{packet_id}", "0" * 8 + "-0000-0000-0000-" + "0" * 12)
                concrete = re.sub(r"\{(\w+)\}", "1", concrete)
            async with session.request(method, api.url + concrete.lstrip("/")) as resp:
                assert resp.status == 401, f"{method} {concrete}"
                assert resp.content_type == PROBLEM
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
