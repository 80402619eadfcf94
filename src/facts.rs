//! What each host runs now: OS suite, APT sources, package versions, services,
//! disk, migration state. Gathered through `remote`; never changes a host.
//!
//! Owns: the facts model (serialised as `snf-upgrade facts --json`), the one
//! remote script that reads them all in a single SSH round trip per host,
//! and the `facts` command. An unreachable host is a fact (`reachable:
//! false` with the error), not a crash; the others are still read.
//! Never: writes on a host, or runs anything through sudo.

mod apt;
mod script;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::remote::{fan_out, Remote, RemoteError, RunOptions};

pub use script::{package_matters, DpkgSnapshot, Incomplete, SCRIPT};

/// Everything read from one reachable host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub os: OsRelease,
    pub kernel: Option<String>,
    /// Changes at every boot: tells a reboot happened.
    pub boot_id: Option<String>,
    pub apt_sources: Vec<AptSource>,
    /// Installed packages that matter for the upgrade (see
    /// [`package_matters`]), by name.
    pub packages: BTreeMap<String, PackageState>,
    /// Every package on hold (any name).
    pub held: Vec<String>,
    pub dpkg: DpkgState,
    /// Running services, with what showed each one running.
    pub services: Vec<Service>,
    /// Free space of the file systems holding `/` and `/var`.
    pub disk: Vec<Disk>,
}

/// From /etc/os-release (and /etc/debian_version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsRelease {
    /// `ID`, e.g. `debian`.
    pub id: String,
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`, e.g. `bookworm` (from debian_version on testing).
    pub codename: Option<String>,
    pub pretty_name: Option<String>,
    pub debian_version: Option<String>,
}

/// One APT source entry (a line of a `.list`, a stanza of a `.sources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AptSource {
    pub file: String,
    /// 1-based line where the entry starts.
    pub line: usize,
    /// `one-line` or `deb822`.
    pub format: String,
    pub types: Vec<String>,
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// False for commented-out entries, `Enabled: no` stanzas, and files
    /// apt does not read (`*.list.disabled`, `*.sources.save`, ...).
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageState {
    pub version: String,
    /// dpkg's state: installed, unpacked, half-configured, ...
    pub state: String,
    pub held: bool,
}

/// Unfinished dpkg work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DpkgState {
    /// (package, state) for every package not fully installed.
    pub pending: Vec<(String, String)>,
    /// dpkg was interrupted (its journal, /var/lib/dpkg/updates, is not empty).
    pub interrupted: bool,
    /// What `dpkg --audit` said (run only when one of the above is true).
    pub audit: Vec<String>,
}

impl DpkgState {
    pub fn is_clean(&self) -> bool {
        self.pending.is_empty() && !self.interrupted && self.audit.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    /// `systemd`, `pidfile /run/x.pid`, `process NAME`.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    /// The path asked about (`/` or `/var`).
    pub path: String,
    pub filesystem: String,
    pub mount: String,
    pub size_kib: u64,
    pub avail_kib: u64,
}

/// Why facts could not be read from a host.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("{host}: {source}")]
    Incomplete { host: String, source: Incomplete },
}

impl FactsError {
    pub fn kind(&self) -> &'static str {
        match self {
            FactsError::Remote(e) => e.kind(),
            FactsError::Incomplete { .. } => "incomplete",
        }
    }
}

/// One host's facts, or why there are none.
#[derive(Debug, Serialize)]
pub struct HostFacts {
    pub host: String,
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<HostError>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
}

#[derive(Debug, Serialize)]
pub struct HostError {
    pub kind: &'static str,
    pub message: String,
}

/// Reads one host's facts (one SSH round trip). With `cache`, a folder
/// private to the user, the package list read last time is reused while the
/// host's dpkg status file is the very same file.
pub async fn gather(
    remote: &Remote,
    timeout: Duration,
    cache: Option<&Path>,
) -> Result<Facts, FactsError> {
    let cached = cache.and_then(|d| load_snapshot(d, &remote.name));
    let script = script::script_for(cached.as_ref());
    let out = remote.run_ok(&script, &RunOptions::new(timeout)).await?;
    // Output that does not frame exactly is refused whole: nothing of it is
    // reported, and nothing is kept.
    let parsed =
        script::parse(&out.stdout, cached.as_ref()).map_err(|source| FactsError::Incomplete {
            host: remote.name.clone(),
            source,
        })?;
    if let (Some(dir), Some(snap)) = (cache, &parsed.snapshot) {
        // Only a clean state is reused: an unfinished one must be audited
        // again each time.
        if parsed.facts.dpkg.is_clean() {
            store_snapshot(dir, &remote.name, snap);
        }
    }
    Ok(parsed.facts)
}

fn snapshot_path(dir: &Path, host: &str) -> PathBuf {
    let safe: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("dpkg-{safe}"))
}

/// The first line of a kept package list: lists kept by a build that did
/// not frame the script's output (and so could keep a forged one) are
/// never read.
const SNAPSHOT_FORMAT: &str = "snf-upgrade dpkg snapshot 2";

fn load_snapshot(dir: &Path, host: &str) -> Option<DpkgSnapshot> {
    let text = std::fs::read_to_string(snapshot_path(dir, host)).ok()?;
    let text = text.strip_prefix(SNAPSHOT_FORMAT)?.strip_prefix('\n')?;
    let (fingerprint, lines) = text.split_once('\n')?;
    Some(DpkgSnapshot {
        fingerprint: fingerprint.to_string(),
        lines: lines.to_string(),
    })
}

/// Best effort: a snapshot that cannot be written only costs time next run.
fn store_snapshot(dir: &Path, host: &str, snap: &DpkgSnapshot) {
    let path = snapshot_path(dir, host);
    let ok = std::fs::create_dir_all(dir).and_then(|_| {
        let text = format!("{SNAPSHOT_FORMAT}\n{}\n{}", snap.fingerprint, snap.lines);
        crate::fsutil::write_atomic(&path, text.as_bytes(), Some(0o600))
    });
    if let Err(e) = ok {
        tracing::debug!("cannot keep the package list of {host}: {e}");
    }
}

/// Reads every host's facts, `concurrency` at a time, in input order (see
/// [`gather`] for `cache`).
pub async fn gather_all(
    remotes: Vec<Remote>,
    concurrency: usize,
    timeout: Duration,
    cache: Option<PathBuf>,
) -> Vec<HostFacts> {
    let results = fan_out(remotes, concurrency, move |r| {
        let cache = cache.clone();
        async move { Ok(gather(&r, timeout, cache.as_deref()).await) }
    })
    .await;
    results
        .into_iter()
        .map(|(host, r)| {
            // fan_out's own error only for a task that panicked.
            let r = r.map_err(FactsError::from).and_then(|r| r);
            match r {
                Ok(facts) => HostFacts {
                    host,
                    reachable: true,
                    error: None,
                    facts: Some(facts),
                },
                Err(e) => HostFacts {
                    host,
                    reachable: !matches!(&e, FactsError::Remote(r) if r.is_connection()),
                    error: Some(HostError {
                        kind: e.kind(),
                        message: e.to_string(),
                    }),
                    facts: None,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_facts_match_this_machine() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hosts = rt.block_on(gather_all(
            vec![Remote::local("here")],
            4,
            Duration::from_secs(30),
            None,
        ));
        let f = hosts[0].facts.as_ref().expect("facts from this machine");
        let os = std::fs::read_to_string("/etc/os-release").unwrap();
        assert!(os.contains(&format!("ID={}", f.os.id)), "{os}");
        // Package versions agree with dpkg-query run on its own.
        for (name, p) in &f.packages {
            let v = std::process::Command::new("dpkg-query")
                .args(["-W", "-f=${Version}", name])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&v.stdout), p.version, "{name}");
        }
        let json = serde_json::to_value(&hosts[0]).unwrap();
        assert_eq!(json["reachable"], true);
        assert!(json["packages"].is_object());
    }
}
