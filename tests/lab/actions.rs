//! The Ganeti actions (`snf-upgrade action`) against the lab's real cluster:
//! drain and undrain (an operator's drain kept), and a live migration whose
//! controller is killed (SIGKILL) in the middle of its act, then run again:
//! it converges without a second migration. Every test leaves the cluster as
//! it found it.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use snf_upgrade::ganeti::rapi::{HttpTransport, Method, Transport};
use snf_upgrade::ganeti::{NodeRole, RapiClient, RapiConfig, WaitOptions};
use snf_upgrade::inventory::Inventory;

use crate::lab_out;

fn config(out: &Path) -> RapiConfig {
    let inv = Inventory::load(&out.join("site.toml")).expect("the lab's inventory is valid");
    snf_upgrade::cli::rapi_config(&inv.clusters[0]).expect("RAPI config")
}

const WAIT: WaitOptions = WaitOptions {
    first_interval: Duration::from_millis(200),
    max_interval: Duration::from_secs(2),
    timeout: Duration::from_secs(300),
};

fn action_cmd(out: &Path, state: &Path, step: &str, action: &Value) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_snf-upgrade"));
    c.arg("action")
        .arg("--inventory")
        .arg(out.join("site.toml"))
        .arg("--state")
        .arg(state)
        .args(["--step", step])
        .arg(action.to_string());
    c
}

/// Runs an action to its end; its JSON document and exit status.
fn action(out: &Path, state: &Path, step: &str, action: &Value) -> (Option<i32>, Value) {
    let o: Output = action_cmd(out, state, step, action).output().unwrap();
    let doc = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code(), doc)
}

/// A node that is neither the master nor offline.
async fn plain_node(c: &RapiClient) -> String {
    let info = c.info().await.unwrap();
    c.nodes()
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|n| n.name != info.master && !n.offline && !n.drained)
        .expect("a node besides the master")
        .name
}

#[tokio::test]
async fn drain_and_undrain_touch_only_our_own_drain() {
    let out = lab_out();
    let c = RapiClient::new(&config(&out)).unwrap();
    let node = plain_node(&c).await;
    let before = c.node_role(&node).await.unwrap();
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("intents.json");
    let drain = serde_json::json!({"kind": "drain", "node": node});
    let undrain = serde_json::json!({"kind": "undrain", "node": node});

    let (code, doc) = action(&out, &state, "drain", &drain);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["outcome"]["already_done"], false);
    assert_eq!(c.node_role(&node).await.unwrap(), NodeRole::Drained);
    let tags = c.node_tags(&node).await.unwrap();
    assert!(
        tags.iter()
            .any(|t| t.starts_with("snf-upgrade:drained-from:")),
        "{tags:?}"
    );
    // Again: observed done, nothing submitted.
    let (code, doc) = action(&out, &state, "drain", &drain);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["outcome"]["already_done"], true);
    assert_eq!(doc["outcome"]["submitted"], serde_json::json!([]));

    let (code, doc) = action(&out, &state, "undrain", &undrain);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(c.node_role(&node).await.unwrap(), before);
    assert!(!c
        .node_tags(&node)
        .await
        .unwrap()
        .iter()
        .any(|t| t.starts_with("snf-upgrade:")));

    // An operator's drain (no tag of ours) is kept by undrain.
    let j = c
        .set_node_role(&node, NodeRole::Drained, false)
        .await
        .unwrap();
    c.wait_job(j, WAIT).await.unwrap();
    let (code, doc) = action(&out, &state, "undrain-2", &undrain);
    let kept = c.node_role(&node).await.unwrap();
    // Put the node back before asserting.
    let j = c
        .set_node_role(&node, before, before == NodeRole::MasterCandidate)
        .await
        .unwrap();
    c.wait_job(j, WAIT).await.unwrap();
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(kept, NodeRole::Drained, "the operator's drain stays");
    assert_eq!(doc["outcome"]["already_done"], true);
    assert!(doc["outcome"]["observed"]["kept"]
        .as_str()
        .unwrap()
        .contains("someone else"));
}

/// Every OP_INSTANCE_MIGRATE job of `instance` with an id above `after`.
async fn migrate_jobs(cfg: &RapiConfig, instance: &str, after: u64) -> Vec<u64> {
    let t = HttpTransport::new(cfg).unwrap();
    let jobs = t.call(Method::Get, "/2/jobs?bulk=1", None).await.unwrap();
    jobs.as_array()
        .unwrap()
        .iter()
        .filter(|j| j["id"].as_u64().unwrap_or(0) > after)
        .filter(|j| {
            j["ops"].as_array().is_some_and(|ops| {
                ops.iter().any(|op| {
                    op["OP_ID"] == "OP_INSTANCE_MIGRATE" && op["instance_name"] == instance
                })
            })
        })
        .map(|j| j["id"].as_u64().unwrap())
        .collect()
}

async fn newest_job(cfg: &RapiConfig) -> u64 {
    let t = HttpTransport::new(cfg).unwrap();
    let jobs = t.call(Method::Get, "/2/jobs", None).await.unwrap();
    jobs.as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["id"].as_u64().or_else(|| j["id"].as_str()?.parse().ok()))
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_migration_killed_mid_act_converges_without_a_second_migration() {
    let out = lab_out();
    let cfg = config(&out);
    let c = RapiClient::new(&cfg).unwrap();
    let info = c.info().await.unwrap();
    let instances = c.instances().await.unwrap();
    let inst = instances
        .iter()
        .find(|i| i.status == "running" && i.disk_template == "diskless" && i.pnode != info.master)
        .expect("a running diskless instance off the master")
        .clone();
    let target = c
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.name != inst.pnode && !n.offline && !n.drained)
        .expect("another node")
        .name;
    let from = inst.pnode.clone();
    let first_job = newest_job(&cfg).await;
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("intents.json");
    let go = serde_json::json!({"kind": "migrate-instance", "instance": inst.name, "from": from, "to": target});

    // Start it, and kill the controller as soon as its job id is recorded.
    let mut child = action_cmd(&out, &state, "m", &go)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed = false;
    while Instant::now() < deadline {
        let recorded = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["m"]["jobs"].as_array().is_some_and(|j| !j.is_empty()));
        if recorded {
            let _ = child.kill(); // SIGKILL
            killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.wait();
    assert!(
        killed,
        "the controller ended before its job id was recorded, or never recorded one"
    );

    // Run again: it observes, re-attaches or finds it done; no new job.
    let (code, doc) = action(&out, &state, "m", &go);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["outcome"]["submitted"], serde_json::json!([]), "{doc}");
    let now = c.instance(&inst.name).await.unwrap();
    assert_eq!(now.pnode, target);
    assert_eq!(now.status, "running");
    assert_eq!(
        migrate_jobs(&cfg, &inst.name, first_job).await.len(),
        1,
        "exactly one migration was submitted"
    );

    // Back where it was, through the same action.
    let back = serde_json::json!({"kind": "migrate-instance", "instance": inst.name, "from": target, "to": from});
    let (code, doc) = action(&out, &d.path().join("back.json"), "b", &back);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(c.instance(&inst.name).await.unwrap().pnode, from);
}

#[tokio::test]
async fn a_stale_migration_is_refused_before_anything_changes() {
    let out = lab_out();
    let cfg = config(&out);
    let c = RapiClient::new(&cfg).unwrap();
    let inst = c
        .instances()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.status == "running" && i.disk_template == "diskless")
        .unwrap();
    let first_job = newest_job(&cfg).await;
    let d = tempfile::tempdir().unwrap();
    // The plan thinks it is on a node it is not on.
    let go = serde_json::json!({"kind": "migrate-instance", "instance": inst.name,
        "from": "elsewhere.lab.test", "to": "nowhere.lab.test"});
    let (code, doc) = action(&out, &d.path().join("s.json"), "m", &go);
    assert_eq!(code, Some(4), "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("stale"), "{doc}");
    assert!(migrate_jobs(&cfg, &inst.name, first_job).await.is_empty());
    assert_eq!(c.instance(&inst.name).await.unwrap().pnode, inst.pnode);
}
