//! Tests against the lab (`lab/lab up`): real hosts, real sshd, real Ganeti.
//! Each test fails when the lab is not up. Run them one at a time and under
//! the lab lock:
//!
//!     flock /run/lock/snf-upgrade-lab.lock cargo nextest run --ignore-default-filter --test lab
//!
//! (`LAB_LOCK` of lab/lib/common.sh, the lock scripts/test holds.)
//!
//! The lab's output folder (inventory, keys) is `$SNF_LAB_OUT`, default
//! `/var/lib/snf-upgrade-lab/out`.

#[path = "lab/actions.rs"]
mod actions;
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

/// The lab's output folder. A lab test never passes without the lab: when
/// the lab is not up this fails the test, naming what is missing. A plain
/// `cargo nextest run` leaves the binary out (the default filter in
/// .config/nextest.toml); scripts/test runs it once the lab is up.
pub fn lab_out() -> PathBuf {
    let out = PathBuf::from(
        std::env::var_os("SNF_LAB_OUT").unwrap_or_else(|| "/var/lib/snf-upgrade-lab/out".into()),
    );
    let lab = lab_script();
    assert!(
        out.join("site.toml").exists(),
        "the lab is not up: no {}/site.toml (run `lab/lab up` first)",
        out.display()
    );
    let status = Command::new(&lab)
        .arg("status")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", lab.display()));
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success() && !text.contains("lab: down"),
        "the lab is not up (`lab/lab status` says so):\n{text}"
    );
    out
}

/// The RAPI configuration of the lab's cluster, from its inventory.
pub fn lab_rapi_config(out: &std::path::Path) -> snf_upgrade::ganeti::RapiConfig {
    let inv = snf_upgrade::inventory::Inventory::load(&out.join("site.toml"))
        .expect("the lab's inventory is valid");
    snf_upgrade::cli::rapi_config(&inv.clusters[0]).expect("RAPI config")
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
