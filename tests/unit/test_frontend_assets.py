"""The vendored GOV.UK and MOJ Frontend files are what deploy/frontend/build.mjs wrote from the
pinned npm packages: nothing hand-edited, nothing of GOV.UK's own identity shipped."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "hub" / "web" / "static" / "vendor"
FRONTEND = ROOT / "deploy" / "frontend"


def _manifest() -> dict[str, object]:
    return json.loads((VENDOR / "MANIFEST.json").read_text())


def test_every_vendored_file_is_in_the_manifest_with_its_digest() -> None:
    files = _manifest()["files"]
    assert isinstance(files, dict)
    on_disk = {str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*") if p.is_file()} - {
        "MANIFEST.json"
    }
    assert on_disk == set(files)
    for name, digest in files.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_the_versions_are_the_pinned_ones_and_match_the_jinja_macros() -> None:
    package = json.loads((FRONTEND / "package.json").read_text())
    lock = json.loads((FRONTEND / "package-lock.json").read_text())
    built = _manifest()["packages"]
    assert isinstance(built, dict)
    for name, pinned in {**package["dependencies"], **package["devDependencies"]}.items():
        assert pinned[0].isdigit(), f"{name} must be pinned exactly, not {pinned}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == pinned
        assert built[name] == pinned
    # govuk-frontend-jinja 4.1.0 ports GOV.UK Frontend 6.3.0's macros: bump the two together.
    assert version("govuk-frontend-jinja") == "4.1.0"
    assert built["govuk-frontend"] == "6.3.0"


def test_no_gds_transport_font_crown_or_logotype_is_shipped() -> None:
    css = (VENDOR / "frontend.min.css").read_text()
    assert "GDS Transport" not in css
    assert "@font-face" not in css
    names = [p.name.lower() for p in VENDOR.rglob("*")]
    assert not [n for n in names if "crown" in n or "crest" in n or "logotype" in n]
    assert not list(VENDOR.rglob("*.woff*"))


def test_the_licences_travel_with_the_files() -> None:
    text = (VENDOR / "LICENCES.md").read_text()
    assert "govuk-frontend 6.3.0" in text
    assert "@ministryofjustice/frontend 11.1.0" in text
    assert "MIT License" in text and "Crown Copyright" in text
