//! Rolling upgrade planner: in which groups the nodes of a Ganeti cluster go
//! down, and before each group the live migrations that empty it.
//!
//! Pure: a `Snapshot`, the nodes to upgrade and `Constraints` in, a `RollPlan`
//! out. No I/O, no clock, no randomness: the same input gives the same plan.
//! Every plan satisfies the rules `validate` checks (documented there and in
//! docs/planner.md); the tests run the validator on every plan they make.
//!
//! Shape of the algorithm (details in `order` and `schedule`):
//! 1. order the nodes so that, as often as the DRBD pair graph allows, a
//!    node that is the secondary of another's instances comes first (a
//!    maximum-acyclic-subgraph heuristic), and compute the lower bound on
//!    DRBD migrations;
//! 2. form groups in that order, up to the caps, never both nodes of a DRBD
//!    pair, each node's evacuation planned against the simulated state
//!    (capacity, version skew), making room on tight secondaries first;
//! 3. the master goes last, after a failover to an upgraded candidate.

mod order;
mod schedule;
pub mod validate;

#[cfg(test)]
mod tests;

pub use validate::{Rule, Violation};

use serde::{Deserialize, Serialize};

use crate::ganeti::Snapshot;

/// What the operator allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Constraints {
    /// At most this many nodes of the cluster down at once (0: no cap).
    pub max_parallel: usize,
    /// At most this many nodes of one node group down at once (0: no cap).
    pub max_parallel_per_group: usize,
    /// MiB every node keeps free after every move.
    pub reserve_mem: u64,
    /// Accept a plan with downtime (instances shut down while their node is
    /// upgraded) when no plan without exists.
    pub allow_offline: bool,
    /// With a loose cap: let a node wait for the nodes holding its DRBD
    /// secondaries rather than filling a group (more groups, fewer DRBD
    /// instances migrated twice).
    pub prefer_fewer_migrations: bool,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints {
            max_parallel: 1,
            max_parallel_per_group: 0,
            reserve_mem: 0,
            allow_offline: false,
            prefer_fewer_migrations: false,
        }
    }
}

/// The version of the roll plan's JSON shape; a plan of a newer version is
/// refused rather than guessed at.
pub const ROLL_PLAN_SCHEMA: u32 = 1;

/// The roll plan of one cluster: groups in execution order, with what it was
/// computed from (the snapshot's digest and the constraints), so that a plan
/// can be told apart from one of another cluster state. Its JSON form is the
/// same whatever the snapshot's source, stable and documented in
/// docs/planner.md.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollPlan {
    /// `ROLL_PLAN_SCHEMA` of the snf-upgrade that made it (0: not said, as in
    /// a plan translated from another tool).
    #[serde(default)]
    pub schema: u32,
    /// The cluster: its inventory name, or the htools file it was read from.
    #[serde(default)]
    pub cluster: String,
    /// `sha256:` of the snapshot in htools text form (`htools::digest`).
    #[serde(default)]
    pub snapshot_digest: String,
    /// The constraints the plan respects.
    #[serde(default)]
    pub constraints: Constraints,
    pub groups: Vec<PlanGroup>,
    /// Live migrations in the whole plan (the number of moves).
    pub migrations: usize,
    /// Why a plan without downtime does not exist, per node.
    #[serde(default)]
    pub infeasible: Vec<Infeasible>,
    /// Summary numbers beside the plan (not needed to execute it).
    #[serde(default)]
    pub stats: Stats,
}

/// Nodes that go down together and what happens before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanGroup {
    pub nodes: Vec<String>,
    /// In order, before the group goes down.
    pub moves: Vec<Move>,
    /// Running instances shut down while the group is down (the offline
    /// path), started again afterwards.
    #[serde(default)]
    pub downtime: Vec<String>,
    /// Before anything else in this group: fail the master role over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_failover: Option<MasterFailover>,
}

/// One live migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub instance: String,
    pub from: String,
    pub to: String,
    pub kind: MoveKind,
}

/// How an instance moves. Only live migration for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveKind {
    Migrate,
}

/// `gnt-cluster master-failover` onto `to` (promoted to master candidate
/// first when `promote`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterFailover {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub promote: bool,
}

/// A node whose instances cannot all move live, and why, in numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Infeasible {
    pub node: String,
    pub reason: String,
    /// The instances concerned.
    #[serde(default)]
    pub instances: Vec<String>,
    /// MiB missing where the instances would have to go (0 if memory is not
    /// the reason).
    #[serde(default)]
    pub missing_mem: u64,
}

/// Numbers about the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Running DRBD instances whose primary is upgraded.
    pub drbd_instances: usize,
    /// Migrations of DRBD instances in this plan.
    pub drbd_migrations: usize,
    /// No plan can do with fewer DRBD migrations than this (one per DRBD
    /// instance plus, for each pair of nodes that are each other's
    /// secondary, the smaller direction once more).
    pub drbd_lower_bound: usize,
    /// Externally mirrored instances that moved at least once.
    pub external_instances_moved: usize,
    /// Their migrations.
    pub external_migrations: usize,
    /// Migrations that only made room on a tight node.
    pub room_migrations: usize,
    /// Instances with downtime (shut down while their node is down).
    pub downtime_instances: usize,
}

/// A roll plan read back could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RollPlanError {
    #[error("{origin}: not a roll plan in JSON: {source}")]
    Json {
        origin: String,
        source: serde_json::Error,
    },
    #[error("{origin}: roll plan schema {found}, this snf-upgrade reads up to {ROLL_PLAN_SCHEMA}; use the snf-upgrade that made it or plan again")]
    Schema { origin: String, found: u32 },
}

impl RollPlan {
    /// Reads a plan from its JSON (as `plan --format json` prints one
    /// cluster's, or a hand-made one), refusing schemas newer than ours.
    pub fn from_json(text: &str, origin: &str) -> Result<RollPlan, RollPlanError> {
        let plan: RollPlan = serde_json::from_str(text).map_err(|source| RollPlanError::Json {
            origin: origin.to_string(),
            source,
        })?;
        if plan.schema > ROLL_PLAN_SCHEMA {
            return Err(RollPlanError::Schema {
                origin: origin.to_string(),
                found: plan.schema,
            });
        }
        Ok(plan)
    }

    /// Whether the plan needs downtime.
    pub fn has_downtime(&self) -> bool {
        self.groups.iter().any(|g| !g.downtime.is_empty())
    }

    /// Checks the plan against the rules (see `validate`).
    pub fn check(
        &self,
        snap: &Snapshot,
        upgrade: &[usize],
        constraints: &Constraints,
    ) -> Vec<Violation> {
        validate::check(self, snap, upgrade, constraints)
    }
}

/// Plans the upgrade of `upgrade` (node indices) in `snap`. The plan names
/// no cluster (`cluster` is left for the caller) but carries the snapshot's
/// digest and the constraints.
pub fn plan(snap: &Snapshot, upgrade: &[usize], constraints: &Constraints) -> RollPlan {
    RollPlan {
        schema: ROLL_PLAN_SCHEMA,
        snapshot_digest: crate::ganeti::htools::digest(snap),
        constraints: *constraints,
        ..schedule::plan(snap, upgrade, constraints)
    }
}

/// The nodes to upgrade by default: every node that is not offline.
pub fn default_upgrade_set(snap: &Snapshot) -> Vec<usize> {
    (0..snap.nodes.len())
        .filter(|&n| !snap.nodes[n].offline)
        .collect()
}
