"""Settings shared by every environment. They come from environment variables with
embedded defaults for one machine: SQLite under var/, an embedded Redis started by
``make run``. DEBUG and the secret key are set by the module that imports this one:
``local`` (development, the default of manage.py), ``production`` (gunicorn, Celery) or
``test`` (the test suite).
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from modeling.endpoint_policy import AddressPolicy, parse_key_origins

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("EVALPORTAL_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = False  # local.py turns it on
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "annotations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "evalportal.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A domain error a view did not handle becomes the HTTP answer it means (404, 400, 503).
    "annotations.http_errors.DomainErrorMiddleware",
    # Last, as django-axes asks: it turns a lock-out into the lock-out response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, as django-axes asks: it refuses a locked-out password login before any backend runs.
    "axes.backends.AxesStandaloneBackend",
    "evalportal.roles.RoleAwareModelBackend",
    # Hospital sign-in (OpenID Connect): answers only the sign-in's callback, and only when configured.
    "evalportal.oidc.HospitalSignInBackend",
]
# Login throttling: 5 failures for a username from one address locks it for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# A hospital sign-in has no username until the provider has answered, so axes would count
# every failed one against the same (no username, address) pair: a few refused sign-ins
# behind a hospital's one outgoing address would lock everyone out. The provider throttles
# its own password prompts, and a sign-in's code cannot be guessed (one use, bound to the
# browser's session), so axes leaves hospital sign-ins alone.
AXES_WHITELIST_CALLABLE = "evalportal.oidc.axes_leaves_alone"

ROOT_URLCONF = "evalportal.urls"
WSGI_APPLICATION = "evalportal.wsgi.application"

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
                "evalportal.roles.role_context",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'evalportal.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 20, "transaction_mode": "IMMEDIATE",
                                            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"})
    # A fresh clone has no var/ yet; SQLite creates the file but not its folder.
    if DATABASES["default"]["NAME"] and DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_PREPARED_STATEMENTS", True):
    # Server-side binding lets psycopg prepare a query the third time a connection runs it,
    # so PostgreSQL stops planning the rating page's short queries on every request
    # (bench/web.py measures the difference). Set DATABASE_PREPARED_STATEMENTS=0
    # behind a pooler in transaction mode (PgBouncer), which cannot keep them.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 3})
    # ...which caps a query at 65,535 parameters: this backend keeps Django's batches under it.
    DATABASES["default"]["ENGINE"] = "evalportal.db.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    # Not a rule: deletes the user's API token whenever a password is saved, by any path.
    {"NAME": "annotations.services.users.TokensGoWithPassword"},
]
# Invitation links and password-reset links: one use each, then refused.
INVITATION_VALID_DAYS = int(os.environ.get("INVITATION_VALID_DAYS", "7"))
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT_HOURS", "24")) * 3600
# Reset mails one address may get in an hour (counted in the audit log); past that the
# reset page answers as always and sends nothing, so it cannot be used to flood a mailbox.
PASSWORD_RESET_MAILS_PER_HOUR = int(os.environ.get("PASSWORD_RESET_MAILS_PER_HOUR", "3"))

# Mail (invitations, password resets) through Django's backends: SMTP unless told
# otherwise; the development settings print mails to the console.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "evalportal <noreply@localhost>")

LOGIN_URL = "login"

# --- Hospital sign-in (OpenID Connect, mozilla-django-oidc) ----------------------------
# Off unless OIDC_RP_CLIENT_ID is set; then the login page offers it beside the password
# form (README: "Hospital sign-in (OpenID Connect)").
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
# The provider's discovery document, or its endpoints one by one (an endpoint named here
# wins over the document's).
OIDC_OP_DISCOVERY_URL = os.environ.get("OIDC_OP_DISCOVERY_URL", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ.get("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.environ.get("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.environ.get("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.environ.get("OIDC_OP_JWKS_ENDPOINT", "")
# The ID token's issuer must be this (the discovery document's issuer when unset there).
OIDC_OP_ISSUER = os.environ.get("OIDC_OP_ISSUER", "")
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = os.environ.get("OIDC_RP_SCOPES", "openid email profile")
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
OIDC_TIMEOUT = float(os.environ.get("OIDC_TIMEOUT_S", "10"))
EVALPORTAL_OIDC_LABEL = os.environ.get("EVALPORTAL_OIDC_LABEL", "Sign in with your hospital account")
# The claim that says the provider checked the address (Entra ID: xms_edov); an address
# not vouched for never signs anyone in.
EVALPORTAL_OIDC_EMAIL_VERIFIED_CLAIM = os.environ.get("EVALPORTAL_OIDC_EMAIL_VERIFIED_CLAIM", "email_verified")


def _claim_rule(name: str) -> tuple[str, str] | None:
    """``claim=value`` (the claim holds the value, or a list holding it) from a variable."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    claim, _, value = text.partition("=")
    if not claim.strip() or not value.strip():
        raise ImproperlyConfigured(f"{name} must read claim=value (groups=clinicians), not {text!r}")
    return claim.strip(), value.strip()


# Which claims give which role. Researcher and admin are never given by a claim unless
# their variable is set.
EVALPORTAL_OIDC_ROLE_CLAIMS = {role: rule for role, rule in (
    ("clinician", _claim_rule("EVALPORTAL_OIDC_CLINICIAN_CLAIM")),
    ("researcher", _claim_rule("EVALPORTAL_OIDC_RESEARCHER_CLAIM")),
    ("admin", _claim_rule("EVALPORTAL_OIDC_ADMIN_CLAIM"))) if rule}
if OIDC_RP_CLIENT_ID:
    if "clinician" not in EVALPORTAL_OIDC_ROLE_CLAIMS:
        raise ImproperlyConfigured(
            "OIDC_RP_CLIENT_ID is set: set EVALPORTAL_OIDC_CLINICIAN_CLAIM too (groups=clinicians), the claim "
            "that makes a clinician; without it nobody could sign in with the hospital's account.")
    if not OIDC_OP_DISCOVERY_URL and not all((OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT,
                                              OIDC_OP_USER_ENDPOINT, OIDC_OP_JWKS_ENDPOINT)):
        raise ImproperlyConfigured(
            "OIDC_RP_CLIENT_ID is set: set OIDC_OP_DISCOVERY_URL, or all of OIDC_OP_AUTHORIZATION_ENDPOINT, "
            "OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT and OIDC_OP_JWKS_ENDPOINT.")
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# plotly.js is served from the plotly package itself, so it always matches the figures' JSON.
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", Path(find_spec("plotly").origin).parent / "package_data")]
MEDIA_ROOT = VAR_DIR / "media"

# Uploads: case files stream to disk rather than memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# How often (at most) a rater's "next case" also returns idle assignments to the pool.
ASSIGNMENT_RELEASE_INTERVAL_SECONDS = int(os.environ.get("ASSIGNMENT_RELEASE_INTERVAL_SECONDS", "30"))
CASE_IMPORT_MAX_BYTES = int(os.environ.get("CASE_IMPORT_MAX_BYTES", str(2 * 1024**3)))
# An upload larger than this is imported by a worker, with a progress bar, not in the request.
CASE_IMPORT_BACKGROUND_BYTES = int(os.environ.get("CASE_IMPORT_BACKGROUND_BYTES", str(5 * 1024**2)))
# The Hugging Face dataset exports a study keeps on disk for download, newest first (at
# least 1): an export that succeeds removes the files of the older ones.
DATASET_EXPORTS_KEPT = max(1, int(os.environ.get("EVALPORTAL_DATASET_EXPORTS_KEPT", "3")))

# Database sessions (a logout ends the session on the server), read with plain SQL.
SESSION_ENGINE = "evalportal.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)  # local.py turns it off
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0"))  # set once the site is served over https
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_TLS_PROXY") else None
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Redis and Celery -------------------------------------------------------------
EMBEDDED_REDIS_PORT = int(os.environ.get("EMBEDDED_REDIS_PORT", "6390"))
REDIS_URL = os.environ.get("REDIS_URL", f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
# The queues are declared with the app (evalportal/celery.py, names in annotations/queues.py).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# An unacked task is redelivered after this; it must outlast the longest GPU job.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(12 * 3600))),
    # How often a worker sweeps for messages whose worker died (seconds = interval x throttle).
    "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", "6")),
    "socket_connect_timeout": 3,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 24 * 3600

# --- Models -------------------------------------------------------------------------
EVALPORTAL_MODEL_CACHE = os.environ.get("EVALPORTAL_MODEL_CACHE", str(Path.home() / ".cache" / "evalportal" / "models"))
EVALPORTAL_ADAPTER_DIR = Path(os.environ.get("EVALPORTAL_ADAPTER_DIR", VAR_DIR / "adapters"))
# A training job runs over every GPU its worker sees, one process each (DDP); an accelerate
# config file (`accelerate config`) sets up FSDP or DeepSpeed instead.
EVALPORTAL_ACCELERATE_CONFIG = os.environ.get("EVALPORTAL_ACCELERATE_CONFIG", "")
# Where training runs are tracked: tensorboard (files under the adapter's runs/), mlflow,
# wandb (their packages installed on the workers, configured by their own variables), none.
EVALPORTAL_TRAIN_REPORT_TO = os.environ.get("EVALPORTAL_TRAIN_REPORT_TO", "tensorboard")
# Where a worker loads models: blank for its GPU (or the CPU), "auto" to spread a model too
# large for one GPU over all the GPUs the worker sees (CUDA_VISIBLE_DEVICES).
EVALPORTAL_MODEL_DEVICE = os.environ.get("EVALPORTAL_MODEL_DEVICE", "")
# What runs a generation job's chunks on a worker: a function job -> (engine, provenance).
EVALPORTAL_GENERATION_ENGINE = os.environ.get("EVALPORTAL_GENERATION_ENGINE", "annotations.worker_runtime.local_engine")
# Local arms decode on transformers' static KV cache, its forward compiled on a GPU, instead
# of the dynamic cache: off until a GPU benchmark (bench/generation.py) shows it ahead.
EVALPORTAL_GENERATION_STATIC_CACHE = env_bool("EVALPORTAL_GENERATION_STATIC_CACHE", False)
# The environment variables whose API keys endpoints may use, and the servers (base URLs,
# compared by origin) each key may be sent to, as JSON: {"LAB_VLLM_KEY": ["http://gpu-7:8000"]}.
# An arm names one of them (api_key_env); the judge's JUDGE_OPENAI_API_KEY goes to the origin
# of JUDGE_OPENAI_BASE_URL and to those listed for it here. No other key leaves a worker.
try:
    EVALPORTAL_ENDPOINT_KEYS = parse_key_origins(os.environ.get("EVALPORTAL_ENDPOINT_KEYS"))
except ValueError as exc:
    raise ImproperlyConfigured(f"EVALPORTAL_ENDPOINT_KEYS: {exc}") from None
if os.environ.get("EVALPORTAL_ENDPOINT_API_KEYS"):
    raise ImproperlyConfigured(
        "EVALPORTAL_ENDPOINT_API_KEYS is no longer read: put each key in its own environment variable, name it "
        "on the arm (api_key_env) and list the servers it may go to in EVALPORTAL_ENDPOINT_KEYS.")
# Internal addresses (loopback, private, link-local) endpoints may be on: 1 for all, or IP
# networks separated by commas (10.0.5.0/24). Off here; the local and test settings allow all.
try:
    EVALPORTAL_ENDPOINT_ALLOW_PRIVATE = AddressPolicy.from_setting(
        os.environ.get("EVALPORTAL_ENDPOINT_ALLOW_PRIVATE")).allowed
except ValueError as exc:
    raise ImproperlyConfigured(f"EVALPORTAL_ENDPOINT_ALLOW_PRIVATE: {exc}") from None
# Seconds an endpoint may take for one answer, and how often the client retries (with
# exponential backoff) on 429, 5xx, timeouts and lost connections.
EVALPORTAL_ENDPOINT_TIMEOUT_S = float(os.environ.get("EVALPORTAL_ENDPOINT_TIMEOUT_S", "120"))
EVALPORTAL_ENDPOINT_MAX_RETRIES = int(os.environ.get("EVALPORTAL_ENDPOINT_MAX_RETRIES", "5"))
# Cases per chunk of a generation or judge job: the unit of work a free worker takes.
# Large enough that a chunk's own bookkeeping (its Celery task, locks, the job's sums)
# stays a small part of what the portal spends on it, small enough that a large job is
# still many pieces for the workers to share.
JOB_CHUNK_CASES = int(os.environ.get("JOB_CHUNK_CASES", "512"))
# Folders whose models (base models, adapters, local judges) a job may load; paths
# elsewhere are refused. The adapters folder is always one of them.
EVALPORTAL_MODEL_ROOTS = [EVALPORTAL_ADAPTER_DIR, *[Path(root) for root in os.environ.get(
    "EVALPORTAL_MODEL_ROOTS", str(VAR_DIR / "models")).split(os.pathsep) if root]]

# A running job (or chunk) whose worker has not beaten for this long is shown as "worker
# lost" and can be cancelled or retried at once; web and workers read the same value.
JOB_WORKER_LOST_S = float(os.environ.get("JOB_WORKER_LOST_S", "120"))

# --- REST framework -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["annotations.api.parsers.StorableJSONParser",
                               "rest_framework.parsers.FormParser", "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotations.http_errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "evalportal API",
    "DESCRIPTION": "Studies, cases, arms, jobs, responses, assignments and ratings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc assets are served from the sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "annotations.api.schema.document_error_responses"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
