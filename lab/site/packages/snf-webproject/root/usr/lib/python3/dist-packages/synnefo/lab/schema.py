"""The database side of the stand-in: the tables each app owns, what South
migrations (0.18.x) and Django 1.7 migrations (0.19) do to them, and the
columns the installed version's code reads. Small, but the same shape as
Synnefo's: South history in south_migrationhistory, Django history in
django_migrations, and Django 1.7 faking an app's initial migration when its
tables already exist (it never looks at the columns)."""
import os

SOUTH_DIR = os.environ.get("SNF_LAB_SHARE", "/usr/share/synnefo/lab") + "/south"

# Tables created by each app's first migration (South 0001_initial at 0.18,
# the new Django 0001_initial at 0.19; the same tables).
INITIAL_TABLES = {
    "contenttypes": {
        "django_content_type": "id serial PRIMARY KEY, app_label varchar(100), model varchar(100)",
    },
    "auth": {
        "auth_user": "id serial PRIMARY KEY, username varchar(30) UNIQUE, email varchar(75), "
                     "is_active boolean DEFAULT true, date_joined timestamptz DEFAULT now()",
        "auth_group": "id serial PRIMARY KEY, name varchar(80) UNIQUE",
        "auth_permission": "id serial PRIMARY KEY, name varchar(50), codename varchar(100)",
    },
    "sessions": {
        "django_session": "session_key varchar(40) PRIMARY KEY, session_data text, expire_date timestamptz",
    },
    "sites": {
        "django_site": "id serial PRIMARY KEY, domain varchar(100), name varchar(50)",
    },
    "im": {
        "im_astakosuser": "id serial PRIMARY KEY, uuid varchar(255) UNIQUE, username varchar(255) UNIQUE, "
                          "email varchar(255), is_active boolean DEFAULT true, moderated boolean DEFAULT true, "
                          "date_joined timestamptz DEFAULT now()",
        "im_component": "id serial PRIMARY KEY, name varchar(255) UNIQUE, base_url varchar(1024), "
                        "ui_url varchar(1024), auth_token varchar(64), auth_token_created timestamptz",
        "im_service": "id serial PRIMARY KEY, component_id integer REFERENCES im_component(id), "
                      "name varchar(255) UNIQUE, type varchar(255)",
        "im_endpoint": "id serial PRIMARY KEY, service_id integer REFERENCES im_service(id), data text",
        "im_project": "id serial PRIMARY KEY, uuid varchar(255) UNIQUE, realname varchar(255), state integer",
        "im_projectmembership": "id serial PRIMARY KEY, person_id integer, project_id integer, state integer",
        "im_projectlock": "id serial PRIMARY KEY",
    },
    "oa2": {
        "oa2_client": "id serial PRIMARY KEY, identifier varchar(255) UNIQUE, secret varchar(255), type varchar(255)",
        "oa2_redirecturl": "id serial PRIMARY KEY, client_id integer, url text",
    },
    "quotaholder_app": {
        "quotaholder_app_holding": "id serial PRIMARY KEY, holder varchar(4096), source varchar(4096), "
                                   "resource varchar(4096), \"limit\" bigint, usage_min bigint, usage_max bigint",
        "quotaholder_app_commission": "serial serial PRIMARY KEY, name varchar(4096), clientkey varchar(4096)",
    },
    "db": {
        "db_backend": "id serial PRIMARY KEY, clustername varchar(128) UNIQUE, port integer, username varchar(64), "
                      "password_hash varchar(128), drained boolean DEFAULT false, offline boolean DEFAULT false, "
                      "hypervisor varchar(32), disk_templates text",
        "db_flavor": "id serial PRIMARY KEY, name varchar(255), cpu integer, ram integer, disk integer",
        "db_virtualmachine": "id serial PRIMARY KEY, name varchar(255), userid varchar(100), "
                             "backend_id integer REFERENCES db_backend(id), operstate varchar(30), "
                             "flavor_id integer REFERENCES db_flavor(id), imageid varchar(100), "
                             "deleted boolean DEFAULT false",
        "db_volume": "id serial PRIMARY KEY, name varchar(255), userid varchar(100), machine_id integer, "
                     "size integer, status varchar(64)",
        "db_ipaddress": "id serial PRIMARY KEY, address varchar(64), userid varchar(128), nic_id integer",
        "db_ipaddresslog": "id serial PRIMARY KEY, address varchar(64), server_id integer, network_id integer, "
                           "allocated_at timestamptz, released_at timestamptz, active boolean",
    },
    "userdata": {
        "userdata_publickeypair": "id serial PRIMARY KEY, \"user\" varchar(100), name varchar(255), "
                                  "content text, fingerprint varchar(100)",
    },
}

# Later South migrations whose effect the stand-in models (the others only
# record their row): the last ones of im and db, so that a history missing
# them is a schema missing columns.
SOUTH_EFFECTS = {
    ("im", "0083_auto__add_field_projectmembership_overquota_state__add_field_projectme"): [
        "ALTER TABLE im_projectmembership ADD COLUMN overquota_state integer DEFAULT 0",
        "ALTER TABLE im_projectmembership ADD COLUMN overquota_state_date timestamptz",
    ],
    ("db", "0120_auto__add_field_volume_shared_to_project__add_field_ipaddress_shared_t"): [
        "ALTER TABLE db_volume ADD COLUMN shared_to_project boolean DEFAULT false",
        "ALTER TABLE db_ipaddress ADD COLUMN shared_to_project boolean DEFAULT false",
    ],
}

# Django 1.7 migrations at 0.19, in order, per app; apps in dependency order.
DJANGO_APPS = ["contenttypes", "auth", "sessions", "sites", "im", "oa2", "quotaholder_app", "db", "userdata"]
DJANGO = {
    "contenttypes": [("0001_initial", None)],
    "auth": [("0001_initial", None)],
    "sessions": [("0001_initial", None)],
    "sites": [("0001_initial", None)],
    "im": [("0001_initial", None),
           ("0002_auto_projectlock", ["INSERT INTO im_projectlock (id) SELECT 1 "
                                      "WHERE NOT EXISTS (SELECT 1 FROM im_projectlock WHERE id = 1)"])],
    "oa2": [("0001_initial", None), ("0002_auto_now_add", [])],
    "quotaholder_app": [("0001_initial", None)],
    "db": [("0001_initial", None),
           ("0002_ipaddresshistory", ["CREATE TABLE db_ipaddresshistory (id serial PRIMARY KEY, "
                                      "address varchar(64), server_id integer, user_id varchar(128), "
                                      "network_id integer, action varchar(255), action_date timestamptz)"]),
           ("0003_auto_ip_ownership", ["INSERT INTO db_ipaddresshistory (address, server_id, network_id, action, "
                                       "action_date) SELECT address, server_id, network_id, 'allocate', "
                                       "allocated_at FROM db_ipaddresslog"]),
           ("0004_virtualmachine_key_name", ["ALTER TABLE db_virtualmachine ADD COLUMN key_name text"]),
           ("0005_backend_public", ["ALTER TABLE db_backend ADD COLUMN public boolean NOT NULL DEFAULT true"]),
           ("0006_add_projectbackend", ["CREATE TABLE db_projectbackend (id serial PRIMARY KEY, "
                                        "project varchar(255), backend_id integer REFERENCES db_backend(id))"]),
           ("0006a_ipaddresshistory_indices", ["CREATE INDEX db_ipaddresshistory_address ON "
                                               "db_ipaddresshistory (address)"])],
    "userdata": [("0001_initial", None),
                 ("0002_conflicting_names", []),
                 ("0003_os_keypairs", ["ALTER TABLE userdata_publickeypair ADD COLUMN created_at timestamptz",
                                       "ALTER TABLE userdata_publickeypair ADD COLUMN type varchar(10) "
                                       "DEFAULT 'ssh'",
                                       "ALTER TABLE userdata_publickeypair ADD COLUMN updated_at timestamptz"])],
}

# Columns the code of each version reads (what a request or daemon would
# SELECT). A database whose history was "converted" without these breaks.
READS_018 = {
    "im_projectmembership": ["id", "person_id", "project_id", "state", "overquota_state"],
    "im_component": ["id", "name", "base_url", "ui_url"],
    "db_backend": ["id", "clustername", "drained", "offline"],
    "db_volume": ["id", "size", "shared_to_project"],
    "db_virtualmachine": ["id", "name", "operstate"],
    "userdata_publickeypair": ["id", "name"],
}
READS_019 = dict(READS_018)
READS_019.update({
    "db_backend": READS_018["db_backend"] + ["public"],
    "db_virtualmachine": READS_018["db_virtualmachine"] + ["key_name"],
    "userdata_publickeypair": READS_018["userdata_publickeypair"] + ["created_at", "type"],
    "db_ipaddresshistory": ["id", "address"],
})
APP_OF_TABLE = {t: app for app, tables in INITIAL_TABLES.items() for t in tables}
APP_OF_TABLE["db_ipaddresshistory"] = "db"


def south_migrations(app):
    """The South migrations this package ships for APP, in order."""
    path = os.path.join(SOUTH_DIR, app + ".txt")
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def table_exists(cur, table):
    cur.execute("SELECT to_regclass(%s)", (table,))
    return cur.fetchone()[0] is not None


def create_initial(cur, app):
    for table, cols in INITIAL_TABLES.get(app, {}).items():
        cur.execute("CREATE TABLE %s (%s)" % (table, cols))


def missing_reads(cur, reads, apps):
    """Columns the code reads that the database lacks, as 'table.column'."""
    out = []
    for table, cols in sorted(reads.items()):
        if APP_OF_TABLE.get(table) not in apps:
            continue
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))
        have = {r[0] for r in cur.fetchall()}
        if not have:
            out.append(table)
            continue
        out += ["%s.%s" % (table, c) for c in cols if c not in have]
    return out
