"""A real SMTP relay on loopback for the email tests: aiosmtpd with a test CA's certificate.

``Relay`` runs aiosmtpd in its own thread (its Controller) with STARTTLS required, implicit TLS,
or no TLS at all, and keeps every message it accepted as the bytes it received. Its handler can
refuse a recipient with 550 or drop the connection in the middle of DATA.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from hub.config import EmailConfig
from hub.crypto.loopback_ca import LoopbackCA, loopback_ca


def make_ca(directory: Path, common: str = "MAPPA Hub test CA") -> LoopbackCA:
    """A CA and a server certificate for 127.0.0.1 and localhost, signed by it: the demo's own
    loopback CA (``hub.crypto.loopback_ca``), made in a fresh directory."""
    return loopback_ca(directory, common)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps what it accepted; refuses or drops on request."""

    messages: list[Received] = field(default_factory=list)
    # Recipients answered 550 at RCPT.
    refuse: set[str] = field(default_factory=set)
    # Close the connection in the middle of DATA this many times before accepting.
    drop_data: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop_data > 0:
            self.drop_data -= 1
            server.transport.close()  # the connection drops before the relay answers
            return "451 dropped"
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return "250 Message accepted"


class Relay:
    """aiosmtpd on 127.0.0.1 in ``mode`` starttls, implicit or plain."""

    def __init__(
        self,
        mode: str,
        ca: LoopbackCA | None,
        port: int | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.mode = mode
        self.port = port or free_port()
        self.recorder = recorder or Recorder()
        kwargs: dict[str, Any] = {}
        if mode == "starttls" and ca is not None:
            kwargs.update(tls_context=ca.server_context(), require_starttls=True)
        elif mode == "implicit" and ca is not None:
            kwargs.update(ssl_context=ca.server_context())
        self._controller = Controller(
            self.recorder, hostname="127.0.0.1", port=self.port, ready_timeout=5, **kwargs
        )

    def start(self) -> Relay:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[Received]:
        return self.recorder.messages


def email_config(relay_port: int, ca: LoopbackCA | None, **overrides: Any) -> EmailConfig:
    """The hub's settings for a loopback relay, with tiny backoffs and timeouts for fast tests."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": relay_port,
        "tls": "starttls",
        "ca_file": ca.ca_file if ca is not None else None,
        "from_address": "mappa-hub@hub.example",
        "base_url": "https://hub.example",
        "timeout_seconds": 2.0,
        "backoff_base_seconds": 0.001,
        "backoff_cap_seconds": 0.002,
        "max_attempts": 8,
        "batch": 20,
    }
    values.update(overrides)
    return EmailConfig(**values)
