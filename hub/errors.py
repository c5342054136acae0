"""The hub's domain errors.

Each error carries an HTTP status, a stable machine-readable code and a public message that is safe
to show to the user. ``context`` is for logs only and is never sent to a client. The web layer maps
these onto HTML pages or RFC 9457 problem documents in one place (``hub.web.errors``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class HubError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.public_message = message
        if code is not None:
            self.code = code
        self.context = context


class InvalidInput(HubError):
    """The request is malformed or fails validation."""

    status = 400
    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        errors: Sequence[Mapping[str, str]] = (),
        **context: Any,
    ) -> None:
        super().__init__(message, code=code, **context)
        self.field = field
        # Field-level problems of a structured form: [{"field": "actions.0.deadline", "message"}].
        self.errors = tuple(dict(e) for e in errors)


class NotAuthenticated(HubError):
    status = 401
    code = "not_authenticated"


class Forbidden(HubError):
    """The actor is known but may not do this (deny by default)."""

    status = 403
    code = "forbidden"


class NotFound(HubError):
    status = 404
    code = "not_found"


class Gone(HubError):
    """It existed, and was erased on purpose (e.g. a packet crypto-shredded at end of retention)."""

    status = 410
    code = "gone"


class Conflict(HubError):
    status = 409
    code = "conflict"


class TooLarge(HubError):
    status = 413
    code = "too_large"


class RateLimited(HubError):
    status = 429
    code = "rate_limited"


class Unavailable(HubError):
    """The database cannot be reached for now (a restart, a failover): try again shortly."""

    status = 503
    code = "unavailable"


class IntegrityFailure(HubError):
    """Stored or received data failed a cryptographic or chain check.

    Deliberately vague in public: which check failed is in ``context`` only.
    """

    status = 422
    code = "integrity_failure"


class ConfigError(HubError):
    """Bad configuration or an unusable database; fails start-up."""

    status = 500
    code = "config_error"
