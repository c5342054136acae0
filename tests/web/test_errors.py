"""An unexpected failure becomes a bare 500 page with a reference, never a traceback."""

from __future__ import annotations

import logging
import re

import pytest

from hub.web.security import CSP
from tests.web.conftest import Web


async def test_unhandled_error_is_a_500_with_a_reference_only(
    web: Web, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await web.login("dby.housing")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail: database password is hunter2")

    monkeypatch.setattr(web.hub.packets, "inbox", broken)
    with caplog.at_level(logging.ERROR, logger="hub.web"):
        async with web.client.get("/inbox") as resp:
            assert resp.status == 500
            html = await resp.text()
            assert resp.headers["Content-Security-Policy"] == CSP
            assert resp.headers["Cache-Control"] == "no-store"

    match = re.search(r"Something went wrong on our side\. Reference: ([0-9a-f]{12})\.", html)
    assert match is not None
    assert "hunter2" not in html
    assert "Traceback" not in html
    assert "RuntimeError" not in html
    # The reference ties the page to the full story in the log.
    logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None
