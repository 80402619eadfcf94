//! The validator: replays a plan on a snapshot and reports every broken
//! rule. Written apart from the planner (it shares no state code with it) so
//! that it can judge any plan, ours or one translated from `hroller`.
//!
//! Rules:
//! 1. No running instance on a node while it is down, unless the group lists
//!    it as downtime. A DRBD instance moves only to its secondary (and the
//!    roles swap); an externally mirrored one only within its node group; a
//!    non-mirrored one (plain, file) never; nothing moves onto a down or
//!    offline node.
//! 2. A DRBD instance's primary and secondary are never down together.
//! 3. After every move the target's running instances fit: total − node's
//!    own − instances' memory ≥ reserve, and vCPUs ≤ CPUs × the policy's
//!    vcpu ratio. (Disk: migrations never need new disk here — DRBD's is
//!    already on the secondary, external storage is not on the node.)
//! 4. An instance on an upgraded node never moves to a node not upgraded.
//! 5. At most K nodes down at once (per cluster and per node group); every
//!    node of the upgrade set exactly once, nothing else; the master in the
//!    last group, after a failover to an upgraded online node.
//! 6. Instances that are not running are not moved.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use super::{Constraints, RollPlan};
use crate::ganeti::{Mirror, Snapshot};

/// Which rule a finding breaks (numbers as in the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule(pub u8);

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: Rule,
    /// Group index (0-based), if the finding belongs to one.
    pub group: Option<usize>,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group {
            Some(g) => write!(
                f,
                "rule {} (group {}): {}",
                self.rule.0,
                g + 1,
                self.message
            ),
            None => write!(f, "rule {}: {}", self.rule.0, self.message),
        }
    }
}

/// Replays `plan` on `snap`; `upgrade` is the set of nodes it must upgrade.
pub fn check(
    plan: &RollPlan,
    snap: &Snapshot,
    upgrade: &[usize],
    c: &Constraints,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut v = |rule: u8, group: Option<usize>, message: String| {
        out.push(Violation {
            rule: Rule(rule),
            group,
            message,
        })
    };
    let n = snap.nodes.len();
    let node_of: HashMap<&str, usize> = snap.node_index();
    let mut insts_named: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, inst) in snap.instances.iter().enumerate() {
        insts_named.entry(inst.name.as_str()).or_default().push(i);
    }
    let mut pnode: Vec<usize> = snap.instances.iter().map(|i| i.pnode).collect();
    let mut snode: Vec<Option<usize>> = snap.instances.iter().map(|i| i.snode).collect();
    let mut mem = vec![0i64; n];
    let mut cpu = vec![0i64; n];
    let mut on_node: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, inst) in snap.instances.iter().enumerate() {
        on_node[inst.pnode].push(i);
        if inst.is_running() {
            mem[inst.pnode] += inst.mem as i64;
            cpu[inst.pnode] += inst.vcpus as i64;
        }
    }
    let mut in_set = vec![false; n];
    for &u in upgrade {
        if u < n {
            in_set[u] = true;
        }
    }
    let mut upgraded = vec![false; n];
    let mut seen = vec![false; n];
    let mut master = snap.master();
    let mut migrations = 0usize;
    // Groups without nodes only move instances (e.g. hroller's moves back
    // after its last group): "last" is the last group with nodes.
    let last = plan
        .groups
        .iter()
        .rposition(|g| !g.nodes.is_empty())
        .unwrap_or(0);

    for (g, group) in plan.groups.iter().enumerate() {
        let gi = Some(g);
        // Rule 5: membership and caps.
        let mut down = vec![false; n];
        let mut per_group: HashMap<usize, usize> = HashMap::new();
        for name in &group.nodes {
            let Some(&u) = node_of.get(name.as_str()) else {
                v(5, gi, format!("node {name} is not in the cluster"));
                continue;
            };
            if !in_set[u] {
                v(5, gi, format!("node {name} is not to be upgraded"));
            }
            if seen[u] {
                v(5, gi, format!("node {name} is upgraded twice"));
            }
            seen[u] = true;
            down[u] = true;
            *per_group.entry(snap.nodes[u].group).or_default() += 1;
        }
        if c.max_parallel > 0 && group.nodes.len() > c.max_parallel {
            v(
                5,
                gi,
                format!(
                    "{} nodes down at once, more than {}",
                    group.nodes.len(),
                    c.max_parallel
                ),
            );
        }
        if c.max_parallel_per_group > 0 {
            for (&ng, &count) in &per_group {
                if count > c.max_parallel_per_group {
                    v(
                        5,
                        gi,
                        format!(
                            "{count} nodes of node group {} down at once, more than {}",
                            snap.groups.get(ng).map(|x| x.name.as_str()).unwrap_or("?"),
                            c.max_parallel_per_group
                        ),
                    );
                }
            }
        }
        // Rule 5: the master.
        if let Some(m) = master {
            if down[m] {
                if g != last {
                    v(
                        5,
                        gi,
                        format!(
                            "the master {} goes down before the last group",
                            snap.nodes[m].name
                        ),
                    );
                }
                match &group.master_failover {
                    Some(f) if f.from == snap.nodes[m].name => {
                        match node_of.get(f.to.as_str()) {
                            Some(&t) if upgraded[t] && !down[t] && !snap.nodes[t].offline => {
                                master = Some(t);
                            }
                            _ => v(
                                5,
                                gi,
                                format!(
                                    "master failover to {}, which is not an upgraded node that stays up",
                                    f.to
                                ),
                            ),
                        }
                    }
                    // Allowed only when the plan says so (a cluster
                    // with no other node to take the role).
                    _ if plan
                        .infeasible
                        .iter()
                        .any(|f| f.node == snap.nodes[m].name && f.reason.contains("master")) => {}
                    _ => v(
                        5,
                        gi,
                        format!(
                            "the master {} goes down without a failover first",
                            snap.nodes[m].name
                        ),
                    ),
                }
            }
        }
        // The moves, in order.
        for mv in &group.moves {
            migrations += 1;
            let (Some(&from), Some(&to)) =
                (node_of.get(mv.from.as_str()), node_of.get(mv.to.as_str()))
            else {
                v(
                    1,
                    gi,
                    format!("move of {} names an unknown node", mv.instance),
                );
                continue;
            };
            let Some(&i) = insts_named
                .get(mv.instance.as_str())
                .and_then(|c| c.iter().find(|&&i| pnode[i] == from))
            else {
                v(
                    1,
                    gi,
                    format!(
                        "{} is not on {} when it should move from there",
                        mv.instance, mv.from
                    ),
                );
                continue;
            };
            let inst = &snap.instances[i];
            if !inst.is_running() {
                v(
                    6,
                    gi,
                    format!("{} is {} and is moved anyway", inst.name, inst.status),
                );
            }
            if down[to] || snap.nodes[to].offline {
                v(
                    1,
                    gi,
                    format!("{} moves onto {}, which is down", inst.name, mv.to),
                );
            }
            match inst.mirror() {
                Mirror::Drbd => {
                    if snode[i] != Some(to) {
                        v(
                            1,
                            gi,
                            format!(
                                "DRBD instance {} moves to {}, not its secondary",
                                inst.name, mv.to
                            ),
                        );
                    }
                }
                Mirror::External => {
                    if snap.nodes[to].group != snap.nodes[from].group {
                        v(
                            1,
                            gi,
                            format!("{} moves out of its node group to {}", inst.name, mv.to),
                        );
                    }
                }
                Mirror::None => v(
                    1,
                    gi,
                    format!(
                        "{} has {} disks and cannot move live",
                        inst.name, inst.disk_template
                    ),
                ),
            }
            if upgraded[from] && !upgraded[to] {
                v(
                    4,
                    gi,
                    format!(
                        "{} moves from upgraded {} to not-upgraded {}",
                        inst.name, mv.from, mv.to
                    ),
                );
            }
            if inst.is_running() {
                mem[from] -= inst.mem as i64;
                cpu[from] -= inst.vcpus as i64;
                mem[to] += inst.mem as i64;
                cpu[to] += inst.vcpus as i64;
                let nd = &snap.nodes[to];
                let room = nd.mem_total as i64 - nd.mem_node as i64 - mem[to];
                if room < c.reserve_mem as i64 {
                    v(
                        3,
                        gi,
                        format!(
                            "after moving {} to {}: {} MiB left (total {} − node {} − instances {}), reserve {} MiB, {} MiB short",
                            inst.name,
                            nd.name,
                            room,
                            nd.mem_total,
                            nd.mem_node,
                            mem[to],
                            c.reserve_mem,
                            c.reserve_mem as i64 - room
                        ),
                    );
                }
                let limit = nd.cpus * snap.vcpu_ratio(nd.group);
                if cpu[to] as f64 > limit + 1e-9 {
                    v(
                        3,
                        gi,
                        format!(
                            "after moving {} to {}: {} vCPUs, more than {} CPUs × ratio = {limit}",
                            inst.name, nd.name, cpu[to], nd.cpus
                        ),
                    );
                }
            }
            if inst.mirror() == Mirror::Drbd {
                snode[i] = Some(from);
            }
            pnode[i] = to;
            if let Some(k) = on_node[from].iter().position(|&x| x == i) {
                on_node[from].swap_remove(k);
            }
            on_node[to].push(i);
        }
        // Rules 1 and 2 while the group is down.
        let mut listed: HashMap<&str, usize> = HashMap::new();
        for name in &group.downtime {
            *listed.entry(name.as_str()).or_default() += 1;
        }
        let mut on_down: Vec<usize> = Vec::new();
        for name in &group.nodes {
            if let Some(&u) = node_of.get(name.as_str()) {
                on_down.extend(&on_node[u]);
            }
        }
        on_down.sort_unstable();
        on_down.dedup();
        for i in on_down {
            let inst = &snap.instances[i];
            let p = pnode[i];
            if down[p] && inst.is_running() {
                match listed.get_mut(inst.name.as_str()) {
                    Some(k) if *k > 0 => *k -= 1,
                    _ => v(
                        1,
                        gi,
                        format!(
                            "{} still runs on {} while it is down (not listed as downtime)",
                            inst.name, snap.nodes[p].name
                        ),
                    ),
                }
            }
            if inst.mirror() == Mirror::Drbd {
                if let Some(s) = snode[i] {
                    if down[p] && down[s] {
                        v(
                            2,
                            gi,
                            format!(
                                "{}: primary {} and secondary {} are down together",
                                inst.name, snap.nodes[p].name, snap.nodes[s].name
                            ),
                        );
                    }
                }
            }
        }
        for name in &group.nodes {
            if let Some(&u) = node_of.get(name.as_str()) {
                upgraded[u] = true;
            }
        }
    }
    for u in 0..n {
        // Offline nodes cannot be upgraded rolling; the planner lists them
        // as infeasible.
        if in_set[u] && !seen[u] && !snap.nodes[u].offline {
            v(
                5,
                None,
                format!("node {} is never upgraded", snap.nodes[u].name),
            );
        }
    }
    if migrations != plan.migrations {
        v(
            5,
            None,
            format!(
                "the plan says {} migrations but lists {migrations} moves",
                plan.migrations
            ),
        );
    }
    out
}
