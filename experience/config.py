"""Configuration, read from the environment.

``Config`` is the embedded default (SQLite under ``instance/``, suitable for a demo on
one machine). ``ProductionConfig`` is chosen with ``EXPERIENCE_ENV=production``: it
refuses to start without a real SECRET_KEY and PUBLIC_BASE_URL, marks cookies secure,
and forbids the demo data.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lan_address() -> str:
    """This machine's address on its network, the one a phone on the same Wi-Fi uses:
    the source address of a route outwards (a UDP "connect" sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never answered, only routed
            address = s.getsockname()[0]
        if address and not address.startswith(("0.", "127.")):
            return address
    except OSError:
        pass
    return "127.0.0.1"


def development_base_url(environ=os.environ) -> str:
    """Where printed QR codes and links point when PUBLIC_BASE_URL is not set: the address
    the server listens on (HOST and PORT, as `make run` passes them to gunicorn), with a
    wildcard HOST (0.0.0.0) replaced by the LAN address, which phones can reach."""
    host = environ.get("HOST") or "127.0.0.1"
    port = environ.get("PORT") or "8000"
    if host in ("0.0.0.0", "::", "[::]"):
        host = lan_address()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "")  # default set in create_app
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL") or development_base_url()
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", "")  # default: instance/uploads
    #: where stored files live (core/storage.py): file:///path or memory://; default UPLOAD_DIR
    STORAGE_URI = os.environ.get("STORAGE_URI", "")
    #: each submitted photo or video work is fingerprinted by the worker for look-alike
    #: search (screening.duplicates)
    SCREENING_FINGERPRINTS = True
    #: when set (e.g. /_stored/), files are answered with X-Accel-Redirect to this nginx
    #: internal location plus the key, and nginx sends the bytes (core/files.py)
    STORAGE_X_ACCEL_PREFIX = os.environ.get("STORAGE_X_ACCEL_PREFIX", "")
    #: the largest video a work may have (works/media.py): 1 GiB holds a 3-minute 1080p
    #: export at up to ~47 Mbit/s; phones and editors give 225–680 MB
    WORKS_VIDEO_MAX_BYTES = int(os.environ.get("WORKS_VIDEO_MAX_BYTES", 1024 * 1024 * 1024))

    # A 20 MB attachment plus the rest of the form; anything larger answers 413.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 24 * 1024 * 1024))
    MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024

    # Sessions: signed cookie, ended server-side after 30 idle minutes (see accounts).
    IDLE_TIMEOUT = timedelta(minutes=int(os.environ.get("IDLE_TIMEOUT_MINUTES", 30)))
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)

    # CSRF tokens live as long as the session; an expired one gets a Chinese page.
    WTF_CSRF_TIME_LIMIT = None

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")

    # Failed-login throttling (counted in the database, so it holds across workers).
    LOGIN_FAILURES_PER_ACCOUNT = 5
    LOGIN_FAILURES_PER_IP = 30
    LOGIN_THROTTLE_WINDOW = timedelta(minutes=15)

    #: default: a SQLite file under instance/ shared by the workers (core/ratelimit.py)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "")
    RATELIMIT_HEADERS_ENABLED = True

    # Behind a reverse proxy (nginx) set TRUSTED_PROXIES=1 so client IPs are right.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", 0))

    DEMO_ALLOWED = True
    TESTING = False
    #: werkzeug's scrypt (n=2**15, r=8, p=1) with a random salt
    PASSWORD_HASH_METHOD = "scrypt"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    DEMO_ALLOWED = False

    @classmethod
    def check(cls) -> None:
        missing = [k for k in ("SECRET_KEY", "DATABASE_URL", "PUBLIC_BASE_URL") if not os.environ.get(k)]
        if missing:
            raise RuntimeError("production configuration needs: " + ", ".join(missing))
        problem = secret_key_problem(os.environ["SECRET_KEY"])
        if problem:
            raise RuntimeError(
                f"SECRET_KEY {problem}; make one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"
            )


#: keys that appear in code, documentation or tutorials: anyone can sign a session with them
KNOWN_KEYS = {
    "dev-only-not-secret",
    "test-secret",
    "secret",
    "secret-key",
    "secret_key",
    "changeme",
    "change-me",
    "development",
    "dev",
    "your-secret-key",
    "super-secret",
}
MIN_KEY_LENGTH = 32


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` cannot sign production sessions, or None. The key signs every session
    cookie and form token: a short, known or one-letter key lets anyone forge a login."""
    if key.strip().lower() in KNOWN_KEYS:
        return "is a published example"
    if len(key) < MIN_KEY_LENGTH:
        return f"is shorter than {MIN_KEY_LENGTH} characters"
    if len(set(key)) < 10:
        return "repeats too few characters to be random"
    return None


class TestConfig(Config):
    TESTING = True
    # tests/screening/test_duplicates.py turns it on; elsewhere each photo or video work a
    # test submits would be decoded once more for nothing (jobs run inside the test)
    SCREENING_FINGERPRINTS = False
    SECRET_KEY = "test-secret"
    PUBLIC_BASE_URL = "http://testserver"
    RATELIMIT_STORAGE_URI = "memory://"
    # The same algorithm at a lower cost, so that a test creating users stays fast.
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"


def config_from_env() -> type[Config]:
    if os.environ.get("EXPERIENCE_ENV", "").lower() == "production":
        ProductionConfig.check()
        return ProductionConfig
    return Config
