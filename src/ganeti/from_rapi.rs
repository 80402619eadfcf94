//! The cluster snapshot as RAPI gives it: `RapiClient::snapshot` (four bulk
//! GETs) and `Snapshot::from_rapi` (those answers → the model the planner
//! reads). Lives with the RAPI client so that the model knows no RAPI type.

use std::collections::HashMap;

use serde_json::Value;

use super::model::{Group, Instance, ModelError, Node, Policy, Snapshot};
use super::rapi::{ClusterInfo, GroupInfo, InstanceInfo, NodeInfo, RapiClient, RapiError};

impl RapiClient {
    /// Reads the whole cluster (info, groups, nodes, instances) into a
    /// snapshot: four GETs, nothing changes.
    pub async fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        let info = self.info().await?;
        let groups = self.groups().await?;
        let nodes = self.nodes().await?;
        let instances = self.instances().await?;
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

impl Snapshot {
    /// Builds a snapshot from RAPI's bulk answers.
    pub fn from_rapi(
        info: &ClusterInfo,
        groups: &[GroupInfo],
        nodes: &[NodeInfo],
        instances: &[InstanceInfo],
    ) -> Result<Snapshot, ModelError> {
        let mut snap = Snapshot {
            cluster_tags: info.tags.clone(),
            ..Snapshot::default()
        };
        let mut policies = Vec::new();
        if let Some(p) = info.ipolicy.as_ref().and_then(|v| policy_from_rapi("", v)) {
            policies.push(p);
        }
        for g in groups {
            snap.groups.push(Group {
                name: g.name.clone(),
                uuid: g.uuid.clone(),
                alloc_policy: g.alloc_policy.clone().unwrap_or_else(|| "preferred".into()),
                rest: vec![String::new(), g.tags.join(",")],
            });
            if let Some(p) = g
                .ipolicy
                .as_ref()
                .and_then(|v| policy_from_rapi(&g.name, v))
            {
                policies.push(p);
            }
        }
        snap.policies = Some(policies);
        let group_of = |n: &NodeInfo| -> Result<usize, ModelError> {
            let key = n.group_uuid.as_deref().or(n.group.as_deref());
            snap.groups
                .iter()
                .position(|g| Some(g.uuid.as_str()) == key || Some(g.name.as_str()) == key)
                .ok_or_else(|| {
                    ModelError::Inconsistent(format!(
                        "node {} is in node group {:?}, which RAPI did not list",
                        n.name,
                        key.unwrap_or("(none)")
                    ))
                })
        };
        let mut nodes_out = Vec::with_capacity(nodes.len());
        for n in nodes {
            let group = group_of(n)?;
            nodes_out.push(Node {
                name: n.name.clone(),
                mem_total: n.mtotal.unwrap_or(0),
                mem_node: n.mnode.unwrap_or(0),
                mem_free: n.mfree.unwrap_or(0),
                disk_total: n.dtotal.unwrap_or(0),
                disk_free: n.dfree.unwrap_or(0),
                cpus: n.ctotal.unwrap_or(0) as f64,
                offline: n.offline,
                drained: n.drained,
                master: n.name == info.master || n.role.as_deref() == Some("M"),
                master_candidate: n.master_candidate,
                group,
                rest: vec!["1".into(), n.tags.join(",")],
            });
        }
        snap.nodes = nodes_out;
        let index: HashMap<String, usize> = snap
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        for i in instances {
            let pnode = *index.get(&i.pnode).ok_or_else(|| {
                ModelError::Inconsistent(format!(
                    "instance {} has primary node {}, which RAPI did not list",
                    i.name, i.pnode
                ))
            })?;
            let snode = match i.snodes.first() {
                Some(s) => Some(*index.get(s).ok_or_else(|| {
                    ModelError::Inconsistent(format!(
                        "instance {} has secondary node {s}, which RAPI did not list",
                        i.name
                    ))
                })?),
                None => None,
            };
            let auto_balance = i
                .beparams
                .get("auto_balance")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            snap.instances.push(Instance {
                name: i.name.clone(),
                mem: i.memory(),
                disk: i.disk_sizes.iter().sum(),
                vcpus: i.vcpus(),
                status: i.status.clone(),
                auto_balance,
                pnode,
                snode,
                disk_template: i.disk_template.clone(),
                rest: vec![i.tags.join(","), "1".into()],
            });
        }
        Ok(snap)
    }
}

/// RAPI's ipolicy object → the text format's policy line.
fn policy_from_rapi(owner: &str, v: &Value) -> Option<Policy> {
    let spec = |s: &Value| -> String {
        [
            "memory-size",
            "cpu-count",
            "disk-size",
            "disk-count",
            "nic-count",
            "spindle-use",
        ]
        .iter()
        .map(|k| s.get(*k).and_then(Value::as_u64).unwrap_or(0).to_string())
        .collect::<Vec<_>>()
        .join(",")
    };
    let vcpu_ratio = v.get("vcpu-ratio").and_then(Value::as_f64)?;
    let spindle_ratio = v
        .get("spindle-ratio")
        .and_then(Value::as_f64)
        .unwrap_or(32.0);
    let disk_templates: Vec<String> = v
        .get("disk-templates")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let std = v.get("std").map(spec).unwrap_or_default();
    let minmax = v
        .get("minmax")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|mm| {
                    format!(
                        "{};{}",
                        mm.get("min").map(spec).unwrap_or_default(),
                        mm.get("max").map(spec).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .unwrap_or_default();
    Some(Policy {
        owner: owner.to_string(),
        vcpu_ratio,
        disk_templates: disk_templates.clone(),
        raw: format!(
            "{std}|{minmax}|{}|{vcpu_ratio:?}|{spindle_ratio:?}",
            disk_templates.join(",")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ganeti::model::Mirror;
    use crate::ganeti::rapi::tests::fixture;

    #[test]
    fn from_recorded_rapi_answers() {
        let info: ClusterInfo = serde_json::from_value(fixture("info.json")).unwrap();
        let groups: Vec<GroupInfo> = serde_json::from_value(fixture("groups-bulk.json")).unwrap();
        let nodes: Vec<NodeInfo> = serde_json::from_value(fixture("nodes-bulk.json")).unwrap();
        let instances: Vec<InstanceInfo> =
            serde_json::from_value(fixture("instances-bulk.json")).unwrap();
        let snap = Snapshot::from_rapi(&info, &groups, &nodes, &instances).unwrap();
        assert_eq!(snap.nodes.len(), nodes.len());
        assert_eq!(snap.instances.len(), instances.len());
        let master = snap.master().expect("master known");
        assert_eq!(snap.nodes[master].name, info.master);
        assert!(snap.nodes.iter().all(|n| n.mem_total > 0));
        assert!(snap.instances.iter().any(|i| !i.is_running()));
        assert_eq!(snap.vcpu_ratio(0), 4.0);
        assert!(snap
            .instances
            .iter()
            .all(|i| i.mirror() == Mirror::External));
    }

    #[test]
    fn from_answers_recorded_in_the_lab() {
        let info: ClusterInfo = serde_json::from_value(fixture("lab/info.json")).unwrap();
        let groups: Vec<GroupInfo> =
            serde_json::from_value(fixture("lab/groups-bulk.json")).unwrap();
        let nodes: Vec<NodeInfo> = serde_json::from_value(fixture("lab/nodes-bulk.json")).unwrap();
        let instances: Vec<InstanceInfo> =
            serde_json::from_value(fixture("lab/instances-bulk.json")).unwrap();
        let snap = Snapshot::from_rapi(&info, &groups, &nodes, &instances).unwrap();
        assert_eq!(snap.nodes[snap.master().unwrap()].name, info.master);
        assert!(snap
            .instances
            .iter()
            .any(|i| i.mirror() == Mirror::External && i.is_running()));
        assert!(snap.instances.iter().any(|i| i.mirror() == Mirror::None));
        assert!(snap.instances.iter().any(|i| !i.is_running()));
        assert!(snap
            .nodes
            .iter()
            .all(|n| n.mem_total > n.mem_node && n.cpus > 0.0));
        let text = crate::ganeti::htools::write(&snap);
        assert_eq!(
            crate::ganeti::htools::write(&crate::ganeti::htools::parse(&text, "lab").unwrap()),
            text
        );
    }

    #[test]
    fn unknown_primary_node_is_an_error() {
        let info: ClusterInfo = serde_json::from_value(fixture("info.json")).unwrap();
        let groups: Vec<GroupInfo> = serde_json::from_value(fixture("groups-bulk.json")).unwrap();
        let nodes: Vec<NodeInfo> = serde_json::from_value(fixture("nodes-bulk.json")).unwrap();
        let mut instances: Vec<InstanceInfo> =
            serde_json::from_value(fixture("instances-bulk.json")).unwrap();
        instances[0].pnode = "ghost.lab.test".into();
        let err = Snapshot::from_rapi(&info, &groups, &nodes, &instances).unwrap_err();
        assert!(err.to_string().contains("ghost.lab.test"), "{err}");
    }
}
