//! The cluster snapshot: node groups, nodes and instances with the numbers
//! the planner needs (memory, disk, CPUs, roles, disk templates, instance
//! policy). Loaded from RAPI answers (`Snapshot::from_rapi`) or from the
//! htools text format (`super::htools`), and written back to the latter.
//!
//! Plain data, indices instead of names for speed (`Instance::pnode` is an
//! index into `Snapshot::nodes`). Never talks to anything.

use std::collections::HashMap;

// The RAPI half is left out of the fuzz build of the htools parser
// (fuzz/src/lib.rs), which compiles this file without the RAPI client.
#[cfg(not(fuzzing))]
use serde_json::Value;

#[cfg(not(fuzzing))]
use super::rapi::{ClusterInfo, GroupInfo, InstanceInfo, NodeInfo};

/// Ganeti's default `vcpu-ratio` when no instance policy says otherwise.
pub const DEFAULT_VCPU_RATIO: f64 = 4.0;

/// A whole cluster at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub groups: Vec<Group>,
    pub nodes: Vec<Node>,
    pub instances: Vec<Instance>,
    /// Cluster tags (one per line in the text format).
    pub cluster_tags: Vec<String>,
    /// Instance policies: the cluster's (owner `""`) and per group. `None`
    /// when the source had no policy section at all.
    pub policies: Option<Vec<Policy>>,
    /// Text-format details kept for a byte-identical round trip.
    pub layout: TextLayout,
}

/// How a text file was laid out: how many sections it had (2 to 5) and how
/// many empty lines followed the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLayout {
    pub sections: usize,
    pub trailing_blank_lines: usize,
}

impl Default for TextLayout {
    fn default() -> Self {
        TextLayout {
            sections: 5,
            trailing_blank_lines: 0,
        }
    }
}

/// A node group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub uuid: String,
    /// `preferred`, `last_resort` or `unallocable`.
    pub alloc_policy: String,
    /// Fields after the allocation policy (networks, tags), verbatim.
    pub rest: Vec<String>,
}

/// A node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    /// MiB.
    pub mem_total: u64,
    /// MiB the node itself (dom0, OS) uses.
    pub mem_node: u64,
    /// MiB free as the hypervisor reported it.
    pub mem_free: u64,
    /// MiB.
    pub disk_total: u64,
    pub disk_free: u64,
    /// Physical CPUs.
    pub cpus: f64,
    pub offline: bool,
    pub drained: bool,
    pub master: bool,
    pub master_candidate: bool,
    /// Index into `Snapshot::groups`.
    pub group: usize,
    /// Text-format fields after the group (spindles, tags, exclusive
    /// storage, free spindles, node CPUs, CPU speed), verbatim.
    pub rest: Vec<String>,
}

/// An instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    /// MiB of memory it accounts for.
    pub mem: u64,
    /// MiB of disk (sum of its disks).
    pub disk: u64,
    pub vcpus: u64,
    /// Ganeti's status: `running`, `ADMIN_down`, `ERROR_down`, ...
    pub status: String,
    pub auto_balance: bool,
    /// Index into `Snapshot::nodes`.
    pub pnode: usize,
    pub snode: Option<usize>,
    /// `drbd`, `plain`, `diskless`, `sharedfile`, ...
    pub disk_template: String,
    /// Text-format fields after the disk template (tags, spindle use,
    /// spindles, forthcoming), verbatim.
    pub rest: Vec<String>,
}

/// An instance policy line: owner `""` is the cluster, else a group name.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub owner: String,
    /// Virtual CPUs allowed per physical CPU.
    pub vcpu_ratio: f64,
    pub disk_templates: Vec<String>,
    /// The whole line after the owner, verbatim (specs, ratios).
    pub raw: String,
}

/// How an instance's disks let it move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirror {
    /// DRBD: live migration only to its secondary, which swaps the roles.
    Drbd,
    /// Storage outside the node (diskless, sharedfile, rbd, ext, blockdev,
    /// gluster): migrates to any node of its node group.
    External,
    /// Local disks only (plain, file, or unknown): cannot move live.
    None,
}

impl Instance {
    /// How its disks let it move.
    pub fn mirror(&self) -> Mirror {
        match self.disk_template.as_str() {
            "drbd" => Mirror::Drbd,
            "diskless" | "sharedfile" | "rbd" | "ext" | "blockdev" | "gluster" => Mirror::External,
            _ => Mirror::None,
        }
    }

    /// Whether it runs (and so uses memory and must not go down). htools
    /// counts `running` and `ERROR_up` (running though Ganeti thought not).
    pub fn is_running(&self) -> bool {
        matches!(self.status.as_str(), "running" | "ERROR_up")
    }
}

impl Snapshot {
    /// Name → node index.
    pub fn node_index(&self) -> HashMap<&str, usize> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect()
    }

    /// The master node, when the source said which it is.
    pub fn master(&self) -> Option<usize> {
        self.nodes.iter().position(|n| n.master)
    }

    /// The vcpu ratio that holds on nodes of `group`: the group's policy,
    /// else the cluster's, else Ganeti's default.
    pub fn vcpu_ratio(&self, group: usize) -> f64 {
        let Some(policies) = &self.policies else {
            return DEFAULT_VCPU_RATIO;
        };
        let name = self.groups.get(group).map(|g| g.name.as_str());
        policies
            .iter()
            .find(|p| Some(p.owner.as_str()) == name)
            .or_else(|| policies.iter().find(|p| p.owner.is_empty()))
            .map(|p| p.vcpu_ratio)
            .unwrap_or(DEFAULT_VCPU_RATIO)
    }

    /// Builds a snapshot from RAPI's bulk answers.
    #[cfg(not(fuzzing))]
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
#[cfg(not(fuzzing))]
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

/// A snapshot that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A text file with a bad line (column 1 when the whole line is bad).
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Answers that contradict each other.
    #[error("inconsistent cluster data: {0}")]
    Inconsistent(String),
}

#[cfg(test)]
mod tests {
    use super::*;
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
