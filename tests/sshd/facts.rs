//! `snf-upgrade facts` over a real sshd: facts of a reachable host agree with
//! what this machine (the host behind the loopback sshd) really has; a host
//! that is down is a fact, not a crash, and makes the exit status 1.

use std::process::Command;

use crate::harness::{free_port, whoami, Sshd};

fn inventory(sshd: &Sshd, down_port: u16) -> std::path::PathBuf {
    let kh = sshd.known_hosts();
    let p = sshd.path("site.toml");
    std::fs::write(
        &p,
        format!(
            "version = 1\n[site]\nname = \"test\"\n[ssh]\nuser = \"{user}\"\nidentity_file = \"id\"\n\
             known_hosts = \"{kh}\"\nconfig = \"ssh_config\"\nconnect_timeout = 5\n\
             [[hosts]]\nname = \"up.test\"\naddress = \"127.0.0.1\"\nport = {port}\nroles = [\"web\"]\n\
             [[hosts]]\nname = \"down.test\"\naddress = \"127.0.0.1\"\nport = {down_port}\nroles = [\"db\"]\n",
            user = whoami(),
            kh = kh.display(),
            port = sshd.port,
        ),
    )
    .unwrap();
    p
}

fn facts(sshd: &Sshd, inv: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
        .args(["facts", "--inventory"])
        .arg(inv)
        .args(extra)
        .env("SNF_UPGRADE_CONTROL_DIR", sshd.path("cm"))
        .output()
        .unwrap()
}

#[test]
fn facts_of_a_real_host_and_a_down_one() {
    let sshd = Sshd::start();
    let inv = inventory(&sshd, free_port());
    let out = facts(&sshd, &inv, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hosts = v["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    let (up, down) = (&hosts[0], &hosts[1]);
    assert_eq!(down["host"], "down.test");
    assert_eq!(down["reachable"], false);
    assert_eq!(down["error"]["kind"], "unreachable");

    assert_eq!(up["reachable"], true, "{up}");
    let os = std::fs::read_to_string("/etc/os-release").unwrap();
    let field = |k: &str| {
        os.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
    };
    assert_eq!(up["os"]["id"].as_str().map(str::to_string), field("ID"));
    assert_eq!(
        up["os"]["codename"].as_str().map(str::to_string),
        field("VERSION_CODENAME")
    );
    // Every package that matters, as dpkg-query sees it here.
    let q = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev} ${Package} ${Version}\n"])
        .output()
        .unwrap();
    let mut expected = serde_json::Map::new();
    for l in String::from_utf8_lossy(&q.stdout).lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 3 && f[0].ends_with('i') && snf_upgrade::facts::package_matters(f[1]) {
            expected.insert(f[1].to_string(), f[2].into());
        }
    }
    let got: serde_json::Map<_, _> = up["packages"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["version"].clone()))
        .collect();
    assert_eq!(got, expected);
    // This sshd is running, so the process list shows an sshd.
    let services: Vec<&str> = up["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(services.contains(&"ssh"), "{services:?}");
    assert!(up["disk"][0]["avail_kib"].as_u64().unwrap() > 0);

    // A second run reuses the kept connection and the kept package list
    // (dpkg's status file did not change) and reads the same facts.
    assert!(sshd.path("cm/facts-cache/dpkg-up.test").exists());
    let again = facts(&sshd, &inv, &["--json", "--hosts", "up.test"]);
    assert_eq!(again.status.code(), Some(0));
    let v2: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v2["hosts"][0]["packages"], up["packages"]);
    assert_eq!(v2["hosts"][0]["held"], up["held"]);

    // --hosts narrows to one host; the reachable one alone exits 0, and the
    // text output names it.
    let out = facts(&sshd, &inv, &["--hosts", "up.test"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("up.test: "), "{text}");
    assert!(!text.contains("down.test"));
}
