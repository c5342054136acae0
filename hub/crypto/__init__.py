"""The only package that touches libsodium (PyNaCl) or ``cryptography.hazmat``.

Recipes here, primitives below: callers seal and open packets, wrap private keys under the
key-encryption key, hash passwords and check TOTP codes without seeing a nonce or a key schedule.
Every verification raises; every decryption failure is one exception (``CryptoFailure``).
"""

from hub.crypto.errors import CryptoFailure

__all__ = ["CryptoFailure"]
