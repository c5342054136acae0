"""Configuration, parsed once into a frozen object.

Secrets are never configured inline: the key-encryption key is read from a file path
(``<data-dir>/keys/kek.key`` in a development install; a KMS/HSM-backed path in production).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from hub.errors import ConfigError

DEFAULT_DATA_DIR = "./var"


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
    max_failed_logins: int = 5
    lockout: timedelta = timedelta(minutes=15)


# The policy files of a source checkout; deployments keep theirs in /etc (they are configuration
# that information-governance officers change) and point MAPPA_HUB_POLICY_DIR at them.
SOURCE_POLICY_DIR = Path(__file__).resolve().parents[1] / "policies"


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    kek_path: Path
    policy_dir: Path = SOURCE_POLICY_DIR
    # How often a running server signs a checkpoint of the log, if it has grown.
    checkpoint_interval: timedelta = timedelta(minutes=5)
    cookie_secure: bool = True
    passwords: PasswordHashing = field(default_factory=PasswordHashing)
    limits: Limits = field(default_factory=Limits)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)

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
    kek = os.environ.get("MAPPA_HUB_KEK_PATH")
    policies = policy_dir or os.environ.get("MAPPA_HUB_POLICY_DIR")
    return Config(
        limits=_limits_from_environment(),
        data_dir=path,
        database_url=normalise_database_url(url),
        kek_path=Path(kek).resolve() if kek else path / "keys" / "kek.key",
        policy_dir=Path(policies).resolve() if policies else SOURCE_POLICY_DIR,
        cookie_secure=cookie_secure,
        passwords=passwords or PasswordHashing(),
    )
