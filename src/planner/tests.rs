//! Planner tests: every plan made here goes through the validator.

use proptest::prelude::*;

use super::*;
use crate::ganeti::{htools, Group, Instance, Node};

fn checked(snap: &Snapshot, upgrade: &[usize], c: &Constraints) -> RollPlan {
    let p = plan(snap, upgrade, c);
    let findings = p.check(snap, upgrade, c);
    assert!(
        findings.is_empty(),
        "violations: {findings:#?}\nplan: {p:#?}"
    );
    // Pure: the same input gives the same plan.
    assert_eq!(p, plan(snap, upgrade, c));
    p
}

fn corpus() -> Vec<(String, Snapshot)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/htools");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "data") {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name.clone(), htools::parse(&text, &name).unwrap()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_ganeti_example_is_planned_within_the_rules() {
    for (name, snap) in corpus() {
        for k in [0, 1, 2, 3] {
            let c = Constraints {
                max_parallel: k,
                ..Constraints::default()
            };
            let upgrade = default_upgrade_set(&snap);
            let p = checked(&snap, &upgrade, &c);
            let planned: usize = p.groups.iter().map(|g| g.nodes.len()).sum();
            assert_eq!(planned, upgrade.len(), "{name}");
        }
    }
}

#[test]
fn the_lab_cluster_as_recorded_is_planned_within_the_rules() {
    use crate::ganeti::{ClusterInfo, GroupInfo, InstanceInfo, NodeInfo};
    let read = |f: &str| -> serde_json::Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/rapi/lab")
            .join(f);
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let info: ClusterInfo = serde_json::from_value(read("info.json")).unwrap();
    let groups: Vec<GroupInfo> = serde_json::from_value(read("groups-bulk.json")).unwrap();
    let nodes: Vec<NodeInfo> = serde_json::from_value(read("nodes-bulk.json")).unwrap();
    let insts: Vec<InstanceInfo> = serde_json::from_value(read("instances-bulk.json")).unwrap();
    let snap = Snapshot::from_rapi(&info, &groups, &nodes, &insts).unwrap();
    for k in [0, 1, 2] {
        let c = Constraints {
            max_parallel: k,
            ..Constraints::default()
        };
        let p = checked(&snap, &default_upgrade_set(&snap), &c);
        // The lab's `file` instance cannot move: downtime, explained.
        assert!(p.has_downtime());
        assert!(p.infeasible.iter().any(|f| f.reason.contains("file disks")));
    }
}

/// Builds a cluster by hand: nodes `(name, mem_total)`, instances
/// `(name, mem, template, pnode, snode)`, one node group, node 0 master.
fn cluster(
    nodes: &[(&str, u64)],
    instances: &[(&str, u64, &str, usize, Option<usize>)],
) -> Snapshot {
    Snapshot {
        groups: vec![Group {
            name: "default".into(),
            uuid: "u".into(),
            alloc_policy: "preferred".into(),
            rest: vec![],
        }],
        nodes: nodes
            .iter()
            .enumerate()
            .map(|(i, (name, mem))| Node {
                name: name.to_string(),
                mem_total: *mem,
                mem_node: 0,
                mem_free: *mem,
                disk_total: 100_000,
                disk_free: 100_000,
                cpus: 16.0,
                offline: false,
                drained: false,
                master: i == 0,
                master_candidate: i < 2,
                group: 0,
                rest: vec![],
            })
            .collect(),
        instances: instances
            .iter()
            .map(|(name, mem, dt, p, s)| Instance {
                name: name.to_string(),
                mem: *mem,
                disk: 1000,
                vcpus: 1,
                status: "running".into(),
                auto_balance: true,
                pnode: *p,
                snode: *s,
                disk_template: dt.to_string(),
                rest: vec![],
            })
            .collect(),
        ..Snapshot::default()
    }
}

#[test]
fn secondaries_go_first_so_drbd_instances_move_once() {
    // A chain of DRBD pairs: b is a's secondary, c is b's, d is c's.
    let snap = cluster(
        &[
            ("m", 4096),
            ("a", 4096),
            ("b", 4096),
            ("c", 4096),
            ("d", 4096),
        ],
        &[
            ("ia", 512, "drbd", 1, Some(2)),
            ("ib", 512, "drbd", 2, Some(3)),
            ("ic", 512, "drbd", 3, Some(4)),
        ],
    );
    let p = checked(&snap, &default_upgrade_set(&snap), &Constraints::default());
    assert_eq!(p.stats.drbd_lower_bound, 3);
    assert_eq!(p.stats.drbd_migrations, 3, "{p:#?}");
    let order: Vec<&str> = p
        .groups
        .iter()
        .flat_map(|g| g.nodes.iter().map(String::as_str))
        .collect();
    assert_eq!(order.last(), Some(&"m"), "master last");
}

#[test]
fn the_master_goes_last_after_a_failover_to_an_upgraded_candidate() {
    let snap = cluster(
        &[("m", 4096), ("a", 4096), ("b", 4096)],
        &[("x", 512, "diskless", 0, None)],
    );
    let p = checked(&snap, &default_upgrade_set(&snap), &Constraints::default());
    let last = p.groups.last().unwrap();
    assert_eq!(last.nodes, vec!["m"]);
    let f = last.master_failover.as_ref().unwrap();
    assert_eq!(f.to, "a", "the upgraded master candidate");
    assert!(!f.promote);
}

#[test]
fn externally_mirrored_instances_go_onward_to_upgraded_nodes() {
    let nodes: Vec<(String, u64)> = (0..6).map(|i| (format!("n{i}"), 16384)).collect();
    let nodes: Vec<(&str, u64)> = nodes.iter().map(|(n, m)| (n.as_str(), *m)).collect();
    let names: Vec<String> = (0..12).map(|i| format!("e{i}")).collect();
    let insts: Vec<(&str, u64, &str, usize, Option<usize>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), 1024, "sharedfile", i % 6, None))
        .collect();
    let snap = cluster(&nodes, &insts);
    let p = checked(&snap, &default_upgrade_set(&snap), &Constraints::default());
    // Only the first group's two instances move twice.
    assert_eq!(p.stats.external_instances_moved, 12);
    assert_eq!(p.stats.external_migrations, 14, "{p:#?}");
}

#[test]
fn room_is_made_on_a_tight_secondary_before_declaring_downtime() {
    // a's DRBD instance (3000) must fail over to b, which is full of an
    // externally mirrored instance; c has room for that one.
    let snap = cluster(
        &[("m", 8192), ("a", 4096), ("b", 4096), ("c", 8192)],
        &[
            ("d1", 3000, "drbd", 1, Some(2)),
            ("big", 3000, "diskless", 2, None),
        ],
    );
    let c = Constraints {
        max_parallel: 1,
        ..Constraints::default()
    };
    let p = checked(&snap, &[1], &c);
    assert!(!p.has_downtime(), "{p:#?}");
    assert_eq!(p.groups[0].moves.len(), 2);
    assert_eq!(p.groups[0].moves[0].instance, "big");
    assert_eq!(p.stats.room_migrations, 1);
}

#[test]
fn when_nothing_fits_the_plan_says_why_in_numbers() {
    let snap = cluster(
        &[("m", 8192), ("a", 4096), ("b", 4096)],
        &[
            ("d1", 3000, "drbd", 1, Some(2)),
            ("pinned", 3000, "plain", 2, None),
        ],
    );
    let p = checked(&snap, &[1], &Constraints::default());
    assert_eq!(p.groups[0].downtime, vec!["d1"]);
    let why = &p.infeasible[0];
    assert_eq!(why.node, "a");
    assert_eq!(why.instances, vec!["d1"]);
    assert_eq!(why.missing_mem, 3000 - (4096 - 3000));
    assert!(why.reason.contains("1096 MiB free"), "{}", why.reason);
}

#[test]
fn the_reserve_and_the_cap_are_kept() {
    let nodes: Vec<(String, u64)> = (0..8).map(|i| (format!("n{i}"), 8192)).collect();
    let nodes: Vec<(&str, u64)> = nodes.iter().map(|(n, m)| (n.as_str(), *m)).collect();
    let names: Vec<String> = (0..16).map(|i| format!("e{i}")).collect();
    let insts: Vec<(&str, u64, &str, usize, Option<usize>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), 2048, "rbd", i % 8, None))
        .collect();
    let snap = cluster(&nodes, &insts);
    for k in 1..=4 {
        let c = Constraints {
            max_parallel: k,
            reserve_mem: 1024,
            ..Constraints::default()
        };
        let p = checked(&snap, &default_upgrade_set(&snap), &c);
        assert!(p.groups.iter().all(|g| g.nodes.len() <= k));
        assert!(p.groups.len() >= 8_usize.div_ceil(k));
    }
}

#[test]
fn the_validator_catches_broken_plans() {
    let snap = cluster(
        &[("m", 4096), ("a", 4096), ("b", 4096), ("c", 1024)],
        &[
            ("d", 512, "drbd", 1, Some(2)),
            ("e", 2048, "diskless", 2, None),
            ("s", 512, "diskless", 3, None),
        ],
    );
    let mut stopped = snap.clone();
    stopped.instances[2].status = "ADMIN_down".into();
    let c = Constraints {
        max_parallel: 2,
        ..Constraints::default()
    };
    let mv = |i: &str, f: &str, t: &str| Move {
        instance: i.into(),
        from: f.into(),
        to: t.into(),
        kind: MoveKind::Migrate,
    };
    let group = |nodes: &[&str], moves: Vec<Move>| PlanGroup {
        nodes: nodes.iter().map(|s| s.to_string()).collect(),
        moves,
        ..PlanGroup::default()
    };
    let rules = |p: &RollPlan, s: &Snapshot, up: &[usize]| -> Vec<u8> {
        let mut r: Vec<u8> = p.check(s, up, &c).iter().map(|v| v.rule.0).collect();
        r.sort_unstable();
        r.dedup();
        r
    };
    // Rule 1: d still runs on a.
    let p = RollPlan {
        groups: vec![group(&["a"], vec![])],
        ..RollPlan::default()
    };
    assert_eq!(rules(&p, &snap, &[1]), vec![1]);
    // Rule 2: both DRBD nodes down.
    let p = RollPlan {
        groups: vec![group(&["a", "b"], vec![mv("e", "b", "c")])],
        migrations: 1,
        ..RollPlan::default()
    };
    assert!(rules(&p, &snap, &[1, 2]).contains(&2));
    // Rule 3: e (2048) does not fit on c (1024, with s on it).
    let p = RollPlan {
        groups: vec![group(&["b"], vec![mv("e", "b", "c")])],
        migrations: 1,
        ..RollPlan::default()
    };
    assert_eq!(rules(&p, &snap, &[2]), vec![3]);
    // Rule 4: from upgraded a back to b, not upgraded.
    let p = RollPlan {
        groups: vec![
            group(&["a"], vec![mv("d", "a", "b")]),
            group(&["c"], vec![mv("s", "c", "a"), mv("s", "a", "b")]),
        ],
        migrations: 3,
        ..RollPlan::default()
    };
    assert_eq!(rules(&p, &snap, &[1, 3]), vec![4]);
    // Rule 5: the cap, and a node never upgraded.
    let p = RollPlan {
        groups: vec![group(&["a", "c", "m"], vec![])],
        ..RollPlan::default()
    };
    assert!(rules(&p, &snap, &[0, 1, 2, 3]).contains(&5));
    // Rule 6: a stopped instance moved.
    let p = RollPlan {
        groups: vec![group(&["c"], vec![mv("s", "c", "a")])],
        migrations: 1,
        ..RollPlan::default()
    };
    assert_eq!(rules(&p, &stopped, &[3]), vec![6]);
}

#[test]
fn the_json_form_is_stable() {
    let snap = cluster(
        &[("m", 4096), ("a", 4096), ("b", 4096)],
        &[("d", 512, "drbd", 1, Some(2))],
    );
    let p = checked(&snap, &[1], &Constraints::default());
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(
        v["groups"][0],
        serde_json::json!({"nodes": ["a"], "moves": [{"instance": "d", "from": "a", "to": "b", "kind": "migrate"}], "downtime": []})
    );
    assert_eq!(v["migrations"], 1);
    assert!(v["infeasible"].as_array().unwrap().is_empty());
    let back: RollPlan = serde_json::from_value(v).unwrap();
    assert_eq!(back, p);
}

/// Random clusters: 1–3 node groups, 2–14 nodes, tight or roomy memory,
/// every disk template, some stopped instances.
fn arb_cluster() -> impl Strategy<Value = Snapshot> {
    (1usize..=3, 2usize..=14)
        .prop_flat_map(|(groups, nodes)| {
            (
                Just(groups),
                proptest::collection::vec(
                    (0..groups, 2048u64..16384, 0u64..1024, 1u32..8, 0u8..20),
                    nodes,
                ),
                proptest::collection::vec(
                    (
                        0usize..nodes,
                        0usize..nodes,
                        128u64..4096,
                        0u8..10,
                        0u8..20,
                        1u64..4,
                    ),
                    0..(nodes * 4),
                ),
                0..nodes,
            )
        })
        .prop_map(|(groups, nodes, insts, master)| {
            let mut snap = Snapshot {
                groups: (0..groups)
                    .map(|g| Group {
                        name: format!("g{g}"),
                        uuid: format!("u{g}"),
                        alloc_policy: "preferred".into(),
                        rest: vec![],
                    })
                    .collect(),
                ..Snapshot::default()
            };
            for (i, (g, mem, mem_node, cpus, flag)) in nodes.iter().enumerate() {
                snap.nodes.push(Node {
                    name: format!("n{i}"),
                    mem_total: *mem,
                    mem_node: *mem_node,
                    mem_free: 0,
                    disk_total: 1 << 20,
                    disk_free: 1 << 20,
                    cpus: *cpus as f64,
                    offline: *flag == 0 && i != master,
                    drained: *flag == 1,
                    master: i == master,
                    master_candidate: *flag < 8,
                    group: *g,
                    rest: vec![],
                });
            }
            let templates = [
                "drbd",
                "drbd",
                "drbd",
                "diskless",
                "sharedfile",
                "rbd",
                "ext",
                "plain",
                "file",
                "blockdev",
            ];
            for (k, (p, s, mem, t, st, vcpus)) in insts.into_iter().enumerate() {
                let template = templates[t as usize];
                let pg = snap.nodes[p].group;
                // DRBD secondaries live in the primary's node group.
                let same: Vec<usize> = (0..snap.nodes.len())
                    .filter(|&x| x != p && snap.nodes[x].group == pg)
                    .collect();
                let (template, snode) = if template == "drbd" {
                    if same.is_empty() {
                        ("plain", None)
                    } else {
                        ("drbd", Some(same[s % same.len()]))
                    }
                } else {
                    (template, None)
                };
                snap.instances.push(Instance {
                    name: format!("i{k}"),
                    mem,
                    disk: 1024,
                    vcpus,
                    status: if st < 3 {
                        "ADMIN_down".into()
                    } else {
                        "running".into()
                    },
                    auto_balance: true,
                    pnode: p,
                    snode,
                    disk_template: template.into(),
                    rest: vec![],
                });
            }
            snap
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_clusters_get_plans_that_keep_every_rule(
        snap in arb_cluster(),
        k in 0usize..4,
        kg in 0usize..3,
        reserve in prop_oneof![Just(0u64), 0u64..2048],
        subset in proptest::collection::vec(any::<bool>(), 14),
        fewer in any::<bool>(),
    ) {
        let c = Constraints { max_parallel: k, max_parallel_per_group: kg, reserve_mem: reserve, allow_offline: false, prefer_fewer_migrations: fewer };
        let all = default_upgrade_set(&snap);
        let some: Vec<usize> = all.iter().copied().filter(|&n| subset[n % subset.len()]).collect();
        for upgrade in [all, some] {
            let p = plan(&snap, &upgrade, &c);
            let findings = p.check(&snap, &upgrade, &c);
            prop_assert!(findings.is_empty(), "{:#?}", findings);
            // Downtime is never silent: each instance down is non-mirrored
            // or named in an infeasible entry.
            for g in &p.groups {
                for d in &g.downtime {
                    prop_assert!(p.infeasible.iter().any(|f| f.instances.contains(d)), "{} not explained", d);
                }
            }
            // The text format round-trips the generated cluster too.
            let text = htools::write(&snap);
            prop_assert_eq!(htools::write(&htools::parse(&text, "gen").unwrap()), text);
        }
    }
}
