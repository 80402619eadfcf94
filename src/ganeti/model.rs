//! The cluster snapshot: node groups, nodes and instances with the numbers
//! the planner needs (memory, disk, CPUs, roles, disk templates, instance
//! policy). Loaded from RAPI answers (`super::from_rapi`) or from the
//! htools text format (`super::htools`), and written back to the latter.
//!
//! Plain data, indices instead of names for speed (`Instance::pnode` is an
//! index into `Snapshot::nodes`). Never talks to anything.

use std::collections::HashMap;

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
