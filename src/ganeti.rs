//! Ganeti: the typed RAPI client (`rapi`) and the cluster snapshot model
//! shared with the planner (`model`, loaded from RAPI or from the htools
//! text format in `htools`).
//!
//! Owns everything that speaks Ganeti's languages. Never decides what to do
//! with a cluster: that is the planner's and the engine's job.

mod from_rapi;
pub mod htools;
pub mod model;
pub mod rapi;
mod tls;

pub use from_rapi::SnapshotError;
pub use model::{Group, Instance, Mirror, ModelError, Node, Policy, Snapshot};
pub use rapi::{
    ClusterInfo, Credentials, EvacuateMode, FailureKind, GroupInfo, InstanceInfo, Job, JobFailure,
    JobId, JobStatus, NodeInfo, NodeRole, RapiClient, RapiConfig, RapiError, WaitOptions,
};
