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

use crate::lab_rapi_config as config;

const WAIT: WaitOptions = WaitOptions {
    first_interval: Duration::from_millis(200),
    max_interval: Duration::from_secs(2),
    timeout: Duration::from_secs(300),
};

/// Waits (up to `secs`) until the intents in `state` satisfy `recorded`;
/// false when the child ended first or time ran out.
fn wait_for_intent(
    state: &Path,
    secs: u64,
    child: &mut std::process::Child,
    recorded: impl Fn(&Value) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let seen = std::fs::read_to_string(state)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| recorded(&v));
        if seen {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

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
    let killed = wait_for_intent(&state, 60, &mut child, |v| {
        v["m"]["jobs"].as_array().is_some_and(|j| !j.is_empty())
    });
    if killed {
        let _ = child.kill(); // SIGKILL
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

/// The first inventory host with `role`.
fn host_with(out: &Path, role: &str) -> String {
    let inv = Inventory::load(&out.join("site.toml")).unwrap();
    inv.hosts
        .iter()
        .find(|h| h.roles.iter().any(|r| r.as_str() == role))
        .unwrap_or_else(|| panic!("no {role} host in the lab"))
        .name
        .clone()
}

#[test]
fn a_service_is_stopped_and_started_as_its_processes_say() {
    let out = lab_out();
    let cyclades = host_with(&out, "cyclades");
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("s.json");
    let running = || {
        crate::lab_exec(
            cyclades.trim_end_matches(".lab.test"),
            "grep -l -x memcached /proc/[0-9]*/comm | wc -l",
        )
        .trim()
        .parse::<u32>()
        .unwrap()
    };
    assert!(running() > 0, "the site runs memcached on {cyclades}");
    let stop =
        serde_json::json!({"kind": "stop-service", "host": cyclades, "service": "memcached"});
    let start =
        serde_json::json!({"kind": "start-service", "host": cyclades, "service": "memcached"});
    let (code, doc) = action(&out, &state, "stop", &stop);
    let stopped = running();
    // Whatever happened, the site gets its memcached back.
    let (code2, doc2) = action(&out, &state, "start", &start);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(stopped, 0, "no memcached process after the stop: {doc}");
    assert_eq!(doc["outcome"]["verified"]["init"], "sysvinit");
    assert_eq!(code2, Some(0), "{doc2}");
    assert!(running() > 0);
    // Started already: observed done, nothing run.
    let (code, doc) = action(&out, &state, "start-2", &start);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["outcome"]["already_done"], true);
}

#[test]
fn the_watcher_is_paused_and_resumed_on_the_master() {
    let out = lab_out();
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("w.json");
    let pause = serde_json::json!({"kind": "watcher-pause"});
    let resume = serde_json::json!({"kind": "watcher-resume"});
    let info = || crate::lab_exec("node1", "gnt-cluster watcher info");
    let (code, doc) = action(&out, &state, "p", &pause);
    let paused = info();
    let (code2, doc2) = action(&out, &state, "r", &resume);
    assert_eq!(code, Some(0), "{doc}");
    assert!(paused.contains("paused until"), "{paused}");
    assert_eq!(code2, Some(0), "{doc2}");
    assert!(info().contains("not paused"));
    let (_, doc) = action(&out, &state, "r2", &resume);
    assert_eq!(doc["outcome"]["already_done"], true, "{doc}");
}

#[test]
fn a_command_runs_once_and_its_exit_status_is_the_verdict() {
    let out = lab_out();
    let host = host_with(&out, "pithos");
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("c.json");
    let marker = format!("/tmp/snf-action-test-{}", std::process::id());
    let run = serde_json::json!({"kind": "run-command", "host": host,
        "command": format!("echo ran >> {marker}")});
    let (code, doc) = action(&out, &state, "c", &run);
    assert_eq!(code, Some(0), "{doc}");
    let (code, doc) = action(&out, &state, "c", &run);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["outcome"]["already_done"], true);
    let short = host.trim_end_matches(".lab.test");
    assert_eq!(
        crate::lab_exec(short, &format!("cat {marker}; rm -f {marker}")),
        "ran\n"
    );
    let fail = serde_json::json!({"kind": "run-command", "host": host, "command": "echo nope >&2; exit 4"});
    let (code, doc) = action(&out, &state, "f", &fail);
    assert_eq!(code, Some(3), "{doc}");
    assert!(
        doc["error"].as_str().unwrap().contains("exit status 4"),
        "{doc}"
    );
}

/// The dist-upgrade of a Ganeti node to the lab repository's new suite
/// (Synnefo 0.19 node packages), its controller killed while dpkg runs on
/// the host, then run again: it re-attaches to the upgrade still running
/// there (or finds it finished), never starts a second one, and ends with the
/// new packages, no policy-rc.d left and dpkg clean. Runs after the site's
/// own test in scripts/test (it leaves the node at 0.19).
#[test]
fn a_dist_upgrade_killed_mid_dpkg_is_reattached_to_and_finishes() {
    let out = lab_out();
    let node = "node3";
    let fqdn = format!("{node}.lab.test");
    let before = crate::lab_exec(node, "dpkg-query -W -f='${Version}' snf-cyclades-gtools");
    assert!(
        before.starts_with("0.18"),
        "node3 at 0.18.x first, has {before}"
    );
    // The suite switch of the lab's GRNET-like source, as the runbook does.
    crate::lab_exec(
        node,
        "sed -i 's| bookworm/| trixie/|' /etc/apt/sources.list.d/grnet.list",
    );
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("u.json");
    // As the guide says: archipelago stopped first (its package refuses to
    // upgrade while it runs).
    let archipelago = serde_json::json!({"kind": "stop-service", "host": fqdn,
        "service": "archipelago", "processes": ["archipelago-peers"]});
    let (code, doc) = action(&out, &state, "stop-archipelago", &archipelago);
    assert_eq!(code, Some(0), "{doc}");
    let (code, doc) = action(
        &out,
        &state,
        "update",
        &serde_json::json!({"kind": "apt-update", "host": fqdn}),
    );
    assert_eq!(code, Some(0), "{doc}");

    let upgrade = serde_json::json!({"kind": "dist-upgrade", "host": fqdn,
        "protect": ["ganeti", "openssh-server"], "budget_s": 900});
    let mut child = action_cmd(&out, &state, "node3-upgrade", &upgrade)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill the controller once dpkg is at work on the host.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut killed = false;
    while Instant::now() < deadline {
        let busy = std::process::Command::new(crate::lab_script())
            .args([
                "exec",
                node,
                "sh",
                "-c",
                // The detached upgrade has started (not the simulation that
                // comes before it) and apt or dpkg is at work.
                "test -f /var/lib/snf-upgrade/jobs/node3-upgrade/pid && \
                 grep -l -x -e dpkg -e apt-get /proc/[0-9]*/comm",
            ])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if busy {
            let _ = child.kill();
            killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.wait();
    assert!(killed, "the upgrade ended before dpkg was seen running");

    let (code, doc) = action(&out, &state, "node3-upgrade", &upgrade);
    assert_eq!(code, Some(0), "{doc}");
    let o = &doc["outcome"];
    assert!(
        o["already_done"] == true || o["verified"]["reattached"] == true,
        "re-attached or found done, never started again: {doc}"
    );
    let after = crate::lab_exec(node, "dpkg-query -W -f='${Version}' snf-cyclades-gtools");
    assert!(after.starts_with("0.19"), "{after}");
    assert_eq!(
        crate::lab_exec(
            node,
            "test -e /usr/sbin/policy-rc.d && echo left || echo gone"
        )
        .trim(),
        "gone"
    );
    assert_eq!(crate::lab_exec(node, "dpkg --audit").trim(), "");
    // The upgrade started nothing (policy-rc.d): archipelago is still
    // stopped until its own step starts it.
    assert_eq!(
        crate::lab_exec(node, "grep -l -x archipelago-pee /proc/[0-9]*/comm | wc -l").trim(),
        "0"
    );
    let start = serde_json::json!({"kind": "start-service", "host": fqdn,
        "service": "archipelago", "processes": ["archipelago-peers"]});
    let (code, doc) = action(&out, &state, "start-archipelago", &start);
    assert_eq!(code, Some(0), "{doc}");
    // One upgrade ran on the host: its log was written once.
    let runs = crate::lab_exec(
        node,
        "grep -c '^Reading package lists' /var/lib/snf-upgrade/jobs/node3-upgrade/log || true",
    );
    assert!(runs.trim().parse::<u32>().unwrap() <= 2, "{runs}");
}

fn boot_id(host: &str) -> String {
    crate::lab_exec(host, "cat /proc/sys/kernel/random/boot_id")
        .trim()
        .to_string()
}

fn lab(args: &[&str]) {
    let st = Command::new(crate::lab_script())
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "lab {args:?}");
}

/// A reboot is judged by the host's boot id: done when it changed; a run
/// whose controller was killed during the wait recognises the reboot as done
/// and does not reboot again; a host that does not come back fails the
/// action within its budget.
#[test]
fn reboots_are_judged_by_the_boot_id() {
    let out = lab_out();
    let host = "pithos";
    let fqdn = "pithos.lab.test";
    lab(&["wait-up", host, "180"]);
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("r.json");
    let first = boot_id(host);
    let reboot = serde_json::json!({"kind": "reboot", "host": fqdn, "budget_s": 240});
    let (code, doc) = action(&out, &state, "r1", &reboot);
    assert_eq!(code, Some(0), "{doc}");
    let second = boot_id(host);
    assert_ne!(first, second, "the host rebooted");
    assert_eq!(doc["outcome"]["verified"]["boot_id_before"], first.as_str());
    assert_eq!(doc["outcome"]["verified"]["boot_id"], second.as_str());

    // The controller dies while it waits; the next run sees the new boot id
    // and asks for nothing.
    let mut child = action_cmd(&out, &state, "r2", &reboot)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for_intent(&state, 60, &mut child, |v| v["r2"]["before"]
            ["requested_at"]
            .is_string()),
        "the reboot was never asked for"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let _ = child.wait();
    lab(&["wait-up", host, "180"]);
    let (code, doc) = action(&out, &state, "r2", &reboot);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["outcome"]["already_done"], true, "{doc}");
    let third = boot_id(host);
    assert_ne!(third, second);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(boot_id(host), third, "no second reboot was asked for");

    // Powered off during the wait: fails within the budget, named.
    let short = serde_json::json!({"kind": "reboot", "host": fqdn, "budget_s": 30});
    let mut child = action_cmd(&out, &state, "r3", &short)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Power it off as soon as the reboot was asked for (the host reboots a
    // second after the request): it never comes back by itself.
    assert!(
        wait_for_intent(&state, 30, &mut child, |v| v["r3"]["before"]
            ["requested_at"]
            .is_string()),
        "the reboot was never asked for"
    );
    lab(&["poweroff", host]);
    assert_eq!(boot_id_or_down(host), None, "powered off");
    let started = Instant::now();
    let o = child.wait_with_output().unwrap();
    let waited = started.elapsed();
    lab(&["start", host]);
    lab(&["wait-up", host, "180"]);
    assert_eq!(o.status.code(), Some(3));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        doc["error"].as_str().unwrap().contains("did not come back")
            || doc["error"].as_str().unwrap().contains("did not reboot"),
        "{doc}"
    );
    assert!(
        waited < Duration::from_secs(60),
        "failed within its budget: {waited:?}"
    );
}

/// The boot id, or None while the host is down.
fn boot_id_or_down(host: &str) -> Option<String> {
    let o = Command::new(crate::lab_script())
        .args(["exec", host, "cat", "/proc/sys/kernel/random/boot_id"])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}
