"""Executes Synnefo settings the way Synnefo does and prints what they define,
for the edits tests (run with Debian's /usr/bin/python3).

    settings_probe.py exec DIR        every *.conf in DIR, sorted, into one
                                      namespace; prints {name: value} as JSON
    settings_probe.py gunicorn FILE   a gunicorn.d file; prints CONFIG as JSON
    settings_probe.py django DIR [S]  the three cyclades caches of DIR's
                                      settings loaded into Django's CACHES as
                                      Synnefo 0.19 registers them; each one
                                      stores a value and reads it back (and
                                      again after S seconds, as after_wait);
                                      prints what happened as JSON

Imports of Synnefo modules in the settings (webproject.conf monkey-patches
psycopg2) resolve to inert stand-ins: the settings are data, and Synnefo itself
cannot be installed here.
"""

import glob
import importlib.abc
import importlib.machinery
import json
import os
import sys
import types


class _Inert(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


class _SynnefoStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "synnefo" or fullname.startswith("synnefo."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Inert(spec.name)

    def exec_module(self, module):
        module.__path__ = []


sys.meta_path.insert(0, _SynnefoStandIn())


def execute(folder):
    """As snf-common's synnefo.settings: execfile each *.conf, sorted."""
    namespace = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.conf"))):
        with open(path) as handle:
            code = compile(handle.read(), path, "exec")
        exec(code, namespace)
    return {
        name: value
        for name, value in namespace.items()
        if not name.startswith("__")
        and not isinstance(value, types.ModuleType)
        and not callable(value)
    }


def plain(value):
    return json.loads(json.dumps(value, default=repr))


def gunicorn(path):
    namespace = {}
    with open(path) as handle:
        exec(compile(handle.read(), path, "exec"), namespace)
    return namespace["CONFIG"]


def django_caches(folder, wait=None):
    import warnings

    warnings.simplefilter("ignore")
    import django
    from django.conf import settings as dj

    conf = execute(folder)
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # synnefo/vmapi/settings.py and synnefo/cyclades_settings.py at 0.19.
    aliases = {"vmapi": "VMAPI_CACHE", "VMPassword": "VM_PASSWORD_CACHE", "PublicStats": "PUBLIC_STATS_CACHE"}
    for alias, name in aliases.items():
        if name in conf:
            caches[alias] = conf[name]
    dj.configure(
        CACHES=caches,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        INSTALLED_APPS=[],
    )
    django.setup()
    from django.core.cache import caches as live
    from django.core.management import call_command

    if any(c["BACKEND"].endswith("DatabaseCache") for c in caches.values()):
        call_command("createcachetable", verbosity=0)
    report = {}
    stored = []
    for alias in caches:
        if alias == "default":
            continue
        cache = live[alias]
        value = "value of %s" % alias
        cache.set("probe", value)
        entry = {
            "class": type(cache).__module__ + "." + type(cache).__name__,
            "default_timeout": cache.default_timeout,
            "key": cache.make_key("probe"),
            "read_back": cache.get("probe"),
        }
        if entry["class"].endswith("MemcachedCache"):
            # Read it straight from the memcached server, bypassing Django.
            import memcache

            servers = caches[alias]["LOCATION"].split(";")
            raw = memcache.Client(servers).get(entry["key"])
            entry["in_memcached"] = raw
        report[alias] = entry
        stored.append(alias)
    if wait is not None:
        import time

        time.sleep(wait)
        for alias in stored:
            report[alias]["after_wait"] = live[alias].get("probe")
    return report


def main():
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "exec":
        result = plain(execute(target))
    elif mode == "gunicorn":
        result = plain(gunicorn(target))
    elif mode == "django":
        wait = float(sys.argv[3]) if len(sys.argv) > 3 else None
        result = django_caches(target, wait)
    else:
        raise SystemExit("unknown mode %r" % mode)
    json.dump(result, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
