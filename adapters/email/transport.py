"""One connection to the configured SMTP relay, TLS required, and what its failures mean.

TLS policy: implicit TLS, or STARTTLS that the relay must offer; the certificate is verified
(chain and host name) against the system trust store or ``MAPPA_HUB_SMTP_CA_FILE``, TLS 1.2 at
least. A relay that offers no STARTTLS is refused (``RelayRefused``) unless it is the one host the
operator named in ``MAPPA_HUB_SMTP_ALLOW_PLAINTEXT_HOST``; then a STARTTLS it does offer is still
used and verified, and each connection in clear is logged at WARNING. Credentials are never sent
in clear, whatever the operator allows.

Failures are classified (``classify``) as transient (retry later: the relay is down, slow, says
4xx, refuses TLS, drops the connection) or permanent (a 5xx answer to this message). The recorded
text is the exception's class and the SMTP code only: a server's message may quote the address.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from types import TracebackType

import aiosmtplib

from hub.config import TLS_IMPLICIT, EmailConfig
from hub.crypto.secrets import SecretBytes
from hub.errors import HubError

log = logging.getLogger("adapters.email")


class RelayRefused(HubError):
    """The relay does not meet the TLS policy (or is not configured)."""

    status = 502
    code = "relay_refused"


@dataclass(frozen=True)
class Failure:
    permanent: bool
    # Class name and SMTP code: never a server's text, never an address.
    error: str


def read_password(config: EmailConfig) -> SecretBytes | None:
    """The relay password from its file (read at start, kept out of reprs and logs)."""
    if config.password_file is None:
        return None
    return SecretBytes(config.password_file.read_bytes().rstrip(b"\r\n"))


def tls_context(config: EmailConfig) -> ssl.SSLContext:
    """Verify the chain and the host name, against the configured CA or the system store."""
    cafile = str(config.ca_file) if config.ca_file is not None else None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def warn_plaintext(config: EmailConfig) -> None:
    if config.allow_plaintext_host is not None:
        log.warning(
            "MAPPA_HUB_SMTP_ALLOW_PLAINTEXT_HOST=%s: mail to that relay may go WITHOUT TLS "
            "(readable and alterable on the network); never allow this in production",
            config.allow_plaintext_host,
        )


class Relay:
    """``async with Relay(config, password) as relay: await relay.send(...)``."""

    def __init__(self, config: EmailConfig, password: SecretBytes | None) -> None:
        if config.host is None:
            raise RelayRefused("No SMTP relay is configured (MAPPA_HUB_SMTP_HOST).")
        self._config = config
        self._password = password
        self._host = config.host
        self._smtp = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=config.tls == TLS_IMPLICIT,
            start_tls=False,  # decided below, once the relay has said what it offers
            tls_context=tls_context(config),
            timeout=config.timeout_seconds,
        )

    def __repr__(self) -> str:
        return f"<Relay {self._host}:{self._config.port}>"

    async def __aenter__(self) -> Relay:
        await self._smtp.connect()
        try:
            await self._secure()
        except BaseException:
            self._smtp.close()
            raise
        return self

    async def _secure(self) -> None:
        smtp, config = self._smtp, self._config
        encrypted = config.tls == TLS_IMPLICIT
        if not encrypted:
            await smtp.ehlo()
            if smtp.supports_extension("starttls"):
                await smtp.starttls()
                encrypted = True
            elif not config.plaintext_allowed:
                raise RelayRefused(
                    "The SMTP relay does not offer STARTTLS: refused (TLS is required)."
                )
            else:
                log.warning(
                    "sending to %s WITHOUT TLS (allowed by MAPPA_HUB_SMTP_ALLOW_PLAINTEXT_HOST)",
                    self._host,
                )
        if config.username is not None:
            if not encrypted:
                raise RelayRefused("Relay credentials are never sent without TLS.")
            password = self._password.reveal().decode() if self._password else ""
            await smtp.login(config.username, password)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._smtp.is_connected:
            try:
                await self._smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                self._smtp.close()

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Hand one message to the relay; raises on any refusal (see ``classify``)."""
        errors, _ = await self._smtp.sendmail(sender, [recipient], message)
        if errors:  # a refused recipient raises when it is the only one; kept for safety
            code = next(iter(errors.values())).code
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(code, "refused", recipient)]
            )

    @property
    def connected(self) -> bool:
        return self._smtp.is_connected


def classify(exc: BaseException) -> Failure:
    """Transient or permanent, and the text to record (no personal data)."""
    name = type(exc).__name__
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        code = codes[0] if codes else 0
        return Failure(code >= 500, f"{name} {code}")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # The relay's credentials, not this message: retry once the operator has fixed them.
        return Failure(False, f"{name} {exc.code}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return Failure(exc.code >= 500, f"{name} {exc.code}")
    if isinstance(exc, RelayRefused):
        # A relay-wide misconfiguration, not this message's fault: the messages wait for the fix
        # (and become dead letters only after the attempts run out).
        return Failure(False, f"{name}: {exc.public_message}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Failure(False, f"{name}: certificate not trusted")
    return Failure(False, name)
