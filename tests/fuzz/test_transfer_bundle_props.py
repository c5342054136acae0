"""The case-transfer bundle importer (adapters/transfer and hub.services.transfer_bundle_import)
under hypothesis, on a real hub over a real SQLite file: a bundle damaged in transit, or one whose
content its signing hub got wrong (a bag re-made and re-signed by a pinned hub after a change to
its JSON), is imported or refused with ``BundleRefused`` - never another exception - and a refused
bundle writes nothing and leaves no work directory behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import bagit
import pytest
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st

from adapters.transfer.bag import SIGNATURE_FILE, _sign, build_bag, bundle_service, tar_bag
from adapters.transfer.importer import import_bundle
from hub.services.transfer_bundle import BundleRefused
from hub.wiring import Hub
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.state import snapshot
from tests.fuzz.strategies import JSON, RETYPED, flipped, mutated

pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.usefixtures("logins"),
]
JSON_FILES = ("bundle.json", "case.json", "ledger.json", "register.json", "meetings.json",
              "completeness.json", "packet.json")  # fmt: skip
_VALUES = JSON | RETYPED | st.sampled_from(["NTS", "DBY", "england-and-wales", "scotland", 0, -1])


class Bundles:
    def __init__(self, hub: Hub, bag: Path, tar: bytes, work: Path) -> None:
        self.hub, self.bag, self.tar, self.work = hub, bag, tar, work
        self.docs = {name: json.loads(self._file(bag, name).read_text()) for name in JSON_FILES}
        self._n = 0

    @staticmethod
    def _file(bag: Path, name: str) -> Path:
        if name == "packet.json":
            return next((bag / "data" / "packets").glob("*/packet.json"))
        return bag / "data" / name

    def fresh(self) -> Path:
        self._n += 1
        return self.work / f"example-{self._n}"

    async def resigned(self, name: str, doc: Any) -> Path:
        """The bag with ``name`` replaced by ``doc``, its manifests re-made and signed again by
        this hub (pinned): as a pinned peer with a bug, or a hostile one, would send it."""
        bag = self.fresh()
        shutil.copytree(self.bag, bag)
        self._file(bag, name).write_text(json.dumps(doc))
        (bag / SIGNATURE_FILE).unlink()
        bagit.Bag(str(bag)).save(manifests=True)
        await _sign(bundle_service(self.hub), bag)
        return bag

    async def check(self, path: Path) -> str:
        """Import ``path``: the result or BundleRefused; a refusal writes nothing."""
        before = await snapshot(self.hub.db)
        try:
            await import_bundle(self.hub, path)
        except BundleRefused as exc:
            assert exc.reason and exc.status == 422
            assert await snapshot(self.hub.db) == before
            outcome = "refused"
        else:
            outcome = "imported"
        work = self.hub.config.data_dir / "transfer-work"
        assert not list(work.glob("in-*")), "a refused bundle left its work directory"
        if currently_in_test_context():
            event(outcome)
        return outcome


@pytest.fixture
async def bundles(hub: Hub, tmp_path: Path) -> Bundles:
    reference = next(
        c.reference for c in await hub.cases.visible_to(None) if c.family_name == "Harlow"
    )
    bag = tmp_path / "bag"
    await build_bag(hub, reference, "NTS", bag)
    tar_bag(bag, tmp_path / "bundle.tar")
    work = tmp_path / "examples"
    work.mkdir()
    return Bundles(hub, bag, (tmp_path / "bundle.tar").read_bytes(), work)


async def test_the_unchanged_bundle_imports_once(bundles: Bundles) -> None:
    """The base of every mutation below imports (and a second time is a replay)."""
    bag = bundles.fresh()
    shutil.copytree(bundles.bag, bag)
    assert await bundles.check(bag) == "imported"
    assert await bundles.check(bundles.bag) == "refused"


@fuzz_settings(30)
@given(data=st.data())
async def test_a_bundle_damaged_in_transit_is_refused_without_a_write(
    bundles: Bundles, data: st.DataObject
) -> None:
    tar = bundles.fresh().with_suffix(".tar")
    tar.write_bytes(data.draw(flipped(bundles.tar), label="tar"))
    await bundles.check(tar)


@fuzz_settings(40)
@given(data=st.data())
async def test_a_signed_bundle_with_wrong_content_is_refused_without_a_write(
    bundles: Bundles, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(JSON_FILES), label="file")
    doc = data.draw(mutated(bundles.docs[name], values=_VALUES), label=name)
    await bundles.check(await bundles.resigned(name, doc))


def _without(key: str) -> Any:
    return lambda d: {k: v for k, v in d.items() if k != key}


# Found by the test above (each was a KeyError, TypeError or AttributeError out of the importer,
# through the command line as a traceback, and a 500 from a peer's upload): now each is refused.
@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("case.json", lambda d: {**d, "area": []}),
        ("case.json", _without("area")),
        ("case.json", lambda d: {**d, "agencies": [_without("signing_keys")(a) for a in d["agencies"]]}),
        ("case.json", lambda d: {**d, "agencies": [{**a, "signing_keys": [{"key_id": "k"}]} for a in d["agencies"]]}),
        ("bundle.json", _without("bundle_id")),
        ("bundle.json", lambda d: []),
        ("packet.json", lambda d: {**d, "sender_agency": [d["sender_agency"]]}),
        ("packet.json", lambda d: {**d, "keys": [{**k, "sealed": 5} for k in d["keys"]]}),
        ("packet.json", lambda d: {**d, "keys": [5]}),
        ("packet.json", lambda d: None),
    ],
    ids=["case-area-a-list", "case-area-missing", "agency-keys-missing", "agency-key-public-missing",
         "bundle-id-missing", "bundle-a-list", "packet-sender-a-list", "packet-key-sealed-a-number",
         "packet-key-a-number", "packet-null"],
)  # fmt: skip
async def test_regression_a_signed_bundle_that_crashed_the_importer_is_refused(
    bundles: Bundles, name: str, change: Any
) -> None:
    bag = await bundles.resigned(name, change(bundles.docs[name]))
    assert await bundles.check(bag) == "refused"
