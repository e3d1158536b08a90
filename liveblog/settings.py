"""Settings for the live-blog CMS.

One file, read from the environment. With nothing set it runs embedded on a
fresh machine: SQLite, local-memory cache, an in-process live channel and
Celery tasks run in-process. Setting ``DATABASE_URL`` and ``REDIS_URL``
switches to the production profile (PostgreSQL via psycopg 3, Redis for the
cache, the Celery broker and the live channel).
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get(
    "SECRET_KEY", "embedded-default-insecure-key-set-SECRET_KEY-in-production"
)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "*").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

PORT = int(os.environ.get("PORT", "8000"))
# Absolute base for URLs handed to partners (API `url` fields, feeds, webhooks).
LIVEBLOG_SITE_URL = os.environ.get(
    "LIVEBLOG_SITE_URL", f"http://127.0.0.1:{PORT}"
).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "posts",
]

MIDDLEWARE = [
    "posts.web.input_guard.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "liveblog.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "liveblog.wsgi.application"
ASGI_APPLICATION = "liveblog.asgi.application"

# --- Database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Under ASGI, sync views run in short-lived threads, so persistent
    # connections (CONN_MAX_AGE > 0) would leak one per thread; reuse comes
    # from psycopg's pool instead (DATABASE_POOL=1, or PgBouncer in front).
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0"))
        )
    }
    if env_bool("DATABASE_POOL", False):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": int(os.environ.get("DATABASE_POOL_MIN", "2")),
            "max_size": int(os.environ.get("DATABASE_POOL_MAX", "10")),
            "timeout": 10,
        }
    if os.environ.get("DATABASE_TEST_NAME"):
        DATABASES["default"]["TEST"] = {"NAME": os.environ["DATABASE_TEST_NAME"]}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers
            # queue (up to `timeout` seconds) instead of failing mid-transaction.
            # WAL lets readers (SSE, polling) run while a writer commits.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not :memory:, so the test server thread and the tests
            # share one database without shared-cache table locks.
            "TEST": {"NAME": os.environ.get("SQLITE_TEST_PATH", str(BASE_DIR / ".test-db.sqlite3"))},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, live channel, Celery -------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "lb"),
            # A lost Redis must cost readers milliseconds, not seconds: the read
            # side then serves from the database (posts/delivery/cache.py).
            "OPTIONS": {
                "socket_connect_timeout": float(os.environ.get("CACHE_CONNECT_TIMEOUT", "0.25")),
                "socket_timeout": float(os.environ.get("CACHE_SOCKET_TIMEOUT", "0.5")),
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "liveblog",
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }

# "memory" (one process) or "redis" (pub/sub across processes).
LIVEBLOG_CHANNEL_BACKEND = os.environ.get(
    "LIVEBLOG_CHANNEL_BACKEND", "redis" if REDIS_URL else "memory"
)

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
# Embedded default: tasks run in-process, in the request that committed.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A dead broker must not hold a request for long: connecting gives up after
# a second (kombu's own default is 4 s). The request's hand-off to the
# fan-out also retries less (posts/delivery/fanout.py), since the sweep re-sends.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1}

# --- Live-blog behaviour ----------------------------------------------------
LIVEBLOG_MAX_BODY_CHARS = int(os.environ.get("LIVEBLOG_MAX_BODY_CHARS", "20000"))
LIVEBLOG_MAX_HEADLINE_CHARS = 200
LIVEBLOG_PAGE_SIZE = int(os.environ.get("LIVEBLOG_PAGE_SIZE", "20"))
LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = env_bool("LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE", False)

# --- Fan-out ----------------------------------------------------------------
# SSE: the client's reconnect delay and the heartbeat comment interval.
LIVEBLOG_SSE_RETRY_MS = int(os.environ.get("LIVEBLOG_SSE_RETRY_MS", "3000"))
LIVEBLOG_SSE_HEARTBEAT_SECONDS = float(os.environ.get("LIVEBLOG_SSE_HEARTBEAT_SECONDS", "15"))
# Beat: how often the sweep and the scheduled-entry publisher run, and how old
# an unconfirmed event must be before the sweep re-sends it.
LIVEBLOG_SWEEP_SECONDS = float(os.environ.get("LIVEBLOG_SWEEP_SECONDS", "2"))
LIVEBLOG_SWEEP_GRACE_SECONDS = float(os.environ.get("LIVEBLOG_SWEEP_GRACE_SECONDS", "5"))
# Webhooks: per-request timeout, retry backoff (base doubling up to the cap,
# with jitter), attempts before giving up, and when a failing partner is paused.
LIVEBLOG_WEBHOOK_TIMEOUT = float(os.environ.get("LIVEBLOG_WEBHOOK_TIMEOUT", "10"))
LIVEBLOG_WEBHOOK_BACKOFF_BASE = float(os.environ.get("LIVEBLOG_WEBHOOK_BACKOFF_BASE", "5"))
LIVEBLOG_WEBHOOK_BACKOFF_CAP = float(os.environ.get("LIVEBLOG_WEBHOOK_BACKOFF_CAP", "3600"))
LIVEBLOG_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("LIVEBLOG_WEBHOOK_MAX_ATTEMPTS", "15"))
LIVEBLOG_WEBHOOK_PAUSE_AFTER_SECONDS = float(os.environ.get("LIVEBLOG_WEBHOOK_PAUSE_AFTER_SECONDS", str(24 * 3600)))
LIVEBLOG_WEBHOOK_PAUSE_MIN_FAILURES = int(os.environ.get("LIVEBLOG_WEBHOOK_PAUSE_MIN_FAILURES", "10"))
LIVEBLOG_WEBHOOK_BATCH_SIZE = int(os.environ.get("LIVEBLOG_WEBHOOK_BATCH_SIZE", "200"))
LIVEBLOG_WEBHOOK_CONCURRENCY = int(os.environ.get("LIVEBLOG_WEBHOOK_CONCURRENCY", "50"))
# WebSub hub the feeds advertise and each event pings (empty: none).
LIVEBLOG_WEBSUB_HUB = os.environ.get("LIVEBLOG_WEBSUB_HUB", "")
# CDN purge: "{key}" in the URL is replaced by the blog's surrogate key (else
# the key goes in a Surrogate-Key header); the token is sent as a Bearer token.
LIVEBLOG_CDN_PURGE_URL = os.environ.get("LIVEBLOG_CDN_PURGE_URL", "")
LIVEBLOG_CDN_PURGE_TOKEN = os.environ.get("LIVEBLOG_CDN_PURGE_TOKEN", "")
# Web Push (VAPID). Empty: a key pair is generated once into the key file
# (`manage.py generate_vapid_keys` prints a pair for the environment instead).
LIVEBLOG_VAPID_PUBLIC_KEY = os.environ.get("LIVEBLOG_VAPID_PUBLIC_KEY", "")
LIVEBLOG_VAPID_PRIVATE_KEY = os.environ.get("LIVEBLOG_VAPID_PRIVATE_KEY", "")
LIVEBLOG_VAPID_SUBJECT = os.environ.get("LIVEBLOG_VAPID_SUBJECT", "mailto:newsroom@example.com")
LIVEBLOG_VAPID_KEY_FILE = os.environ.get("LIVEBLOG_VAPID_KEY_FILE", str(BASE_DIR / ".vapid-keys.json"))

# --- Production profile ------------------------------------------------------
# Nchan's publisher (deploy/): the fan-out also sends each event's SSE frame
# there, and nginx streams it to every fresh reader. Empty: not used.
LIVEBLOG_NCHAN_PUBLISH_URL = os.environ.get("LIVEBLOG_NCHAN_PUBLISH_URL", "")

DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(256 * 1024)))

# --- Auth, i18n, static -----------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/desk/login/"
LOGIN_REDIRECT_URL = "/desk/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        "posts": {"level": os.environ.get("LOG_LEVEL", "INFO"), "propagate": True},
    },
}
