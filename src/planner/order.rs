//! Node order for DRBD: a DRBD instance migrates once when its secondary's
//! node is upgraded before its primary's, twice otherwise. With an arc
//! secondary → primary per running DRBD instance, the best order is a
//! maximum acyclic subgraph (the complement of a minimum feedback arc set,
//! NP-hard). We use Eades–Lin–Smyth's greedy order, then sweeps that move
//! each node to its best position while that lowers the backward weight.
//! Deterministic: ties go to the lower node index.

use std::collections::HashMap;

/// Weighted arcs `u → v` ("u should come before v") between nodes.
#[derive(Debug, Default)]
pub(super) struct Arcs {
    pub(super) out: Vec<Vec<(usize, u64)>>,
    pub(super) inc: Vec<Vec<(usize, u64)>>,
}

impl Arcs {
    /// Aggregates `(u, v)` pairs (one per instance) into weighted arcs over
    /// `n` nodes.
    pub(super) fn from_pairs(n: usize, pairs: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let mut weight: HashMap<(usize, usize), u64> = HashMap::new();
        for (u, v) in pairs {
            if u != v {
                *weight.entry((u, v)).or_default() += 1;
            }
        }
        let mut keys: Vec<_> = weight.into_iter().collect();
        keys.sort_unstable();
        let mut arcs = Arcs {
            out: vec![Vec::new(); n],
            inc: vec![Vec::new(); n],
        };
        for ((u, v), w) in keys {
            arcs.out[u].push((v, w));
            arcs.inc[v].push((u, w));
        }
        arcs
    }

    /// For each unordered pair with arcs both ways, the lighter direction
    /// must go backward in any order: their sum bounds the backward weight
    /// from below.
    pub(super) fn two_cycle_bound(&self) -> u64 {
        let mut bound = 0;
        for (u, outs) in self.out.iter().enumerate() {
            for &(v, w) in outs {
                if u < v {
                    if let Some(&(_, back)) = self.out[v].iter().find(|(x, _)| *x == u) {
                        bound += w.min(back);
                    }
                }
            }
        }
        bound
    }

    /// Total weight of arcs going backward in `order` (positions in `pos`).
    #[cfg(test)]
    pub(super) fn backward_weight(&self, pos: &[usize]) -> u64 {
        let mut total = 0;
        for (u, outs) in self.out.iter().enumerate() {
            for &(v, w) in outs {
                if pos[u] != usize::MAX && pos[v] != usize::MAX && pos[u] > pos[v] {
                    total += w;
                }
            }
        }
        total
    }
}

/// Orders `nodes` (a subset of the arcs' nodes; arcs to others are ignored)
/// to keep backward arc weight low.
pub(super) fn order(nodes: &[usize], arcs: &Arcs) -> Vec<usize> {
    let n = arcs.out.len();
    let mut member = vec![false; n];
    for &v in nodes {
        member[v] = true;
    }
    // Eades–Lin–Smyth: sinks to the back, sources to the front, otherwise
    // the node with the largest out − in weight to the front.
    let mut win = vec![0i64; n];
    let mut wout = vec![0i64; n];
    for &u in nodes {
        for &(v, w) in &arcs.out[u] {
            if member[v] {
                wout[u] += w as i64;
                win[v] += w as i64;
            }
        }
    }
    let mut alive = member.clone();
    let mut left = nodes.len();
    let mut front = Vec::with_capacity(nodes.len());
    let mut back = Vec::new();
    let mut sorted = nodes.to_vec();
    sorted.sort_unstable();
    let remove = |v: usize, alive: &mut Vec<bool>, win: &mut Vec<i64>, wout: &mut Vec<i64>| {
        alive[v] = false;
        for &(x, w) in &arcs.out[v] {
            if alive[x] {
                win[x] -= w as i64;
            }
        }
        for &(x, w) in &arcs.inc[v] {
            if alive[x] {
                wout[x] -= w as i64;
            }
        }
    };
    while left > 0 {
        let mut progressed = true;
        while progressed {
            progressed = false;
            for &v in &sorted {
                if alive[v] && wout[v] == 0 {
                    back.push(v);
                    remove(v, &mut alive, &mut win, &mut wout);
                    left -= 1;
                    progressed = true;
                }
            }
            for &v in &sorted {
                if alive[v] && win[v] == 0 {
                    front.push(v);
                    remove(v, &mut alive, &mut win, &mut wout);
                    left -= 1;
                    progressed = true;
                }
            }
        }
        if left == 0 {
            break;
        }
        let best = sorted
            .iter()
            .copied()
            .filter(|&v| alive[v])
            .max_by_key(|&v| (wout[v] - win[v], std::cmp::Reverse(v)))
            .expect("nodes are left");
        front.push(best);
        remove(best, &mut alive, &mut win, &mut wout);
        left -= 1;
    }
    back.reverse();
    front.extend(back);
    improve(front, &member, arcs)
}

/// Moves single nodes to the position that minimises their backward weight
/// while any such move helps (a few sweeps).
fn improve(mut seq: Vec<usize>, member: &[bool], arcs: &Arcs) -> Vec<usize> {
    let n = arcs.out.len();
    let mut pos = vec![usize::MAX; n];
    for _sweep in 0..4 {
        for (i, &v) in seq.iter().enumerate() {
            pos[v] = i;
        }
        let mut changed = false;
        let mut i = 0;
        while i < seq.len() {
            let v = seq[i];
            // Take v out; the others' positions become p'(x). Placing v
            // before the element at q: arc u→v is backward when p'(u) ≥ q,
            // arc v→x when p'(x) < q. Sweep q over the event points.
            let shifted = |x: usize| if pos[x] > i { pos[x] - 1 } else { pos[x] };
            let mut events: Vec<(usize, i64)> = Vec::new();
            let mut cost_at_0: i64 = 0;
            for &(u, w) in &arcs.inc[v] {
                if member[u] && u != v {
                    cost_at_0 += w as i64;
                    events.push((shifted(u) + 1, -(w as i64)));
                }
            }
            for &(x, w) in &arcs.out[v] {
                if member[x] && x != v {
                    events.push((shifted(x) + 1, w as i64));
                }
            }
            if events.is_empty() {
                i += 1;
                continue;
            }
            events.sort_unstable();
            let cost_at = |q: usize| -> i64 {
                cost_at_0
                    + events
                        .iter()
                        .take_while(|(at, _)| *at <= q)
                        .map(|(_, d)| *d)
                        .sum::<i64>()
            };
            let current = cost_at(i);
            let mut best_q = i;
            let mut best = current;
            let mut running = cost_at_0;
            let mut k = 0;
            let mut candidates = vec![0usize];
            candidates.extend(events.iter().map(|(at, _)| *at));
            for q in candidates {
                while k < events.len() && events[k].0 <= q {
                    running += events[k].1;
                    k += 1;
                }
                if running < best {
                    best = running;
                    best_q = q;
                }
            }
            if best < current {
                seq.remove(i);
                seq.insert(best_q, v);
                let (lo, hi) = (i.min(best_q), i.max(best_q));
                for (j, &x) in seq.iter().enumerate().take(hi + 1).skip(lo) {
                    pos[x] = j;
                }
                changed = true;
                if best_q > i {
                    continue; // the element now at i was not visited yet
                }
            }
            i += 1;
        }
        if !changed {
            break;
        }
    }
    seq
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(order: &[usize], n: usize) -> Vec<usize> {
        let mut pos = vec![usize::MAX; n];
        for (i, &v) in order.iter().enumerate() {
            pos[v] = i;
        }
        pos
    }

    #[test]
    fn a_chain_is_ordered_without_backward_arcs() {
        let arcs = Arcs::from_pairs(5, [(3, 1), (1, 4), (4, 0), (0, 2)]);
        let order = order(&[0, 1, 2, 3, 4], &arcs);
        assert_eq!(arcs.backward_weight(&positions(&order, 5)), 0, "{order:?}");
    }

    #[test]
    fn two_cycles_cost_their_lighter_side() {
        let arcs = Arcs::from_pairs(2, [(0, 1), (0, 1), (0, 1), (1, 0)]);
        assert_eq!(arcs.two_cycle_bound(), 1);
        let order = order(&[0, 1], &arcs);
        assert_eq!(order, vec![0, 1]);
        assert_eq!(arcs.backward_weight(&positions(&order, 2)), 1);
    }

    #[test]
    fn insertion_sweeps_never_make_it_worse() {
        // A small pseudo-random digraph, fixed.
        let mut pairs = Vec::new();
        let mut x: u64 = 12345;
        for _ in 0..200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (x >> 33) as usize % 30;
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = (x >> 33) as usize % 30;
            pairs.push((u, v));
        }
        let arcs = Arcs::from_pairs(30, pairs);
        let nodes: Vec<usize> = (0..30).collect();
        let ordered = order(&nodes, &arcs);
        let mut sorted = ordered.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, nodes, "a permutation");
        let identity = arcs.backward_weight(&positions(&nodes, 30));
        let ours = arcs.backward_weight(&positions(&ordered, 30));
        assert!(ours <= identity, "{ours} > {identity}");
        assert!(ours >= arcs.two_cycle_bound());
    }
}
