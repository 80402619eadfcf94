//! Group formation and placement against a simulated cluster state.
//!
//! Nodes are taken in the `order` sequence. A group first takes nodes whose
//! earlier-ordered DRBD peers are already upgraded ("ready"), then fills up
//! to the caps with any other node that is no DRBD partner of a member. A
//! node joins only if all its running instances can move given the state so
//! far (plain/file ones excepted: those always need downtime); otherwise its
//! trial moves are undone and it waits for a later group. When no node can
//! join, the first one in order goes alone, with downtime for what cannot
//! move, and the reason in numbers.
//!
//! Placement: a DRBD instance goes to its secondary; if that lacks memory or
//! CPU, other instances leave it first (externally mirrored ones to other
//! nodes, DRBD ones to their own secondaries). An externally mirrored
//! instance goes preferably to an upgraded node (or one outside the upgrade)
//! of its node group — where it stays — with the most room left after the
//! DRBD failovers those nodes still expect; otherwise to the not-yet-upgraded
//! node that comes last in the order.

use crate::ganeti::{Mirror, Snapshot};

use super::order::{self, Arcs};
use super::{Constraints, Infeasible, MasterFailover, Move, MoveKind, PlanGroup, RollPlan, Stats};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    /// In the upgrade set, not upgraded yet.
    Old,
    /// In the upgrade set, done.
    Upgraded,
    /// Not in the upgrade set, online: stays on its version all along.
    Fixed,
    /// Offline: receives nothing.
    Offline,
}

struct MoveRec {
    inst: usize,
    from: usize,
    to: usize,
    prev_received: bool,
    prev_moves_in_group: u32,
    room: bool,
}

struct State<'a> {
    snap: &'a Snapshot,
    pnode: Vec<usize>,
    snode: Vec<Option<usize>>,
    used_mem: Vec<i64>,
    used_cpu: Vec<i64>,
    cap_mem: Vec<i64>,
    cap_cpu: Vec<f64>,
    state: Vec<NodeState>,
    down: Vec<bool>,
    /// Received an instance in the group being formed.
    received: Vec<bool>,
    /// Primary instances per node (all states).
    on_node: Vec<Vec<usize>>,
    /// Memory of running DRBD instances that will still fail over onto the
    /// node (it is their secondary, their primary is not upgraded yet).
    pending_in: Vec<i64>,
    order_pos: Vec<usize>,
    group_nodes: Vec<Vec<usize>>,
    moves: Vec<MoveRec>,
    /// Index in `moves` where the current group starts.
    group_start: usize,
    /// Per instance: migrations in the group being formed.
    moves_in_group: Vec<u32>,
}

/// Why one instance cannot move, in numbers.
struct Stuck {
    inst: usize,
    why: String,
    missing: u64,
}

impl<'a> State<'a> {
    fn new(snap: &'a Snapshot, in_set: &[bool], reserve: u64) -> Self {
        let n = snap.nodes.len();
        let mut st = State {
            snap,
            pnode: snap.instances.iter().map(|i| i.pnode).collect(),
            snode: snap.instances.iter().map(|i| i.snode).collect(),
            used_mem: vec![0; n],
            used_cpu: vec![0; n],
            cap_mem: snap
                .nodes
                .iter()
                .map(|nd| nd.mem_total as i64 - nd.mem_node as i64 - reserve as i64)
                .collect(),
            cap_cpu: snap
                .nodes
                .iter()
                .map(|nd| nd.cpus * snap.vcpu_ratio(nd.group))
                .collect(),
            state: (0..n)
                .map(|i| {
                    if snap.nodes[i].offline {
                        NodeState::Offline
                    } else if in_set[i] {
                        NodeState::Old
                    } else {
                        NodeState::Fixed
                    }
                })
                .collect(),
            down: vec![false; n],
            received: vec![false; n],
            on_node: vec![Vec::new(); n],
            pending_in: vec![0; n],
            order_pos: vec![usize::MAX; n],
            group_nodes: vec![Vec::new(); snap.groups.len().max(1)],
            moves: Vec::new(),
            group_start: 0,
            moves_in_group: vec![0; snap.instances.len()],
        };
        for (i, inst) in snap.instances.iter().enumerate() {
            st.on_node[inst.pnode].push(i);
            if inst.is_running() {
                st.used_mem[inst.pnode] += inst.mem as i64;
                st.used_cpu[inst.pnode] += inst.vcpus as i64;
            }
            st.contrib(i, 1);
        }
        for (i, nd) in snap.nodes.iter().enumerate() {
            if let Some(g) = st.group_nodes.get_mut(nd.group) {
                g.push(i);
            }
        }
        st
    }

    /// Adds (`sign` 1) or removes (-1) instance `i`'s pending failover.
    fn contrib(&mut self, i: usize, sign: i64) {
        let inst = &self.snap.instances[i];
        if inst.is_running() && inst.mirror() == Mirror::Drbd {
            if let Some(s) = self.snode[i] {
                if self.state[self.pnode[i]] == NodeState::Old {
                    self.pending_in[s] += sign * inst.mem as i64;
                }
            }
        }
    }

    fn free_mem(&self, n: usize) -> i64 {
        self.cap_mem[n] - self.used_mem[n]
    }

    fn fits(&self, n: usize, i: usize) -> bool {
        let inst = &self.snap.instances[i];
        self.free_mem(n) >= inst.mem as i64
            && (self.used_cpu[n] + inst.vcpus as i64) as f64 <= self.cap_cpu[n] + 1e-9
    }

    /// Whether `to` may receive a live migration from `from` at all
    /// (ignoring capacity): up, online, and no upgraded → old move.
    fn may_receive(&self, from: usize, to: usize) -> bool {
        if to == from || self.down[to] {
            return false;
        }
        match (self.state[from], self.state[to]) {
            (_, NodeState::Offline) => false,
            (NodeState::Upgraded, NodeState::Upgraded) => true,
            (NodeState::Upgraded, _) => false,
            _ => true,
        }
    }

    fn apply(&mut self, i: usize, to: usize, room: bool) {
        self.contrib(i, -1);
        let from = self.pnode[i];
        let inst = &self.snap.instances[i];
        self.used_mem[from] -= inst.mem as i64;
        self.used_cpu[from] -= inst.vcpus as i64;
        self.used_mem[to] += inst.mem as i64;
        self.used_cpu[to] += inst.vcpus as i64;
        if let Some(p) = self.on_node[from].iter().position(|&x| x == i) {
            self.on_node[from].swap_remove(p);
        }
        self.on_node[to].push(i);
        if inst.mirror() == Mirror::Drbd {
            self.snode[i] = Some(from);
        }
        self.pnode[i] = to;
        let prev_received = self.received[to];
        let prev_moves_in_group = self.moves_in_group[i];
        self.moves_in_group[i] += 1;
        self.received[to] = true;
        self.moves.push(MoveRec {
            inst: i,
            from,
            to,
            prev_received,
            prev_moves_in_group,
            room,
        });
        self.contrib(i, 1);
    }

    fn rollback(&mut self, mark: usize) {
        while self.moves.len() > mark {
            let rec = self.moves.pop().expect("len > mark");
            let i = rec.inst;
            self.contrib(i, -1);
            let inst = &self.snap.instances[i];
            self.used_mem[rec.to] -= inst.mem as i64;
            self.used_cpu[rec.to] -= inst.vcpus as i64;
            self.used_mem[rec.from] += inst.mem as i64;
            self.used_cpu[rec.from] += inst.vcpus as i64;
            if let Some(p) = self.on_node[rec.to].iter().position(|&x| x == i) {
                self.on_node[rec.to].swap_remove(p);
            }
            self.on_node[rec.from].push(i);
            if inst.mirror() == Mirror::Drbd {
                self.snode[i] = Some(rec.to);
            }
            self.pnode[i] = rec.from;
            self.received[rec.to] = rec.prev_received;
            self.moves_in_group[i] = rec.prev_moves_in_group;
            self.contrib(i, 1);
        }
    }

    /// Whether instance `i` moved already in the group being formed.
    fn moved_in_group(&self, i: usize) -> bool {
        self.moves_in_group[i] > 0
    }

    /// Best node for externally mirrored instance `i` leaving `from`.
    fn external_target(&self, i: usize, from: usize) -> Option<usize> {
        let group = self.snap.nodes[from].group;
        let mem = self.snap.instances[i].mem as i64;
        let mut best_final: Option<(i64, usize)> = None;
        let mut best_old: Option<(usize, i64, usize)> = None;
        for &t in self
            .group_nodes
            .get(group)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if self.snap.nodes[t].drained || !self.may_receive(from, t) || !self.fits(t, i) {
                continue;
            }
            match self.state[t] {
                NodeState::Upgraded | NodeState::Fixed => {
                    let room = self.free_mem(t) - self.pending_in[t] - mem;
                    if best_final.is_none_or(|(r, _)| room > r) {
                        best_final = Some((room, t));
                    }
                }
                NodeState::Old => {
                    // Latest in the order first: it stays up the longest.
                    let key = (self.order_pos[t], self.free_mem(t), t);
                    if best_old.is_none_or(|b| (key.0, key.1) > (b.0, b.1)) {
                        best_old = Some(key);
                    }
                }
                NodeState::Offline => {}
            }
        }
        best_final.map(|(_, t)| t).or(best_old.map(|(_, _, t)| t))
    }

    /// Moves other instances off `node` until `need` MiB and `need_cpu`
    /// vCPUs more fit, never touching `avoid`. False (and nothing undone:
    /// the caller rolls back) when it cannot.
    fn make_room(&mut self, node: usize, need: i64, need_cpu: i64) -> bool {
        let enough = |st: &State| {
            st.free_mem(node) >= need
                && (st.used_cpu[node] + need_cpu) as f64 <= st.cap_cpu[node] + 1e-9
        };
        if enough(self) {
            return true;
        }
        let mut candidates: Vec<usize> = self.on_node[node]
            .iter()
            .copied()
            .filter(|&i| {
                let inst = &self.snap.instances[i];
                inst.is_running() && inst.mirror() != Mirror::None && !self.moved_in_group(i)
            })
            .collect();
        // Externally mirrored first (they go anywhere), big ones first.
        candidates.sort_by_key(|&i| {
            let inst = &self.snap.instances[i];
            (
                inst.mirror() == Mirror::Drbd,
                std::cmp::Reverse(inst.mem),
                i,
            )
        });
        for i in candidates {
            if enough(self) {
                break;
            }
            let target = match self.snap.instances[i].mirror() {
                Mirror::External => self.external_target(i, node),
                Mirror::Drbd => {
                    self.snode[i].filter(|&s| self.may_receive(node, s) && self.fits(s, i))
                }
                Mirror::None => None,
            };
            if let Some(t) = target {
                self.apply(i, t, true);
            }
        }
        enough(self)
    }

    /// Plans the moves that empty `v` (already marked down). Instances that
    /// cannot move are returned; with `strict`, the first capacity failure
    /// stops (the caller rolls back). Non-mirrored instances never move and
    /// are always returned.
    fn evacuate(&mut self, v: usize, strict: bool) -> Result<Vec<Stuck>, Stuck> {
        let mut running: Vec<usize> = self.on_node[v]
            .iter()
            .copied()
            .filter(|&i| self.snap.instances[i].is_running())
            .collect();
        // DRBD first (fixed targets), then the flexible ones, big first.
        running.sort_by_key(|&i| {
            let inst = &self.snap.instances[i];
            (
                inst.mirror() != Mirror::Drbd,
                std::cmp::Reverse(inst.mem),
                i,
            )
        });
        let mut stuck = Vec::new();
        for i in running {
            let inst = &self.snap.instances[i];
            let result = match inst.mirror() {
                Mirror::None => {
                    stuck.push(Stuck {
                        inst: i,
                        why: format!(
                            "{} ({} MiB) has {} disks (not mirrored) and cannot move live",
                            inst.name, inst.mem, inst.disk_template
                        ),
                        missing: 0,
                    });
                    continue;
                }
                Mirror::Drbd => {
                    // Without a usable secondary it can never move: like a
                    // non-mirrored one, not a matter of room.
                    match self.snode[i] {
                        Some(sn) if !self.snap.nodes[sn].offline => self.place_drbd(i, v),
                        other => {
                            stuck.push(Stuck {
                                inst: i,
                                why: match other {
                                    Some(sn) => format!(
                                        "{} ({} MiB, drbd): its secondary {} is offline",
                                        inst.name, inst.mem, self.snap.nodes[sn].name
                                    ),
                                    None => format!(
                                        "{} ({} MiB) is DRBD without a secondary node",
                                        inst.name, inst.mem
                                    ),
                                },
                                missing: 0,
                            });
                            continue;
                        }
                    }
                }
                Mirror::External => self.place_external(i, v),
            };
            if let Err(s) = result {
                if strict {
                    return Err(s);
                }
                stuck.push(s);
            }
        }
        Ok(stuck)
    }

    fn place_drbd(&mut self, i: usize, v: usize) -> Result<(), Stuck> {
        let inst = &self.snap.instances[i];
        let Some(s) = self.snode[i] else {
            return Err(Stuck {
                inst: i,
                why: format!("{} is DRBD without a secondary node", inst.name),
                missing: 0,
            });
        };
        let s_name = &self.snap.nodes[s].name;
        if !self.may_receive(v, s) {
            return Err(Stuck {
                inst: i,
                why: format!("{}: its secondary {s_name} is offline or down", inst.name),
                missing: 0,
            });
        }
        if self.fits(s, i) {
            self.apply(i, s, false);
            return Ok(());
        }
        let mark = self.moves.len();
        let (mem, cpu) = (inst.mem as i64, inst.vcpus as i64);
        let free_before = self.free_mem(s);
        if self.make_room(s, mem, cpu) {
            self.apply(i, s, false);
            return Ok(());
        }
        self.rollback(mark);
        Err(self.capacity_stuck(i, s, free_before, "fail over to its secondary"))
    }

    fn place_external(&mut self, i: usize, v: usize) -> Result<(), Stuck> {
        if let Some(t) = self.external_target(i, v) {
            self.apply(i, t, false);
            return Ok(());
        }
        // Make room on the node of its group with the most free memory.
        let group = self.snap.nodes[v].group;
        let best = self
            .group_nodes
            .get(group)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&t| !self.snap.nodes[t].drained && self.may_receive(v, t))
            .max_by_key(|&t| (self.free_mem(t), std::cmp::Reverse(t)));
        let inst = &self.snap.instances[i];
        let (mem, cpu) = (inst.mem as i64, inst.vcpus as i64);
        if let Some(t) = best {
            let mark = self.moves.len();
            let free_before = self.free_mem(t);
            if self.make_room(t, mem, cpu) {
                self.apply(i, t, false);
                return Ok(());
            }
            self.rollback(mark);
            return Err(self.capacity_stuck(
                i,
                t,
                free_before,
                "move to any node of its group; the roomiest is",
            ));
        }
        Err(Stuck {
            inst: i,
            why: format!(
                "{} ({} MiB): no other node of its node group can receive it",
                inst.name, inst.mem
            ),
            missing: 0,
        })
    }

    fn capacity_stuck(&self, i: usize, t: usize, free: i64, what: &str) -> Stuck {
        let inst = &self.snap.instances[i];
        let nd = &self.snap.nodes[t];
        let cpu_short = (self.used_cpu[t] + inst.vcpus as i64) as f64 > self.cap_cpu[t] + 1e-9;
        let missing = (inst.mem as i64 - free).max(0) as u64;
        let mut why = format!(
            "{} ({} MiB, {}) cannot {what} {}: {} MiB free there (total {} − node {} − instances {} − reserve), {} MiB missing, and moving other instances off it did not free enough",
            inst.name,
            inst.mem,
            inst.disk_template,
            nd.name,
            free.max(0),
            nd.mem_total,
            nd.mem_node,
            self.used_mem[t],
            missing
        );
        if cpu_short {
            why.push_str(&format!(
                "; vCPUs would exceed {} × ratio = {:.0}",
                nd.cpus, self.cap_cpu[t]
            ));
        }
        Stuck {
            inst: i,
            why,
            missing,
        }
    }

    /// Takes `v` down with the moves that empty it; `None` (and nothing
    /// changed) when `strict` and some instance has no room anywhere.
    fn take(&mut self, v: usize, strict: bool) -> Option<Vec<Stuck>> {
        let mark = self.moves.len();
        self.down[v] = true;
        match self.evacuate(v, strict) {
            Ok(unavoidable) => Some(unavoidable),
            Err(_) => {
                self.rollback(mark);
                self.down[v] = false;
                None
            }
        }
    }

    /// Nodes of the current group (down) that are DRBD partners of `v`.
    fn conflicts(&self, v: usize, partners: &[Vec<usize>]) -> bool {
        partners[v].iter().any(|&u| self.down[u])
    }
}

/// Plans the upgrade; see the module doc.
pub(super) fn plan(snap: &Snapshot, upgrade: &[usize], c: &Constraints) -> RollPlan {
    let n = snap.nodes.len();
    let mut in_set = vec![false; n];
    for &u in upgrade {
        if u < n && !snap.nodes[u].offline {
            in_set[u] = true;
        }
    }
    let mut infeasible = Vec::new();
    for &u in upgrade {
        if u < n && snap.nodes[u].offline {
            infeasible.push(Infeasible {
                node: snap.nodes[u].name.clone(),
                reason: "the node is offline; it cannot be upgraded by a rolling plan".into(),
                instances: Vec::new(),
                missing_mem: 0,
            });
        }
    }
    let master = snap.master().filter(|&m| in_set[m]);

    // DRBD pairs: partners never go down together; arcs secondary → primary
    // for running instances whose primary is upgraded.
    let mut partners = vec![Vec::new(); n];
    let mut arc_pairs = Vec::new();
    let mut drbd_instances = 0usize;
    for inst in &snap.instances {
        if inst.mirror() != Mirror::Drbd {
            continue;
        }
        let Some(s) = inst.snode else { continue };
        let p = inst.pnode;
        if in_set[p] && in_set[s] {
            partners[p].push(s);
            partners[s].push(p);
        }
        if inst.is_running() && in_set[p] {
            drbd_instances += 1;
            if in_set[s] {
                arc_pairs.push((s, p));
            }
        }
    }
    for p in &mut partners {
        p.sort_unstable();
        p.dedup();
    }
    let arcs = Arcs::from_pairs(n, arc_pairs);
    let lower_bound = drbd_instances + arcs.lower_bound(master) as usize;

    let nodes: Vec<usize> = (0..n).filter(|&v| in_set[v] && Some(v) != master).collect();
    let sequence = order::order(&nodes, &arcs);
    let mut st = State::new(snap, &in_set, c.reserve_mem);
    for (i, &v) in sequence.iter().enumerate() {
        st.order_pos[v] = i;
    }
    if let Some(m) = master {
        st.order_pos[m] = sequence.len();
    }
    let cap = if c.max_parallel == 0 {
        usize::MAX
    } else {
        c.max_parallel
    };
    let cap_group = if c.max_parallel_per_group == 0 {
        usize::MAX
    } else {
        c.max_parallel_per_group
    };

    let mut scheduled = vec![false; n];
    let mut left = sequence.len();
    let mut master_done = master.is_none();
    let mut groups: Vec<PlanGroup> = Vec::new();
    let mut all_moves: Vec<(usize, usize, usize, bool)> = Vec::new();
    let mut per_group_count = vec![0usize; snap.groups.len().max(1)];

    while left > 0 || !master_done {
        st.group_start = st.moves.len();
        let mut members: Vec<usize> = Vec::new();
        let mut downtime: Vec<usize> = Vec::new();
        let mut stuck_notes: Vec<(usize, Vec<Stuck>)> = Vec::new();
        per_group_count.iter_mut().for_each(|c| *c = 0);

        for pass in 0..2 {
            for &v in &sequence {
                if members.len() >= cap {
                    break;
                }
                let g = snap.nodes[v].group;
                if scheduled[v]
                    || st.down[v]
                    || per_group_count.get(g).copied().unwrap_or(0) >= cap_group
                    || st.received[v]
                    || st.conflicts(v, &partners)
                {
                    continue;
                }
                if pass == 0
                    && arcs.inc[v]
                        .iter()
                        .any(|&(u, _)| !scheduled[u] && st.order_pos[u] < st.order_pos[v])
                {
                    continue;
                }
                // Filling up with nodes whose secondaries come later costs
                // double DRBD migrations; the operator may prefer more groups.
                if pass == 1 && c.prefer_fewer_migrations {
                    continue;
                }
                // Externally mirrored instances of the first group have no
                // upgraded node to go to and move twice. Without a cap the
                // first group would be large: fill it only with nodes that
                // have none (about one more group, far fewer double moves).
                if pass == 1
                    && groups.is_empty()
                    && c.max_parallel == 0
                    && st.on_node[v].iter().any(|&i| {
                        let inst = &snap.instances[i];
                        inst.is_running() && inst.mirror() == Mirror::External
                    })
                {
                    continue;
                }
                if let Some(unavoidable) = st.take(v, true) {
                    members.push(v);
                    if let Some(c) = per_group_count.get_mut(g) {
                        *c += 1;
                    }
                    downtime.extend(unavoidable.iter().map(|s| s.inst));
                    stuck_notes.push((v, unavoidable));
                }
            }
        }

        // The master joins the last group if it can, else goes alone.
        let others_left = left - members.len();
        let mut failover = None;
        if others_left == 0 && !master_done {
            let m = master.expect("master pending");
            let g = snap.nodes[m].group;
            let target = failover_target(snap, &st, &scheduled);
            let can_join = members.len() < cap
                && per_group_count.get(g).copied().unwrap_or(0) < cap_group
                && !st.received[m]
                && !st.conflicts(m, &partners)
                && target.is_some();
            let mut joined = false;
            if can_join || members.is_empty() {
                if let Some(unavoidable) = st.take(m, !members.is_empty()) {
                    joined = true;
                    downtime.extend(unavoidable.iter().map(|s| s.inst));
                    stuck_notes.push((m, unavoidable));
                }
            }
            if joined {
                members.push(m);
                master_done = true;
                match target {
                    Some(t) => {
                        failover = Some(MasterFailover {
                            from: snap.nodes[m].name.clone(),
                            to: snap.nodes[t].name.clone(),
                            promote: !snap.nodes[t].master_candidate,
                        })
                    }
                    None => infeasible.push(Infeasible {
                        node: snap.nodes[m].name.clone(),
                        reason: "no upgraded online node to fail the master role over to before the master goes down".into(),
                        instances: Vec::new(),
                        missing_mem: 0,
                    }),
                }
            }
        }

        if members.is_empty() {
            // Nobody can go without downtime: the first in order goes alone.
            let v = sequence
                .iter()
                .copied()
                .find(|&v| !scheduled[v])
                .expect("nodes are left");
            st.down[v] = true;
            let stuck = st.evacuate(v, false).unwrap_or_default();
            downtime.extend(stuck.iter().map(|s| s.inst));
            stuck_notes.push((v, stuck));
            members.push(v);
        }

        for (node, stuck) in stuck_notes {
            if stuck.is_empty() {
                continue;
            }
            let reason = stuck
                .iter()
                .map(|s| s.why.clone())
                .collect::<Vec<_>>()
                .join("; ");
            infeasible.push(Infeasible {
                node: snap.nodes[node].name.clone(),
                reason,
                instances: stuck
                    .iter()
                    .map(|s| snap.instances[s.inst].name.clone())
                    .collect(),
                missing_mem: stuck.iter().map(|s| s.missing).sum(),
            });
        }

        let moves: Vec<Move> = st.moves[st.group_start..]
            .iter()
            .map(|m| Move {
                instance: snap.instances[m.inst].name.clone(),
                from: snap.nodes[m.from].name.clone(),
                to: snap.nodes[m.to].name.clone(),
                kind: MoveKind::Migrate,
            })
            .collect();
        all_moves.extend(
            st.moves[st.group_start..]
                .iter()
                .map(|m| (m.inst, m.from, m.to, m.room)),
        );
        downtime.sort_unstable();
        downtime.dedup();
        groups.push(PlanGroup {
            nodes: members
                .iter()
                .map(|&v| snap.nodes[v].name.clone())
                .collect(),
            moves,
            downtime: downtime
                .iter()
                .map(|&i| snap.instances[i].name.clone())
                .collect(),
            master_failover: failover,
        });

        // The group is upgraded and back: pending failovers of instances
        // still on it (stopped ones) no longer count, received flags reset.
        for &v in &members {
            let on = st.on_node[v].clone();
            for &i in &on {
                st.contrib(i, -1);
            }
            st.state[v] = NodeState::Upgraded;
            for &i in &on {
                st.contrib(i, 1);
            }
            st.down[v] = false;
            scheduled[v] = true;
            if Some(v) != master {
                left -= 1;
            }
        }
        for m in &st.moves[st.group_start..] {
            st.moves_in_group[m.inst] = 0;
            st.received[m.to] = false;
        }
        // Moves are final now: the undo log restarts.
        st.moves.clear();
    }

    let stats = stats(snap, &all_moves, drbd_instances, lower_bound, &groups);
    RollPlan {
        migrations: all_moves.len(),
        groups,
        infeasible,
        stats,
        ..RollPlan::default()
    }
}

/// An upgraded online node for the master role: a master candidate if one
/// is upgraded, else any upgraded node (promoted first).
fn failover_target(snap: &Snapshot, st: &State, scheduled: &[bool]) -> Option<usize> {
    (0..snap.nodes.len())
        .filter(|&t| {
            scheduled[t]
                && st.state[t] == NodeState::Upgraded
                && !snap.nodes[t].offline
                && !snap.nodes[t].drained
                && !snap.nodes[t].master
        })
        .min_by_key(|&t| (!snap.nodes[t].master_candidate, t))
}

fn stats(
    snap: &Snapshot,
    moves: &[(usize, usize, usize, bool)],
    drbd_instances: usize,
    lower_bound: usize,
    groups: &[PlanGroup],
) -> Stats {
    let mut per_instance = vec![0usize; snap.instances.len()];
    let mut s = Stats {
        drbd_instances,
        drbd_lower_bound: lower_bound,
        ..Stats::default()
    };
    for &(i, _, _, room) in moves {
        per_instance[i] += 1;
        if room {
            s.room_migrations += 1;
        }
        match snap.instances[i].mirror() {
            Mirror::Drbd => s.drbd_migrations += 1,
            Mirror::External => s.external_migrations += 1,
            Mirror::None => {}
        }
    }
    s.external_instances_moved = per_instance
        .iter()
        .enumerate()
        .filter(|&(i, &k)| k > 0 && snap.instances[i].mirror() == Mirror::External)
        .count();
    s.downtime_instances = groups.iter().map(|g| g.downtime.len()).sum();
    s
}
