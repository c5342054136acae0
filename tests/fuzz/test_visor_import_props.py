"""The ViSOR-style nominal record's import (adapters/visor, its JSON Schema, and the import page)
under hypothesis: any file gets its problems listed by path, or is imported; a record read back is
the record written; and through the real app, no upload is a 500 and a refused one writes
nothing."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import aiohttp
import pytest
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st

from adapters.visor import format as vfmt
from adapters.visor.demo import harlow
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.state import snapshot
from tests.fuzz.strategies import DEEP, JSON, flipped, mutated
from tests.web.conftest import Client, Web, csrf_from, fetch, post

TODAY = date(2026, 11, 23)
AGENCIES = {"DBY-PROBATION", "DBY-POLICE", "DBY-HOUSING"}
RECORD = {"schema_version": vfmt.SCHEMA_VERSION, **harlow("DBY-2026-0001", TODAY)}
# Values a record's fields take, so that a mutation is often nearly right.
_FIELD_VALUES = JSON | st.sampled_from(
    [
        "2026-11-24",
        "2999-01-01",
        "1979-02-30",
        "0000-01-01",
        "79/112233X",
        "DBY-POLICE",
        "NOWHERE",
        "interim",
        "full",
        "applied",
        "home",
        1,
        2,
        3,
        "1",
        [],
        {},
    ]
)
_RECORD_KEYS = st.sampled_from(
    [
        "to",
        "from",
        "granted_on",
        "applied_on",
        "countersigned_on",
        "countersigned_by",
        "stage",
        "reference",
        "agency",
        "aliases",
        "date_of_birth",
    ]
) | st.text(min_size=1, max_size=12)


def test_the_base_record_passes_every_check() -> None:
    assert vfmt.check(RECORD, today=TODAY, agencies=AGENCIES) == []


def _checked(data: bytes) -> list[vfmt.Problem]:
    doc, problems = vfmt.parse(data)
    if not problems:
        problems = vfmt.check(doc, today=TODAY, agencies=AGENCIES)
    for p in problems:
        assert isinstance(p, vfmt.Problem) and p.message
        assert p.path == "" or p.path.startswith("/")
    return problems


@fuzz_settings(300)
@given(mutated(RECORD, values=_FIELD_VALUES, keys=_RECORD_KEYS))
def test_a_changed_record_passes_or_has_its_problems_listed(doc: Any) -> None:
    problems = _checked(json.dumps(doc).encode())
    if currently_in_test_context():
        event("imports" if not problems else "refused")


@fuzz_settings(300)
@given(
    st.binary(max_size=300)
    | JSON.map(lambda v: json.dumps(v).encode())
    | flipped(json.dumps(RECORD).encode())
    | DEEP
    | st.sampled_from([b"1" * 5000, b'{"a": ' + b"9" * 5000 + b"}", b"\xef\xbb\xbf{}"])
)
def test_any_file_has_its_problems_listed(data: bytes) -> None:
    _checked(data)


@fuzz_settings(200)
@given(mutated(RECORD, values=_FIELD_VALUES, keys=_RECORD_KEYS))
def test_a_record_reads_back_as_rendered(doc: Any) -> None:
    """render then parse is the identity (what is exported is what an import reads)."""
    if not isinstance(doc, dict):
        doc = {"value": doc}
    rendered = vfmt.render(vfmt.without_version(doc))
    parsed, problems = vfmt.parse(rendered)
    assert problems == []
    assert parsed == {"schema_version": vfmt.SCHEMA_VERSION, **vfmt.without_version(doc)}


# -- through the import page -------------------------------------------------------------------


class Importer:
    def __init__(self, web: Web, client: Client, csrf: str, exported: dict[str, Any]) -> None:
        self.web, self.client, self.csrf = web, client, csrf
        # The base of every mutation: Harlow's record as exported before any example ran.
        self.exported = exported

    async def upload(self, data: bytes) -> int:
        """Upload ``data``: no 500; nothing written unless it was imported."""
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("_csrf", self.csrf)
        form.add_field("record", data, filename="record.json", content_type="application/json")
        before = await snapshot(self.web.hub.db)
        status, location, page = await post(self.client, "/visor/import", form)
        assert status < 500, page[-2000:]
        if status == 303:
            assert "done=visor-imported" in location
        else:
            assert status == 400 and "There is a problem" in page, (status, page[-2000:])
            assert await snapshot(self.web.hub.db) == before
        if currently_in_test_context():
            event(str(status))
        return status


@pytest.fixture
async def importer(web: Web) -> Importer:
    client = await web.login("dby.coordinator")
    status, _, page = await fetch(client, "/visor/import")
    assert status == 200
    _, _, body = await fetch(client, f"/cases/{await web.case_id('Harlow')}/visor-record.json")
    return Importer(web, client, csrf_from(page), json.loads(body))


async def test_the_exported_record_imports(importer: Importer) -> None:
    assert await importer.upload(json.dumps(importer.exported).encode()) == 303


@fuzz_settings(40)
@given(data=st.data())
async def test_a_changed_upload_is_imported_or_refused_without_a_write(
    importer: Importer, data: st.DataObject
) -> None:
    base = dict(importer.exported)
    # Another case sometimes, so that an import may also open a case.
    base["case_reference"] = data.draw(st.sampled_from([base["case_reference"], "DBY-2026-0999"]))
    doc = data.draw(mutated(base, values=_FIELD_VALUES, keys=_RECORD_KEYS), label="record")
    await importer.upload(json.dumps(doc).encode())


@fuzz_settings(25)
@given(st.binary(max_size=200) | DEEP | flipped(json.dumps(RECORD).encode()))
async def test_any_uploaded_bytes_are_refused_without_a_write(
    importer: Importer, data: bytes
) -> None:
    await importer.upload(data)
