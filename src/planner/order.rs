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

    /// A lower bound on the backward weight of any order that puts `last`
    /// (the master) last: arcs out of `last` are backward in every such
    /// order; then a packing of 2-cycles and 3-cycles in the rest (each
    /// cycle needs at least one backward arc; packed cycles share no
    /// weight, so their minima add up).
    pub(super) fn lower_bound(&self, last: Option<usize>) -> u64 {
        let n = self.out.len();
        let mut r: Vec<Vec<(usize, u64)>> = self.out.clone();
        let mut at: HashMap<(usize, usize), usize> = HashMap::new();
        for (u, outs) in r.iter().enumerate() {
            for (k, &(v, _)) in outs.iter().enumerate() {
                at.insert((u, v), k);
            }
        }
        let mut bound = 0;
        if let Some(m) = last {
            for e in &mut r[m] {
                bound += e.1;
                e.1 = 0;
            }
        }
        for u in 0..n {
            for k in 0..r[u].len() {
                let (v, w) = r[u][k];
                if u < v && w > 0 {
                    if let Some(&kb) = at.get(&(v, u)) {
                        let m = w.min(r[v][kb].1);
                        bound += m;
                        r[u][k].1 -= m;
                        r[v][kb].1 -= m;
                    }
                }
            }
        }
        for u in 0..n {
            for k in 0..r[u].len() {
                let v = r[u][k].0;
                for k2 in 0..r[v].len() {
                    if r[u][k].1 == 0 {
                        break;
                    }
                    let (x, w2) = r[v][k2];
                    if w2 == 0 || x == u {
                        continue;
                    }
                    if let Some(&k3) = at.get(&(x, u)) {
                        let m = r[u][k].1.min(w2).min(r[x][k3].1);
                        if m > 0 {
                            bound += m;
                            r[u][k].1 -= m;
                            r[v][k2].1 -= m;
                            r[x][k3].1 -= m;
                        }
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
    for _sweep in 0..64 {
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
        assert_eq!(arcs.lower_bound(None), 1);
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
        assert!(ours >= arcs.lower_bound(None));
    }

    #[test]
    fn the_bound_is_below_the_optimum_and_the_order_near_it() {
        // Every order of small pseudo-random digraphs, brute force.
        let mut x: u64 = 99;
        let mut next = |m: usize| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as usize % m
        };
        for _case in 0..30 {
            let n = 3 + next(4);
            let pairs: Vec<(usize, usize)> = (0..n * 3).map(|_| (next(n), next(n))).collect();
            let arcs = Arcs::from_pairs(n, pairs);
            let nodes: Vec<usize> = (0..n).collect();
            let mut best = u64::MAX;
            let mut perm = nodes.clone();
            permutations(&mut perm, 0, &mut |p| {
                best = best.min(arcs.backward_weight(&positions(p, n)));
            });
            let ours = arcs.backward_weight(&positions(&order(&nodes, &arcs), n));
            assert!(arcs.lower_bound(None) <= best, "bound above optimum");
            assert!(ours >= best);
            // With the master (node 0) last, its out-arcs count too.
            let rest: Vec<usize> = (1..n).collect();
            let mut with_master = order(&rest, &arcs);
            with_master.push(0);
            let forced = arcs.backward_weight(&positions(&with_master, n));
            assert!(arcs.lower_bound(Some(0)) <= forced);
        }
    }

    fn permutations(v: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
        if k == v.len() {
            f(v);
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permutations(v, k + 1, f);
            v.swap(k, i);
        }
    }
}
