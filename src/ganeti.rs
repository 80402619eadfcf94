//! Ganeti: the typed RAPI client (`rapi`) and the cluster snapshot model
//! shared with the planner (`model`, loaded from RAPI or from the htools
//! text format in `htools`).
//!
//! Owns everything that speaks Ganeti's languages. Never decides what to do
//! with a cluster: that is the planner's and the engine's job.

pub mod htools;
pub mod model;
pub mod rapi;
mod tls;

pub use model::{Group, Instance, Mirror, ModelError, Node, Policy, Snapshot};
pub use rapi::{
    ClusterInfo, Credentials, EvacuateMode, FailureKind, GroupInfo, InstanceInfo, Job, JobFailure,
    JobId, JobStatus, NodeInfo, NodeRole, RapiClient, RapiConfig, RapiError, WaitOptions,
};

impl RapiClient {
    /// Reads the whole cluster (info, groups, nodes, instances) into a
    /// snapshot: four GETs, nothing changes.
    pub fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        let info = self.info()?;
        let groups = self.groups()?;
        let nodes = self.nodes()?;
        let instances = self.instances()?;
        Ok(Snapshot::from_rapi(&info, &groups, &nodes, &instances)?)
    }
}

/// Reading a snapshot from RAPI failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Rapi(#[from] RapiError),
    #[error(transparent)]
    Model(#[from] ModelError),
}
