"""TOTP (RFC 6238) through pyotp, with replay protection by time step."""

from __future__ import annotations

from datetime import datetime

import pyotp

from hub.crypto.secrets import constant_time_equals

ISSUER = "MAPPA Hub"
STEP_SECONDS = 30
# Accept the previous and next step too, for clock drift on phones.
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    return str(pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER))


def code_at(secret: str, when: datetime) -> str:
    return str(pyotp.TOTP(secret).at(when))


def matching_step(secret: str, code: str, when: datetime) -> int | None:
    """Return the time step the code belongs to, or None.

    The caller stores the step and refuses any code of the same or an earlier step, which is what
    makes a code usable once.
    """
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(when.timestamp()) // STEP_SECONDS
    found: int | None = None
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        step = now_step + offset
        # Compare every candidate so that timing does not reveal which step matched.
        if constant_time_equals(str(totp.generate_otp(step)), code) and found is None:
            found = step
    return found
