"""Backup codes: ten one-time codes of 50 bits each, stored hashed."""

import secrets

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from accounts.models import BackupCode, BackupCodeDevice

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


def _hash(device: BackupCodeDevice, normalized: str) -> str:
    return make_password(normalized, salt=device.salt)


def backup_codes_replace(*, device: BackupCodeDevice, count: int) -> list[str]:
    """Drop the device's codes and return `count` new ones (shown once)."""
    codes = [backup_code_new() for _ in range(count)]
    with transaction.atomic():
        device.codes.all().delete()
        BackupCode.objects.bulk_create(
            BackupCode(device=device, code_hash=_hash(device, backup_code_normalize(code))) for code in codes
        )
    return codes


def backup_code_spend(*, device: BackupCodeDevice, code: str) -> bool:
    normalized = backup_code_normalize(code)
    if normalized is None:
        return False
    # A conditional update: two requests racing with one code cannot both win.
    spent = BackupCode.objects.filter(
        device=device, code_hash=_hash(device, normalized), used_at__isnull=True
    ).update(used_at=timezone.now())
    return spent == 1
