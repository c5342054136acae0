from __future__ import annotations

from hub.errors import IntegrityFailure


class CryptoFailure(IntegrityFailure):
    """Any failed signature check, digest check or decryption.

    One exception for all of them, with one public message, so that an attacker learns nothing
    about which check failed; the reason is kept in ``context`` for the operator's log.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The packet failed an integrity check and cannot be opened.", reason=reason
        )
