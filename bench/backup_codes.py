"""Backup-code check: one PBKDF2 hash with the device's salt and an indexed
lookup (ours), against checking the typed code with check_password against
each unused code (the usual way to keep hashed codes). Production hasher."""

from _setup import django_on_temp_db, summary, timed

django_on_temp_db()

import secrets  # noqa: E402

from django.contrib.auth.hashers import check_password, make_password  # noqa: E402

from accounts.backup_codes import backup_code_hash, backup_code_normalize  # noqa: E402
from accounts.models import BackupCode, BackupCodeDevice, User  # noqa: E402

RUNS = 10


def main() -> None:
    user = User.objects.create(username="bench", email="bench@example.com")
    device = BackupCodeDevice.objects.create(user=user, name="b", salt=secrets.token_hex(16), confirmed=True)
    codes = device.codes_replace(count=10)
    per_code = [make_password(backup_code_normalize(code)) for code in codes]  # baseline storage
    wrong = "ZZZZZ-ZZZZZ"  # the worst case for both: no code matches

    def ours():
        normalized = backup_code_normalize(wrong)
        digest = backup_code_hash(salt=device.salt, normalized=normalized)
        BackupCode.objects.filter(device=device, code_hash=digest, used_at__isnull=True).exists()

    def baseline():
        normalized = backup_code_normalize(wrong)
        any(check_password(normalized, stored) for stored in per_code)

    ours_ms, base_ms = timed(ours, RUNS), timed(baseline, RUNS)
    print("backup code check, wrong code, 10 unused codes, PBKDF2-SHA256 (Django default)")
    print(f"  salted lookup (ours)     {summary(ours_ms)}")
    print(f"  check each (baseline)    {summary(base_ms)}")
    print(f"  ratio ours/baseline      {sorted(ours_ms)[RUNS // 2] / sorted(base_ms)[RUNS // 2]:.3f}")


if __name__ == "__main__":
    main()
