import math
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.utils import timezone
from django_otp.models import (
    MAX_THROTTLE_DELAY_SECONDS,
    Device,
    ThrottlingMixin,
    TimestampMixin,
    VerifyNotAllowed,
)
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.backup_codes import backup_code_hash, backup_code_new, backup_code_normalize
from accounts.validators import validate_no_control_characters


class User(AbstractUser):
    email = models.EmailField("email address", unique=True)

    def __str__(self) -> str:
        return self.email or self.username


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


MANAGER_ROLES = (Role.OWNER, Role.ADMIN)


class Team(models.Model):
    """The tenant: hosts, projects and tasks each belong to one team."""

    name = models.CharField(max_length=64, validators=[validate_no_control_characters])
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGER_ROLES


class Invitation(models.Model):
    """A single-use link that adds one email address to a team.

    Only the SHA-256 of the link's token is kept: the link is shown once.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=[Role.ADMIN, Role.MEMBER]),
                name="invitation_role_not_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.team}"


# Wrong second-factor codes in a row that cost no wait: a typo, or a code
# typed as it changed, is not guessing. From the next one on each wrong code
# closes the check for 2^(n-1) s (8 s after the 4th, 16 s after the 5th, then
# 32, 64 ...); the right code resets the count. README "Two-factor codes".
OTP_FREE_TRIES = 3


def otp_locked_until(*, failures: int, last_failure: datetime | None) -> datetime | None:
    """When a device that has `failures` wrong codes in a row, the last at
    `last_failure`, takes a code again; None if it takes one now."""
    if failures <= OTP_FREE_TRIES or last_failure is None:
        return None
    factor = getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)
    if factor <= 0:
        return None
    delay = min(factor * 2 ** min(failures - 1, 40), MAX_THROTTLE_DELAY_SECONDS)
    until = last_failure + timedelta(seconds=delay)
    return until if until > timezone.now() else None


def _verify_is_allowed(device: ThrottlingMixin) -> tuple[bool, dict | None]:
    until = otp_locked_until(
        failures=device.throttling_failure_count, last_failure=device.throttling_failure_timestamp
    )
    if until is None:
        return True, None
    info = {
        "reason": VerifyNotAllowed.N_FAILED_ATTEMPTS,
        "failure_count": device.throttling_failure_count,
        "locked_until": until,
    }
    return False, info


class AuthenticatorDevice(TOTPDevice):
    """django-otp's TOTP device with the hub's throttle (OTP_FREE_TRIES), and
    able to tell a code it took already from a wrong one."""

    class Meta:
        proxy = True
        verbose_name = "authenticator app"

    def verify_is_allowed(self):
        allowed, info = _verify_is_allowed(self)
        if not allowed:
            return allowed, info
        # Past ThrottlingMixin's own 1, 2, 4 s rule to the device's other checks.
        return super(ThrottlingMixin, self).verify_is_allowed()

    def used_code_wait(self, token: str) -> int | None:
        """If `token` is a code of a step this device took already (each code
        works once), the seconds until the app shows one it will take; else None."""
        try:
            value = int(token)
        except ValueError:
            return None
        now = time.time()
        totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
        totp.time = now
        for offset in range(-self.tolerance, self.tolerance + 1):
            totp.drift = self.drift + offset
            if totp.t() <= self.last_t and totp.token() == value:
                break
        else:
            return None
        # The app shows step s from t0 + (s - drift) * step on.
        next_at = self.t0 + (self.last_t + 1 - self.drift) * self.step
        return max(1, math.ceil(next_at - now))


class BackupCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """One-time backup codes, kept as salted password hashes.

    django-otp's StaticDevice stores codes in plain text; ASVS 6.5.2 asks for a
    salted password hash for secrets this short. One salt per device lets a
    typed code be hashed once and looked up, not checked against every row.
    """

    salt = models.CharField(max_length=32)

    class Meta(Device.Meta):
        verbose_name = "backup code set"

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def verify_is_allowed(self):
        allowed, info = _verify_is_allowed(self)
        if not allowed:
            return allowed, info
        return super(ThrottlingMixin, self).verify_is_allowed()

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        if self.code_spend(str(token)):
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment()
        return False

    def code_spend(self, code: str) -> bool:
        normalized = backup_code_normalize(code)
        if normalized is None:
            return False
        # A conditional update: two requests racing with one code cannot both win.
        spent = self.codes.filter(
            code_hash=backup_code_hash(salt=self.salt, normalized=normalized), used_at__isnull=True
        ).update(used_at=timezone.now())
        return spent == 1

    def codes_replace(self, *, count: int) -> list[str]:
        """Drop the device's codes and return `count` new ones (shown once)."""
        codes = [backup_code_new() for _ in range(count)]
        hashes = [backup_code_hash(salt=self.salt, normalized=code.replace("-", "")) for code in codes]
        with transaction.atomic():
            self.codes.all().delete()
            BackupCode.objects.bulk_create(BackupCode(device=self, code_hash=digest) for digest in hashes)
        return codes


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=128)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "code_hash"], name="backup_code_unique"),
        ]

    def __str__(self) -> str:
        return f"backup code {self.id} ({'used' if self.used_at else 'unused'})"


class AuditEvent(models.Model):
    """An append-only record of who did what: pairing, revocation, renames."""

    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target}"
