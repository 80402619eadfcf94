"""Shared helpers of the lab's Synnefo stand-in: which version is installed,
which components (apps) this host has, cache-setting translation, the
database connection. Owns no state of its own."""
import glob
import os
from urllib.parse import parse_qs

try:
    from synnefo.lab.version import VERSION, DEBIAN_VERSION
except ImportError:  # running from the source tree
    VERSION, DEBIAN_VERSION = "0.18.1", "0.18.1-1~bookworm"

AT_019 = tuple(int(x) for x in VERSION.split(".")[:2]) >= (0, 19)
COMPONENTS_DIR = os.environ.get("SNF_LAB_SHARE", "/usr/share/synnefo/lab") + "/components"

_LEGACY = {
    "memcached": "django.core.cache.backends.memcached.PyMemcacheCache",
    "locmem": "django.core.cache.backends.locmem.LocMemCache",
    "dummy": "django.core.cache.backends.dummy.DummyCache",
    "file": "django.core.cache.backends.filebased.FileBasedCache",
    "db": "django.core.cache.backends.db.DatabaseCache",
}
# Synnefo's settings name python-memcache's backend; Debian's Django ships
# the pymemcache one (MemcachedCache is gone since Django 4.1). Same server,
# same protocol.
_RENAMED = {
    "django.core.cache.backends.memcached.MemcachedCache":
        "django.core.cache.backends.memcached.PyMemcacheCache",
}


def legacy_cache(uri, prefix=None):
    """Django 1.4's `scheme://host[/][?timeout=N&...]` as a CACHES entry."""
    scheme, _, rest = uri.partition("://")
    if scheme not in _LEGACY:
        raise ValueError("unknown cache scheme %r in %r" % (scheme, uri))
    host, _, query = rest.partition("?")
    host = host.rstrip("/")
    conf = {"BACKEND": _LEGACY[scheme], "LOCATION": host.split(";") if ";" in host else host}
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if "timeout" in params:
        conf["TIMEOUT"] = int(params.pop("timeout"))
    if params:
        conf["OPTIONS"] = {k.upper(): int(v) for k, v in params.items()}
    if prefix:
        conf["KEY_PREFIX"] = prefix
    conf["LEGACY_URI"] = uri
    return conf


def dict_cache(d):
    conf = dict(d)
    conf["CONFIGURED_BACKEND"] = conf.get("BACKEND")
    conf["BACKEND"] = _RENAMED.get(conf.get("BACKEND"), conf.get("BACKEND"))
    if conf["BACKEND"].endswith("PyMemcacheCache") and isinstance(conf.get("LOCATION"), str) \
            and ";" in conf["LOCATION"]:
        conf["LOCATION"] = conf["LOCATION"].split(";")
    return conf


def components():
    """The Synnefo components installed on this host (astakos, cyclades, ...)."""
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(COMPONENTS_DIR, "*")))


def component_apps(kind):
    """Apps with migrations of the installed components; kind = south|django."""
    apps = []
    for c in components():
        with open(os.path.join(COMPONENTS_DIR, c)) as f:
            for line in f:
                k, _, names = line.partition(":")
                if k.strip() == kind:
                    apps += [n for n in names.split() if n not in apps]
    return apps


def db_connect(settings=None, alias="default"):
    import psycopg2
    if settings is None:
        from django.conf import settings
    db = settings.DATABASES[alias]
    return psycopg2.connect(
        dbname=db["NAME"], user=db.get("USER") or None, password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None, port=db.get("PORT") or None, connect_timeout=5)
