"""What the setup page shows: the otpauth:// URI as a QR code and as text."""

from base64 import b32encode
from urllib.parse import quote, urlencode

import segno
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_key_text(device: TOTPDevice) -> str:
    """The base32 key in groups of four, for typing into an app by hand."""
    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def totp_uri(device: TOTPDevice) -> str:
    issuer = settings.OTP_TOTP_ISSUER.replace(":", "")
    label = quote(f"{issuer}:{device.user.email}")
    params = urlencode(
        {
            "secret": b32encode(device.bin_key).decode().rstrip("="),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": device.digits,
            "period": device.step,
        }
    )
    return f"otpauth://totp/{label}?{params}"


def totp_qr_svg(device: TOTPDevice) -> str:
    """An inline SVG (no script, no external reference), safe under our CSP."""
    qr = segno.make(totp_uri(device), error="m")
    return qr.svg_inline(scale=5, dark="#111", light="#fff", border=2)
