"""Backup codes as text: ten one-time codes of 50 bits each, stored hashed.

No models here: `BackupCodeDevice` stores and spends codes with these helpers.
"""

import secrets

from django.contrib.auth.hashers import make_password

# Crockford-style: no I, L, O, U, so codes read back without confusion.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10


def backup_code_new() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def backup_code_normalize(code: str) -> str | None:
    """The canonical form of a typed code, or None if it cannot be one."""
    cleaned = code.upper().replace("-", "").replace(" ", "")
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


def backup_code_hash(*, salt: str, normalized: str) -> str:
    """One salt per device: a typed code is hashed once and looked up."""
    return make_password(normalized, salt=salt)
