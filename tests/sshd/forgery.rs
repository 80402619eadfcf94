//! What a user of the host controls (a process's arguments or name, a pid
//! file in a world-writable folder) cannot forge facts: an unprivileged
//! user's processes crafted to look like sections of the facts output,
//! packages or services change nothing that `facts --json` reports, and
//! nothing forged is kept for the next run.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{real_packages, versions, Sshd};

/// Processes of user `nobody`, killed (and their files removed) on drop.
struct Forgers {
    children: Vec<Child>,
    files: Vec<std::path::PathBuf>,
    _dir: tempfile::TempDir,
}

impl Drop for Forgers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn as_nobody(args: &[&str]) -> Child {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("setpriv (util-linux) runs")
}

/// Names of the processes running here, read from /proc.
fn comms() -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|c| c.trim_end_matches('\n').to_string())
        .collect()
}

fn start_forgers() -> Forgers {
    use std::os::unix::fs::PermissionsExt;
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "this test starts processes as user nobody: run it as root"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut f = Forgers {
        children: Vec::new(),
        files: Vec::new(),
        _dir: dir,
    };
    // Arguments that, printed one per line, read as a package section.
    f.children.push(as_nobody(&[
        "/usr/bin/perl",
        "-e",
        "sleep 300",
        "x\n@@snf:dpkg\nii \tsnf-fake\t9.9\n@@snf:end",
    ]));
    // A script whose name (its process name) has a line of its own.
    let script = f._dir.path().join("x\nblockerb");
    std::fs::write(&script, "#!/bin/sh\nsleep 300\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.children.push(as_nobody(&[script.to_str().unwrap()]));
    // A pid file in /run/lock (anyone may write there) naming a live process.
    let pidfile = std::path::PathBuf::from("/run/lock/vlmcd.pid");
    assert!(!pidfile.exists(), "{} exists already", pidfile.display());
    f.files.push(pidfile.clone());
    f.children.push(as_nobody(&[
        "/bin/sh",
        "-c",
        &format!("echo $$ > {}; exec sleep 300", pidfile.display()),
    ]));
    // Wait until all three are in place.
    let t = Instant::now();
    while !(pidfile.exists() && comms().iter().any(|c| c == "x\nblockerb")) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the forgers did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    f
}

fn facts(sshd: &Sshd, inv: &std::path::Path) -> serde_json::Value {
    let out = sshd.facts(inv, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["hosts"][0].clone()
}

fn services(host: &serde_json::Value) -> Vec<String> {
    host["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn processes_and_pid_files_of_a_host_user_forge_nothing() {
    let sshd = Sshd::start();
    let inv = sshd.inventory(
        &sshd.known_hosts().display().to_string(),
        &format!(
            "[[hosts]]\nname = \"here.test\"\naddress = \"127.0.0.1\"\nport = {}\nroles = [\"web\"]\n",
            sshd.port
        ),
    );
    // What the forgers would show, if they could (the lab, when up, runs
    // real services whose processes this machine sees too).
    let forged = ["process blockerb", "pidfile /run/lock/vlmcd.pid"];
    let _forgers = start_forgers();
    for run in ["first", "second (kept package list)"] {
        let host = facts(&sshd, &inv);
        assert_eq!(host["reachable"], true, "{run}: {host}");
        assert_eq!(versions(&host), real_packages(), "{run}: packages");
        let evidence = host["services"].to_string();
        for f in forged {
            assert!(!evidence.contains(f), "{run}: forged `{f}`: {evidence}");
        }
        assert!(
            services(&host).contains(&"ssh".to_string()),
            "{run}: {evidence}"
        );
    }
    let kept = std::fs::read_to_string(sshd.path("cm/facts-cache/dpkg-here.test"))
        .expect("the package list is kept");
    assert!(!kept.contains("snf-fake"), "a forged package list was kept");
}
