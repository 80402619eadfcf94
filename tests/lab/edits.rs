//! `snf-upgrade convert` on a copy of a lab web host at 0.18.1 (cyclades, or
//! pithos once the site's own test took cyclades to 0.19; `lab/site`): the full set of changes a reviewer expects, and the
//! converted APT sources passing `apt-get update` on the host against the
//! lab's signed GRNET and ceph repositories and Debian's trixie, with the
//! new suite's packages as candidates. The host's own APT configuration and
//! state are not touched: the converted sources go to a scratch folder there.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{lab_exec, lab_out, lab_script};

const SCRATCH: &str = "/tmp/snf-upgrade-edits-test";

/// Copies the host's config folders into `root` (tar through `lab exec`).
fn copy_host_root(host: &str, root: &Path) {
    let tar = Command::new(lab_script())
        .args([
            "exec",
            host,
            "tar",
            "-C",
            "/",
            "-cf",
            "-",
            "etc/apt",
            "etc/synnefo",
            "etc/gunicorn.d",
            "etc/apache2",
        ])
        .output()
        .unwrap();
    assert!(
        tar.status.success(),
        "tar on {host}: {}",
        String::from_utf8_lossy(&tar.stderr)
    );
    untar(root, &tar.stdout);
}

fn untar(dir: &Path, bytes: &[u8]) {
    let mut child = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-xf")
        .arg("-")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    assert!(child.wait().unwrap().success());
}

fn convert(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
        .args(["convert", "--suite", "bookworm=trixie", "--root"])
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

/// apt-get/apt-cache on the host, reading the scratch sources and lists only.
fn scratch_apt(host: &str, tool: &str, args: &str) -> String {
    lab_exec(
        host,
        &format!(
            "{tool} -o Dir::Etc::sourcelist={SCRATCH}/sources.list -o Dir::Etc::sourceparts={SCRATCH}/sources.list.d \
             -o Dir::State::Lists={SCRATCH}/lists -o Dir::Cache={SCRATCH}/cache -o APT::Update::Error-Mode=any {args} 2>&1"
        ),
    )
}

#[test]
fn converted_lab_host_shows_every_change_and_its_sources_update() {
    let _out = lab_out();
    // A web host still at 0.18.1: cyclades (with the caches) unless the
    // site's own test already took it to 0.19, else pithos.
    let at_0181 = |h: &str| {
        lab_exec(
            h,
            "v=$(dpkg-query -W -f='${Version}' snf-common 2>/dev/null); \
             case $v in 0.18.1-*) test -f /etc/gunicorn.d/synnefo && echo yes ;; esac; true",
        )
        .trim()
            == "yes"
    };
    // Never a pass without the state it checks: without such a host, fail.
    let host = ["cyclades", "pithos"]
        .into_iter()
        .find(|h| at_0181(h))
        .unwrap_or_else(|| {
            panic!(
                "no lab web host at Synnefo 0.18.1 with its site files: this test needs the site of `lab up` \
                 (not --bare) with cyclades or pithos not yet taken to 0.19 by lab/site/test; \
                 run `lab/lab down && lab/lab up` first"
            )
        });
    eprintln!("converting a copy of {host}");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_host_root(host, root);

    // What a reviewer expects on the cyclades host of a 0.18.1 site.
    let o = convert(root, &["--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert_eq!(o.status.code(), Some(1), "{v}");
    assert_eq!(v["errors"], serde_json::json!([]));
    let got: BTreeSet<(String, String)> = v["changes"]
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
    let mut expected = vec![
        ("/etc/gunicorn.d/synnefo", "gunicorn-wsgi"),
        (
            "/etc/synnefo/10-snf-webproject-deploy.conf",
            "allowed-hosts",
        ),
        ("/etc/apache2/sites-available/synnefo", "apache-site-conf"),
        (
            "/etc/apache2/sites-available/synnefo-ssl",
            "apache-site-conf",
        ),
        (
            "/etc/apache2/sites-available/synnefo-ssl",
            "apache-forwarded-proto",
        ),
        ("/etc/apache2/sites-enabled/synnefo", "apache-site-conf"),
        ("/etc/apache2/sites-enabled/synnefo-ssl", "apache-site-conf"),
        ("/etc/apt/sources.list.d/grnet.list", "apt-suite"),
        ("/etc/apt/sources.list.d/ceph.list", "apt-suite"),
    ];
    if host == "cyclades" {
        expected.push((
            "/etc/synnefo/20-snf-cyclades-app-vmapi.conf",
            "cyclades-caches",
        ));
        expected.push(("/etc/synnefo/cyclades.conf", "cyclades-caches"));
    }
    for (file, rule) in expected {
        assert!(
            got.contains(&(file.to_string(), rule.to_string())),
            "missing {file} [{rule}] in {got:#?}"
        );
    }
    // Debian's own sources too, wherever the host keeps them.
    assert!(
        got.iter().any(|(f, r)| r == "apt-suite"
            && !f.ends_with("grnet.list")
            && !f.ends_with("ceph.list")),
        "Debian's sources not converted: {got:#?}"
    );
    // Nothing the rules do not own.
    assert!(got.iter().all(|(f, _)| f.starts_with("/etc/gunicorn.d/")
        || f.starts_with("/etc/synnefo/")
        || f.starts_with("/etc/apache2/")
        || f.starts_with("/etc/apt/")));

    let o = convert(root, &["--write"]);
    assert!(
        o.status.code().unwrap_or(2) <= 1,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        convert(root, &[]).status.code(),
        Some(0),
        "a second run finds nothing"
    );

    // The converted sources, on the host, in a scratch folder.
    let tar = Command::new("tar")
        .arg("-C")
        .arg(root.join("etc/apt"))
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let mut push = Command::new(lab_script())
        .args([
            "exec",
            host,
            "sh",
            "-c",
            &format!("rm -rf {SCRATCH} && mkdir -p {SCRATCH}/lists/partial {SCRATCH}/cache/archives/partial && tar -C {SCRATCH} -xf - && touch {SCRATCH}/sources.list"),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    push.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
    assert!(push.wait().unwrap().success());

    let update = scratch_apt(host, "apt-get", "update");
    assert!(
        !update.contains("bookworm"),
        "an old suite is still fetched:\n{update}"
    );
    assert!(update.contains("apt.lab.test trixie/"), "{update}");
    assert!(
        update
            .lines()
            .any(|l| l.contains("ceph.lab.test/debian-hammer") && l.contains(" trixie ")),
        "{update}"
    );
    // The new suite's Synnefo is the candidate, from the converted source.
    let policy = scratch_apt(host, "apt-cache", "policy snf-common python-ceph");
    let candidate = |pkg: &str| {
        let block = policy
            .split(&format!("{pkg}:"))
            .nth(1)
            .unwrap_or_else(|| panic!("{pkg} unknown:\n{policy}"));
        block
            .lines()
            .find_map(|l| l.trim().strip_prefix("Candidate: "))
            .unwrap_or("")
            .to_string()
    };
    assert!(candidate("snf-common").starts_with("0.19"), "{policy}");
    assert_ne!(candidate("python-ceph"), "(none)", "{policy}");
    lab_exec(host, &format!("rm -rf {SCRATCH}"));
}
