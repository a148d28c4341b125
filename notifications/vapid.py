"""The hub's VAPID key pair: the private key from the environment or a 0600
file in the data dir (made once by `manage.py vapid_keys`); never committed."""

import base64
import os
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings


def key_path() -> Path:
    return Path(settings.VAPID_PRIVATE_KEY_FILE)


def generate(path: Path) -> bool:
    """Write a new private key to `path` unless one is there. True if written."""
    if path.exists():
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return True


@cache
def _private_key(path: str) -> ec.EllipticCurvePrivateKey | None:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    key = serialization.load_pem_private_key(data, password=None)
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None  # VAPID signs with P-256 only


def configured() -> bool:
    return _private_key(str(key_path())) is not None


def public_key() -> str:
    """The application server key for `pushManager.subscribe` (base64url, no padding)."""
    key = _private_key(str(key_path()))
    if key is None:
        return ""
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
