//! Ganeti: the typed RAPI client (`rapi`) and the cluster snapshot model
//! shared with the planner (`model`, loaded from RAPI or from the htools
//! text format in `htools`).
//!
//! Owns everything that speaks Ganeti's languages. Never decides what to do
//! with a cluster: that is the planner's and the engine's job.

pub mod rapi;
mod tls;

pub use rapi::{
    ClusterInfo, Credentials, EvacuateMode, FailureKind, GroupInfo, InstanceInfo, Job, JobFailure,
    JobId, JobStatus, NodeInfo, NodeRole, RapiClient, RapiConfig, RapiError, WaitOptions,
};
