"""The stand-in's web side: every path answers with the component and
version; /lab/health reports what an upgrade can break (caches with a real
round-trip through each, ALLOWED_HOSTS, HTTPS as seen through the proxy,
the database columns this version reads, where Synnefo logs)."""
import json
import logging
import os
import uuid

from django.conf import settings
from django.core.cache import caches
from django.http import HttpResponse

from synnefo import lab
from synnefo.lab import schema

log = logging.getLogger("synnefo.lab")


def _json(data, status=200):
    return HttpResponse(json.dumps(data, indent=2, sort_keys=True) + "\n",
                        content_type="application/json", status=status)


def https_seen(request):
    """(secure, header) as this version's gunicorn/Synnefo sees the request."""
    meta = request.META
    if os.environ.get("SNF_LAB_GUNICORN", "").startswith("0."):
        # gunicorn 0.9..0.14 patch (and SecureMiddleware): X-Forwarded-Protocol.
        if meta.get("HTTP_X_FORWARDED_PROTOCOL") == "https":
            return True, "X-Forwarded-Protocol"
    elif request.is_secure():
        # gunicorn 19+: secure_scheme_headers; X-Forwarded-Proto: https.
        return True, "X-Forwarded-Proto"
    return False, None


def cache_report():
    out = {}
    for alias, conf in sorted(settings.CACHES.items()):
        r = {
            "backend": conf.get("CONFIGURED_BACKEND") or conf["BACKEND"],
            "location": conf.get("LOCATION", ""),
            "memcached": "memcached" in conf["BACKEND"].lower(),
        }
        if "LEGACY_URI" in conf:
            r["uri"] = conf["LEGACY_URI"]
        if "TIMEOUT" in conf:
            r["timeout"] = conf["TIMEOUT"]
        try:
            key, value = "lab-health-%s" % uuid.uuid4().hex, uuid.uuid4().hex
            c = caches[alias]
            c.set(key, value, 30)
            r["roundtrip"] = c.get(key) == value
            c.delete(key)
        except Exception as e:  # a cache that does not work is the finding
            r["roundtrip"] = False
            r["error"] = "%s: %s" % (type(e).__name__, e)
        out[alias] = r
    return out


def db_report():
    if "default" not in settings.DATABASES:
        return {"ok": False, "error": "no DATABASES in /etc/synnefo"}
    apps = set(lab.component_apps("south")) | set(lab.component_apps("django"))
    try:
        conn = lab.db_connect(settings)
        try:
            cur = conn.cursor()
            reads = schema.READS_019 if lab.AT_019 else schema.READS_018
            missing = schema.missing_reads(cur, reads, apps)
        finally:
            conn.close()
    except Exception as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, str(e).strip())}
    r = {"ok": not missing, "name": settings.DATABASES["default"].get("NAME")}
    if missing:
        r["missing_columns"] = missing
    return r


def log_files():
    files = []
    for h in logging.getLogger("synnefo").handlers + logging.getLogger().handlers:
        f = getattr(h, "baseFilename", None)
        if f and f not in files:
            files.append(f)
    return files


def gevent_version():
    try:
        with open("/usr/share/python-gevent/lab-version") as f:
            return f.read().strip()
    except OSError:
        return None


def health(request):
    host = request.get_host()  # enforces ALLOWED_HOSTS (400 if not allowed)
    secure, header = https_seen(request)
    log.info("health check from %s for %s", request.META.get("REMOTE_ADDR"), host)
    caches_ = cache_report()
    db = db_report()
    data = {
        "components": lab.components(),
        "version": lab.VERSION,
        "debian_version": lab.DEBIAN_VERSION,
        "gunicorn": {"wrapper": os.environ.get("SNF_LAB_GUNICORN"),
                     "mode": os.environ.get("SNF_LAB_GUNICORN_MODE")},
        "https": secure,
        "https_header": header,
        "allowed_hosts": list(settings.ALLOWED_HOSTS) if lab.AT_019 else None,
        "caches": caches_,
        "database": db,
        "log_files": log_files(),
        "gevent": gevent_version(),
        "settings_files": [os.path.basename(f) for f in settings.SETTINGS_FILES],
    }
    data["ok"] = db["ok"] and all(c["roundtrip"] for c in caches_.values())
    return _json(data)


def index(request):
    request.get_host()
    return HttpResponse("Synnefo %s (%s), lab stand-in\n" % (lab.VERSION, ", ".join(lab.components())),
                        content_type="text/plain")
