"""snf-manage, as far as an upgrade uses it. `migrate` is South's at 0.18.x
and Django 1.7's at 0.19 (which converts a South database by faking each
app's initial migration when its tables exist, and checks nothing else).
List commands take --output-format pretty|csv|json, -o FIELDS, --no-headers."""
import argparse
import csv
import datetime
import io
import json
import os
import sys

from synnefo import lab
from synnefo.lab import schema


class CommandError(Exception):
    pass


def settings():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "synnefo.settings")
    from django.conf import settings as s
    s.DATABASES  # load now: a broken /etc/synnefo file is reported here
    return s


def connect():
    conn = lab.db_connect(settings())
    conn.autocommit = False
    return conn


# --- output ---------------------------------------------------------------
def _fmt(v):
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    return v


def print_table(rows, fields, opts):
    if opts.list_fields:
        print("\n".join(fields))
        return
    wanted = opts.output.split(",") if opts.output else fields
    for w in wanted:
        if w not in rows[0] if rows else w not in fields:
            raise CommandError("Unknown field '%s'. Use --list-fields to list the available fields." % w)
    table = [[_fmt(r.get(f)) for f in wanted] for r in rows]
    if opts.output_format == "json":
        print(json.dumps([dict(zip(wanted, t)) for t in table], indent=4))
    elif opts.output_format == "csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        if not opts.no_headers:
            w.writerow(wanted)
        for t in table:
            w.writerow(["" if x is None else x for x in t])
        sys.stdout.write(out.getvalue())
    else:
        cells = [[str(x) for x in wanted]] + [["" if x is None else str(x) for x in t] for t in table]
        widths = [max(len(c[i]) for c in cells) for i in range(len(wanted))]
        start = 1 if opts.no_headers else 0
        for n, c in enumerate(cells[start:]):
            print("  ".join(x.ljust(widths[i]) for i, x in enumerate(c)).rstrip())
            if n == 0 and not opts.no_headers:
                print("  ".join("-" * w for w in widths))


def list_parser(sub, name):
    p = sub.add_parser(name)
    p.add_argument("--output-format", choices=["pretty", "csv", "json"], default="pretty")
    p.add_argument("-o", "--output")
    p.add_argument("--no-headers", action="store_true")
    p.add_argument("--list-fields", action="store_true")
    p.add_argument("--filter-by")
    return p


def filtered(rows, opts):
    if not opts.filter_by:
        return rows
    for cond in opts.filter_by.split(","):
        k, _, v = cond.partition("=")
        rows = [r for r in rows if str(r.get(k)) == v]
    return rows


def query(sql, args=()):
    conn = connect()
    cur = conn.cursor()
    cur.execute(sql, args)
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    conn.close()
    return rows


def need(component):
    if component not in lab.components():
        raise CommandError("Unknown command: this command needs snf-%s-app on this host" % component)


# --- migrate --------------------------------------------------------------
def migrate(opts):
    conn = connect()
    cur = conn.cursor()
    try:
        if lab.AT_019:
            rc = migrate_django(cur, opts)
        else:
            rc = migrate_south(cur, opts)
        conn.commit()
        return rc
    except Exception:
        conn.rollback()
        raise


def migrate_south(cur, opts):
    cur.execute("CREATE TABLE IF NOT EXISTS south_migrationhistory (id serial PRIMARY KEY, "
                "app_name varchar(255) NOT NULL, migration varchar(255) NOT NULL, applied timestamptz)")
    apps = lab.component_apps("south")
    if opts.app:
        if opts.app not in apps:
            raise CommandError("The app '%s' does not appear to use migrations." % opts.app)
        apps = [opts.app]
    if opts.list:
        for app in apps:
            cur.execute("SELECT migration FROM south_migrationhistory WHERE app_name = %s", (app,))
            done = {r[0] for r in cur.fetchall()}
            print(" " + app)
            for m in schema.south_migrations(app):
                print("  (%s) %s" % ("*" if m in done else " ", m))
        return 0
    # South checks every app's history before migrating any.
    ghosts = []
    for app in apps:
        shipped = set(schema.south_migrations(app))
        cur.execute("SELECT migration FROM south_migrationhistory WHERE app_name = %s ORDER BY id", (app,))
        ghosts += [(app, m) for (m,) in cur.fetchall() if m not in shipped]
    if ghosts and not opts.delete_ghost_migrations:
        print("\n ! These migrations are in the database but not on disk:", file=sys.stderr)
        for app, m in ghosts:
            print("    <%s: %s>" % (app, m), file=sys.stderr)
        print(" ! I'm not trusting myself; either fix this yourself by fiddling\n"
              " ! with the south_migrationhistory table, or pass --delete-ghost-migrations\n"
              " ! to South to have it delete ALL of these records (this may not be good).", file=sys.stderr)
        return 1
    for app, m in ghosts:
        cur.execute("DELETE FROM south_migrationhistory WHERE app_name = %s AND migration = %s", (app, m))
    for app in apps:
        shipped = schema.south_migrations(app)
        cur.execute("SELECT migration FROM south_migrationhistory WHERE app_name = %s", (app,))
        done = {r[0] for r in cur.fetchall()}
        todo = [m for m in shipped if m not in done]
        print("Running migrations for %s:" % app)
        if not todo:
            print("- Nothing to migrate.")
        else:
            last_done = max((shipped.index(m) for m in done), default=-1)
            early = [m for m in todo if shipped.index(m) < last_done]
            if early and not opts.merge:
                for m in early:
                    print(" ! Migration %s:%s should not have been applied before %s:%s but was."
                          % (app, shipped[last_done], app, m), file=sys.stderr)
                raise CommandError("Inconsistent migration history\nThe following options are available:\n"
                                   "    --merge: will just attempt the migration ignoring any potential "
                                   "dependency conflicts.")
            print(" - Migrating forwards to %s." % todo[-1])
            for m in todo:
                print(" > %s:%s" % (app, m))
                if m == "0001_initial":
                    schema.create_initial(cur, app)
                for sql in schema.SOUTH_EFFECTS.get((app, m), []):
                    cur.execute(sql)
                cur.execute("INSERT INTO south_migrationhistory (app_name, migration, applied) "
                            "VALUES (%s, %s, now())", (app, m))
        print(" - Loading initial data for %s." % app)
        print("Installed 0 object(s) from 0 fixture(s)")
    return 0


def migrate_django(cur, opts):
    cur.execute("CREATE TABLE IF NOT EXISTS django_migrations (id serial PRIMARY KEY, "
                "app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied timestamptz NOT NULL)")
    installed = lab.component_apps("django")
    apps = [a for a in schema.DJANGO_APPS if a in installed]
    if opts.app:
        if opts.app not in apps:
            raise CommandError("App '%s' does not have migrations (you cannot selectively sync "
                               "unmigrated apps)" % opts.app)
        apps = [opts.app]
    cur.execute("SELECT app, name FROM django_migrations")
    done = set(cur.fetchall())
    if opts.list:
        for app in apps:
            print(app)
            for name, _ in schema.DJANGO[app]:
                print(" [%s] %s" % ("X" if (app, name) in done else " ", name))
        return 0
    print("Operations to perform:")
    print("  Synchronize unmigrated apps: pithos, synnefo_branding, webproject")
    print("  Apply all migrations: %s" % ", ".join(sorted(apps)))
    print("Synchronizing apps without migrations:")
    print("  Creating tables...")
    print("  Installing custom SQL...")
    print("  Installing indexes...")
    print("Running migrations:")
    applied = 0
    for app in apps:
        for n, (name, effects) in enumerate(schema.DJANGO[app]):
            if (app, name) in done:
                continue
            faked = False
            if effects is None:  # an initial migration (CreateModel)
                tables = list(schema.INITIAL_TABLES.get(app, {}))
                # Django 1.7 detect_soft_applied(): every table there = applied.
                if tables and all(schema.table_exists(cur, t) for t in tables):
                    faked = True
                else:
                    schema.create_initial(cur, app)
            else:
                for sql in effects:
                    cur.execute(sql)
            cur.execute("INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())",
                        (app, name))
            print("  Applying %s.%s...%s" % (app, name, " FAKED" if faked else " OK"))
            applied += 1
    if not applied:
        print("  No migrations to apply.")
    return 0


def syncdb(opts):
    if lab.AT_019:
        print("Operations to perform:\n  Apply all migrations: (use migrate)\n"
              "Running migrations:\n  No migrations to apply.")
        return 0
    conn = connect()
    cur = conn.cursor()
    print("Syncing...")
    print("Creating tables ...")
    synced = []
    for app in ["contenttypes", "auth", "sessions", "sites"]:
        if app not in lab.component_apps("django"):
            continue
        tables = list(schema.INITIAL_TABLES[app])
        if not all(schema.table_exists(cur, t) for t in tables):
            for t in tables:
                if not schema.table_exists(cur, t):
                    print("Creating table %s" % t)
                    cur.execute("CREATE TABLE %s (%s)" % (t, schema.INITIAL_TABLES[app][t]))
        synced.append("django.contrib." + app)
    conn.commit()
    print("Installing custom SQL ...\nInstalling indexes ...\nInstalled 0 object(s) from 0 fixture(s)\n")
    print("Synced:")
    for s in synced:
        print(" > %s" % s)
    print("\nNot synced (use migrations):")
    for app in lab.component_apps("south"):
        print(" - %s" % app)
    print("(use ./manage.py migrate to migrate these)")
    return 0


# --- astakos --------------------------------------------------------------
COMPONENT_FIELDS = ["id", "name", "base_url", "ui_url", "token", "token_created"]


def component_list(opts):
    need("astakos")
    rows = query("SELECT id, name, base_url, ui_url, auth_token AS token, auth_token_created AS token_created "
                 "FROM im_component ORDER BY id")
    if not opts.output and not opts.list_fields:
        opts.output = "id,name,base_url"
    print_table(filtered(rows, opts), COMPONENT_FIELDS, opts)
    return 0


def component_add(opts):
    need("astakos")
    conn = connect()
    cur = conn.cursor()
    cur.execute("SELECT 1 FROM im_component WHERE name = %s", (opts.name,))
    if cur.fetchone():
        raise CommandError("Component '%s' already exists." % opts.name)
    token = os.urandom(16).hex()
    cur.execute("INSERT INTO im_component (name, base_url, ui_url, auth_token, auth_token_created) "
                "VALUES (%s, %s, %s, %s, now())", (opts.name, opts.base_url, opts.ui_url, token))
    conn.commit()
    print("Token: %s" % token)
    return 0


def component_modify(opts):
    need("astakos")
    conn = connect()
    cur = conn.cursor()
    cur.execute("SELECT id FROM im_component WHERE name = %s OR id::text = %s", (opts.name, opts.name))
    row = cur.fetchone()
    if not row:
        raise CommandError("Component %s not found." % opts.name)
    cid = row[0]
    if opts.base_url:
        cur.execute("UPDATE im_component SET base_url = %s WHERE id = %s", (opts.base_url, cid))
    if opts.ui_url:
        cur.execute("UPDATE im_component SET ui_url = %s WHERE id = %s", (opts.ui_url, cid))
    if opts.purge_services:
        cur.execute("DELETE FROM im_endpoint WHERE service_id IN (SELECT id FROM im_service "
                    "WHERE component_id = %s)", (cid,))
        cur.execute("DELETE FROM im_service WHERE component_id = %s", (cid,))
    conn.commit()
    return 0


def service_import(opts):
    need("astakos")
    if not opts.json:
        raise CommandError("Please provide a json file (--json).")
    data = json.load(sys.stdin if opts.json == "-" else open(opts.json))
    conn = connect()
    cur = conn.cursor()
    for name, svc in sorted(data.items()):
        cur.execute("SELECT id FROM im_component WHERE name = %s", (svc["component"],))
        row = cur.fetchone()
        if not row:
            raise CommandError("Component '%s' not found." % svc["component"])
        cur.execute("SELECT id FROM im_service WHERE name = %s", (name,))
        srow = cur.fetchone()
        if srow:
            sid = srow[0]
            cur.execute("DELETE FROM im_endpoint WHERE service_id = %s", (sid,))
        else:
            cur.execute("INSERT INTO im_service (component_id, name, type) VALUES (%s, %s, %s) RETURNING id",
                        (row[0], name, svc["type"]))
            sid = cur.fetchone()[0]
        for ep in svc.get("endpoints", []):
            cur.execute("INSERT INTO im_endpoint (service_id, data) VALUES (%s, %s)",
                        (sid, json.dumps(ep, sort_keys=True)))
    conn.commit()
    return 0


def service_list(opts):
    need("astakos")
    rows = query("SELECT s.id, s.name, c.name AS component, s.type FROM im_service s "
                 "JOIN im_component c ON c.id = s.component_id ORDER BY s.id")
    print_table(filtered(rows, opts), ["id", "name", "component", "type"], opts)
    return 0


def endpoint_list(opts):
    need("astakos")
    rows = query("SELECT e.id, s.name AS service, e.data FROM im_endpoint e "
                 "JOIN im_service s ON s.id = e.service_id ORDER BY e.id")
    print_table(filtered(rows, opts), ["id", "service", "data"], opts)
    return 0


# --- cyclades -------------------------------------------------------------
def backend_fields():
    base = ["id", "clustername", "port", "username", "drained", "offline"]
    return base + (["public"] if lab.AT_019 else []) + ["vms", "hypervisor", "ips", "disk_templates"]


def backend_list(opts):
    need("cyclades")
    public = ", b.public" if lab.AT_019 else ""
    rows = query("SELECT b.id, b.clustername, b.port, b.username, b.drained, b.offline%s, "
                 "(SELECT count(*) FROM db_virtualmachine v WHERE v.backend_id = b.id AND NOT v.deleted) "
                 "AS vms, b.hypervisor, 0 AS ips, b.disk_templates FROM db_backend b ORDER BY b.id" % public)
    print_table(filtered(rows, opts), backend_fields(), opts)
    return 0


def backend_modify(opts):
    need("cyclades")
    conn = connect()
    cur = conn.cursor()
    cur.execute("SELECT id FROM db_backend WHERE id::text = %s OR clustername = %s", (opts.backend, opts.backend))
    row = cur.fetchone()
    if not row:
        raise CommandError("Backend with id=%s does not exist" % opts.backend)
    for field in ("drained", "offline"):
        v = getattr(opts, field)
        if v is not None:
            if v not in ("True", "False"):
                raise CommandError("Invalid value for --%s: %s (True or False)" % (field, v))
            cur.execute("UPDATE db_backend SET %s = %%s WHERE id = %%s" % field, (v == "True", row[0]))
    conn.commit()
    return 0


def server_list(opts):
    need("cyclades")
    rows = query("SELECT v.id, v.name, v.userid AS \"user.uuid\", v.operstate AS state, f.name AS flavor, "
                 "v.imageid AS \"image.id\", b.clustername AS backend, v.operstate FROM db_virtualmachine v "
                 "LEFT JOIN db_flavor f ON f.id = v.flavor_id LEFT JOIN db_backend b ON b.id = v.backend_id "
                 "WHERE NOT v.deleted ORDER BY v.id")
    print_table(filtered(rows, opts), ["id", "name", "user.uuid", "state", "flavor", "image.id", "backend"], opts)
    return 0


COMMANDS = {
    "migrate": migrate, "syncdb": syncdb,
    "component-list": component_list, "component-add": component_add, "component-modify": component_modify,
    "service-import": service_import, "service-list": service_list, "endpoint-list": endpoint_list,
    "backend-list": backend_list, "backend-modify": backend_modify, "server-list": server_list,
}


def main(argv=None):
    p = argparse.ArgumentParser(prog="snf-manage")
    sub = p.add_subparsers(dest="command")
    m = sub.add_parser("migrate")
    m.add_argument("app", nargs="?")
    m.add_argument("--list", "-l", action="store_true")
    m.add_argument("--delete-ghost-migrations", action="store_true")
    m.add_argument("--merge", action="store_true")
    m.add_argument("--noinput", action="store_true")
    m.add_argument("--fake", action="store_true")
    s = sub.add_parser("syncdb")
    s.add_argument("--noinput", action="store_true")
    for name in ("component-list", "service-list", "endpoint-list", "backend-list", "server-list"):
        list_parser(sub, name)
    c = sub.add_parser("component-add")
    c.add_argument("name")
    c.add_argument("--base-url", required=True)
    c.add_argument("--ui-url", required=True)
    c = sub.add_parser("component-modify")
    c.add_argument("name")
    c.add_argument("--base-url")
    c.add_argument("--ui-url")
    c.add_argument("--purge-services", action="store_true")
    c = sub.add_parser("service-import")
    c.add_argument("--json")
    b = sub.add_parser("backend-modify")
    b.add_argument("backend")
    b.add_argument("--drained")
    b.add_argument("--offline")
    argv = sys.argv[1:] if argv is None else argv
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        print("Unknown command: %r\nType 'snf-manage help' for usage." % argv[0], file=sys.stderr)
        return 1
    opts = p.parse_args(argv)
    if not opts.command:
        p.print_help()
        return 1
    try:
        return COMMANDS[opts.command](opts) or 0
    except CommandError as e:
        print("CommandError: %s" % e, file=sys.stderr)
        return 1
