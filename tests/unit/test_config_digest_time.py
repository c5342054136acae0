"""``MAPPA_HUB_DIGEST_TIME``: the local time the daily digest goes, read into EmailConfig."""

from __future__ import annotations

from datetime import time

import pytest

from hub.config import EmailConfig, email_from_environment
from hub.errors import ConfigError


def test_default_is_seven_in_the_morning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAPPA_HUB_DIGEST_TIME", raising=False)
    assert email_from_environment().digest_time == time(7, 0) == EmailConfig().digest_time
    monkeypatch.setenv("MAPPA_HUB_DIGEST_TIME", "")
    assert email_from_environment().digest_time == time(7, 0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("06:30", time(6, 30)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        (" 18:05 ", time(18, 5)),
    ],
)
def test_a_good_time_is_read(monkeypatch: pytest.MonkeyPatch, raw: str, expected: time) -> None:
    monkeypatch.setenv("MAPPA_HUB_DIGEST_TIME", raw)
    assert email_from_environment().digest_time == expected


@pytest.mark.parametrize(
    "raw", ["7", "7:00", "24:00", "12:60", "07:00:00", "7am", "07.00", "-1:00", "07:00\n08:00"]
)
def test_a_bad_time_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("MAPPA_HUB_DIGEST_TIME", raw)
    with pytest.raises(
        ConfigError, match="MAPPA_HUB_DIGEST_TIME must be a 24-hour time HH:MM"
    ) as e:
        email_from_environment()
    assert e.value.context["key"] == "MAPPA_HUB_DIGEST_TIME"
