//! A host that vanishes without closing its TCP connection (power cut,
//! link down, a firewall dropping everything) while snf-upgrade keeps a
//! master connection to it: the next command must name it unreachable
//! within 15 s, not hang on the kept connection.

use std::time::{Duration, Instant};

use std::sync::Arc;

use snf_upgrade::remote::{ControlDir, Remote, RemoteError, RunOptions, Transport};

use crate::harness::{rt, Sshd};
use crate::netns::Netns;

/// The bound docs/remote.md promises.
const BOUND: Duration = Duration::from_secs(15);

fn facts(sshd: &Sshd, inv: &std::path::Path) -> (std::process::Output, Duration) {
    let t = Instant::now();
    let out = sshd.facts(inv, &["--json", "--timeout", "60"]);
    (out, t.elapsed())
}

#[test]
fn a_host_whose_link_drops_mid_session_is_unreachable_within_the_bound() {
    let ns = Netns::new();
    let sshd = Sshd::start_at(&ns.far_addr, Some(&ns.name));
    let inv = sshd.inventory(
        &sshd.known_hosts().display().to_string(),
        &format!(
            "[[hosts]]\nname = \"far.test\"\naddress = \"{}\"\nport = {}\nroles = [\"web\"]\n",
            sshd.addr, sshd.port
        ),
    );
    let (out, _) = facts(&sshd, &inv);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The first run left a master connection behind (ControlPersist).
    let socket = std::fs::read_dir(sshd.path("cm")).unwrap().any(|e| {
        use std::os::unix::fs::FileTypeExt;
        e.unwrap().file_type().unwrap().is_socket()
    });
    assert!(socket, "no kept master connection to test against");

    ns.cut();
    let (out, took) = facts(&sshd, &inv);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let host = &v["hosts"][0];
    assert_eq!(out.status.code(), Some(1), "{host}");
    assert_eq!(host["reachable"], false, "{host}");
    assert_eq!(host["error"]["kind"], "unreachable", "{host}");
    assert!(
        took < BOUND,
        "named unreachable only after {took:?}: {host}"
    );
}

#[test]
fn a_command_running_when_the_link_drops_ends_unreachable_within_the_bound() {
    let ns = Netns::new();
    let sshd = Sshd::start_at(&ns.far_addr, Some(&ns.name));
    let control = Arc::new(ControlDir::open(&sshd.path("cm")).unwrap());
    let r = Remote::new(
        "far.test",
        Transport::Ssh(sshd.target(sshd.known_hosts())),
        control,
    );
    let rt = rt();
    let long = RunOptions::new(Duration::from_secs(120));
    rt.block_on(r.run_ok("true", &long)).unwrap();
    // A command through the kept master, cut off half-way.
    let cut = std::thread::scope(|s| {
        let t = s.spawn(|| {
            std::thread::sleep(Duration::from_secs(1));
            ns.cut();
            Instant::now()
        });
        let e = rt.block_on(r.run("sleep 100", &long)).unwrap_err();
        (e, t.join().unwrap().elapsed())
    });
    let (e, took) = cut;
    assert!(matches!(e, RemoteError::Unreachable { .. }), "{e}");
    assert!(
        took < BOUND,
        "the running command ended only {took:?} after the cut"
    );
    // And the next one is named unreachable within the bound too.
    let t = Instant::now();
    let e = rt.block_on(r.run("true", &long)).unwrap_err();
    assert!(matches!(e, RemoteError::Unreachable { .. }), "{e}");
    assert!(t.elapsed() < BOUND, "{:?}", t.elapsed());
}
