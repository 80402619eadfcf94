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
    let run = Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
        .args(["facts", "--json", "--inventory"])
        .arg(out.join("site.toml"))
        .env("SNF_UPGRADE_CONTROL_DIR", control.path().join("cm"))
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "facts failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: Value = serde_json::from_slice(&run.stdout).unwrap();
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
                if p.starts_with("python") || p.starts_with("perl") {
                    format!(
                        "grep -qs -- '{}' /proc/[0-9]*/cmdline",
                        s["name"].as_str().unwrap()
                    )
                } else {
                    format!("grep -qsx -- '{p}' /proc/[0-9]*/comm")
                }
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
