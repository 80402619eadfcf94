//! The vocabulary of the upgrade: every change made to a cluster or a host,
//! each as observe → act → verify, safe to run again at any moment,
//! including after the controller died in its middle.
//!
//! Owns: the closed set of action kinds (`Action`, serialised into plan
//! files), what each observes and the evidence it keeps, the intent it
//! records *before* acting (Ganeti job ids, what it changed), and its timeout
//! and retry rule. Never: trusts memory over the world — a resumed action
//! observes again, re-attaches to a job it had submitted (or that is still in
//! flight for its object) instead of submitting another, and verifies from
//! the world.
//!
//! Families, one file each: `ganeti` (node roles, instance moves,
//! startup/shutdown through RAPI), `host` (services, reboot and wait,
//! commands, and the cluster commands RAPI lacks, over SSH). docs/actions.md
//! has one row per kind.

pub mod apt;
pub mod ganeti;
pub mod host;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ganeti::{FailureKind, JobFailure, JobId, RapiClient, RapiError};
use crate::remote::Remote;

/// One action: its kind and parameters, as a plan file holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// Mark a Ganeti node drained (no new instances), tagging it so that
    /// only this drain is undone later.
    Drain { node: String },
    /// Give a node we drained its role back; a drain set by someone else
    /// stays.
    Undrain { node: String },
    /// Live-migrate one instance from `from` to `to` (never a failover).
    MigrateInstance {
        instance: String,
        from: String,
        to: String,
    },
    /// Live-migrate every running primary instance off a node (Ganeti's node
    /// migrate, its child jobs followed).
    EvacuateNode { node: String },
    /// Shut an instance down: only for instances the operator accepted as
    /// offline.
    ShutdownInstance { instance: String },
    /// Start an instance (after an offline upgrade of its node).
    StartupInstance { instance: String },
    /// Stop a service (sysvinit script or systemd unit, as the host has);
    /// done when none of its processes runs.
    StopService {
        host: String,
        service: String,
        /// Process names that show it runs (default: the service's name).
        #[serde(default)]
        processes: Vec<String>,
    },
    /// Start a service; done when one of its processes runs.
    StartService {
        host: String,
        service: String,
        #[serde(default)]
        processes: Vec<String>,
    },
    /// Reboot a host and wait until it is back with another boot id, within
    /// `budget_s` seconds.
    Reboot {
        host: String,
        #[serde(default = "default_reboot_budget")]
        budget_s: u64,
    },
    /// The runbook's escape hatch: one shell command whose exit status is
    /// the verdict; done when it succeeded once, or when `unless` succeeds.
    RunCommand {
        host: String,
        command: String,
        #[serde(default)]
        unless: Option<String>,
        #[serde(default)]
        sudo: bool,
        #[serde(default = "default_command_timeout")]
        timeout_s: u64,
    },
    /// Pause Ganeti's watcher (on the master) so that it does not act on
    /// the instances of a node that is down.
    WatcherPause,
    /// Let the watcher run again.
    WatcherResume,
    /// Fail the master role over to `to` (a master candidate), over SSH on
    /// `to`: RAPI has no resource for it.
    MasterFailover { to: String },
    /// `apt-get update` that fails when a download failed.
    AptUpdate { host: String },
    /// A non-interactive dist-upgrade, detached from the SSH session: no
    /// service starts (policy-rc.d), conffiles kept, `hold` packages held,
    /// refused before any change if it would remove a `protect` package.
    DistUpgrade {
        host: String,
        #[serde(default)]
        hold: Vec<String>,
        #[serde(default)]
        protect: Vec<String>,
        #[serde(default = "default_upgrade_budget")]
        budget_s: u64,
    },
}

fn default_upgrade_budget() -> u64 {
    3600
}

fn default_reboot_budget() -> u64 {
    600
}

fn default_command_timeout() -> u64 {
    600
}

impl Action {
    /// Short human name, as `show` and progress print it.
    pub fn describe(&self) -> String {
        match self {
            Action::Drain { node } => format!("drain {node}"),
            Action::Undrain { node } => format!("undrain {node}"),
            Action::MigrateInstance { instance, from, to } => {
                format!("migrate {instance} {from} → {to}")
            }
            Action::EvacuateNode { node } => format!("evacuate {node} (live)"),
            Action::ShutdownInstance { instance } => format!("shut down {instance}"),
            Action::StartupInstance { instance } => format!("start {instance}"),
            Action::StopService { host, service, .. } => format!("stop {service} on {host}"),
            Action::StartService { host, service, .. } => format!("start {service} on {host}"),
            Action::Reboot { host, .. } => format!("reboot {host}"),
            Action::RunCommand { host, command, .. } => format!("run `{command}` on {host}"),
            Action::WatcherPause => "pause the Ganeti watcher".into(),
            Action::WatcherResume => "resume the Ganeti watcher".into(),
            Action::MasterFailover { to } => format!("fail the master over to {to}"),
            Action::AptUpdate { host } => format!("apt-get update on {host}"),
            Action::DistUpgrade { host, .. } => format!("dist-upgrade {host}"),
        }
    }

    /// Whether it is one of the RAPI actions (else it works over SSH).
    fn through_rapi(&self) -> bool {
        matches!(
            self,
            Action::Drain { .. }
                | Action::Undrain { .. }
                | Action::MigrateInstance { .. }
                | Action::EvacuateNode { .. }
                | Action::ShutdownInstance { .. }
                | Action::StartupInstance { .. }
        )
    }

    /// How long the act may take and what may be retried.
    pub fn policy(&self) -> Policy {
        match self {
            Action::Drain { .. } | Action::Undrain { .. } => Policy {
                timeout: Duration::from_secs(120),
                attempts: 3,
            },
            Action::MigrateInstance { .. } => Policy {
                timeout: Duration::from_secs(30 * 60),
                attempts: 2,
            },
            Action::EvacuateNode { .. } => Policy {
                timeout: Duration::from_secs(2 * 60 * 60),
                attempts: 1,
            },
            Action::ShutdownInstance { .. } | Action::StartupInstance { .. } => Policy {
                timeout: Duration::from_secs(10 * 60),
                attempts: 2,
            },
            Action::StopService { .. } | Action::StartService { .. } => Policy {
                timeout: Duration::from_secs(3 * 60),
                attempts: 1,
            },
            // The wait has its own budget; a little more for the probes.
            Action::Reboot { budget_s, .. } => Policy {
                timeout: Duration::from_secs(budget_s + 60),
                attempts: 1,
            },
            Action::RunCommand { timeout_s, .. } => Policy {
                timeout: Duration::from_secs(timeout_s + 30),
                attempts: 1,
            },
            Action::WatcherPause | Action::WatcherResume => Policy {
                timeout: Duration::from_secs(60),
                attempts: 1,
            },
            Action::MasterFailover { .. } => Policy {
                timeout: Duration::from_secs(10 * 60),
                attempts: 1,
            },
            Action::AptUpdate { .. } => Policy {
                timeout: Duration::from_secs(11 * 60),
                attempts: 1,
            },
            Action::DistUpgrade { budget_s, .. } => Policy {
                timeout: Duration::from_secs(budget_s + 5 * 60),
                attempts: 1,
            },
        }
    }
}

/// Timeout and retries of a kind. Only failures whose class says trying
/// again can succeed without anyone acting are retried (`is_retryable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The act, including waiting for its jobs.
    pub timeout: Duration,
    /// Tries in all (1: never retried).
    pub attempts: u32,
}

/// Whether a failed Ganeti job may be submitted again. A permanent shortage
/// (`insufficient_resources`) or a wrong request never is.
pub fn is_retryable(kind: FailureKind) -> bool {
    kind.is_transient()
}

/// What was seen, as name → value (versions, roles, job ids, placements).
pub type Evidence = BTreeMap<String, Value>;

/// Evidence from name → value pairs.
pub(crate) fn ev(pairs: &[(&str, Value)]) -> Evidence {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Wraps an SSH failure with the action it stopped.
pub(crate) fn remote_err(
    action: &Action,
) -> impl Fn(crate::remote::RemoteError) -> ActionError + '_ {
    move |e| ActionError::Remote {
        action: action.describe(),
        source: e,
    }
}

/// The state of the world for one action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Observed {
    /// Already as the action wants it.
    Done { evidence: Evidence },
    /// Not yet.
    NotDone { evidence: Evidence },
    /// The world does not say (a node down, RAPI unreachable): never act on
    /// a guess.
    CannotTell { reason: String },
}

/// The result checked after acting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verified {
    pub ok: bool,
    pub evidence: Evidence,
}

/// What an action records before it acts, so that a resumed run can
/// re-attach (the journal keeps it; `Intent::default()` is "nothing yet").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The act has begun (recorded before the first request).
    #[serde(default)]
    pub started: bool,
    /// Ganeti jobs submitted, in order.
    #[serde(default)]
    pub jobs: Vec<JobId>,
    /// Facts about the world before the act that undoing or judging it
    /// needs (the role a node had, the boot id before a reboot).
    #[serde(default)]
    pub before: BTreeMap<String, String>,
    /// What the act returned, for acts the world cannot show afterwards (a
    /// command's exit status).
    #[serde(default)]
    pub result: BTreeMap<String, String>,
}

/// Where intents are kept between the act and its verification: the
/// engine's journal, or a file for `snf-upgrade action`. `save` must be
/// durable when it returns (an act follows it).
pub trait IntentStore: Send + Sync {
    fn load(&self, step: &str) -> Result<Intent, ActionError>;
    fn save(&self, step: &str, intent: &Intent) -> Result<(), ActionError>;
}

/// An in-memory store (tests, and actions whose caller keeps no journal).
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<BTreeMap<String, Intent>>);

impl IntentStore for MemoryStore {
    fn load(&self, step: &str) -> Result<Intent, ActionError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(step)
            .cloned()
            .unwrap_or_default())
    }
    fn save(&self, step: &str, intent: &Intent) -> Result<(), ActionError> {
        self.0
            .lock()
            .unwrap()
            .insert(step.to_string(), intent.clone());
        Ok(())
    }
}

/// An intent store in one JSON file (step → intent), replaced atomically at
/// every save: what `snf-upgrade action --state FILE` uses.
#[derive(Debug)]
pub struct FileStore {
    path: std::path::PathBuf,
    lock: Mutex<()>,
}

impl FileStore {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        FileStore {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    fn read_all(&self) -> Result<BTreeMap<String, Intent>, ActionError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                ActionError::Store(format!("{}: not an intent file: {e}", self.path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ActionError::Store(format!("{}: {e}", self.path.display()))),
        }
    }
}

impl IntentStore for FileStore {
    fn load(&self, step: &str) -> Result<Intent, ActionError> {
        let _g = self.lock.lock().unwrap();
        Ok(self.read_all()?.remove(step).unwrap_or_default())
    }
    fn save(&self, step: &str, intent: &Intent) -> Result<(), ActionError> {
        let _g = self.lock.lock().unwrap();
        let mut all = self.read_all()?;
        all.insert(step.to_string(), intent.clone());
        let text = serde_json::to_string_pretty(&all).expect("intents serialise") + "\n";
        crate::fsutil::write_atomic(&self.path, text.as_bytes(), Some(0o600))
            .map_err(|e| ActionError::Store(format!("{}: {e}", self.path.display())))
    }
}

/// Why an action did not reach its goal.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Ganeti refused or failed the job; its class decides whether a retry
    /// may help (`is_retryable`).
    #[error("{action}: Ganeti job failed: {failure}")]
    Job { action: String, failure: JobFailure },
    #[error("{action}: {source}")]
    Rapi { action: String, source: RapiError },
    #[error("{action}: {source}")]
    Remote {
        action: String,
        source: crate::remote::RemoteError,
    },
    /// The world does not say whether it is safe to act.
    #[error("{action}: cannot tell the state, not acting: {reason}")]
    CannotTell { action: String, reason: String },
    /// The act ran but the world is not as it should be.
    #[error("{action}: not verified after acting: {evidence}")]
    NotVerified { action: String, evidence: String },
    /// The act would break a rule (e.g. a failover that stops an instance).
    #[error("{action}: refused: {reason}")]
    Refused { action: String, reason: String },
    #[error("intent store: {0}")]
    Store(String),
}

impl ActionError {
    /// The Ganeti failure class, when a job failed.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            ActionError::Job { failure, .. } => Some(failure.kind),
            _ => None,
        }
    }
}

/// How a run of an action ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// `true` when observe found it done and nothing was changed.
    pub already_done: bool,
    /// Jobs this run re-attached to instead of submitting (a resume).
    pub reattached: Vec<JobId>,
    /// Jobs this run submitted.
    pub submitted: Vec<JobId>,
    /// Evidence before (observe) and after (verify).
    pub observed: Evidence,
    pub verified: Evidence,
}

/// What actions act on: one cluster's RAPI and the hosts of the inventory
/// (by name; Ganeti nodes under their Ganeti names).
pub struct World<'a> {
    pub rapi: &'a RapiClient,
    pub hosts: &'a BTreeMap<String, Remote>,
}

impl World<'_> {
    /// The host named `name`, or an error naming the action.
    pub fn host(&self, name: &str, action: &Action) -> Result<&Remote, ActionError> {
        self.hosts.get(name).ok_or_else(|| ActionError::Refused {
            action: action.describe(),
            reason: format!("{name} is not a host of the inventory"),
        })
    }
}

/// Runs one action as a step named `step` (its key in the intent store):
/// observe; when not done, re-attach to what a previous run had started or
/// act (recording the intent first); then verify from the world.
pub async fn run(
    step: &str,
    action: &Action,
    world: &World<'_>,
    store: &dyn IntentStore,
) -> Result<Outcome, ActionError> {
    let policy = action.policy();
    let once = || async {
        if action.through_rapi() {
            ganeti::run(step, action, world, store).await
        } else {
            host::run(step, action, world, store).await
        }
    };
    // Only a Ganeti failure whose class says it is transient is tried again.
    let body = async {
        let mut attempt = 1;
        loop {
            match once().await {
                Err(e)
                    if attempt < policy.attempts && e.failure_kind().is_some_and(is_retryable) =>
                {
                    tracing::warn!(
                        "{e}; trying again (attempt {} of {})",
                        attempt + 1,
                        policy.attempts
                    );
                    attempt += 1;
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                other => return other,
            }
        }
    };
    match tokio::time::timeout(policy.timeout, body).await {
        Ok(result) => result,
        Err(_) => Err(ActionError::NotVerified {
            action: action.describe(),
            evidence: format!(
                "did not finish within {} s (Ganeti jobs or host-side jobs it started may still run; a new run re-attaches)",
                policy.timeout.as_secs()
            ),
        }),
    }
}

/// Pause before a retry of a transient failure.
const RETRY_PAUSE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_their_plan_form() {
        let a = Action::MigrateInstance {
            instance: "web1".into(),
            from: "node1".into(),
            to: "node2".into(),
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "migrate-instance", "instance": "web1", "from": "node1", "to": "node2"})
        );
        assert_eq!(serde_json::from_value::<Action>(v).unwrap(), a);
        // An unknown field is an error, not ignored.
        let bad = serde_json::json!({"kind": "drain", "node": "n", "force": true});
        assert!(serde_json::from_value::<Action>(bad).is_err());
    }

    #[test]
    fn a_permanent_shortage_is_never_retried() {
        assert!(!is_retryable(FailureKind::NoResources));
        assert!(!is_retryable(FailureKind::InvalidInput));
        assert!(!is_retryable(FailureKind::Unclassified));
        assert!(is_retryable(FailureKind::TemporaryNoResources));
    }

    #[test]
    fn the_file_store_keeps_intents_across_instances() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("intents.json");
        let a = FileStore::new(&f);
        let mut i = Intent {
            started: true,
            ..Intent::default()
        };
        i.jobs.push(7);
        a.save("s1", &i).unwrap();
        let b = FileStore::new(&f);
        assert_eq!(b.load("s1").unwrap(), i);
        assert_eq!(b.load("s2").unwrap(), Intent::default());
    }
}
