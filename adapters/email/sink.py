"""The demo's mail sink: an SMTP server on loopback that files every message in a maildir.

``mappa-hub demo`` starts it and points the hub's relay at it, over STARTTLS with a CA made for
it (``hub.crypto.loopback_ca``), so a newcomer sees the notifications arrive without a mail
server of their own, and the hub sends exactly as it would to a real relay (TLS verified).
"""

from __future__ import annotations

import logging
import mailbox
import socket
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from hub.crypto.loopback_ca import LoopbackCA, loopback_ca

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class SinkInfo:
    host: str
    port: int
    maildir: Path
    ca: LoopbackCA


class DemoSink:
    """aiosmtpd on 127.0.0.1 (a free port), STARTTLS required, delivering into ``maildir``."""

    def __init__(self, data_dir: Path) -> None:
        # aiosmtpd logs every envelope address at INFO: recipients' addresses stay out of logs.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        root = data_dir / "demo-mail"
        self.ca = loopback_ca(root / "tls")
        self.maildir = root / "maildir"
        mailbox.Maildir(self.maildir, create=True)  # cur/ new/ tmp/
        self.port = free_port()
        self._controller = Controller(
            Mailbox(self.maildir),
            hostname=HOST,
            port=self.port,
            tls_context=self.ca.server_context(),
            require_starttls=True,
            ready_timeout=5,
        )

    @property
    def info(self) -> SinkInfo:
        return SinkInfo(HOST, self.port, self.maildir, self.ca)

    def start(self) -> DemoSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[mailbox.MaildirMessage]:
        """What the sink has received, oldest first."""
        box = mailbox.Maildir(self.maildir, create=False)
        return sorted(box, key=lambda m: m.get_date())
