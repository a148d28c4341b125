"""codexhub settings, read from the environment.

With no variable set, the hub runs on an embedded default: SQLite in the data
dir, the in-memory channel layer and Celery jobs run in-process. docs/settings.md
lists every variable.
"""

from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from codexhub.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    generated_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("CODEXHUB_DATA_DIR", str(BASE_DIR / "var"))).resolve()

SECRET_KEY = env_secret("SECRET_KEY") or generated_secret(DATA_DIR / "secret_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_NAME = env_str("SITE_NAME", "codexhub")

INSTALLED_APPS = [
    "daphne",
    # Before django.contrib.auth, so that accounts' createsuperuser (an email, no username) is the one.
    "accounts",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "allauth",
    "allauth.account",
    "csp",
    "codexhub.apps.CodexhubConfig",
    "devices",
    "projects",
    "tasks",
    "push_notifications",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.SecondFactorMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "codexhub.errors.ServiceErrorMiddleware",
]

ROOT_URLCONF = "codexhub.urls"
ASGI_APPLICATION = "codexhub.asgi.application"
WSGI_APPLICATION = "codexhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.teams",
            ],
        },
    },
]

# Data -----------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60 if DATABASE_URL else 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default runs daphne and workers on one file: WAL lets readers
    # and a writer share it, IMMEDIATE takes the write lock up front instead of
    # failing with "database is locked", and NORMAL syncs at checkpoints only
    # (in WAL mode that loses no committed transaction to a crash of the process,
    # only possibly the last ones to a power cut). 16 KiB pages, for a database
    # file created with these settings (SQLite ignores page_size on an existing
    # one, and it must come before WAL is set): the mirror stores tens of MB of
    # file text, and a snapshot's commits wrote a third less with them
    # (docs/benchmarks.md, "The mirror"). CONN_MAX_AGE stays 0: Django advises
    # against persistent connections under ASGI, and they did not help here.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

REDIS_URL = env_str("REDIS_URL")
# Seconds to wait for Redis to accept a connection, and for an answer. The
# channel layer reads each channel with a blocking BZPOPMIN of up to 5 s
# (channels-redis), so its sockets must wait longer than that: redis-py's own
# default of 5 s broke every read and closed each WebSocket every few seconds.
REDIS_CONNECT_TIMEOUT = env_float("REDIS_CONNECT_TIMEOUT", 2)
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 2)  # cache and broker calls
CHANNEL_LAYER_MAX_CONNECTIONS = env_int("CHANNEL_LAYER_MAX_CONNECTIONS", 1000)
CHANNEL_LAYER_SOCKET_TIMEOUT = env_float("CHANNEL_LAYER_SOCKET_TIMEOUT", 15)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "codexhub",
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "codexhub.channel_layer.ResilientRedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                        "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,
                        "socket_keepalive": True,
                        # redis-py's pool refuses past 100 connections in use ("Too many
                        # connections"); a busy hub process has more calls in flight.
                        "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                    }
                ],
                "prefix": "codexhub",
                # A phone's channel holds up to `capacity` events before the layer drops
                # them (channels_redis#181): after a hub restart hundreds of hosts
                # report presence at once.
                "capacity": 1000,
            },
        }
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        # Rendered Markdown and code by content hash (projects.render): room for
        # a long agent session's messages, which the default 300 would evict.
        "render": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "render",
            "OPTIONS": {"MAX_ENTRIES": 5000},
        },
    }
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }

# Jobs: a Redis broker and separate workers, or in-process when there is no Redis.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_TIME_LIMIT = 120
# A job whose worker died unacked is redelivered after this many seconds; the
# sweep for such jobs runs every tenth of it (at most 10 s, kombu's default is 100 s).
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 300)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
    "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,  # the worker's BRPOP blocks too
    "socket_keepalive": True,
}
# Publishing a job while Redis is down gives up after about a second; the
# caller keeps the job and tries again (codexhub.jobs).
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Tasks ----------------------------------------------------------------------

TASK_TTL = env_int("TASK_TTL", 24 * 3600)  # seconds a task waits for an offline host before it expires
TASK_ACK_TIMEOUT = env_float("TASK_ACK_TIMEOUT", 30)  # an unacked assignment goes back to the queue
TASK_HOST_LOST_GRACE = env_float("TASK_HOST_LOST_GRACE", 300)  # host gone this long: running task fails
TASK_SWEEP_INTERVAL = env_float("TASK_SWEEP_INTERVAL", 10)  # seconds between housekeeping runs
TASK_LOG_RETENTION_DAYS = env_int("TASK_LOG_RETENTION_DAYS", 30)
TASK_QUEUE_PER_HOST = env_int("TASK_QUEUE_PER_HOST", 100)
TASK_CREATE_RATE = env_str("TASK_CREATE_RATE", "30/m")  # per user
GIT_ACTION_TTL = env_float("GIT_ACTION_TTL", 3600)  # a git decision the host never answered fails
# Without Redis there is no beat process: the hub runs housekeeping on a thread.
TASK_IN_PROCESS_BEAT = env_bool("TASK_IN_PROCESS_BEAT", not REDIS_URL)
CELERY_BEAT_SCHEDULE = {
    "tasks-housekeeping": {"task": "tasks.jobs.housekeeping_job", "schedule": TASK_SWEEP_INTERVAL},
}

# Accounts and sign-in ---------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_SIGNUP_REDIRECT_URL = "otp_setup"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ALLOW_SIGNUP = env_bool("ALLOW_SIGNUP", True)
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_USER_DISPLAY = "accounts.adapters.user_display"
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "

OTP_TOTP_ISSUER = SITE_NAME
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
BACKUP_CODE_COUNT = 10
RATELIMIT_VIEW = "codexhub.views.rate_limited"
RATELIMIT_IP_META_KEY = "codexhub.http.client_ip"
INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7)

# Hosts: pairing and the live link ---------------------------------------------

PAIRING_TTL = env_int("PAIRING_TTL", 600)  # seconds a pairing request, and an unconfirmed token, live
PAIRING_INTERVAL = env_int("PAIRING_INTERVAL", 5)  # RFC 8628 poll interval
PAIRING_PENDING_PER_IP = env_int("PAIRING_PENDING_PER_IP", 5)
PAIRING_PENDING_GLOBAL = env_int("PAIRING_PENDING_GLOBAL", 1000)
# The agent wheels `make agent` builds; the hub serves its own version's at /agent/<wheel>.
AGENT_WHEEL_DIR = Path(env_str("AGENT_WHEEL_DIR", str(BASE_DIR / "agent" / "dist"))).resolve()
HOST_HEARTBEAT_INTERVAL = env_float("HOST_HEARTBEAT_INTERVAL", 20)
HOST_HEARTBEAT_TIMEOUT = env_float("HOST_HEARTBEAT_TIMEOUT", 3 * HOST_HEARTBEAT_INTERVAL)
# Database threads applying host messages, each for its share of the hosts (their
# waits on Postgres overlap); 1 is Channels' own database thread. SQLite: 1.
HOST_APPLY_THREADS = env_int("HOST_APPLY_THREADS", 1)
# Seconds between the writes of every heard host's last_seen_at (one query for all).
HOST_PRESENCE_INTERVAL = env_float("HOST_PRESENCE_INTERVAL", min(5, HOST_HEARTBEAT_TIMEOUT / 4))
HOST_LINK_RATE = env_int("HOST_LINK_RATE", 200)  # messages a second one link may send, sustained
HOST_LINK_BURST = env_int("HOST_LINK_BURST", 1000)
HOST_CONNECTS_PER_TOKEN = env_int("HOST_CONNECTS_PER_TOKEN", 10)  # a minute
# Not connects per address: a whole office behind one address reconnects at once.
HOST_AUTH_FAILURES_PER_IP = env_int("HOST_AUTH_FAILURES_PER_IP", 60)  # a minute
HOST_REFUSED_LOG_PER_MINUTE = env_int("HOST_REFUSED_LOG_PER_MINUTE", 10)  # per host and hub process
HOST_REFUSED_KEEP = env_int("HOST_REFUSED_KEEP", 50)  # refused messages kept per host for the admin

# Notifications -----------------------------------------------------------------

# Web Push: the VAPID private key (PEM), made once by `manage.py vapid_keys`.
VAPID_PRIVATE_KEY_FILE = env_str("VAPID_PRIVATE_KEY_FILE", str(DATA_DIR / "vapid_private.pem"))
WEBPUSH_CONTACT = env_str("WEBPUSH_CONTACT", "mailto:admin@localhost")  # the VAPID `sub` claim
# The hub posts to a subscription's endpoint: only these push services (SSRF).
WEBPUSH_ALLOWED_HOSTS = env_list(
    "WEBPUSH_ALLOWED_HOSTS",
    "fcm.googleapis.com,updates.push.services.mozilla.com,*.push.apple.com,*.notify.windows.com",
)
APNS_AUTH_KEY_PATH = env_str("APNS_AUTH_KEY_PATH")  # the .p8 token key
APNS_KEY_ID = env_str("APNS_KEY_ID")
APNS_TEAM_ID = env_str("APNS_TEAM_ID")
APNS_TOPIC = env_str("APNS_TOPIC")  # the app's bundle id
APNS_USE_SANDBOX = env_bool("APNS_USE_SANDBOX", False)
FCM_SERVICE_ACCOUNT_FILE = env_str("FCM_SERVICE_ACCOUNT_FILE")
PUSH_RETRY_BASE = env_float("PUSH_RETRY_BASE", 1.0)  # seconds before the first retry; doubles
NOTIFY_TEST_RATE = env_str("NOTIFY_TEST_RATE", "5/m")
HOST_OFFLINE_NOTIFY_AFTER = env_float("HOST_OFFLINE_NOTIFY_AFTER", 120)
# How long a notification's Allow / Reject buttons still answer an agent's request.
PERMISSION_ANSWER_MAX_AGE = env_float("PERMISSION_ANSWER_MAX_AGE", 86400)
PUSH_NOTIFICATIONS_SETTINGS = {
    "CONFIG": "push_notifications.conf.LegacyConfig",
    "WP_PRIVATE_KEY": VAPID_PRIVATE_KEY_FILE,
    "WP_CLAIMS": {"sub": WEBPUSH_CONTACT},
    "WP_ERROR_TIMEOUT": env_float("WEBPUSH_TIMEOUT", 10),
    "APNS_AUTH_KEY_PATH": APNS_AUTH_KEY_PATH,
    "APNS_AUTH_KEY_ID": APNS_KEY_ID,
    "APNS_TEAM_ID": APNS_TEAM_ID,
    "APNS_TOPIC": APNS_TOPIC,
    "APNS_USE_SANDBOX": APNS_USE_SANDBOX,
}

# Mail ------------------------------------------------------------------------

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "codexhub <codexhub@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# HTTP security ---------------------------------------------------------------

HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("TRUST_PROXY_HEADERS", False):
    # Only behind a proxy that sets (and strips client copies of) this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Rate limits count per client address: take it from the proxy's header.
    ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_DAYS", 7) * 24 * 3600
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Static files, i18n ----------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Logging: everything to stdout, for the process manager to collect.

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# dictConfig, then every record and daphne's access log redacted: one-time
# tokens in paths (invitations, resets) and host tokens never reach a log line.
LOGGING_CONFIG = "accounts.logsafe.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.security": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
    },
}
