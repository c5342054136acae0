"""A real SMTP relay on loopback for the email tests: aiosmtpd with a test CA's certificate.

``Relay`` runs aiosmtpd in its own thread (its Controller) with STARTTLS required, implicit TLS,
or no TLS at all, and keeps every message it accepted as the bytes it received. Its handler can
refuse a recipient with 550 or drop the connection in the middle of DATA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.config import EmailConfig


@dataclass(frozen=True)
class LoopbackCA:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(directory: Path, common: str = "MAPPA Hub test CA") -> LoopbackCA:
    """A CA and a server certificate for 127.0.0.1 and localhost, signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = LoopbackCA(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


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
