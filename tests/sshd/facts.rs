//! `snf-upgrade facts` over a real sshd: facts of a reachable host agree with
//! what this machine (the host behind the loopback sshd) really has; a host
//! that is down is a fact, not a crash, and makes the exit status 1.

use crate::harness::{free_port, real_packages, versions, Sshd};

fn inventory(sshd: &Sshd, down_port: u16) -> std::path::PathBuf {
    sshd.inventory(
        &sshd.known_hosts().display().to_string(),
        &format!(
            "[[hosts]]\nname = \"up.test\"\naddress = \"127.0.0.1\"\nport = {port}\nroles = [\"web\"]\n\
             [[hosts]]\nname = \"down.test\"\naddress = \"127.0.0.1\"\nport = {down_port}\nroles = [\"db\"]\n",
            port = sshd.port,
        ),
    )
}

fn facts(sshd: &Sshd, inv: &std::path::Path, extra: &[&str]) -> std::process::Output {
    sshd.facts(inv, extra)
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
    assert_eq!(versions(up), real_packages());
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
