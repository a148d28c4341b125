"""Secrets never reach a log line (SECURITY.md section 5).

Links that carry a one-time token in their path (invitations, e-mail
confirmations, password resets) show up wherever a path is logged: daphne's
access log, Django's "Not Found: <path>" and "Forbidden: <path>", the `next` of
a redirect, a Celery job's arguments. Host tokens have a prefix that finds them
in any text. This module redacts both in every log record when it is created,
so no handler (ours, Django's console, Celery's, pytest's) sees them, and in
daphne's access log, which writes to its stream without `logging`.

Imported by the logging configuration, before the apps are ready: no models.
"""

import logging
import logging.config
import re
from functools import wraps

REDACTED = "[redacted]"

# URL prefixes whose next path segment is a secret. Keep them in step with
# accounts/urls.py and allauth's URLs (tests/accounts/test_logsafe.py checks).
SECRET_PATH_PREFIXES = ("/invite/", "/accounts/confirm-email/", "/accounts/password/reset/key/")
HOST_TOKEN_PREFIX = "chub_"  # devices.services.TOKEN_PREFIX


def _secret_paths() -> list[re.Pattern]:
    patterns = []
    for prefix in SECRET_PATH_PREFIXES:
        patterns.append(re.compile(f"({re.escape(prefix)})(?!done/)[^/\\s?#&\"'<>]+", re.IGNORECASE))
        # The same path inside a query string: ?next=%2Finvite%2F<token>%2F
        encoded = re.escape(prefix.replace("/", "%2F"))
        patterns.append(re.compile(f"({encoded})(?!done%2F)(?:(?!%2F)[^\\s?#&\"'<>])+", re.IGNORECASE))
    return patterns


_SECRET_PATHS = _secret_paths()
_HOST_TOKEN = re.compile(re.escape(HOST_TOKEN_PREFIX) + r"[A-Za-z0-9_-]{20,}")


def redact(text: str) -> str:
    """The text with every secret path segment and host token replaced."""
    for pattern in _SECRET_PATHS:
        text = pattern.sub(r"\g<1>" + REDACTED, text)
    return _HOST_TOKEN.sub(HOST_TOKEN_PREFIX + REDACTED, text)


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the handler's to report, as before
        return record
    safe = redact(message)
    if safe != message:
        record.msg, record.args = safe, None
    return record


REDACTS = "redacts_secrets"  # marks a wrapper already in place


def _redacting_factory(make_record):
    if getattr(make_record, REDACTS, False):
        return make_record

    @wraps(make_record)
    def factory(*args, **kwargs):
        return _redact_record(make_record(*args, **kwargs))

    setattr(factory, REDACTS, True)
    return factory


def _redact_daphne_access_log() -> None:
    """daphne writes its access log (the full request line) straight to a
    stream; its entries go through `redact` too."""
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:
        return
    write_entry = AccessLogGenerator.write_entry
    if getattr(write_entry, REDACTS, False):
        return

    @wraps(write_entry)
    def redacted_entry(self, host, date, request, *args, **kwargs):
        return write_entry(self, host, date, redact(request), *args, **kwargs)

    setattr(redacted_entry, REDACTS, True)
    AccessLogGenerator.write_entry = redacted_entry


def configure(config: dict) -> None:
    """Django's LOGGING_CONFIG: dictConfig, then redaction in every record."""
    logging.config.dictConfig(config)
    logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
    _redact_daphne_access_log()
