"""``MAPPA_HUB_TRUSTED_PROXIES``: the reverse proxies whose X-Forwarded-For is believed."""

from __future__ import annotations

import ipaddress

import pytest

from hub.config import trusted_proxies_from_environment
from hub.errors import ConfigError

ENV = "MAPPA_HUB_TRUSTED_PROXIES"


def test_none_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert trusted_proxies_from_environment() == ()
    monkeypatch.setenv(ENV, " , ")
    assert trusted_proxies_from_environment() == ()


def test_addresses_and_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "127.0.0.1, ::1,10.0.0.0/24")
    assert trusted_proxies_from_environment() == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("10.0.0.0/24"),
    )


@pytest.mark.parametrize("raw", ["localhost", "10.0.0.0/33", "127.0.0.1;10.0.0.1"])
def test_anything_else_fails_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv(ENV, raw)
    with pytest.raises(ConfigError, match=ENV) as refused:
        trusted_proxies_from_environment()
    assert refused.value.context.get("key") == ENV
