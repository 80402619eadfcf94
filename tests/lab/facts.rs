//! `snf-upgrade facts` against the lab's inventory: every host reachable, and
//! each fact equal to what the host really has, read independently through
//! `lab/lab exec` with the hosts' own tools.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

use crate::{lab_exec, lab_out};

#[test]
fn facts_match_what_every_lab_host_has() {
    let out = lab_out();
    // Other lab tests reboot hosts: wait until every one is back.
    let inv = snf_upgrade::inventory::Inventory::load(&out.join("site.toml")).unwrap();
    for h in &inv.hosts {
        let st = Command::new(crate::lab_script())
            .args(["wait-up", &h.name, "180"])
            .status()
            .unwrap();
        assert!(st.success(), "lab host {} did not come up", h.name);
    }
    let control = tempfile::tempdir().unwrap();
    let v = facts_json(&out, &[], &control.path().join("cm"));
    let hosts = v["hosts"].as_array().unwrap();
    assert!(!hosts.is_empty());
    for h in hosts {
        let name = h["host"].as_str().unwrap();
        assert_eq!(h["reachable"], true, "{name}: {h}");
        check_host(name, h);
    }
}

fn check_host(name: &str, h: &Value) {
    // OS release.
    let os = lab_exec(
        name,
        ". /etc/os-release; echo \"$ID ${VERSION_CODENAME:-}\"",
    );
    let (id, codename) = os.trim().split_once(' ').unwrap_or((os.trim(), ""));
    assert_eq!(h["os"]["id"], id, "{name}: os id");
    if !codename.is_empty() {
        assert_eq!(h["os"]["codename"], codename, "{name}: codename");
    }
    assert_eq!(
        h["boot_id"].as_str().unwrap(),
        lab_exec(name, "cat /proc/sys/kernel/random/boot_id").trim(),
        "{name}: boot id"
    );

    // Packages that matter, as dpkg-query on the host sees them.
    let q = lab_exec(
        name,
        "dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n'",
    );
    let mut expected = BTreeMap::new();
    for l in q.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 3
            && !f[0].ends_with('n')
            && !f[0].ends_with('c')
            && snf_upgrade::facts::package_matters(f[1])
        {
            expected.insert(f[1].to_string(), f[2].to_string());
        }
    }
    let got: BTreeMap<String, String> = h["packages"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["version"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, expected, "{name}: packages");

    // Holds, as apt-mark sees them.
    let held: BTreeSet<String> = lab_exec(name, "apt-mark showhold")
        .lines()
        .map(str::to_string)
        .collect();
    let got_held: BTreeSet<String> = h["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got_held, held, "{name}: holds");

    // Enabled APT suites, as apt itself reads its sources.
    let suites: BTreeSet<String> = lab_exec(
        name,
        "apt-get indextargets --format '$(RELEASE)' 2>/dev/null | sort -u",
    )
    .lines()
    .filter(|l| !l.is_empty())
    .map(str::to_string)
    .collect();
    let got_suites: BTreeSet<String> = h["apt_sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["enabled"] == true)
        .flat_map(|s| s["suites"].as_array().unwrap().iter())
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    if !suites.is_empty() {
        assert_eq!(got_suites, suites, "{name}: enabled APT suites");
    }

    // dpkg state: clean exactly when dpkg --audit has nothing to say.
    let audit = lab_exec(name, "dpkg --audit 2>&1; true");
    assert_eq!(
        h["dpkg"]["pending"].as_array().unwrap().is_empty()
            && !h["dpkg"]["interrupted"].as_bool().unwrap(),
        audit.trim().is_empty(),
        "{name}: dpkg state vs dpkg --audit: {audit}"
    );

    // Every service said to run shows its evidence on the host.
    for s in h["services"].as_array().unwrap() {
        for e in s["evidence"].as_array().unwrap() {
            let e = e.as_str().unwrap();
            let check = if let Some(f) = e.strip_prefix("pidfile ") {
                format!("test -d /proc/$(head -n1 {f})")
            } else if let Some(p) = e.strip_prefix("process ") {
                // Read /proc directly: procps may not be on the host.
                format!("grep -qsx -- '{p}' /proc/[0-9]*/comm")
            } else {
                format!(
                    "systemctl is-active --quiet {}",
                    s["name"].as_str().unwrap()
                )
            };
            lab_exec(name, &check);
        }
    }

    // Free space on / within 5% (it moves a little between the two reads).
    let avail: u64 = lab_exec(name, "df -P -k / | awk 'NR==2 {print $4}'")
        .trim()
        .parse()
        .unwrap();
    let got = h["disk"][0]["avail_kib"].as_u64().unwrap();
    assert!(
        got.abs_diff(avail) <= avail / 20 + 1024,
        "{name}: free space {got} KiB, df says {avail} KiB"
    );
}

/// `facts --json` of `hosts` (all when empty) with control folder `control`;
/// it must exit 0.
fn facts_json(out: &std::path::Path, hosts: &[&str], control: &std::path::Path) -> Value {
    let mut args = vec!["facts", "--json"];
    let only = hosts.join(",");
    if !hosts.is_empty() {
        args.extend(["--hosts", &only]);
    }
    let run = Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
        .args(&args)
        .arg("--inventory")
        .arg(out.join("site.toml"))
        .env("SNF_UPGRADE_CONTROL_DIR", control)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "facts failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).unwrap()
}

fn facts_of(out: &std::path::Path, host: &str, control: &std::path::Path) -> Value {
    facts_json(out, &[host], control)["hosts"][0].clone()
}

/// What a host user controls cannot forge facts: processes of `nobody` on a
/// lab host whose arguments and names read as sections of the facts output,
/// packages and services, and a pid file in /run/lock, change nothing that
/// `facts --json` says of the host (read before and after, kept package list
/// included).
#[test]
fn an_unprivileged_users_processes_change_no_fact() {
    let out = lab_out();
    let inv = snf_upgrade::inventory::Inventory::load(&out.join("site.toml")).unwrap();
    let host = inv
        .hosts_with(snf_upgrade::inventory::Role::Astakos)
        .next()
        .expect("the lab has an astakos host")
        .name
        .as_str();
    let st = Command::new(crate::lab_script())
        .args(["wait-up", host, "180"])
        .status()
        .unwrap();
    assert!(st.success(), "lab host {host} did not come up");
    let control = tempfile::tempdir().unwrap();
    let cm = control.path().join("cm");
    let before = facts_of(&out, host, &cm);
    // Started detached, as nobody; their pids kept for the cleanup.
    // /run/lock is 1777 as on Debian (lab-init makes it so).
    let start = r#"set -e
test "$(stat -c %a /run/lock)" = 1777
d=$(mktemp -d /tmp/snf-forge.XXXXXX); chmod 755 "$d"
name=$(printf 'x\nblockerb'); printf '#!/bin/sh\nsleep 300\n' > "$d/$name"; chmod 755 "$d/$name"
# Both the old line markers and a framed header, each with a package row.
args=$(printf 'x\n@@snf:dpkg\nii \tsnf-fake\t9.9\n@@snf:dpkg 19\nii \tsnf-fake\t9.9\n@@snf:end 0')
as_nobody() { setsid setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@" </dev/null >/dev/null 2>&1 & echo $! >> "$d/pids"; }
as_nobody perl -e 'sleep 300' "$args"
as_nobody "$d/$name"
as_nobody sh -c 'echo $$ > /run/lock/vlmcd.pid; exec sleep 300'
sleep 1
test -s /run/lock/vlmcd.pid
grep -qx 'x' /proc/[0-9]*/comm
echo "$d""#;
    let dir = lab_exec(host, start).trim().to_string();
    let cleanup = format!(
        "kill $(cat {dir}/pids) 2>/dev/null; rm -rf {dir}; rm -f /run/lock/vlmcd.pid; true"
    );
    let result = std::panic::catch_unwind(|| {
        let after = facts_of(&out, host, &cm);
        let fresh = facts_of(&out, host, &control.path().join("fresh"));
        for (what, h) in [("kept package list", &after), ("fresh read", &fresh)] {
            for key in ["os", "apt_sources", "packages", "held", "dpkg", "services"] {
                assert_eq!(h[key], before[key], "{host}: {key} changed ({what})");
            }
            assert!(!h.to_string().contains("snf-fake"), "{what}: {h}");
        }
    });
    lab_exec(host, &cleanup);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
