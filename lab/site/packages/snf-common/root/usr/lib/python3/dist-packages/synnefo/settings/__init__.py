"""Synnefo settings, loaded like snf-common does it: defaults, then every
/etc/synnefo/*.conf executed as Python in sorted file-name order (later files
override earlier ones). Then the settings are given the meaning the installed
version gives them: at 0.18.x Django 1.4's legacy CACHE_BACKEND URIs, at 0.19
Django 1.7's dict caches with CACHE_BACKEND silently ignored."""
import glob
import os

from synnefo.lab import VERSION, AT_019, legacy_cache, dict_cache

SYNNEFO_SETTINGS_DIR = os.environ.get("SYNNEFO_SETTINGS_DIR", "/etc/synnefo")

# Defaults of the real snf-webproject/snf-common (the parts the stand-in uses).
DEBUG = False
SECRET_KEY = "ly6)mw6a7x%n)-e#zzk4jo6f2=uqu!1o%)2-(7lo+f9yd^k^bg"
ROOT_URLCONF = "synnefo.webproject.urls"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = []
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOG_DIR = "/var/log/synnefo/"
DATABASES = {}
FORMATTERS = {
    "simple": {"format": "%(asctime)s [%(levelname)s] %(message)s"},
    "verbose": {"format": "%(asctime)s [%(process)d] %(name)s %(module)s [%(levelname)s] %(message)s"},
}
if AT_019:
    ALLOWED_HOSTS = ["*"]
    _root_handler = "file"
else:
    _root_handler = "console"
LOGGING_SETUP = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": FORMATTERS,
    "handlers": {
        "null": {"class": "logging.NullHandler"},
        "console": {"class": "logging.StreamHandler", "formatter": "verbose"},
        "file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": "/var/log/synnefo/synnefo.log",
            "formatter": "verbose",
            "delay": True,
        },
    },
    "loggers": {
        "": {"handlers": [_root_handler], "level": "INFO"},
        "synnefo": {"handlers": [_root_handler], "level": "INFO", "propagate": 0},
    },
}
if AT_019:
    PUBLIC_STATS_CACHE = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "", "KEY_PREFIX": "publicstats", "TIMEOUT": 300,
    }
    VM_PASSWORD_CACHE = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "", "KEY_PREFIX": "vmpassword", "TIMEOUT": None,
    }
    VMAPI_CACHE = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "", "KEY_PREFIX": "vmapi",
    }
else:
    VMAPI_CACHE_KEY_PREFIX = "vmapi"

SETTINGS_FILES = sorted(glob.glob(os.path.join(SYNNEFO_SETTINGS_DIR, "*.conf")))
for _f in SETTINGS_FILES:
    with open(_f) as _fh:
        exec(compile(_fh.read(), _f, "exec"))

# --- what the installed version makes of them -----------------------------
for _db in DATABASES.values():
    if _db.get("ENGINE") == "django.db.backends.postgresql_psycopg2":
        _db["ENGINE"] = "django.db.backends.postgresql"  # same driver, newer name
    _db.setdefault("OPTIONS", {}).pop("synnefo_poolsize", None)

if AT_019:
    # Django 1.7: CACHE_BACKEND means nothing any more; the three caches are
    # whatever the dicts say (LocMemCache unless configured).
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "PublicStats": dict_cache(PUBLIC_STATS_CACHE),
        "VMPassword": dict_cache(VM_PASSWORD_CACHE),
        "vmapi": dict_cache(VMAPI_CACHE),
    }
else:
    # Django 1.4: CACHE_BACKEND is the default cache (VM passwords, public
    # stats, sessions use it); VMAPI falls back to it.
    _default = globals().get("CACHE_BACKEND", "locmem://")
    CACHES = {
        "default": legacy_cache(_default),
        # MemoryCache subclasses (VM passwords, public stats) used the default cache.
        "PublicStats": legacy_cache(_default),
        "VMPassword": legacy_cache(_default),
        "vmapi": legacy_cache(globals().get("VMAPI_CACHE_BACKEND", _default),
                              prefix=VMAPI_CACHE_KEY_PREFIX),
    }
    # Django 1.4 had no Host check; the stand-in runs on a newer Django.
    ALLOWED_HOSTS = ["*"]
    REPORTED_ALLOWED_HOSTS = None

LOGGING = LOGGING_SETUP
