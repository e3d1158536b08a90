"""Settings for the live-blog CMS.

One file, read from the environment. With nothing set it runs embedded on a
fresh machine: SQLite, local-memory cache, an in-process live channel and
Celery tasks run in-process. Setting ``DATABASE_URL`` and ``REDIS_URL``
switches to the production profile (PostgreSQL via psycopg 3, Redis for the
cache, the Celery broker and the live channel).
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF

from liveblog import logging as liveblog_logging

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get(
    # The "django-insecure-" prefix makes `manage.py check --deploy` refuse it (security.W009).
    "SECRET_KEY", "django-insecure-embedded-default-set-SECRET_KEY-in-production"
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
    "csp",
    "ninja",  # serves the API docs' Swagger UI from our static files, not a CDN
    "axes",
    "posts",
]

MIDDLEWARE = [
    # First: every later log line and task carries the request id, and the
    # metrics see the final status (docs/operations.md).
    "liveblog.logging.RequestIdMiddleware",
    "liveblog.metrics.MetricsMiddleware",
    "posts.web.input_guard.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "liveblog.staticfiles.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "posts.web.api.edges.ApiEdgesMiddleware",  # every /api/ answer JSON; HEAD on reads
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Idempotency-Key on the write API and the desk's forms (after auth: a
    # desk key is kept per user).
    "posts.web.api.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "posts.web.middleware.DatabaseUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out log-in
]

# --- Embeds (docs/embeds.md) --------------------------------------------------
# Social embeds: providers whose links become click-to-load facades. Each names
# its oEmbed endpoint and the one origin its player is framed from (the CSP
# frame-src below); "hosts" (links it takes) for providers added by
# LIVEBLOG_OEMBED_PROVIDERS, JSON: {"vimeo": {"label": "Vimeo", "hosts": ["vimeo.com"],
# "endpoint": "https://vimeo.com/api/oembed.json", "frame": "https://player.vimeo.com", "kind": "video"}}.
LIVEBLOG_EMBED_PROVIDERS = {
    "youtube": {"label": "YouTube", "endpoint": "https://www.youtube.com/oembed",
                "frame": "https://www.youtube-nocookie.com", "kind": "video"},
    "x": {"label": "X", "endpoint": "https://publish.twitter.com/oembed", "frame": "https://platform.twitter.com"},
    "bluesky": {"label": "Bluesky", "endpoint": "https://embed.bsky.app/oembed", "frame": "https://embed.bsky.app"},
    **json.loads(os.environ.get("LIVEBLOG_OEMBED_PROVIDERS", "{}")),
}
# Seconds for each request of a capture (oEmbed answer, thumbnail), whole.
LIVEBLOG_EMBED_TIMEOUT = float(os.environ.get("LIVEBLOG_EMBED_TIMEOUT", "5"))
# The widget (/live/<slug>/embed/): who may frame it, and how many entries it shows.
LIVEBLOG_EMBED_FRAME_ANCESTORS = [
    o.strip() for o in os.environ.get("LIVEBLOG_EMBED_FRAME_ANCESTORS", "*").split(",") if o.strip()
]
LIVEBLOG_EMBED_ENTRIES = int(os.environ.get("LIVEBLOG_EMBED_ENTRIES", "10"))

# --- Security headers (deploy/README.md: the TLS environment) ---------------
# Content-Security-Policy on every answer, no 'unsafe-inline' anywhere.
# Public pages are one shared copy in every cache, so they carry no inline
# script (JSON-LD data blocks are not scripts) and get script-src 'self'.
# NONCE adds a per-response nonce only to a page whose template asks for
# one (request.csp_nonce); no public template does.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "https:", "data:"],  # entries may show images from anywhere on https
        "connect-src": [SELF],
        "font-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        # Players of the embed providers, loaded only when a reader clicks.
        "frame-src": sorted({p["frame"].rstrip("/") for p in LIVEBLOG_EMBED_PROVIDERS.values()}),
        # Only /live/<slug>/embed/ may be framed (LIVEBLOG_EMBED_FRAME_ANCESTORS).
        "frame-ancestors": [NONE],
    },
}
# HTTPS: set by the environment where TLS ends in front of the app.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
# "HTTP_X_FORWARDED_PROTO,https": trust this header from the proxy in front
# (only if that proxy always sets it, overwriting what a client sent).
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    _header, _, _value = os.environ["SECURE_PROXY_SSL_HEADER"].partition(",")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip() or "https")

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
    if env_bool("LIVEBLOG_PGBOUNCER", False):
        # PgBouncer in transaction mode (1.18) keeps no session between
        # transactions: no prepared statements (psycopg prepares a query
        # after 5 runs unless prepare_threshold is None), no server-side
        # cursors (QuerySet.iterator() would declare one); the code takes no
        # session-level advisory locks (row locks live in the transaction).
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
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
            # Django's, with one client per pool (liveblog/redis_pool.py).
            "BACKEND": "liveblog.redis_pool.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "lb"),
            # A lost Redis must cost readers milliseconds, not seconds: the read
            # side then serves from the database (posts/delivery/cache.py).
            "OPTIONS": {
                # One pool per process, not one per request (liveblog/redis_pool.py).
                "pool_class": "liveblog.redis_pool.SharedConnectionPool",
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
# Reader questions (docs/questions.md): longest question, and how many one
# address may send per window.
LIVEBLOG_QUESTION_MAX_CHARS = int(os.environ.get("LIVEBLOG_QUESTION_MAX_CHARS", "1000"))
LIVEBLOG_QUESTIONS_PER_ADDRESS = int(os.environ.get("LIVEBLOG_QUESTIONS_PER_ADDRESS", "5"))
LIVEBLOG_QUESTIONS_WINDOW_SECONDS = int(os.environ.get("LIVEBLOG_QUESTIONS_WINDOW_SECONDS", "600"))
# A live blog with no new entry for this long is flagged on the desk (0: never).
LIVEBLOG_QUIET_MINUTES = float(os.environ.get("LIVEBLOG_QUIET_MINUTES", "30"))
LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = env_bool("LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE", False)
# Fact-check verdicts, best first (comma-separated). ClaimReview's ratingValue
# counts from the worst (1) to the best (len), as Google's fact-check markup
# wants bestRating > worstRating >= 1 (docs/structured-data.md).
LIVEBLOG_FACT_CHECK_VERDICTS = tuple(
    v.strip()
    for v in os.environ.get("LIVEBLOG_FACT_CHECK_VERDICTS", "True,Mostly true,Misleading,False").split(",")
    if v.strip()
)
# The publisher named in the pages' structured data (schema.org Organization):
# its name, home page and logo (absolute URL; default the bundled one).
LIVEBLOG_PUBLISHER_NAME = os.environ.get("LIVEBLOG_PUBLISHER_NAME", "Newsroom")
LIVEBLOG_PUBLISHER_URL = os.environ.get("LIVEBLOG_PUBLISHER_URL", LIVEBLOG_SITE_URL + "/")
LIVEBLOG_PUBLISHER_LOGO = os.environ.get(
    "LIVEBLOG_PUBLISHER_LOGO", LIVEBLOG_SITE_URL + "/static/live/publisher-logo.png"
)

# --- Fan-out ----------------------------------------------------------------
# SSE: the client's reconnect delay and the heartbeat comment interval.
LIVEBLOG_SSE_RETRY_MS = int(os.environ.get("LIVEBLOG_SSE_RETRY_MS", "3000"))
LIVEBLOG_SSE_HEARTBEAT_SECONDS = float(os.environ.get("LIVEBLOG_SSE_HEARTBEAT_SECONDS", "15"))
# Overload control (posts/delivery/pushmode.py): "sse" (readers hold a
# stream; they poll /updates every LIVEBLOG_POLL_SECONDS only as a fallback)
# or "poll" (no streams: every reader polls /updates every
# LIVEBLOG_OVERLOAD_POLL_SECONDS, through the caches). `manage.py push_mode`
# switches all blogs or one at run time.
LIVEBLOG_PUSH_MODE = os.environ.get("LIVEBLOG_PUSH_MODE", "sse")
LIVEBLOG_POLL_SECONDS = float(os.environ.get("LIVEBLOG_POLL_SECONDS", "5"))
LIVEBLOG_OVERLOAD_POLL_SECONDS = float(os.environ.get("LIVEBLOG_OVERLOAD_POLL_SECONDS", "20"))
# Beat: how often the sweep and the scheduled-entry publisher run, and how old
# an unconfirmed event must be before the sweep re-sends it.
LIVEBLOG_SWEEP_SECONDS = float(os.environ.get("LIVEBLOG_SWEEP_SECONDS", "2"))
# The embedded scheduler (liveblog/scheduler.py): "auto" runs it in the app
# server where there is no beat (Celery eager); "1"/"0" force it.
LIVEBLOG_EMBEDDED_SCHEDULER = os.environ.get("LIVEBLOG_EMBEDDED_SCHEDULER", "auto")
LIVEBLOG_EMBEDDED_TICK_SECONDS = float(os.environ.get("LIVEBLOG_EMBEDDED_TICK_SECONDS", "1"))
# Polls (docs/polls.md): votes are flushed to the database and tallies sent
# every LIVEBLOG_POLL_FLUSH_SECONDS (poll.updated never more than once a
# second per poll); each address may vote LIVEBLOG_POLL_VOTES_PER_ADDRESS
# times per poll per window (households and offices share an address).
LIVEBLOG_POLL_FLUSH_SECONDS = float(os.environ.get("LIVEBLOG_POLL_FLUSH_SECONDS", "1"))
LIVEBLOG_POLL_VOTES_PER_ADDRESS = int(os.environ.get("LIVEBLOG_POLL_VOTES_PER_ADDRESS", "30"))
LIVEBLOG_POLL_RATE_WINDOW_SECONDS = float(os.environ.get("LIVEBLOG_POLL_RATE_WINDOW_SECONDS", "60"))
# Other sites' origins whose pages (the widget) may post votes, comma-separated
# (e.g. "https://partner.example"); the site's own origin always may.
LIVEBLOG_EMBED_ORIGINS = [
    o.strip().rstrip("/") for o in os.environ.get("LIVEBLOG_EMBED_ORIGINS", "").split(",") if o.strip()
]
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
# Several URLs (separated by spaces or commas): every one is purged, e.g.
# one per cache node of deploy/cluster.
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

# Uploads over this stay on disk (a temporary file) while they are checked.
FILE_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("FILE_UPLOAD_MAX_MEMORY_SIZE", str(2 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(256 * 1024)))

# --- Auth, i18n, static -----------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out log-in before the password check
    "django.contrib.auth.backends.ModelBackend",
]
# Log-in throttling (django-axes) on the desk and the admin: after
# LIVEBLOG_LOGIN_FAILURE_LIMIT failures for a username, or from an address,
# that username or address is refused for LIVEBLOG_LOGIN_COOLOFF_MINUTES.
# Failures are rows in the database, so every process of either profile
# counts the same ones. Reset: `manage.py axes_reset_username <name>`,
# `axes_reset_ip <address>`, or the admin's "Access attempts" (README).
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = int(os.environ.get("LIVEBLOG_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LIVEBLOG_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per user and per address
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "posts.web.auth.locked_out"
AXES_CLIENT_IP_CALLABLE = "posts.web.auth.client_ip"
AXES_VERBOSE = False
# Proxies in front that append to X-Forwarded-For (nginx in `make serve-prod`:
# 1). 0 trusts no header and uses the socket's address.
LIVEBLOG_PROXY_COUNT = int(os.environ.get("LIVEBLOG_PROXY_COUNT", "0"))

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
# Static files fit for a CDN: `collectstatic` (run by `make run`, the
# production profile and the test session) writes fingerprinted copies
# (live.3f2a9c1e0b4d.js) with .gz and .br beside them; pages link the
# fingerprinted names. WhiteNoise serves them with a year's immutable cache
# (liveblog/staticfiles.py), nginx does the same in the production profile.
STORAGES = {
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Photos (docs/media.md) ---------------------------------------------------
# Uploaded photos live in the "default" storage and are public at MEDIA_URL;
# a photo taken down with its entry moves to the "withheld" storage, which
# nothing serves. Embedded default: two folders on disk (the app serves
# MEDIA_URL; nginx does in the production profile). LIVEBLOG_MEDIA_S3_BUCKET
# switches both to an S3-compatible store through django-storages: public
# photos under media/, withheld ones under withheld/ (private ACL). Captured
# embed thumbnails (docs/embeds.md) live in the default storage under embeds/.
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media")))
LIVEBLOG_MEDIA_WITHHELD_ROOT = Path(
    os.environ.get("LIVEBLOG_MEDIA_WITHHELD_ROOT", str(BASE_DIR / "media-withheld"))
)
LIVEBLOG_MEDIA_S3_BUCKET = os.environ.get("LIVEBLOG_MEDIA_S3_BUCKET", "")
if LIVEBLOG_MEDIA_S3_BUCKET:
    _s3 = {
        "bucket_name": LIVEBLOG_MEDIA_S3_BUCKET,
        "endpoint_url": os.environ.get("LIVEBLOG_MEDIA_S3_ENDPOINT_URL") or None,
        "region_name": os.environ.get("LIVEBLOG_MEDIA_S3_REGION") or None,
        # Keys from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
        # or the machine's role, as boto3 finds them.
        "file_overwrite": False,
    }
    # Empty: a bucket with ACLs disabled, public by a policy on media/* only.
    _acl = os.environ.get("LIVEBLOG_MEDIA_S3_ACL", "public-read")
    STORAGES["default"] = {"BACKEND": "posts.domain.media_files.PhotoS3Storage", "OPTIONS": {
        **_s3, "location": "media", "default_acl": _acl or None,
        # Plain URLs: they travel in events, feeds and partners' copies.
        "querystring_auth": False,
        "custom_domain": os.environ.get("LIVEBLOG_MEDIA_S3_CUSTOM_DOMAIN") or None,
        "object_parameters": {"CacheControl": "public, max-age=3600, s-maxage=604800"},
    }}
    STORAGES["withheld"] = {"BACKEND": "posts.domain.media_files.PhotoS3Storage", "OPTIONS": {
        **_s3, "location": "withheld", "default_acl": "private" if _acl else None, "querystring_auth": True,
    }}
else:
    STORAGES["default"] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    STORAGES["withheld"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": LIVEBLOG_MEDIA_WITHHELD_ROOT, "base_url": "/withheld-is-never-served/"},
    }
# Refused uploads: over this many bytes (413), over this many pixels per frame
# or frames x pixels over 4x that (413: a decompression bomb), other types (415).
LIVEBLOG_MEDIA_MAX_BYTES = int(os.environ.get("LIVEBLOG_MEDIA_MAX_BYTES", str(15 * 1024 * 1024)))
LIVEBLOG_MEDIA_MAX_PIXELS = int(os.environ.get("LIVEBLOG_MEDIA_MAX_PIXELS", str(40_000_000)))
# Rendition widths (px); each as WebP and a JPEG fallback.
LIVEBLOG_MEDIA_WIDTHS = tuple(
    int(w) for w in os.environ.get("LIVEBLOG_MEDIA_WIDTHS", "480,960,1600").split(",") if w.strip()
)
# Retention: a photo uploaded and never used by an entry, older than this, is
# deleted with its files (0 keeps them).
LIVEBLOG_RETAIN_ORPHAN_MEDIA_DAYS = float(os.environ.get("LIVEBLOG_RETAIN_ORPHAN_MEDIA_DAYS", "2"))
# Only fingerprinted names are kept (and compressed: half the work).
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
WHITENOISE_MAX_AGE = 300

# --- Operations (docs/operations.md) ------------------------------------------
# Logs: JSON lines (LOG_FORMAT=json, the production profile's) or plain text;
# to stderr, or to LOG_FILE through a WatchedFileHandler that logrotate can move.
LOGGING = liveblog_logging.logging_config(
    level=os.environ.get("LOG_LEVEL", "WARNING"),
    app_level=os.environ.get("LOG_LEVEL", "INFO"),
    json_logs=os.environ.get("LOG_FORMAT", "plain") == "json",
    log_file=os.environ.get("LOG_FILE", ""),
)
# Error tracking: off unless SENTRY_DSN is set.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
liveblog_logging.init_sentry(
    SENTRY_DSN, environment=os.environ.get("SENTRY_ENVIRONMENT", ""), release=os.environ.get("SENTRY_RELEASE", "")
)

# Retention, in days (0 keeps for ever); one beat task every
# LIVEBLOG_RETENTION_SECONDS deletes in batches of LIVEBLOG_RETENTION_BATCH
# rows (each its own transaction), at most LIVEBLOG_RETENTION_MAX_ROWS per
# rule and run. Sessions: Django's clearsessions, same run.
LIVEBLOG_RETAIN_WEBHOOK_ATTEMPTS_DAYS = float(os.environ.get("LIVEBLOG_RETAIN_WEBHOOK_ATTEMPTS_DAYS", "30"))
LIVEBLOG_RETAIN_DELIVERED_DAYS = float(os.environ.get("LIVEBLOG_RETAIN_DELIVERED_DAYS", "7"))
LIVEBLOG_RETAIN_GIVEN_UP_DAYS = float(os.environ.get("LIVEBLOG_RETAIN_GIVEN_UP_DAYS", "30"))
LIVEBLOG_RETAIN_PUSH_AFTER_CLOSE_DAYS = float(os.environ.get("LIVEBLOG_RETAIN_PUSH_AFTER_CLOSE_DAYS", "7"))
LIVEBLOG_RETAIN_IDEMPOTENCY_KEYS_DAYS = float(os.environ.get("LIVEBLOG_RETAIN_IDEMPOTENCY_KEYS_DAYS", "2"))
LIVEBLOG_RETAIN_LOGIN_RECORDS_DAYS = float(os.environ.get("LIVEBLOG_RETAIN_LOGIN_RECORDS_DAYS", "30"))
# Answered or dismissed reader questions (pending ones wait for the desk).
LIVEBLOG_RETAIN_QUESTIONS_DAYS = float(os.environ.get("LIVEBLOG_RETAIN_QUESTIONS_DAYS", "30"))
LIVEBLOG_RETENTION_SECONDS = float(os.environ.get("LIVEBLOG_RETENTION_SECONDS", "3600"))
LIVEBLOG_RETENTION_BATCH = int(os.environ.get("LIVEBLOG_RETENTION_BATCH", "500"))
LIVEBLOG_RETENTION_MAX_ROWS = int(os.environ.get("LIVEBLOG_RETENTION_MAX_ROWS", "100000"))
LIVEBLOG_RETENTION_PAUSE_SECONDS = float(os.environ.get("LIVEBLOG_RETENTION_PAUSE_SECONDS", "0.05"))

# /readyz: not ready while the oldest unconfirmed event is older than this
# (seconds; 0 leaves the outbox out of readiness).
LIVEBLOG_READY_MAX_OUTBOX_LAG = float(os.environ.get("LIVEBLOG_READY_MAX_OUTBOX_LAG", "120"))
# /metrics: served by the app; the production profile exposes it on a
# loopback-only nginx port, never through the public server.
LIVEBLOG_METRICS_ENABLED = env_bool("LIVEBLOG_METRICS_ENABLED", True)

# Production (set by deploy/profile.py): the secret key and the VAPID pair
# must come from the environment. Losing the VAPID pair kills every push
# subscription; a new secret key logs everyone out.
LIVEBLOG_PRODUCTION = env_bool("LIVEBLOG_PRODUCTION", False)
if LIVEBLOG_PRODUCTION and not DEBUG:
    _missing = [
        name for name in ("SECRET_KEY", "LIVEBLOG_VAPID_PUBLIC_KEY", "LIVEBLOG_VAPID_PRIVATE_KEY")
        if not os.environ.get(name)
    ]
    if _missing:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"LIVEBLOG_PRODUCTION=1 needs {', '.join(_missing)} in the environment "
            "(`manage.py generate_vapid_keys` prints a VAPID pair; deploy/README.md, Secrets)."
        )
