//! The RAPI client and the planner against the lab's real Ganeti cluster.
//! Read-only tests, plus one that migrates and puts every instance back where
//! it was (running), checking through RAPI that it did.
//!
//! `SNF_RECORD_RAPI=DIR` also writes the raw answers (info, nodes, instances,
//! groups) to DIR, to refresh tests/fixtures/rapi/lab/.

use std::path::Path;
use std::time::Duration;

use snf_upgrade::ganeti::rapi::{HttpTransport, Method, Transport};
use snf_upgrade::ganeti::{
    htools, Credentials, FailureKind, NodeRole, RapiClient, RapiError, Snapshot, WaitOptions,
};
use snf_upgrade::planner::{self, Constraints};

use super::lab_out;

use crate::lab_rapi_config as config;

const WAIT: WaitOptions = WaitOptions {
    first_interval: Duration::from_millis(200),
    max_interval: Duration::from_secs(2),
    timeout: Duration::from_secs(300),
};

#[tokio::test]
async fn rapi_reads_the_lab_cluster() {
    let out = lab_out();
    let cfg = config(&out);
    let client = RapiClient::new(&cfg).unwrap();
    assert_eq!(client.version().await.unwrap(), 2);
    let info = client.info().await.unwrap();
    assert_eq!(info.name, "cluster.lab.test");
    assert!(
        info.software_version.starts_with('3'),
        "{}",
        info.software_version
    );
    let nodes = client.nodes().await.unwrap();
    assert!(nodes.len() >= 3);
    assert!(nodes.iter().any(|n| n.name == info.master));
    assert!(nodes.iter().all(|n| n.mtotal.unwrap_or(0) > 0));
    let role = client.node_role(&info.master).await.unwrap();
    assert_eq!(role, NodeRole::Master);
    let snap = client.snapshot().await.unwrap();
    assert_eq!(snap.nodes.len(), nodes.len());
    assert!(snap.instances.iter().any(|i| i.is_running()));
    // Written in htools format and read back: the same cluster.
    let text = htools::write(&snap);
    let back = htools::parse(&text, "lab.data").unwrap();
    assert_eq!(htools::write(&back), text);
    assert_eq!(back.instances.len(), snap.instances.len());

    if let Some(dir) = std::env::var_os("SNF_RECORD_RAPI") {
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        let t = HttpTransport::new(&cfg).unwrap();
        for (file, path) in [
            ("info.json", "/2/info"),
            ("nodes-bulk.json", "/2/nodes?bulk=1"),
            ("instances-bulk.json", "/2/instances?bulk=1"),
            ("groups-bulk.json", "/2/groups?bulk=1"),
        ] {
            let v = t.call(Method::Get, path, None).await.unwrap();
            std::fs::write(
                dir.join(file),
                serde_json::to_string_pretty(&v).unwrap() + "\n",
            )
            .unwrap();
        }
    }
}

#[tokio::test]
async fn wrong_password_and_wrong_certificate_are_refused() {
    let out = lab_out();
    let mut cfg = config(&out);
    cfg.credentials = Some(Credentials::parse("lab:not-the-password", "test").unwrap());
    match RapiClient::new(&cfg).unwrap().info().await {
        Err(RapiError::Http { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    let mut cfg = config(&out);
    cfg.ca_pem =
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/other-cert.pem"));
    let err = RapiClient::new(&cfg).unwrap().version().await.unwrap_err();
    assert!(matches!(err, RapiError::Transport { .. }), "{err}");
}

#[tokio::test]
async fn the_plan_of_the_lab_cluster_passes_the_validator() {
    let out = lab_out();
    let snap: Snapshot = RapiClient::new(&config(&out))
        .unwrap()
        .snapshot()
        .await
        .unwrap();
    let upgrade = planner::default_upgrade_set(&snap);
    for k in [0, 1, 2] {
        let c = Constraints {
            max_parallel: k,
            ..Constraints::default()
        };
        let plan = planner::plan(&snap, &upgrade, &c);
        let findings = plan.check(&snap, &upgrade, &c);
        assert!(findings.is_empty(), "{findings:#?}");
        let planned: usize = plan.groups.iter().map(|g| g.nodes.len()).sum();
        assert_eq!(planned, upgrade.len());
        let master = &snap.nodes[snap.master().unwrap()].name;
        let last = plan
            .groups
            .iter()
            .rev()
            .find(|g| !g.nodes.is_empty())
            .unwrap();
        assert!(last.nodes.contains(master), "master last");
        // Non-mirrored running instances are never silent.
        for inst in snap.instances.iter().filter(|i| i.is_running()) {
            if inst.mirror() == snf_upgrade::ganeti::Mirror::None {
                assert!(plan.groups.iter().any(|g| g.downtime.contains(&inst.name)));
            }
        }
    }
    // The command line, as an operator runs it.
    let outp = std::process::Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
        .args(["plan", "--inventory"])
        .arg(out.join("site.toml"))
        .args(["--format", "json", "--max-parallel", "1"])
        .output()
        .unwrap();
    assert!(matches!(outp.status.code(), Some(0) | Some(1)), "{outp:?}");
    let doc: serde_json::Value = serde_json::from_slice(&outp.stdout).unwrap();
    assert_eq!(doc["clusters"][0]["cluster"], "cluster.lab.test");
    assert!(doc["clusters"][0]["groups"].as_array().unwrap().len() >= 3);
}

/// Where each instance runs now (name → primary node), and whether it runs.
async fn placement(client: &RapiClient) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = client
        .instances()
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.name, i.pnode, i.status))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn migrations_follow_child_jobs_classify_failures_and_leave_the_cluster_as_found() {
    let out = lab_out();
    let client = RapiClient::new(&config(&out)).unwrap();
    let before = placement(&client).await;
    let info = client.info().await.unwrap();
    let snap = client.snapshot().await.unwrap();
    // A node that is not the master, hosting running externally mirrored
    // instances, and another node to send them to.
    let movable = |n: usize| {
        snap.instances
            .iter()
            .filter(|i| {
                i.pnode == n
                    && i.is_running()
                    && i.mirror() == snf_upgrade::ganeti::Mirror::External
            })
            .count()
    };
    let Some(src) = (0..snap.nodes.len())
        .filter(|&n| snap.nodes[n].name != info.master && !snap.nodes[n].offline)
        .max_by_key(|&n| movable(n))
        .filter(|&n| movable(n) > 0)
    else {
        panic!("the lab's default instances include running externally mirrored ones on a node that is not the master; none found: {before:?}");
    };
    let dst = (0..snap.nodes.len())
        .find(|&n| n != src && !snap.nodes[n].offline)
        .unwrap();
    let (src_name, dst_name) = (snap.nodes[src].name.clone(), snap.nodes[dst].name.clone());
    let moved: Vec<String> = snap
        .instances
        .iter()
        .filter(|i| {
            i.pnode == src && i.is_running() && i.mirror() == snf_upgrade::ganeti::Mirror::External
        })
        .map(|i| i.name.clone())
        .collect();

    // A failing job is classified: migrating an instance onto the node it
    // is on is refused before anything happens.
    let job = client
        .migrate_instance(&moved[0], Some(&src_name))
        .await
        .unwrap();
    match client.wait_job(job, WAIT).await {
        Err(RapiError::JobFailed(f)) => {
            assert_eq!(f.error_type, "OpPrereqError", "{f}");
            assert_ne!(f.kind, FailureKind::Unclassified, "{f}");
        }
        other => panic!("expected a failed job, got {other:?}"),
    }

    // Node migrate: one child job per instance, all followed.
    let job = client
        .migrate_node(&src_name, Some(&dst_name))
        .await
        .unwrap();
    let result = client.wait_job_tree(job, WAIT).await;
    // Whatever happened, put every instance back before asserting.
    let now = placement(&client).await;
    for (name, pnode, _) in &now {
        if let Some((_, orig, _)) = before.iter().find(|(n, _, _)| n == name) {
            if pnode != orig {
                let j = client.migrate_instance(name, Some(orig)).await.unwrap();
                client.wait_job(j, WAIT).await.unwrap();
            }
        }
    }
    let pinned: Vec<&str> = snap
        .instances
        .iter()
        .filter(|i| i.pnode == src && i.mirror() != snf_upgrade::ganeti::Mirror::External)
        .map(|i| i.name.as_str())
        .collect();
    match result {
        Ok(jobs) => {
            assert!(
                pinned.is_empty(),
                "{pinned:?} cannot migrate, yet all jobs succeeded"
            );
            assert_eq!(
                jobs.len(),
                1 + moved.len(),
                "parent and one child per instance"
            );
        }
        // An instance that cannot migrate (the lab's `file` one) fails its
        // child job; the others were still waited for and moved.
        Err(RapiError::JobFailed(f)) => {
            assert!(!pinned.is_empty(), "unexpected failure: {f}");
            assert_eq!(f.error_type, "OpPrereqError", "{f}");
            assert_ne!(f.kind, FailureKind::Unclassified, "{f}");
        }
        Err(e) => panic!("{e}"),
    }
    for (name, pnode, _) in &now {
        if moved.contains(name) {
            assert_eq!(pnode, &dst_name, "{name} went to {dst_name}");
        }
    }
    assert_eq!(placement(&client).await, before, "the cluster is as it was");

    // Drain a node that is not the master, then give it its role back.
    let other = snap
        .nodes
        .iter()
        .find(|n| n.name != info.master && !n.offline)
        .map(|n| n.name.clone())
        .unwrap();
    let role = client.node_role(&other).await.unwrap();
    let j = client
        .set_node_role(&other, NodeRole::Drained, false)
        .await
        .unwrap();
    client.wait_job(j, WAIT).await.unwrap();
    assert_eq!(client.node_role(&other).await.unwrap(), NodeRole::Drained);
    let j = client
        .set_node_role(&other, role, role == NodeRole::MasterCandidate)
        .await
        .unwrap();
    client.wait_job(j, WAIT).await.unwrap();
    assert_eq!(client.node_role(&other).await.unwrap(), role);
}
