//! `snf-upgrade convert` against real parts: the binary on host roots built
//! from Synnefo's own 0.18.1 files, the settings executed by real Python as
//! Synnefo executes them, the caches loaded into real Django and a real
//! memcached, the sites checked by Debian's Apache (`apache2ctl -t`) on a
//! private copy of its config, and the corpus compared with 0.19's files.
//!
//! Needs /usr/bin/python3 with python3-django and python3-memcache, memcached,
//! apache2 and openssl (scripts/install-deps installs them).

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn c0181(rel: &str) -> PathBuf {
    data("corpus-0.18.1").join(rel)
}

fn c019(rel: &str) -> PathBuf {
    data("corpus-0.19").join(rel)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn link(root: &Path, rel: &str, target: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, p).unwrap();
}

/// The Synnefo settings files of an snf-deploy site (0.18.1), as the corpus
/// keeps them.
const SNF_DEPLOY_SETTINGS: [&str; 10] = [
    "snf-common/conf/00-snf-common-admins.conf",
    "snf-webproject/conf/10-snf-webproject-apps.conf",
    "snf-webproject/conf/10-snf-webproject-deploy.conf",
    "snf-webproject/conf/10-snf-webproject-logging.conf",
    "snf-cyclades-app/conf/20-snf-cyclades-app-api.conf",
    "snf-cyclades-app/conf/20-snf-cyclades-app-backend.conf",
    "snf-cyclades-app/conf/20-snf-cyclades-app-dispatcher.conf",
    "snf-cyclades-app/conf/20-snf-cyclades-app-vmapi.conf",
    "snf-deploy/files/etc/synnefo/cyclades.conf",
    "snf-deploy/files/etc/synnefo/webproject.conf",
];

/// A service host's root as snf-deploy set up a 0.18.1 cyclades+pithos node:
/// packaged conf files, snf-deploy's own settings, gunicorn, Apache sites
/// (enabled the wheezy way) and APT sources.
fn snf_deploy_root(root: &Path) {
    for rel in SNF_DEPLOY_SETTINGS {
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        put(root, &format!("etc/synnefo/{name}"), &read(&c0181(rel)));
    }
    put(
        root,
        "etc/gunicorn.d/synnefo",
        &read(&c0181("snf-deploy/files/etc/gunicorn.d/synnefo-archip")),
    );
    put(
        root,
        "etc/gunicorn.d/synnefo.example",
        &read(&c0181("snf-webproject/extras/synnefo.example")),
    );
    for site in ["synnefo", "synnefo-ssl"] {
        put(
            root,
            &format!("etc/apache2/sites-available/{site}"),
            &read(&c0181(&format!(
                "snf-deploy/files/etc/apache2/sites-available/{site}"
            ))),
        );
        link(
            root,
            &format!("etc/apache2/sites-enabled/{site}"),
            &format!("../sites-available/{site}"),
        );
    }
    for list in [
        "archipelago.wheezy.list",
        "ceph.list",
        "debian.backports.wheezy.list",
        "synnefo.wheezy.list",
    ] {
        put(
            root,
            &format!("etc/apt/sources.list.d/{list}"),
            &read(&c0181(&format!(
                "snf-deploy/files/etc/apt/sources.list.d/{list}"
            ))),
        );
    }
    put(
        root,
        "etc/apt/sources.list",
        "deb http://ftp.gr.debian.org/debian wheezy main\n# deb-src http://ftp.gr.debian.org/debian wheezy main\ndeb http://security.debian.org/ wheezy/updates main\n",
    );
}

fn convert(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
        .arg("convert")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every path under `root` with its content (or link target).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let ft = e.file_type().unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if ft.is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else if ft.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, read(&p));
            }
        }
    }
    out
}

const PYTHON: &str = "/usr/bin/python3";

fn probe(mode: &str, target: &Path) -> Value {
    probe_with(mode, target, &[])
}

fn probe_with(mode: &str, target: &Path, extra: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/settings_probe.py");
    let o = Command::new(PYTHON)
        .arg(&script)
        .arg(mode)
        .arg(target)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("{PYTHON}: {e} (scripts/install-deps installs it)"));
    assert!(
        o.status.success(),
        "settings_probe {mode} {}: {}",
        target.display(),
        text(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Copies `root/etc/synnefo` aside (the "before" of a conversion).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

// ---------------------------------------------------------------- the CLI

#[test]
fn diff_changes_nothing_write_applies_and_a_second_run_finds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    snf_deploy_root(root);
    let before = snapshot(root);

    let o = convert(root, &[]);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let diff = text(&o.stdout);
    for header in [
        "--- a/etc/gunicorn.d/synnefo\n+++ b/etc/gunicorn.d/synnefo\n",
        "--- a/etc/synnefo/cyclades.conf\n",
        "rename from /etc/apache2/sites-available/synnefo-ssl\nrename to /etc/apache2/sites-available/synnefo-ssl.conf\n",
        "-  RequestHeader set X-Forwarded-Protocol \"https\"\n+  RequestHeader set X-Forwarded-Proto \"https\"\n",
        "-deb http://apt.dev.grnet.gr wheezy/\n+deb http://apt.dev.grnet.gr jessie/\n",
    ] {
        assert!(diff.contains(header), "missing {header:?} in\n{diff}");
    }
    assert!(
        !diff.contains("synnefo.example"),
        "*.example files are not gunicorn configs"
    );
    assert_eq!(snapshot(root), before, "--diff wrote something");

    let o = convert(root, &["--write"]);
    // 1: written, with a note (CACHE_BACKEND also held Django's default cache).
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("note: /etc/synnefo/cyclades.conf:67 [cyclades-caches]"),
        "{err}"
    );
    let backup_line = err
        .lines()
        .find(|l| l.starts_with("written; originals backed up in "))
        .unwrap();
    let backups = PathBuf::from(backup_line.trim_start_matches("written; originals backed up in "));
    assert!(backups.starts_with(root.join("var/backups/snf-upgrade")));
    // Every touched original is in the backup, byte for byte.
    for (rel, content) in &before {
        let b = backups.join(rel);
        if std::fs::symlink_metadata(&b).is_ok() {
            let got = if content.starts_with("-> ") {
                format!("-> {}", std::fs::read_link(&b).unwrap().display())
            } else {
                read(&b)
            };
            assert_eq!(&got, content, "{}", rel.display());
        }
    }
    assert!(backups
        .join("etc/apache2/sites-enabled/synnefo-ssl")
        .is_symlink());
    assert!(read(&backups.join("MANIFEST")).contains("/etc/gunicorn.d/synnefo\n"));
    // Backups hold secrets: private folders.
    for dir in [
        backups.clone(),
        root.join("var/backups/snf-upgrade"),
        backups.join("etc/synnefo"),
    ] {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    let sites = root.join("etc/apache2/sites-enabled");
    assert_eq!(
        std::fs::read_link(sites.join("synnefo-ssl.conf")).unwrap(),
        PathBuf::from("../sites-available/synnefo-ssl.conf")
    );
    assert!(std::fs::symlink_metadata(sites.join("synnefo-ssl")).is_err());

    let o = convert(root, &[]);
    assert_eq!(
        code(&o),
        0,
        "second run: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert_eq!(text(&o.stdout), "");
    assert!(text(&o.stderr).contains("nothing to change"));
}

/// Every path under `root` but the tool's own state (backups, lock).
fn config_snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut s = snapshot(root);
    s.retain(|p, _| !p.starts_with("var/backups/snf-upgrade"));
    s
}

#[test]
fn a_second_write_while_the_lock_is_held_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    snf_deploy_root(root);
    let before = config_snapshot(root);
    let lock = root.join("var/backups/snf-upgrade/lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&lock).unwrap();
    let held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap();
    let o = convert(root, &["--write"]);
    assert_eq!(code(&o), 5, "lock held: {}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("another snf-upgrade convert --write"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(config_snapshot(root), before);
    // No backup folder either.
    assert_eq!(
        std::fs::read_dir(lock.parent().unwrap()).unwrap().count(),
        1
    );
    drop(held);
    let o = convert(root, &["--write"]);
    assert_eq!(
        code(&o),
        1,
        "after the lock is released: {}",
        text(&o.stderr)
    );
}

/// A write that fails part-way (here the relinks in sites-enabled, after
/// every file and rename: a read-only bind mount, which stops root too)
/// restores everything already replaced, from the backups, and says so.
#[test]
fn a_failure_part_way_restores_what_was_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    snf_deploy_root(root);
    let before = config_snapshot(root);
    let sites = root.join("etc/apache2/sites-enabled");
    let o = Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c"])
        .arg(
            "mount --bind \"$1\" \"$1\" && mount -o remount,ro,bind \"$1\" && shift && exec \"$@\"",
        )
        .arg("sh")
        .arg(&sites)
        .arg(env!("CARGO_BIN_EXE_snf-upgrade"))
        .args(["convert", "--write", "--root"])
        .arg(root)
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(err.contains("were undone from the backups in"), "{err}");
    assert!(
        err.contains("/etc/gunicorn.d/synnefo"),
        "names what it restored: {err}"
    );
    assert_eq!(config_snapshot(root), before, "not all restored: {err}");
    // The backups are still there for the operator.
    let backups = root.join("var/backups/snf-upgrade");
    assert!(std::fs::read_dir(&backups).unwrap().any(|e| e
        .unwrap()
        .path()
        .join("MANIFEST")
        .is_file()));
}

/// Secret values near a change (in a hunk's context or in the change
/// itself) never reach the diff or the JSON.
#[test]
fn diffs_and_json_never_show_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    snf_deploy_root(root);
    // snf-deploy's placeholders, filled in as on a real site.
    let secrets = [
        ("%CYCLADES_SERVICE_TOKEN%", "0a1b2c-service-token"),
        ("%SYNNEFO_RABBITMQ_PASSWD%", "rabbit-pw-77"),
        ("%STATS_SECRET%", "stats-secret-99"),
        ("%CYCLADES_SECRET%", "cyclades-secret-42"),
    ];
    let cyclades = root.join("etc/synnefo/cyclades.conf");
    let mut t = read(&cyclades);
    for (k, v) in secrets {
        t = t.replace(k, v);
    }
    std::fs::write(&cyclades, t).unwrap();
    // A local file where the change sits among DATABASES and SECRET_KEY.
    put(
        root,
        "etc/synnefo/99-local.conf",
        "DATABASES = {\n    'default': {\n        'ENGINE': 'django.db.backends.postgresql_psycopg2',\n        'PASSWORD': 'db-pw-1234',\n    }\n}\nVMAPI_CACHE_BACKEND = 'memcached://127.0.0.1:11211/'\nSECRET_KEY = 'django-secret-5678'\nASTAKOS_AUTH_TOKEN = \"astakos-token-1\"\n",
    );
    put(
        root,
        "etc/apt/sources.list.d/private.list",
        "deb https://apt-user:apt-pw-31@apt.example.org/debian wheezy main\n",
    );
    let diff = convert(root, &[]);
    let json = convert(root, &["--json"]);
    let shown = format!(
        "{}{}{}",
        text(&diff.stdout),
        text(&diff.stderr),
        text(&json.stdout)
    );
    assert!(
        text(&diff.stdout).contains("-VMAPI_CACHE_BACKEND"),
        "{shown}"
    );
    for secret in [
        "0a1b2c-service-token",
        "rabbit-pw-77",
        "db-pw-1234",
        "django-secret-5678",
        "astakos-token-1",
        "apt-pw-31",
        "apt-user",
    ] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    for redacted in [
        "CYCLADES_SERVICE_TOKEN = '<redacted>'",
        "'PASSWORD': '<redacted>'",
        "SECRET_KEY = '<redacted>'",
        "https://<redacted>@apt.example.org/debian",
    ] {
        assert!(shown.contains(redacted), "{redacted} missing:\n{shown}");
    }
    // The files themselves keep their secrets.
    assert!(read(&root.join("etc/synnefo/99-local.conf")).contains("db-pw-1234"));
}

#[test]
fn json_lists_each_change_with_its_rule() {
    let tmp = tempfile::tempdir().unwrap();
    snf_deploy_root(tmp.path());
    let o = convert(
        tmp.path(),
        &[
            "--json",
            "--allowed-hosts",
            "cyclades.example.org,accounts.example.org",
        ],
    );
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["written"], json!(false));
    let changes = v["changes"].as_array().unwrap();
    let rules: std::collections::BTreeSet<&str> = changes
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules.into_iter().collect::<Vec<_>>(),
        vec![
            "allowed-hosts",
            "apache-forwarded-proto",
            "apache-site-conf",
            "apt-suite",
            "cyclades-caches",
            "gunicorn-wsgi"
        ]
    );
    assert!(changes
        .iter()
        .all(|c| c["file"].as_str().unwrap().starts_with("/etc/")
            && !c["summary"].as_str().unwrap().is_empty()));
    assert!(changes.iter().any(|c| c["summary"]
        == json!("ALLOWED_HOSTS = ['cyclades.example.org', 'accounts.example.org'] added")));
    assert!(v["diff"]
        .as_str()
        .unwrap()
        .contains("+ALLOWED_HOSTS = ['cyclades.example.org', 'accounts.example.org']"));
    assert_eq!(v["errors"], json!([]));
}

#[test]
fn malformed_files_are_located_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    snf_deploy_root(root);
    put(
        root,
        "etc/synnefo/99-local.conf",
        "DEBUG = False\nVMAPI_CACHE_BACKEND = {'a':\n",
    );
    put(
        root,
        "etc/apt/sources.list.d/broken.list",
        "deb [arch=amd64 http://x wheezy main\n",
    );
    put(
        root,
        "etc/apache2/sites-available/other.conf",
        "<VirtualHost *:80>\n",
    );
    let before = snapshot(root);
    let o = convert(root, &["--write"]);
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(
        err.contains("error: /etc/synnefo/99-local.conf:2:23: syntax error: '{' is never closed"),
        "{err}"
    );
    assert!(
        err.contains(
            "error: /etc/apt/sources.list.d/broken.list:1:5: '[' of the options is never closed"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "error: /etc/apache2/sites-available/other.conf:1:1: <VirtualHost> is never closed"
        ),
        "{err}"
    );
    assert_eq!(
        snapshot(root),
        before,
        "an error must leave every file as it was"
    );

    let o = convert(root, &["--json"]);
    assert_eq!(code(&o), 2);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["errors"].as_array().unwrap().iter().any(|e| e["file"]
        == json!("/etc/apt/sources.list.d/broken.list")
        && e["line"] == json!(1)
        && e["column"] == json!(5)));
}

#[test]
fn unknown_versions_and_bad_options_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let o = convert(tmp.path(), &["--from", "0.17"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("knows 0.18.1 → 0.19"));
    let o = convert(tmp.path(), &["--suite", "bookworm"]);
    assert_eq!(code(&o), 2);
    let o = convert(tmp.path(), &[]);
    assert_eq!(code(&o), 0, "an empty root has nothing to change");
}

#[test]
fn lab_style_sources_follow_a_given_suite_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    put(root, "etc/apt/sources.list.d/debian.sources", "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n");
    put(
        root,
        "etc/apt/sources.list.d/grnet.list",
        "deb [signed-by=/etc/apt/keyrings/lab.gpg] http://10.0.0.1/grnet bookworm/\n",
    );
    let o = convert(root, &["--suite", "bookworm=trixie", "--write"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(
        read(&root.join("etc/apt/sources.list.d/debian.sources")),
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: trixie-security\nComponents: main\n"
    );
    assert_eq!(
        read(&root.join("etc/apt/sources.list.d/grnet.list")),
        "deb [signed-by=/etc/apt/keyrings/lab.gpg] http://10.0.0.1/grnet trixie/\n"
    );
}

// ------------------------------------------------- real Python semantics

/// Runs a conversion of `root/etc/synnefo` and compares what Python sees
/// before and after: names in `removed` disappear, names in `set` have exactly
/// those values afterwards (new or changed), every other name is unchanged.
fn assert_equivalent(root: &Path, extra: &[&str], removed: &[&str], set: Value) {
    let before_dir = root.join("before");
    copy_dir(&root.join("etc/synnefo"), &before_dir);
    let o = convert(root, &[&["--write"], extra].concat());
    assert!(code(&o) <= 1, "{}", text(&o.stderr));
    let before = probe("exec", &before_dir);
    let after = probe("exec", &root.join("etc/synnefo"));
    let (before, after) = (before.as_object().unwrap(), after.as_object().unwrap());
    for name in removed {
        assert!(before.contains_key(*name), "{name} was not set before");
        assert!(!after.contains_key(*name), "{name} is still set after");
    }
    let set = set.as_object().unwrap();
    for (name, value) in set {
        assert_ne!(before.get(name), Some(value), "{name} needed no change");
        assert_eq!(after.get(name), Some(value), "{name}");
    }
    for (name, value) in before {
        if !removed.contains(&name.as_str()) && !set.contains_key(name) {
            assert_eq!(after.get(name), Some(value), "{name} changed");
        }
    }
    for name in after.keys() {
        assert!(
            before.contains_key(name) || set.contains_key(name),
            "unexpected new name {name}"
        );
    }
}

#[test]
fn snf_deploy_settings_are_equivalent_in_python() {
    let tmp = tempfile::tempdir().unwrap();
    snf_deploy_root(tmp.path());
    let memcached = |prefix: &str, timeout: Value| {
        let mut d = json!({
            "BACKEND": "django.core.cache.backends.memcached.MemcachedCache",
            "LOCATION": "127.0.0.1:11211",
            "KEY_PREFIX": prefix,
        });
        if !timeout.is_null() || prefix == "vmpassword" {
            d["TIMEOUT"] = timeout;
        }
        d
    };
    assert_equivalent(
        tmp.path(),
        &[],
        &["CACHE_BACKEND"],
        json!({
            "VMAPI_CACHE": memcached("vmapi", Value::Null),
            "VM_PASSWORD_CACHE": memcached("vmpassword", Value::Null),
            "PUBLIC_STATS_CACHE": memcached("publicstats", json!(300)),
            "ALLOWED_HOSTS": ["*"],
        }),
    );
}

#[test]
fn layered_settings_are_equivalent_in_python() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    put(
        root,
        "etc/synnefo/10-snf-webproject-deploy.conf",
        "ALLOWED_HOSTS = ['old.example.org']\nDEBUG = False\n",
    );
    put(
        root,
        "etc/synnefo/20-snf-cyclades-app-api.conf",
        "# The stats\nPUBLIC_STATS_CACHE_POPULATE_INTERVAL = 45\nCACHE_BACKEND = 'locmem://'\n",
    );
    put(root, "etc/synnefo/20-snf-cyclades-app-backend.conf", "BACKEND_ALLOCATOR_MODULE = \"synnefo.logic.allocators.default_allocator.DefaultAllocator\"\n");
    put(root, "etc/synnefo/20-snf-cyclades-app-vmapi.conf", "VMAPI_CACHE_BACKEND = \"memcached://h1:11211;h2:11211/?timeout=3600\"\nVMAPI_CACHE_KEY_PREFIX = \"vmapi-site\"\nVMAPI_RESET_PARAMS = True\n");
    // A later file overrides the default cache: it is the one that counts.
    put(
        root,
        "etc/synnefo/99-local.conf",
        "CACHE_BACKEND = 'file:///var/tmp/cache/?max_entries=500'\n",
    );
    let file = |prefix: &str, timeout: Value| {
        json!({
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": "/var/tmp/cache",
            "KEY_PREFIX": prefix,
            "TIMEOUT": timeout,
            "OPTIONS": {"MAX_ENTRIES": 500},
        })
    };
    assert_equivalent(
        root,
        &["--allowed-hosts", "cyclades.example.org"],
        &[
            "CACHE_BACKEND",
            "PUBLIC_STATS_CACHE_POPULATE_INTERVAL",
            "VMAPI_CACHE_BACKEND",
            "VMAPI_CACHE_KEY_PREFIX",
        ],
        json!({
            "VMAPI_CACHE": {
                "BACKEND": "django.core.cache.backends.memcached.MemcachedCache",
                "LOCATION": "h1:11211;h2:11211",
                "KEY_PREFIX": "vmapi-site",
                "TIMEOUT": 3600,
            },
            "VM_PASSWORD_CACHE": file("vmpassword", Value::Null),
            "PUBLIC_STATS_CACHE": file("publicstats", json!(45)),
            "ALLOWED_HOSTS": ["cyclades.example.org"],
            "BACKEND_ALLOCATOR_MODULE": "synnefo.logic.allocators.filter_allocator.FilterAllocator",
        }),
    );
    // Comments next to the settings are kept.
    assert!(
        read(&root.join("etc/synnefo/20-snf-cyclades-app-api.conf")).starts_with("# The stats\n")
    );
}

// ------------------------------------------------------------ gunicorn

/// The CONFIG example of the final 0.19 guide, executed.
fn guide_config() -> Value {
    let guide = read(&data("upgrade-0.19-guide.rst"));
    let start = guide.find("  CONFIG = {").unwrap();
    let end = start + guide[start..].find("\n  }\n").unwrap() + 4;
    let code: String = guide[start..end]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("guide");
    std::fs::write(&p, code).unwrap();
    probe("gunicorn", &p)
}

#[test]
fn gunicorn_configs_become_the_guide_example_up_to_site_values() {
    let guide = guide_config();
    assert_eq!(guide["mode"], json!("wsgi"));
    let pithos_doc = "CONFIG = {\n  'mode': 'django',\n  'environment': {\n    'DJANGO_SETTINGS_MODULE': 'synnefo.settings',\n  },\n  'working_dir': '/etc/synnefo',\n  'user': 'synnefo',\n  'group': 'synnefo',\n  'args': (\n    '--bind=127.0.0.1:8080',\n    '--workers=4',\n    '--worker-class=gevent',\n    '--config=/etc/synnefo/gunicorn-hooks/gunicorn-archipelago.py',\n    '--log-level=debug',\n    '--timeout=43200'\n  ),\n}\n";
    let variants = [
        (
            "synnefo",
            read(&c0181("snf-webproject/extras/synnefo.example")),
        ),
        (
            "deploy",
            read(&c0181("snf-deploy/files/etc/gunicorn.d/synnefo")),
        ),
        (
            "archip",
            read(&c0181("snf-deploy/files/etc/gunicorn.d/synnefo-archip")),
        ),
        (
            "stats",
            read(&c0181("snf-stats-app/examples/stats.gunicorn")),
        ),
        ("pithos-doc", pithos_doc.to_string()),
        // django mode took the settings as a positional argument.
        (
            "positional",
            pithos_doc.replace(
                "    '--timeout=43200'\n",
                "    '--timeout=43200',\n    '/usr/lib/python2.7/dist-packages/synnefo/settings.py',\n",
            ),
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for (name, content) in &variants {
        put(root, &format!("etc/gunicorn.d/{name}"), content);
    }
    let before: BTreeMap<&str, Value> = variants
        .iter()
        .map(|(n, _)| (*n, probe("gunicorn", &root.join("etc/gunicorn.d").join(n))))
        .collect();
    let o = convert(root, &["--write"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    for (name, _) in &variants {
        let after = probe("gunicorn", &root.join("etc/gunicorn.d").join(name));
        let old = &before[name];
        // Same keys as the guide's example; mode and environment as there.
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&after), keys(&guide), "{name}");
        assert_eq!(after["mode"], guide["mode"], "{name}");
        assert_eq!(after["environment"], guide["environment"], "{name}");
        assert_eq!(after["working_dir"], guide["working_dir"], "{name}");
        // The site's own values (user, group, args) kept; the WSGI module last.
        assert_eq!(after["user"], old["user"], "{name}");
        // ... but for the settings positional: gunicorn 19 takes exactly
        // one positional argument, the WSGI module.
        let mut want_args: Vec<Value> = old["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a.as_str().is_some_and(|a| a.starts_with('-')))
            .cloned()
            .collect();
        want_args.push(json!("synnefo.webproject.wsgi"));
        assert_eq!(after["args"], Value::Array(want_args), "{name}");
        assert_eq!(
            after["args"].as_array().unwrap().last(),
            guide["args"].as_array().unwrap().last()
        );
    }
    // The package's example becomes exactly the guide's example.
    assert_eq!(
        probe("gunicorn", &root.join("etc/gunicorn.d/synnefo")),
        guide
    );
}

// ---------------------------------------------- Django and real memcached

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A memcached this test started on a loopback port; killed on drop.
struct Memcached {
    child: Child,
    port: u16,
}

impl Memcached {
    fn start() -> Memcached {
        let port = free_port();
        let mut cmd = Command::new("memcached");
        cmd.args([
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-m",
            "16",
        ]);
        // memcached refuses to run as root without -u.
        if is_root() {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("memcached (scripts/install-deps installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "memcached did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Memcached { child, port }
    }
}

fn is_root() -> bool {
    read(Path::new("/proc/self/status"))
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn converted_caches_work_in_django_and_memcached() {
    let (m1, m2) = (Memcached::start(), Memcached::start());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let servers = format!("127.0.0.1:{};127.0.0.1:{}", m1.port, m2.port);
    put(
        root,
        "etc/synnefo/20-snf-cyclades-app-vmapi.conf",
        &format!("VMAPI_CACHE_BACKEND = \"memcached://{servers}/?timeout=3600\"\n"),
    );
    put(
        root,
        "etc/synnefo/cyclades.conf",
        &format!("CACHE_BACKEND = 'memcached://127.0.0.1:{}/'\n", m1.port),
    );
    let o = convert(root, &["--write"]);
    assert!(code(&o) <= 1, "{}", text(&o.stderr));
    let r = probe("django", &root.join("etc/synnefo"));
    for (alias, timeout) in [
        ("vmapi", json!(3600)),
        ("VMPassword", Value::Null),
        ("PublicStats", json!(300)),
    ] {
        let e = &r[alias];
        assert_eq!(
            e["class"],
            json!("django.core.cache.backends.memcached.MemcachedCache"),
            "{alias}: {r}"
        );
        let value = json!(format!("value of {alias}"));
        assert_eq!(e["read_back"], value, "{alias}");
        assert_eq!(
            e["in_memcached"], value,
            "{alias}: not stored in the memcached server(s)"
        );
        assert_eq!(e["default_timeout"], timeout, "{alias}");
    }
    assert_eq!(r["vmapi"]["key"], json!("vmapi:1:probe"));
    assert_eq!(r["VMPassword"]["key"], json!("vmpassword:1:probe"));
}

/// A legacy `timeout=0` kept memcached entries forever in 0.18.1 (Django 1.4
/// handed the 0 to memcached): the converted caches must keep them too, not
/// drop them at once as Django 1.7's `TIMEOUT: 0` would.
#[test]
fn converted_zero_timeout_keeps_entries_in_memcached() {
    let m = Memcached::start();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    put(
        root,
        "etc/synnefo/cyclades.conf",
        &format!(
            "CACHE_BACKEND = 'memcached://127.0.0.1:{}/?timeout=0'\n",
            m.port
        ),
    );
    let o = convert(root, &["--write"]);
    assert!(code(&o) <= 1, "{}", text(&o.stderr));
    let r = probe_with("django", &root.join("etc/synnefo"), &["3"]);
    for alias in ["vmapi", "VMPassword"] {
        let value = json!(format!("value of {alias}"));
        assert_eq!(r[alias]["default_timeout"], Value::Null, "{alias}: {r}");
        assert_eq!(r[alias]["in_memcached"], value, "{alias}: {r}");
        assert_eq!(
            r[alias]["after_wait"], value,
            "{alias}: gone after 3 s: {r}"
        );
    }
}

#[test]
fn converted_file_db_and_dummy_caches_load_in_django() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cache_dir = root.join("cache");
    put(
        root,
        "etc/synnefo/20-snf-cyclades-app-vmapi.conf",
        "VMAPI_CACHE_BACKEND = 'db://vmapi_cache'\n",
    );
    put(
        root,
        "etc/synnefo/cyclades.conf",
        &format!(
            "CACHE_BACKEND = 'file://{}?timeout=60'\n",
            cache_dir.display()
        ),
    );
    let o = convert(root, &["--write"]);
    assert!(code(&o) <= 1, "{}", text(&o.stderr));
    let r = probe("django", &root.join("etc/synnefo"));
    assert_eq!(
        r["vmapi"]["class"],
        json!("django.core.cache.backends.db.DatabaseCache")
    );
    assert_eq!(r["vmapi"]["read_back"], json!("value of vmapi"));
    assert_eq!(
        r["VMPassword"]["class"],
        json!("django.core.cache.backends.filebased.FileBasedCache")
    );
    assert_eq!(r["VMPassword"]["read_back"], json!("value of VMPassword"));
    assert_eq!(r["VMPassword"]["default_timeout"], json!(60));
    assert!(
        std::fs::read_dir(&cache_dir).unwrap().count() > 0,
        "the file cache wrote nothing"
    );

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    put(
        root,
        "etc/synnefo/cyclades.conf",
        "CACHE_BACKEND = 'dummy://'\n",
    );
    convert(root, &["--write"]);
    let r = probe("django", &root.join("etc/synnefo"));
    assert_eq!(
        r["VMPassword"]["class"],
        json!("django.core.cache.backends.dummy.DummyCache")
    );
    assert_eq!(
        r["VMPassword"]["read_back"],
        Value::Null,
        "a dummy cache keeps nothing, as in 0.18.1"
    );
}

// ----------------------------------------------------------- real Apache

fn apache2ctl(confdir: &Path, args: &[&str]) -> Output {
    Command::new("apache2ctl")
        .args(args)
        .env("APACHE_CONFDIR", confdir)
        .output()
        .expect("apache2ctl (scripts/install-deps installs apache2)")
}

/// Copies `from` to `to` recursively, symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn apache_loads_the_converted_sites() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // A private copy of Debian's Apache config; the machine's own is not touched.
    let conf = root.join("etc/apache2");
    copy_tree(Path::new("/etc/apache2"), &conf);
    for m in [
        "ssl",
        "socache_shmcb",
        "rewrite",
        "proxy",
        "proxy_http",
        "headers",
    ] {
        for ext in ["load", "conf"] {
            let avail = conf.join(format!("mods-available/{m}.{ext}"));
            let enabled = conf.join(format!("mods-enabled/{m}.{ext}"));
            if avail.exists() && !enabled.exists() {
                std::os::unix::fs::symlink(format!("../mods-available/{m}.{ext}"), enabled)
                    .unwrap();
            }
        }
    }
    // The site's values: its domain and its certificate (made here).
    let (cert, key) = (root.join("synnefo.pem"), root.join("synnefo.key"));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=synnefo.example.org",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    for site in ["synnefo", "synnefo-ssl"] {
        let content = read(&c0181(&format!(
            "snf-deploy/files/etc/apache2/sites-available/{site}"
        )))
        .replace("%DOMAIN%", "synnefo.example.org")
        .replace("/etc/ssl/certs/synnefo.pem", cert.to_str().unwrap())
        .replace("/etc/ssl/certs/synnefo_ca.pem", cert.to_str().unwrap())
        .replace("/etc/ssl/private/synnefo.key", key.to_str().unwrap());
        put(
            root,
            &format!("etc/apache2/sites-available/{site}"),
            &content,
        );
        link(
            root,
            &format!("etc/apache2/sites-enabled/{site}"),
            &format!("../sites-available/{site}"),
        );
    }
    // Shapes real sites have: a plain file (not a link, no .conf) created in
    // sites-enabled, and a conf snippet enabled as 2.4 does, including a
    // file relative to ServerRoot; all with the old header.
    put(
        root,
        "etc/apache2/sites-enabled/api",
        "<VirtualHost *:8443>\n  ServerName api.example.org\n  RequestHeader set X-Forwarded-Protocol \"https\"\n</VirtualHost>\n",
    );
    put(
        root,
        "etc/apache2/conf-available/synnefo-proxy.conf",
        "<IfModule mod_headers.c>\n  Include snippets/forwarded.inc\n</IfModule>\n",
    );
    put(
        root,
        "etc/apache2/snippets/forwarded.inc",
        "RequestHeader set X-Forwarded-Protocol https\n",
    );
    link(
        root,
        "etc/apache2/conf-enabled/synnefo-proxy.conf",
        "../conf-available/synnefo-proxy.conf",
    );
    // Before: Apache 2.4 does not even load the wheezy-style sites.
    let o = apache2ctl(&conf, &["-t", "-D", "DUMP_VHOSTS"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!text(&o.stdout).contains("synnefo"), "{}", text(&o.stdout));

    let o = convert(root, &["--write"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));

    let o = apache2ctl(&conf, &["-t"]);
    assert!(o.status.success(), "apache2ctl -t: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("Syntax OK"));
    let o = apache2ctl(&conf, &["-t", "-D", "DUMP_VHOSTS"]);
    let vhosts = text(&o.stdout);
    assert!(
        vhosts.contains("synnefo-ssl.conf:2"),
        "the SSL site is loaded: {vhosts}"
    );
    assert!(
        vhosts.contains("synnefo.conf:1"),
        "the plain site is loaded: {vhosts}"
    );
    assert!(vhosts.contains("*:443"), "{vhosts}");
    assert!(
        vhosts.contains("api.example.org"),
        "the plain file is loaded: {vhosts}"
    );
    let ssl = read(&conf.join("sites-available/synnefo-ssl.conf"));
    assert!(ssl.contains("RequestHeader set X-Forwarded-Proto \"https\""));
    assert!(!ssl.contains("X-Forwarded-Protocol"), "never both headers");
    // No file Apache loads sets the old header, as Apache itself lists them.
    let o = apache2ctl(&conf, &["-t", "-D", "DUMP_INCLUDES"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let loaded: Vec<PathBuf> = text(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once(") ").map(|(_, p)| PathBuf::from(p.trim())))
        .collect();
    for want in [
        "sites-enabled/api.conf",
        "snippets/forwarded.inc",
        "conf-enabled/synnefo-proxy.conf",
    ] {
        assert!(
            loaded.contains(&conf.join(want)),
            "{want} not loaded: {loaded:?}"
        );
    }
    for file in &loaded {
        let t = read(file);
        assert!(
            !t.contains("X-Forwarded-Protocol"),
            "{} still sets the old header",
            file.display()
        );
    }
    assert!(read(&conf.join("snippets/forwarded.inc")).contains("X-Forwarded-Proto https"));
}

// ---------------------------------------------------------------- corpus

/// Every 0.18.1 file that 0.19 changed, converted, and compared with 0.19's
/// file where they should agree; each difference is explained.
#[test]
fn corpus_files_convert_to_what_019_ships() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    snf_deploy_root(root);
    put(
        root,
        "etc/gunicorn.d/stats",
        &read(&c0181("snf-stats-app/examples/stats.gunicorn")),
    );
    let o = convert(root, &["--write"]);
    assert!(code(&o) <= 1, "{}", text(&o.stderr));
    let got = |rel: &str| read(&root.join(rel));

    // gunicorn: the package example and snf-deploy's two templates are
    // byte-identical to 0.19's.
    assert_eq!(
        got("etc/gunicorn.d/synnefo"),
        read(&c019("snf-deploy/files/etc/gunicorn.d/synnefo-archip"))
    );
    let example = tempfile::tempdir().unwrap();
    for (rel, want) in [
        (
            "snf-webproject/extras/synnefo.example",
            "snf-webproject/extras/synnefo.example",
        ),
        (
            "snf-deploy/files/etc/gunicorn.d/synnefo",
            "snf-deploy/files/etc/gunicorn.d/synnefo",
        ),
    ] {
        put(example.path(), "etc/gunicorn.d/x", &read(&c0181(rel)));
        convert(example.path(), &["--write"]);
        assert_eq!(
            read(&example.path().join("etc/gunicorn.d/x")),
            read(&c019(want)),
            "{rel}"
        );
    }
    // Difference: 0.19 left snf-stats-app's example in django mode (stale
    // upstream, facts §3a), but 0.19's gunicorn has no django mode, so a live
    // copy of it must be converted like the others.
    assert_eq!(
        read(&c019("snf-stats-app/examples/stats.gunicorn")),
        read(&c0181("snf-stats-app/examples/stats.gunicorn"))
    );
    assert!(got("etc/gunicorn.d/stats").contains("'mode': 'wsgi',"));
    assert!(got("etc/gunicorn.d/stats")
        .ends_with("   '--timeout=90',\n   'synnefo.webproject.wsgi'\n   ),\n}\n"));

    // Apache: synnefo.conf is 0.19's file byte for byte.
    assert_eq!(
        got("etc/apache2/sites-available/synnefo.conf"),
        read(&c019(
            "snf-deploy/files/etc/apache2/sites-available/synnefo.conf"
        ))
    );
    // Difference: snf-deploy's 0.19 synnefo-ssl.conf still sets
    // X-Forwarded-Protocol (facts §0.1); the guide says to switch to
    // X-Forwarded-Proto. That one line is the only difference.
    let ours = got("etc/apache2/sites-available/synnefo-ssl.conf");
    let theirs = read(&c019(
        "snf-deploy/files/etc/apache2/sites-available/synnefo-ssl.conf",
    ));
    assert_eq!(
        ours,
        theirs.replace("X-Forwarded-Protocol", "X-Forwarded-Proto")
    );
    assert_ne!(ours, theirs);

    // APT: ceph.list is 0.19's file byte for byte.
    assert_eq!(
        got("etc/apt/sources.list.d/ceph.list"),
        read(&c019("snf-deploy/files/etc/apt/sources.list.d/ceph.list"))
    );
    // Difference: 0.19's snf-deploy no longer ships the *.wheezy.list files
    // (it writes the sources itself); their converted lines are the jessie
    // lines of 0.19's install guide (`deb http://apt.dev.grnet.gr jessie/`).
    let guide = read(&data("corpus-0.19-install-guide-grnet.list"));
    let synnefo = got("etc/apt/sources.list.d/synnefo.wheezy.list");
    assert!(
        guide
            .lines()
            .filter(|l| l.starts_with("deb "))
            .all(|l| synnefo.contains(l)),
        "{synnefo}"
    );
    assert!(
        synnefo.contains("deb http://apt.dev.grnet.gr unstable/\n"),
        "non-release suites stay"
    );
    assert_eq!(
        got("etc/apt/sources.list.d/debian.backports.wheezy.list"),
        "# Debian backports\ndeb http://ftp.gr.debian.org/debian jessie-backports main\n"
    );
    assert_eq!(
        got("etc/apt/sources.list.d/archipelago.wheezy.list"),
        read(&c0181(
            "snf-deploy/files/etc/apt/sources.list.d/archipelago.wheezy.list"
        ))
    );

    // Settings: compared by what Python sees, file by file, against 0.19's.
    let ours = probe("exec", &root.join("etc/synnefo"));
    let theirs_dir = tmp.path().join("theirs");
    std::fs::create_dir_all(&theirs_dir).unwrap();
    for rel in SNF_DEPLOY_SETTINGS {
        std::fs::copy(
            c019(rel),
            theirs_dir.join(Path::new(rel).file_name().unwrap()),
        )
        .unwrap();
    }
    let theirs = probe("exec", &theirs_dir);
    let (mut ours, mut theirs) = (
        ours.as_object().unwrap().clone(),
        theirs.as_object().unwrap().clone(),
    );
    // Difference: we write ALLOWED_HOSTS = ['*'] explicitly; 0.19 ships it
    // commented out because ['*'] is its default (deploy.py): same value.
    assert_eq!(ours.remove("ALLOWED_HOSTS"), Some(json!(["*"])));
    // Same VMAPI_CACHE as snf-deploy 0.19's cyclades.conf, exactly.
    assert_eq!(ours.remove("VMAPI_CACHE"), theirs.remove("VMAPI_CACHE"));
    // Difference: snf-deploy 0.19 sets no VM_PASSWORD_CACHE and
    // PUBLIC_STATS_CACHE, so those silently become per-worker locmem (facts
    // §0.2); 0.18.1 kept them in memcached through CACHE_BACKEND, and so do we.
    for name in ["VM_PASSWORD_CACHE", "PUBLIC_STATS_CACHE"] {
        let v = ours.remove(name).unwrap();
        assert_eq!(v["LOCATION"], json!("127.0.0.1:11211"), "{name}");
        assert!(!theirs.contains_key(name));
    }
    // Every other setting is identical: 0.19's other conf changes are comments.
    assert_eq!(ours, theirs);
}

// ------------------------------------------------------- a lab-like host

/// The cyclades host of the lab (lab/site/host-setup): snf-deploy's files, the
/// install guide's VMAPI memcached URI edited into the packaged conffile, the
/// lab's signed GRNET and ceph sources at bookworm, Debian's deb822 sources.
/// `convert --suite bookworm=trixie` must show exactly the set of changes a
/// reviewer expects, and nothing else.
#[test]
fn lab_cyclades_root_shows_every_expected_change() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    snf_deploy_root(root);
    std::fs::remove_file(root.join("etc/apt/sources.list")).unwrap();
    for list in [
        "archipelago.wheezy.list",
        "debian.backports.wheezy.list",
        "synnefo.wheezy.list",
    ] {
        std::fs::remove_file(root.join("etc/apt/sources.list.d").join(list)).unwrap();
    }
    let vmapi = root.join("etc/synnefo/20-snf-cyclades-app-vmapi.conf");
    let edited = read(&vmapi).replace(
        "#VMAPI_CACHE_BACKEND = \"locmem://\"",
        "VMAPI_CACHE_BACKEND = \"memcached://127.0.0.1:11211/?timeout=3600\"",
    );
    std::fs::write(&vmapi, edited).unwrap();
    put(
        root,
        "etc/apt/sources.list.d/grnet.list",
        "deb [signed-by=/usr/share/keyrings/apt-grnetdev.gpg] http://apt.lab.test bookworm/\n",
    );
    put(root, "etc/apt/sources.list.d/ceph.list", "# Ceph repo - LTS (April 2015) Hammer release\ndeb [signed-by=/usr/share/keyrings/ceph-release.gpg] http://ceph.lab.test/debian-hammer/     bookworm  main\n");
    put(root, "etc/apt/sources.list.d/debian.sources", "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n");

    let o = convert(root, &["--suite", "bookworm=trixie", "--json"]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut got: Vec<(String, String)> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["file"].as_str().unwrap().to_string(),
                c["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("/etc/apache2/sites-available/synnefo", "apache-site-conf"),
        (
            "/etc/apache2/sites-available/synnefo-ssl",
            "apache-forwarded-proto",
        ),
        (
            "/etc/apache2/sites-available/synnefo-ssl",
            "apache-site-conf",
        ),
        ("/etc/apache2/sites-enabled/synnefo", "apache-site-conf"),
        ("/etc/apache2/sites-enabled/synnefo-ssl", "apache-site-conf"),
        ("/etc/apt/sources.list.d/ceph.list", "apt-suite"),
        ("/etc/apt/sources.list.d/debian.sources", "apt-suite"),
        ("/etc/apt/sources.list.d/debian.sources", "apt-suite"),
        ("/etc/apt/sources.list.d/debian.sources", "apt-suite"),
        ("/etc/apt/sources.list.d/grnet.list", "apt-suite"),
        ("/etc/gunicorn.d/synnefo", "gunicorn-wsgi"),
        ("/etc/gunicorn.d/synnefo", "gunicorn-wsgi"),
        (
            "/etc/synnefo/10-snf-webproject-deploy.conf",
            "allowed-hosts",
        ),
        (
            "/etc/synnefo/20-snf-cyclades-app-vmapi.conf",
            "cyclades-caches",
        ),
        ("/etc/synnefo/cyclades.conf", "cyclades-caches"),
        ("/etc/synnefo/cyclades.conf", "cyclades-caches"),
    ]
    .iter()
    .map(|(f, r)| (f.to_string(), r.to_string()))
    .collect();
    want.sort();
    assert_eq!(
        got,
        want,
        "{}",
        serde_json::to_string_pretty(&v["changes"]).unwrap()
    );
    let diff = v["diff"].as_str().unwrap();
    assert!(diff.contains("-deb [signed-by=/usr/share/keyrings/apt-grnetdev.gpg] http://apt.lab.test bookworm/\n+deb [signed-by=/usr/share/keyrings/apt-grnetdev.gpg] http://apt.lab.test trixie/\n"), "{diff}");
    assert!(diff.contains("+deb [signed-by=/usr/share/keyrings/ceph-release.gpg] http://ceph.lab.test/debian-hammer/     trixie  main\n"));
    assert!(
        diff.contains("+Suites: trixie trixie-updates\n")
            && diff.contains("+Suites: trixie-security\n")
    );

    // Written: VMAPI keeps its own URI and timeout, the others the default cache's.
    let o = convert(root, &["--suite", "bookworm=trixie", "--write"]);
    assert!(code(&o) <= 1, "{}", text(&o.stderr));
    let after = probe("exec", &root.join("etc/synnefo"));
    assert_eq!(
        after["VMAPI_CACHE"],
        json!({"BACKEND": "django.core.cache.backends.memcached.MemcachedCache", "LOCATION": "127.0.0.1:11211", "KEY_PREFIX": "vmapi", "TIMEOUT": 3600})
    );
    assert_eq!(
        after["VM_PASSWORD_CACHE"]["LOCATION"],
        json!("127.0.0.1:11211")
    );
    assert_eq!(
        after["PUBLIC_STATS_CACHE"]["LOCATION"],
        json!("127.0.0.1:11211")
    );
    assert!(after.get("VMAPI_CACHE_BACKEND").is_none() && after.get("CACHE_BACKEND").is_none());
    let o = convert(root, &["--suite", "bookworm=trixie"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
}
