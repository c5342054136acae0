"""Configuration, parsed once into a frozen object.

Secrets are never configured inline: the key-encryption key is read from a file path
(``<data-dir>/keys/kek.key`` in a development install; a KMS/HSM-backed path in production).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from pathlib import Path

from hub.errors import ConfigError

DEFAULT_DATA_DIR = "./var"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class PasswordHashing:
    """argon2id parameters (RFC 9106 second recommended option by default)."""

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4


@dataclass(frozen=True)
class Limits:
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_attachments: int = 10
    max_body_chars: int = 200_000
    max_subject_chars: int = 200
    max_request_bytes: int = 32 * 1024 * 1024
    # Per API token: a bucket of ``api_burst`` requests refilled at ``api_rate_per_second``.
    api_rate_per_second: float = 20.0
    api_burst: int = 200


@dataclass(frozen=True)
class SessionPolicy:
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=10)
    # A half-logged-in session (password accepted, TOTP not yet) lives only briefly.
    pending_timeout: timedelta = timedelta(minutes=5)
    # Sign-in throttling (hub.services.login_throttle), never a lock: after ``free_failures``
    # failed attempts on a username (or on one browser that has signed in before), each further
    # attempt waits ``throttle_base`` doubling per failure, never more than ``throttle_cap``;
    # an attempt that comes early is refused unchecked and uncounted. One client address gets
    # ``address_free_failures`` across all usernames before its own delay starts.
    free_failures: int = 5
    throttle_base: timedelta = timedelta(seconds=1)
    throttle_cap: timedelta = timedelta(minutes=15)
    address_free_failures: int = 30
    # A browser that completed a sign-in keeps a device cookie this long: its attempts are
    # throttled on their own, apart from strangers' guesses at the same username.
    device_lifetime: timedelta = timedelta(days=90)
    # After an agency admin resets a second factor, the person sets up a new one at their next
    # sign-in within this time; after it, the reset must be done again.
    enrolment_window: timedelta = timedelta(hours=24)


TLS_STARTTLS, TLS_IMPLICIT = "starttls", "implicit"


@dataclass(frozen=True)
class EmailConfig:
    """The SMTP relay the email adapter sends through (adapters/email). No ``host``: no relay; the
    outbox still fills and waits (``mappa-hub email list``), nothing is sent and nothing is lost.

    TLS is required: STARTTLS or implicit TLS, the certificate verified against the system trust
    store or ``ca_file``. ``allow_plaintext_host`` names the one relay allowed without TLS. The
    password is read from ``password_file`` when the sender starts, never held here."""

    host: str | None = None
    port: int = 587
    tls: str = TLS_STARTTLS
    ca_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None
    from_address: str = "mappa-hub@localhost"
    allow_plaintext_host: str | None = None
    # Where links in messages point: the inbox as its users reach it.
    base_url: str = "http://127.0.0.1:8080"
    timeout_seconds: float = 30.0
    max_attempts: int = 8
    # Exponential backoff with full jitter: a failed attempt n waits uniform(0, min(cap, base*2^n)).
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 3600.0
    poll_seconds: float = 5.0
    batch: int = 20
    # The local time (Europe/London) after which serve sends each person's daily digest.
    digest_time: time = time(7, 0)

    @property
    def configured(self) -> bool:
        return self.host is not None

    @property
    def plaintext_allowed(self) -> bool:
        return self.host is not None and self.host == self.allow_plaintext_host

    @property
    def message_id_domain(self) -> str:
        """The right-hand side of the Message-IDs the hub mints (the From address's domain)."""
        return self.from_address.rsplit("@", 1)[-1]


# The policy files of a source checkout; deployments keep theirs in /etc (they are configuration
# that information-governance officers change) and point MAPPA_HUB_POLICY_DIR at them.
SOURCE_POLICY_DIR = Path(__file__).resolve().parents[1] / "policies"


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    kek_path: Path
    policy_dir: Path = SOURCE_POLICY_DIR
    # How often a running server signs a checkpoint of the log, if it has grown
    # ($MAPPA_HUB_CHECKPOINT_SECONDS).
    checkpoint_interval: timedelta = timedelta(minutes=5)
    cookie_secure: bool = True
    passwords: PasswordHashing = field(default_factory=PasswordHashing)
    limits: Limits = field(default_factory=Limits)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    email: EmailConfig = field(default_factory=EmailConfig)
    # PostgreSQL with two roles (deploy/postgres/setup.sql): the owner's URL, which `init` runs
    # the migrations with ($MAPPA_HUB_OWNER_DATABASE_URL); the gateways use ``database_url``.
    owner_database_url: str | None = None
    # How long a process holds a background job's lease without renewing it: a dead holder's
    # jobs are taken over within this plus a third of it ($MAPPA_HUB_LEASE_SECONDS).
    lease_seconds: float = 15.0
    # The reverse proxies whose X-Forwarded-For names the client ($MAPPA_HUB_TRUSTED_PROXIES,
    # addresses or networks separated by commas). Empty: the header is ignored and the client
    # is the connection's peer.
    trusted_proxies: tuple[IPNetwork, ...] = ()

    @property
    def migration_url(self) -> str:
        return self.owner_database_url or self.database_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'hub.sqlite3').resolve()}"


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver the hub uses."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite:///")):
        return url
    raise ConfigError(
        "database_url: only PostgreSQL (postgresql://...) and SQLite (sqlite:///...) are supported",
        key="database_url",
    )


def _limits_from_environment() -> Limits:
    """Per-token API rate limits: an agency system doing bulk work may need more than the
    default, and the benchmarks need them out of the way."""
    defaults = Limits()
    values: dict[str, float | int] = {}
    for name, env, kind in (
        ("api_rate_per_second", "MAPPA_HUB_API_RATE_PER_SECOND", float),
        ("api_burst", "MAPPA_HUB_API_BURST", int),
    ):
        raw = os.environ.get(env)
        if raw is None:
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{env} must be a number", key=env) from None
        if value <= 0:
            raise ConfigError(f"{env} must be positive", key=env)
        values[name] = value
    return replace(defaults, **values)  # type: ignore[arg-type]


_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[A-Za-z0-9.-]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9.:-]{1,253}")


def _env_number(env: str, default: float, kind: type[int] | type[float], low: float) -> float:
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{env} must be a number", key=env) from None
    if value < low:
        raise ConfigError(f"{env} must be at least {low}", key=env)
    return value


def _env_file(env: str) -> Path | None:
    raw = os.environ.get(env)
    if not raw:
        return None
    path = Path(raw).expanduser().resolve()
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(f"{env}: no readable file at {path}", key=env)
    return path


_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def _env_local_time(env: str, default: time) -> time:
    """An ``HH:MM`` 24-hour clock time (read as Europe/London by its users)."""
    raw = (os.environ.get(env) or "").strip()
    if not raw:
        return default
    found = _HH_MM.fullmatch(raw)
    if found is None:
        raise ConfigError(f"{env} must be a 24-hour time HH:MM, like 07:00", key=env)
    return time(int(found[1]), int(found[2]))


def email_from_environment() -> EmailConfig:
    """The relay from ``MAPPA_HUB_SMTP_*`` and ``MAPPA_HUB_BASE_URL``; ConfigError names the
    variable at fault. Secrets come only from files (``MAPPA_HUB_SMTP_PASSWORD_FILE``)."""
    defaults = EmailConfig()
    env = os.environ.get
    host = env("MAPPA_HUB_SMTP_HOST") or None
    if host is not None and not _HOSTNAME.fullmatch(host):
        raise ConfigError(
            "MAPPA_HUB_SMTP_HOST must be a host name or address", key="MAPPA_HUB_SMTP_HOST"
        )
    tls = (env("MAPPA_HUB_SMTP_TLS") or TLS_STARTTLS).lower()
    if tls not in (TLS_STARTTLS, TLS_IMPLICIT):
        raise ConfigError(
            "MAPPA_HUB_SMTP_TLS must be 'starttls' or 'implicit'", key="MAPPA_HUB_SMTP_TLS"
        )
    port = int(_env_number("MAPPA_HUB_SMTP_PORT", 465 if tls == TLS_IMPLICIT else 587, int, 1))
    if port > 65535:
        raise ConfigError("MAPPA_HUB_SMTP_PORT must be 1-65535", key="MAPPA_HUB_SMTP_PORT")
    username = env("MAPPA_HUB_SMTP_USERNAME") or None
    password_file = _env_file("MAPPA_HUB_SMTP_PASSWORD_FILE")
    if username is not None and password_file is None:
        raise ConfigError(
            "MAPPA_HUB_SMTP_USERNAME needs MAPPA_HUB_SMTP_PASSWORD_FILE (the password is read "
            "from a file, never given inline)",
            key="MAPPA_HUB_SMTP_PASSWORD_FILE",
        )
    if username is not None and _HEADER_UNSAFE.search(username):
        raise ConfigError(
            "MAPPA_HUB_SMTP_USERNAME has control characters", key="MAPPA_HUB_SMTP_USERNAME"
        )
    sender = env("MAPPA_HUB_SMTP_FROM") or defaults.from_address
    if not _ADDRESS.fullmatch(sender):
        raise ConfigError(
            "MAPPA_HUB_SMTP_FROM must be a bare address (name@domain)", key="MAPPA_HUB_SMTP_FROM"
        )
    base_url = (env("MAPPA_HUB_BASE_URL") or defaults.base_url).rstrip("/")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base_url):
        raise ConfigError(
            "MAPPA_HUB_BASE_URL must be an http(s) URL without query or fragment",
            key="MAPPA_HUB_BASE_URL",
        )
    return EmailConfig(
        host=host,
        port=port,
        tls=tls,
        ca_file=_env_file("MAPPA_HUB_SMTP_CA_FILE"),
        username=username,
        password_file=password_file,
        from_address=sender,
        allow_plaintext_host=env("MAPPA_HUB_SMTP_ALLOW_PLAINTEXT_HOST") or None,
        base_url=base_url,
        timeout_seconds=_env_number("MAPPA_HUB_SMTP_TIMEOUT", defaults.timeout_seconds, float, 1),
        max_attempts=int(_env_number("MAPPA_HUB_SMTP_MAX_ATTEMPTS", defaults.max_attempts, int, 1)),
        digest_time=_env_local_time("MAPPA_HUB_DIGEST_TIME", defaults.digest_time),
    )


def trusted_proxies_from_environment() -> tuple[IPNetwork, ...]:
    """``MAPPA_HUB_TRUSTED_PROXIES``: e.g. ``127.0.0.1,::1`` for the reverse proxy on this
    machine (deploy/nginx), or the load balancers' network."""
    env = "MAPPA_HUB_TRUSTED_PROXIES"
    raw = os.environ.get(env) or ""
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"{env}: {part!r} is not an IP address or network (like 127.0.0.1 or 10.0.0.0/24)",
                key=env,
            ) from None
    return tuple(networks)


def load_config(
    data_dir: str | os.PathLike[str] | None = None,
    database_url: str | None = None,
    *,
    policy_dir: str | os.PathLike[str] | None = None,
    cookie_secure: bool = True,
    passwords: PasswordHashing | None = None,
) -> Config:
    """Build the configuration from explicit values, then the environment, then defaults."""
    raw_dir = data_dir or os.environ.get("MAPPA_HUB_DATA_DIR") or DEFAULT_DATA_DIR
    path = Path(raw_dir).expanduser().resolve()
    url = database_url or os.environ.get("MAPPA_HUB_DATABASE_URL") or sqlite_url(path)
    owner_url = os.environ.get("MAPPA_HUB_OWNER_DATABASE_URL")
    kek = os.environ.get("MAPPA_HUB_KEK_PATH")
    policies = policy_dir or os.environ.get("MAPPA_HUB_POLICY_DIR")
    return Config(
        limits=_limits_from_environment(),
        email=email_from_environment(),
        data_dir=path,
        database_url=normalise_database_url(url),
        kek_path=Path(kek).resolve() if kek else path / "keys" / "kek.key",
        policy_dir=Path(policies).resolve() if policies else SOURCE_POLICY_DIR,
        cookie_secure=cookie_secure,
        passwords=passwords or PasswordHashing(),
        owner_database_url=normalise_database_url(owner_url) if owner_url else None,
        lease_seconds=_env_number("MAPPA_HUB_LEASE_SECONDS", 15.0, float, 2.0),
        trusted_proxies=trusted_proxies_from_environment(),
        checkpoint_interval=timedelta(
            seconds=_env_number("MAPPA_HUB_CHECKPOINT_SECONDS", 300, int, 1)
        ),
    )
