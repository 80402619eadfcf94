//! Tests against the lab (`lab/lab up`): real hosts, real sshd, real Ganeti.
//! Each test returns early, saying so, when the lab is not up. Run them one
//! at a time and under the lab lock:
//!
//!     flock /run/lock/snf-upgrade-lab.lock cargo nextest run --test lab
//!
//! (`LAB_LOCK` of lab/lib/common.sh, the lock scripts/test holds.)
//!
//! The lab's output folder (inventory, keys) is `$SNF_LAB_OUT`, default
//! `/var/lib/snf-upgrade-lab/out`.

#[path = "lab/discover.rs"]
mod discover;
#[path = "lab/edits.rs"]
mod edits;
#[path = "lab/facts.rs"]
mod facts;
#[path = "lab/ganeti.rs"]
mod ganeti;

use std::path::PathBuf;
use std::process::Command;

/// The lab's output folder, when the lab is up. With `SNF_LAB_REQUIRED` set
/// (scripts/test sets it once it has brought the lab up) a lab that is not up
/// fails the test instead of skipping it, so CI never passes on skipped tests.
pub fn lab_out() -> Option<PathBuf> {
    let out = find_lab();
    if out.is_none() && std::env::var_os("SNF_LAB_REQUIRED").is_some() {
        panic!("SNF_LAB_REQUIRED is set but the lab is not up");
    }
    out
}

fn find_lab() -> Option<PathBuf> {
    let out = PathBuf::from(
        std::env::var_os("SNF_LAB_OUT").unwrap_or_else(|| "/var/lib/snf-upgrade-lab/out".into()),
    );
    let lab = lab_script();
    if !out.join("site.toml").exists() || !lab.exists() {
        eprintln!(
            "lab not up (no {}/site.toml or no {}); skipped",
            out.display(),
            lab.display()
        );
        return None;
    }
    let status = Command::new(&lab).arg("status").output().ok()?;
    let text = String::from_utf8_lossy(&status.stdout);
    if !status.status.success() || text.contains("lab: down") {
        eprintln!("lab not up (`lab/lab status` says so); skipped");
        return None;
    }
    Some(out)
}

/// `lab/lab` of this repository (`SNF_LAB` overrides).
pub fn lab_script() -> PathBuf {
    std::env::var_os("SNF_LAB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab/lab"))
}

/// Runs CMD on a lab host through `lab/lab exec` (not through snf-upgrade's
/// own SSH code), returning stdout; panics if it fails.
pub fn lab_exec(host: &str, cmd: &str) -> String {
    let out = Command::new(lab_script())
        .args(["exec", host, "sh", "-c", cmd])
        .output()
        .expect("lab/lab runs");
    assert!(
        out.status.success(),
        "lab exec {host} {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
