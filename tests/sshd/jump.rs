//! A jump host (ProxyJump) gets the same hardening as the target: its key
//! is checked against the inventory's known_hosts, strictly, whatever the
//! ssh config says; an unknown jump key is refused, naming the jump host.

use crate::harness::{whoami, Sshd};

/// An inventory reaching `target` through `jump` (a `[user@]host[:port]`
/// or the name of an inventory host), plus a host `bastion` for `jump`'s
/// sshd.
fn inventory(target: &Sshd, jump_sshd: &Sshd, jump: &str, known_hosts: &str) -> std::path::PathBuf {
    target.inventory(
        known_hosts,
        &format!(
            "[[hosts]]\nname = \"up.test\"\naddress = \"127.0.0.1\"\nport = {port}\nroles = [\"web\"]\n\
             jump = \"{jump}\"\n\
             [[hosts]]\nname = \"bastion\"\naddress = \"127.0.0.1\"\nport = {jport}\nroles = [\"admin\"]\n",
            port = target.port,
            jport = jump_sshd.port,
        ),
    )
}

fn facts(target: &Sshd, inv: &std::path::Path) -> (Option<i32>, serde_json::Value, String) {
    let out = target.facts(inv, &["--json", "--hosts", "up.test"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (out.status.code(), v, stderr)
}

#[test]
fn an_unknown_jump_host_key_is_refused_whatever_the_ssh_config_says() {
    let target = Sshd::start();
    let jump = Sshd::start();
    jump.authorize(&target);
    // A config that would accept any new key, into a file of its own; the
    // inventory's known_hosts knows the target only.
    let user_kh = target.path("user_known_hosts");
    std::fs::write(&user_kh, "").unwrap();
    std::fs::write(
        target.path("ssh_config"),
        format!(
            "Host *\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile {}\n  IdentityFile {}\n",
            user_kh.display(),
            target.path("id").display()
        ),
    )
    .unwrap();
    let spec = format!("{}@127.0.0.1:{}", whoami(), jump.port);
    let inv = inventory(&target, &jump, &spec, "known_hosts");
    target.known_hosts();
    let (code, v, stderr) = facts(&target, &inv);
    let host = &v["hosts"][0];
    assert_eq!(code, Some(1), "{host} {stderr}");
    assert_eq!(host["reachable"], false, "{host}");
    assert_eq!(host["error"]["kind"], "host_key_unknown", "{host}");
    let message = host["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("127.0.0.1:{}", jump.port)) && message.contains("jump"),
        "the error does not name the jump host: {message}"
    );
    // Nothing was accepted or written, and the jump host saw no login.
    assert_eq!(std::fs::read_to_string(&user_kh).unwrap(), "");
    assert!(!jump.log().contains("Accepted"), "{}", jump.log());
    assert!(!target.log().contains("Accepted"), "{}", target.log());
}

#[test]
fn a_known_jump_host_named_in_the_inventory_carries_the_session() {
    let target = Sshd::start();
    let jump = Sshd::start();
    jump.authorize(&target);
    // One known_hosts with both keys.
    let kh = target.known_hosts();
    let mut both = std::fs::read_to_string(&kh).unwrap();
    both.push_str(&std::fs::read_to_string(jump.known_hosts()).unwrap());
    std::fs::write(target.path("both_known_hosts"), both).unwrap();
    let inv = inventory(&target, &jump, "bastion", "both_known_hosts");
    let (code, v, stderr) = facts(&target, &inv);
    let host = &v["hosts"][0];
    assert_eq!(code, Some(0), "{host} {stderr}");
    assert_eq!(host["reachable"], true, "{host}");
    // The jump host authenticated us (with the inventory's identity), and
    // the target saw the connection come through it.
    assert!(jump.log().contains("Accepted publickey"), "{}", jump.log());
    assert!(
        target.log().contains("Accepted publickey"),
        "{}",
        target.log()
    );
}
