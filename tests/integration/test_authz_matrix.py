"""The authorisation matrix (issue 18, ASVS V4): every route the app serves, web and API, called
by every role and API token about an object in every relation to the caller, answers what
``authz_matrix_table`` says; a route the table does not name fails, and so does an entry for a
route that no longer exists. Another area's ids answer exactly as ids that do not exist.

Set ``AUTHZ_MATRIX_PRINT=1`` to print the answers observed in the table's notation (to write an
entry for a new route; the table is then judged by a person, never pasted blind).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.demo import seed
from hub.services.tokens import Scope
from hub.web.api.spec import ENDPOINTS
from hub.web.app import build_app
from hub.wiring import Hub, initialise
from tests.conftest import TickingClock, make_config
from tests.integration.authz_harness import (
    Answer,
    Callers,
    app_routes,
    call,
    fill,
    gather_limited,
    head_paths,
    route_key,
    sign_in,
)
from tests.integration.authz_matrix_table import (
    API_CALLERS,
    API_DEFAULTS,
    ENTRIES,
    WEB_CALLERS,
    Entry,
)
from tests.integration.authz_world import RELATIONS, World, build_world

PRINT = os.environ.get("AUTHZ_MATRIX_PRINT") == "1"
_SAFE = ("GET", "HEAD")


@dataclass(frozen=True, eq=False)
class Cell:
    entry: Entry
    method: str  # HEAD for a GET entry's twin
    caller: str
    relation: str | None
    expected: str


def _scope(entry: Entry) -> Scope | None:
    for endpoint in ENDPOINTS:
        if (endpoint.method, endpoint.openapi_path) == (entry.method, entry.path):
            return endpoint.scope
    return None


def _callers(entry: Entry) -> tuple[str, ...]:
    if not entry.is_api:
        return WEB_CALLERS
    return tuple(c for c in API_CALLERS if c != "token-lacking-scope" or _scope(entry))


def _expected(entry: Entry, caller: str) -> list[str]:
    """The table's answers for a caller, one per relation (or one for a route without an id)."""
    width = len(RELATIONS) if _kind(entry) else 1
    text = entry.expect.get(caller)
    if text is None:
        default = API_DEFAULTS.get(caller) if entry.is_api else None
        if caller == "anonymous":
            default = "login"
        text = " ".join([default] * width) if default else ""
    words = text.split()
    if PRINT and len(words) != width:
        return ["?"] * width
    assert len(words) == width, f"{entry.method} {entry.path} {caller}: {text!r}"
    return words


def _kind(entry: Entry) -> str | None:
    """The path parameter that names the object (the relation is the object's)."""
    for name in re.findall(r"\{([a-z_]+)\}", entry.path):
        if name not in entry.fixed and name != "index":
            return entry.kinds.get(name, name)
    return None


def _cells(entry: Entry, world: World, heads: set[str]) -> list[Cell]:
    """The calls an entry makes; a GET's HEAD twin too, where the app answers HEAD (a live
    stream does not)."""
    cells = []
    kind = _kind(entry)
    twin = entry.method == "GET" and entry.path in heads
    methods = ("GET", "HEAD") if twin else (entry.method,)
    for caller in _callers(entry):
        words = _expected(entry, caller)
        relations: tuple[str | None, ...] = RELATIONS if kind else (None,)
        for relation, word in zip(relations, words, strict=True):
            applies = kind is None or relation in world.ids[kind]
            explicit = caller in entry.expect  # a default answer skips what does not apply
            assert applies or word in ("-", "?") or not explicit, (
                f"{entry.path}: no {kind} {relation}"
            )
            assert word != "-" or not applies, f"{entry.path} {caller}: {relation} applies"
            if not applies:
                continue
            for method in methods:
                cells.append(Cell(entry, method, caller, relation, word))
    return cells


def classify(answer: Answer) -> str:
    """An answer in the table's words (its module docstring says what each means)."""
    if answer.status == 303 and answer.location.startswith("/login"):
        return "login"
    if answer.status in (401, 403, 404):
        return str(answer.status)
    if answer.status < 400 or answer.status in (400, 409, 410, 422):
        return "ok"
    return str(answer.status)


def _path(cell: Cell, world: World) -> str:
    if cell.entry.path == "/static":  # the static files' prefix: one file under it
        return "/static/hub.js"
    return fill(cell.entry.path, world, cell.relation, cell.entry)


@pytest.fixture
async def matrix_hub(tmp_path: Path, sqlite_url: str, clock: TickingClock) -> AsyncIterator[Hub]:
    config = make_config(tmp_path / "data", sqlite_url)
    await initialise(config)
    hub = await Hub.open(config, clock)
    try:
        yield hub
    finally:
        await hub.close()


async def test_every_route_has_an_entry_and_every_entry_a_route(matrix_hub: Hub) -> None:
    served = app_routes(build_app(matrix_hub))
    listed = [(e.method, e.path) for e in ENTRIES]
    assert len(listed) == len(set(listed)), "an entry is listed twice"
    unlisted = sorted(served - set(listed))
    assert not unlisted, "routes with no entry in authz_matrix_table: " + ", ".join(
        f"{m} {p}" for m, p in unlisted
    )
    gone = sorted(set(listed) - served)
    assert not gone, "entries for routes the app no longer has: " + ", ".join(
        f"{m} {p}" for m, p in gone
    )
    for entry in ENTRIES:
        for caller in entry.expect:
            allowed = API_CALLERS if entry.is_api else WEB_CALLERS
            assert caller in allowed, f"{entry.method} {entry.path}: unknown caller {caller}"
    assert route_key("GET", "/cases/{case_id:\\d{1,12}}") == ("GET", "/cases/{case_id}")


async def _run(hub: Hub, clock: TickingClock, api: bool) -> None:
    logins = {login.username: login for login in await seed(hub)}
    world = await build_world(hub)
    entries = [e for e in ENTRIES if e.is_api == api]
    async with AsyncExitStack() as stack:
        server, callers = await sign_in(stack, hub, clock, logins)
        heads = head_paths(server.app)
        cells = [c for e in entries for c in _cells(e, world, heads)]
        safe = [c for c in cells if c.method in _SAFE]
        answers: dict[Cell, Answer] = {}
        got = await gather_limited([_answer(callers, world, c) for c in safe])
        answers.update(zip(safe, got, strict=True))  # type: ignore[arg-type]
        # Unsafe calls one at a time, in the table's order, refusals before the calls that
        # may change the object's state; the entries marked ``last`` after all the others.
        unsafe = [c for c in cells if c.method not in _SAFE]
        unsafe.sort(key=lambda c: (c.entry.last, entries.index(c.entry), c.expected == "ok"))
        for cell in unsafe:
            answers[cell] = await _answer(callers, world, cell)
    _check(answers, world)


async def _answer(callers: Callers, world: World, cell: Cell) -> Answer:
    body = cell.entry.body(world, cell.relation) if cell.entry.body else None
    return await call(
        callers, cell.caller, cell.method, _path(cell, world), body, _scope(cell.entry)
    )


def _check(answers: dict[Cell, Answer], world: World) -> None:
    failures: list[str] = []
    if PRINT:
        _print(answers)
    for cell, answer in answers.items():
        word = classify(answer)
        where = f"{cell.method} {_path(cell, world)} as {cell.caller} ({cell.relation or '-'})"
        if word != cell.expected:
            failures.append(f"{where}: expected {cell.expected}, got {answer.status} {word}")
        secrets = _secrets(cell, world)
        leaked = [s for s in secrets if s in answer.text]
        if leaked:
            failures.append(f"{where}: the answer holds {leaked}")
    failures += _oracle(answers, world)
    assert not failures, f"{len(failures)} answers differ:\n" + "\n".join(sorted(failures))


def _secrets(cell: Cell, world: World) -> list[str]:
    """What the answer must not hold: a refused call, nothing of the case's person; an allowed
    one, what the entry's ``hides`` names."""
    found = []
    for relation, data in world.case_secrets.items():
        wanted: tuple[str, ...] = ()
        if cell.expected in ("403", "404", "401", "login") and relation == cell.relation:
            wanted = ("name", "dob")
        wanted += tuple(cell.entry.hides.get(cell.caller, {}).get(relation, ()))
        found += [data[w] for w in wanted]
    return found


def _normalised(answer: Answer, cell: Cell, world: World) -> tuple[int, str, str]:
    """The answer with the id the path named replaced by ``{id}``, and the CSRF token (which
    differs from page to page) taken out."""
    text = answer.text
    for name in re.findall(r"\{([a-z_]+)\}", cell.entry.path):
        ids = world.ids.get(cell.entry.kinds.get(name, name), {})
        if cell.relation in ids and name != "index":
            text = re.sub(rf"\b{re.escape(ids[cell.relation])}\b", "{id}", text)
    text = re.sub(r'name="_csrf" value="[^"]+"', 'name="_csrf"', text)
    return answer.status, answer.location, text


def _oracle(answers: dict[Cell, Answer], world: World) -> list[str]:
    """Another area's id answers exactly as a missing one: status, Location and text, the id
    itself aside."""
    failures = []
    by_key = {
        (c.entry.method, c.entry.path, c.method, c.caller, c.relation): a
        for c, a in answers.items()
    }
    for cell, answer in answers.items():
        if cell.relation != "other_area":
            continue
        key = (cell.entry.method, cell.entry.path, cell.method, cell.caller, "missing")
        twin = by_key.get(key)
        if twin is None:
            continue
        missing = next(c for c in answers if c.relation == "missing" and answers[c] is twin)
        if _normalised(answer, cell, world) != _normalised(twin, missing, world):
            failures.append(
                f"{cell.method} {cell.entry.path} as {cell.caller}: another area's id answers "
                f"{answer.status} {answer.text[:160]!r}, a missing one {twin.status} "
                f"{twin.text[:160]!r}"
            )
    return failures


def _print(answers: dict[Cell, Answer]) -> None:
    rows: dict[tuple[str, str], dict[str, dict[str | None, str]]] = {}
    for cell, answer in answers.items():
        if cell.method == "HEAD":
            continue
        key = (cell.entry.method, cell.entry.path)
        rows.setdefault(key, {}).setdefault(cell.caller, {})[cell.relation] = classify(answer)
    for (method, path), by_caller in rows.items():
        print(f"E({method!r}, {path!r}, {{")
        for caller, by_rel in by_caller.items():
            words = [by_rel.get(r, "-") for r in (RELATIONS if None not in by_rel else (None,))]
            print(f"    {caller!r}: {' '.join(words)!r},")
        print("})")


async def test_the_web_answers_as_the_matrix_says(matrix_hub: Hub, clock: TickingClock) -> None:
    await _run(matrix_hub, clock, api=False)


async def test_the_api_answers_as_the_matrix_says(matrix_hub: Hub, clock: TickingClock) -> None:
    await _run(matrix_hub, clock, api=True)
