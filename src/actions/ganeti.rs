//! Ganeti actions through RAPI: drain / undrain, instance migrate, node
//! evacuate, instance shutdown / startup.
//!
//! Drains are marked on the node itself with a tag naming the role it had
//! (`snf-upgrade:drained-from:ROLE`), added *before* the role changes, so that
//! any later run — this controller resumed, or another one — undoes exactly
//! the drains snf-upgrade made and keeps an operator's. Every job id is
//! recorded before it is waited for; a resumed run waits for the recorded job
//! (or a job in flight on the same object) instead of submitting another.

use std::time::Duration;

use serde_json::json;

use super::{
    ev, Action, ActionError, Evidence, Intent, IntentStore, Observed, Outcome, Verified, World,
};
use crate::ganeti::{InstanceInfo, Job, JobId, NodeRole, RapiClient, RapiError, WaitOptions};

/// The tag prefix that marks a drain made by snf-upgrade.
pub const DRAIN_TAG_PREFIX: &str = "snf-upgrade:drained-from:";

/// Opcodes that move an instance: a job of these in flight for the instance
/// is re-attached to, never doubled.
const MOVE_OPCODES: &[&str] = &["OP_INSTANCE_MIGRATE", "OP_INSTANCE_FAILOVER"];

pub(super) async fn run(
    step: &str,
    action: &Action,
    world: &World<'_>,
    store: &dyn IntentStore,
) -> Result<Outcome, ActionError> {
    let name = action.describe();
    let rapi = world.rapi;
    let observed = match observe(action, rapi).await? {
        Observed::Done { evidence } => {
            let verified = verify(action, rapi).await?;
            return Ok(Outcome {
                already_done: true,
                reattached: vec![],
                submitted: vec![],
                observed: evidence,
                verified: verified.evidence,
            });
        }
        Observed::NotDone { evidence } => evidence,
        Observed::CannotTell { reason } => {
            return Err(ActionError::CannotTell {
                action: name,
                reason,
            })
        }
    };
    let mut intent = store.load(step)?;
    let mut outcome = Outcome {
        already_done: false,
        reattached: vec![],
        submitted: vec![],
        observed,
        verified: Evidence::new(),
    };

    // A job a previous run submitted (recorded, or found in flight on the
    // same object) is waited for before anything new is submitted.
    if let Some(job) = job_to_reattach(action, rapi, &intent).await? {
        tracing::info!("{name}: re-attaching to Ganeti job {job}");
        outcome.reattached.push(job);
        wait(action, rapi, job).await?;
        if let Observed::Done { .. } = observe(action, rapi).await? {
            outcome.verified = checked(action, rapi).await?;
            return Ok(outcome);
        }
    }

    intent.started = true;
    act(step, action, rapi, store, &mut intent, &mut outcome).await?;
    outcome.verified = checked(action, rapi).await?;
    Ok(outcome)
}

/// Verify, turning "not as it should be" into an error.
async fn checked(action: &Action, rapi: &RapiClient) -> Result<Evidence, ActionError> {
    let v = verify(action, rapi).await?;
    if v.ok {
        Ok(v.evidence)
    } else {
        Err(ActionError::NotVerified {
            action: action.describe(),
            evidence: serde_json::to_string(&v.evidence).unwrap_or_default(),
        })
    }
}

fn rapi_err(action: &Action) -> impl Fn(RapiError) -> ActionError + '_ {
    move |e| match e {
        RapiError::JobFailed(failure) => ActionError::Job {
            action: action.describe(),
            failure,
        },
        source => ActionError::Rapi {
            action: action.describe(),
            source,
        },
    }
}

/// The node's role and the drain tag snf-upgrade put there, if any.
async fn node_state(
    rapi: &RapiClient,
    node: &str,
) -> Result<(NodeRole, Option<NodeRole>), RapiError> {
    let role = rapi.node_role(node).await?;
    let tags = rapi.node_tags(node).await?;
    let from = tags
        .iter()
        .find_map(|t| t.strip_prefix(DRAIN_TAG_PREFIX))
        .map(|r| match r {
            "master-candidate" => NodeRole::MasterCandidate,
            _ => NodeRole::Regular,
        });
    Ok((role, from))
}

/// Whether an instance counts as running for placement and availability.
fn running(i: &InstanceInfo) -> bool {
    matches!(
        i.status.as_str(),
        "running" | "ERROR_up" | "ERROR_wrongnode"
    )
}

/// Looks at the world: is the action's goal already reached?
pub async fn observe(action: &Action, rapi: &RapiClient) -> Result<Observed, ActionError> {
    let err = rapi_err(action);
    Ok(match action {
        Action::Drain { node } => {
            let (role, tagged) = node_state(rapi, node).await.map_err(&err)?;
            let ev = ev(&[
                ("role", json!(role.as_str())),
                ("drain_tag", json!(tagged.map(NodeRole::as_str))),
            ]);
            match (role, tagged) {
                (NodeRole::Master, _) => {
                    return Err(ActionError::Refused {
                        action: action.describe(),
                        reason: "the master cannot be drained; fail the master role over first"
                            .into(),
                    })
                }
                (NodeRole::Offline, _) => Observed::CannotTell {
                    reason: format!("{node} is offline"),
                },
                (NodeRole::Drained, _) => Observed::Done { evidence: ev },
                _ => Observed::NotDone { evidence: ev },
            }
        }
        Action::Undrain { node } => {
            let (role, tagged) = node_state(rapi, node).await.map_err(&err)?;
            let mut ev = ev(&[
                ("role", json!(role.as_str())),
                ("drain_tag", json!(tagged.map(NodeRole::as_str))),
            ]);
            match (role, tagged) {
                (NodeRole::Offline, _) => Observed::CannotTell {
                    reason: format!("{node} is offline"),
                },
                // Drained by someone else: theirs to undo.
                (NodeRole::Drained, None) => {
                    ev.insert(
                        "kept".into(),
                        json!("drained by someone else; left drained"),
                    );
                    Observed::Done { evidence: ev }
                }
                (NodeRole::Drained, Some(_)) | (_, Some(_)) => Observed::NotDone { evidence: ev },
                (_, None) => Observed::Done { evidence: ev },
            }
        }
        Action::MigrateInstance { instance, from, to } => {
            let i = rapi.instance(instance).await.map_err(&err)?;
            let ev = ev(&[
                ("pnode", json!(i.pnode)),
                ("status", json!(i.status)),
                ("disk_template", json!(i.disk_template)),
            ]);
            if i.pnode == *to {
                Observed::Done { evidence: ev }
            } else if i.pnode == *from {
                Observed::NotDone { evidence: ev }
            } else {
                return Err(ActionError::Refused {
                    action: action.describe(),
                    reason: format!(
                        "{instance} is on {}, neither on {from} nor on {to}: the plan is stale",
                        i.pnode
                    ),
                });
            }
        }
        Action::EvacuateNode { node } => {
            let left = running_primaries(rapi, node).await.map_err(&err)?;
            let ev = ev(&[("running_primaries", json!(left))]);
            if left.is_empty() {
                Observed::Done { evidence: ev }
            } else {
                Observed::NotDone { evidence: ev }
            }
        }
        Action::ShutdownInstance { instance } | Action::StartupInstance { instance } => {
            let i = rapi.instance(instance).await.map_err(&err)?;
            let ev = ev(&[
                ("status", json!(i.status)),
                ("admin_state", json!(i.admin_state)),
                ("pnode", json!(i.pnode)),
            ]);
            let want_up = matches!(action, Action::StartupInstance { .. });
            let admin_up = i.admin_state.as_deref() == Some("up");
            let done = if want_up {
                admin_up && running(&i)
            } else {
                !admin_up && !running(&i)
            };
            if done {
                Observed::Done { evidence: ev }
            } else {
                Observed::NotDone { evidence: ev }
            }
        }
        _ => unreachable!("not a RAPI action: {action:?}"),
    })
}

/// Checks the result from the world.
pub async fn verify(action: &Action, rapi: &RapiClient) -> Result<Verified, ActionError> {
    let err = rapi_err(action);
    let (ok, ev) = match action {
        Action::Drain { node } => {
            let (role, tagged) = node_state(rapi, node).await.map_err(&err)?;
            (
                role == NodeRole::Drained,
                ev(&[
                    ("role", json!(role.as_str())),
                    ("drain_tag", json!(tagged.map(NodeRole::as_str))),
                ]),
            )
        }
        Action::Undrain { node } => {
            let (role, tagged) = node_state(rapi, node).await.map_err(&err)?;
            // Done when our tag is gone: the role is then ours no more.
            (
                tagged.is_none(),
                ev(&[
                    ("role", json!(role.as_str())),
                    ("drain_tag", json!(tagged.map(NodeRole::as_str))),
                ]),
            )
        }
        Action::MigrateInstance { instance, to, .. } => {
            // Right after a migration Ganeti may still say ERROR_wrongnode
            // while its configuration catches up: read again briefly.
            let mut i = rapi.instance(instance).await.map_err(&err)?;
            for _ in 0..20 {
                if i.pnode == *to && i.status == "running" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                i = rapi.instance(instance).await.map_err(&err)?;
            }
            (
                i.pnode == *to && running(&i),
                ev(&[("pnode", json!(i.pnode)), ("status", json!(i.status))]),
            )
        }
        Action::EvacuateNode { node } => {
            let left = running_primaries(rapi, node).await.map_err(&err)?;
            (left.is_empty(), ev(&[("running_primaries", json!(left))]))
        }
        Action::ShutdownInstance { instance } | Action::StartupInstance { instance } => {
            let done = matches!(observe(action, rapi).await?, Observed::Done { .. });
            let i = rapi.instance(instance).await.map_err(&err)?;
            (
                done,
                ev(&[
                    ("status", json!(i.status)),
                    ("admin_state", json!(i.admin_state)),
                ]),
            )
        }
        _ => unreachable!("not a RAPI action: {action:?}"),
    };
    Ok(Verified { ok, evidence: ev })
}

/// Running instances whose primary is `node`.
async fn running_primaries(rapi: &RapiClient, node: &str) -> Result<Vec<String>, RapiError> {
    Ok(rapi
        .instances()
        .await?
        .into_iter()
        .filter(|i| i.pnode == node && running(i))
        .map(|i| i.name)
        .collect())
}

/// The object a job of this action acts on, as Ganeti's opcodes name it.
fn target_of(action: &Action) -> &str {
    match action {
        Action::Drain { node } | Action::Undrain { node } | Action::EvacuateNode { node } => node,
        Action::MigrateInstance { instance, .. }
        | Action::ShutdownInstance { instance }
        | Action::StartupInstance { instance } => instance,
        _ => "",
    }
}

/// A job to wait for instead of acting: the last recorded one if it has not
/// finished, else a job in flight on the same object (a run that died between
/// submitting and recording).
async fn job_to_reattach(
    action: &Action,
    rapi: &RapiClient,
    intent: &Intent,
) -> Result<Option<JobId>, ActionError> {
    let err = rapi_err(action);
    if let Some(&last) = intent.jobs.last() {
        let job = rapi.job(last).await.map_err(&err)?;
        if !job.status.is_final() {
            return Ok(Some(last));
        }
    }
    let in_flight = rapi.jobs_in_flight().await.map_err(&err)?;
    Ok(in_flight.iter().find(|j| concerns(j, action)).map(|j| j.id))
}

fn concerns(job: &Job, action: &Action) -> bool {
    let target = target_of(action);
    job.op_targets.iter().zip(&job.op_ids).any(|(t, op)| {
        t == target
            && match action {
                Action::MigrateInstance { .. } => MOVE_OPCODES.contains(&op.as_str()),
                Action::EvacuateNode { .. } => op == "OP_NODE_MIGRATE" || op == "OP_NODE_EVACUATE",
                Action::Drain { .. } | Action::Undrain { .. } => {
                    op == "OP_NODE_SET_PARAMS" || op.starts_with("OP_TAGS_")
                }
                Action::ShutdownInstance { .. } | Action::StartupInstance { .. } => {
                    op == "OP_INSTANCE_SHUTDOWN" || op == "OP_INSTANCE_STARTUP"
                }
                _ => false,
            }
    })
}

fn wait_options(action: &Action) -> WaitOptions {
    WaitOptions {
        first_interval: Duration::from_millis(250),
        max_interval: Duration::from_secs(2),
        timeout: action.policy().timeout,
    }
}

async fn wait(action: &Action, rapi: &RapiClient, job: JobId) -> Result<(), ActionError> {
    let err = rapi_err(action);
    match action {
        Action::EvacuateNode { .. } => rapi
            .wait_job_tree(job, wait_options(action))
            .await
            .map(|_| ())
            .map_err(&err),
        _ => rapi
            .wait_job(job, wait_options(action))
            .await
            .map(|_| ())
            .map_err(&err),
    }
}

/// Submits one job: the intent is saved first (so a crash right after the
/// submit is found again through the jobs in flight), then with the job id,
/// then the job is waited for.
async fn submit<F>(
    step: &str,
    action: &Action,
    rapi: &RapiClient,
    store: &dyn IntentStore,
    intent: &mut Intent,
    outcome: &mut Outcome,
    request: F,
) -> Result<(), ActionError>
where
    F: std::future::Future<Output = Result<JobId, RapiError>>,
{
    store.save(step, intent)?;
    let job = request.await.map_err(rapi_err(action))?;
    intent.jobs.push(job);
    store.save(step, intent)?;
    outcome.submitted.push(job);
    wait(action, rapi, job).await
}

async fn act(
    step: &str,
    action: &Action,
    rapi: &RapiClient,
    store: &dyn IntentStore,
    intent: &mut Intent,
    outcome: &mut Outcome,
) -> Result<(), ActionError> {
    let err = rapi_err(action);
    match action {
        Action::Drain { node } => {
            let (role, tagged) = node_state(rapi, node).await.map_err(&err)?;
            intent.before.insert("role".into(), role.as_str().into());
            // The tag first: whoever sees the node drained later also sees
            // that snf-upgrade drained it, and from which role.
            if tagged.is_none() {
                let from = match role {
                    NodeRole::MasterCandidate => "master-candidate",
                    _ => "regular",
                };
                let tag = format!("{DRAIN_TAG_PREFIX}{from}");
                submit(
                    step,
                    action,
                    rapi,
                    store,
                    intent,
                    outcome,
                    rapi.add_node_tag(node, &tag),
                )
                .await?;
            }
            submit(
                step,
                action,
                rapi,
                store,
                intent,
                outcome,
                rapi.set_node_role(node, NodeRole::Drained, false),
            )
            .await
        }
        Action::Undrain { node } => {
            let (role, tagged) = node_state(rapi, node).await.map_err(&err)?;
            let Some(back) = tagged else {
                return Ok(());
            };
            intent.before.insert("role".into(), role.as_str().into());
            if role == NodeRole::Drained {
                // Promoting beyond the candidate pool size needs force; the
                // node was a candidate before we drained it.
                let force = back == NodeRole::MasterCandidate;
                submit(
                    step,
                    action,
                    rapi,
                    store,
                    intent,
                    outcome,
                    rapi.set_node_role(node, back, force),
                )
                .await?;
            }
            let tag = format!("{DRAIN_TAG_PREFIX}{}", back.as_str());
            submit(
                step,
                action,
                rapi,
                store,
                intent,
                outcome,
                rapi.remove_node_tag(node, &tag),
            )
            .await
        }
        Action::MigrateInstance { instance, to, .. } => {
            let i = rapi.instance(instance).await.map_err(&err)?;
            if !running(&i) {
                return Err(ActionError::Refused {
                    action: action.describe(),
                    reason: format!(
                        "{instance} is {}, not running: only running instances move live",
                        i.status
                    ),
                });
            }
            // DRBD instances go to their secondary and take no target.
            let target = if i.disk_template == "drbd" {
                if i.snodes.first() != Some(to) {
                    return Err(ActionError::Refused {
                        action: action.describe(),
                        reason: format!(
                            "{instance} is DRBD with secondary {:?}; it can only migrate there, not to {to}",
                            i.snodes.first()
                        ),
                    });
                }
                None
            } else {
                Some(to.as_str())
            };
            submit(
                step,
                action,
                rapi,
                store,
                intent,
                outcome,
                rapi.migrate_instance(instance, target),
            )
            .await
        }
        Action::EvacuateNode { node } => {
            submit(
                step,
                action,
                rapi,
                store,
                intent,
                outcome,
                rapi.migrate_node(node, None),
            )
            .await
        }
        Action::ShutdownInstance { instance } => {
            submit(
                step,
                action,
                rapi,
                store,
                intent,
                outcome,
                rapi.shutdown_instance(instance, None),
            )
            .await
        }
        Action::StartupInstance { instance } => {
            submit(
                step,
                action,
                rapi,
                store,
                intent,
                outcome,
                rapi.startup_instance(instance),
            )
            .await
        }
        _ => unreachable!("not a RAPI action: {action:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::MemoryStore;
    use crate::ganeti::rapi::tests::{fixture, Recorded};
    use crate::ganeti::rapi::Method;
    use serde_json::Value;
    use std::sync::Arc;

    /// inst5 as the lab's RAPI answered, placed on `pnode` with `status`.
    fn inst5(pnode: &str, status: &str) -> Value {
        let all = fixture("lab/instances-bulk.json");
        let mut i = all
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "inst5.lab.test")
            .unwrap()
            .clone();
        i["pnode"] = pnode.into();
        i["status"] = status.into();
        i
    }

    /// A job of the lab (job-44: inst5's successful live migration) as a
    /// job in flight: same opcodes, still running.
    fn job44_running() -> Value {
        let mut j = fixture("lab/job-44.json");
        j["status"] = "running".into();
        j["opstatus"] = serde_json::json!(["running"]);
        j
    }

    static NO_HOSTS: std::sync::LazyLock<
        std::collections::BTreeMap<String, crate::remote::Remote>,
    > = std::sync::LazyLock::new(Default::default);

    fn world(c: &RapiClient) -> World<'_> {
        World {
            rapi: c,
            hosts: &NO_HOSTS,
        }
    }

    fn client(r: Recorded) -> (RapiClient, Arc<Recorded>) {
        let shared = Arc::new(r);
        (RapiClient::with_transport(Box::new(shared.clone())), shared)
    }

    fn sent(r: &Recorded, method: Method, path_start: &str) -> usize {
        r.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| *m == method && p.starts_with(path_start))
            .count()
    }

    const MIGRATE: &str = "/2/instances/inst5.lab.test/migrate";

    fn migrate() -> Action {
        Action::MigrateInstance {
            instance: "inst5.lab.test".into(),
            from: "node2.lab.test".into(),
            to: "node3.lab.test".into(),
        }
    }

    #[tokio::test]
    async fn a_migration_in_flight_is_reattached_to_not_submitted_again() {
        let (c, r) = client(
            Recorded::default()
                .answer(
                    Method::Get,
                    "/2/instances/inst5.lab.test",
                    inst5("node2.lab.test", "running"),
                )
                .answer(
                    Method::Get,
                    "/2/instances/inst5.lab.test",
                    inst5("node3.lab.test", "running"),
                )
                .answer(
                    Method::Get,
                    "/2/jobs?bulk=1",
                    serde_json::json!([job44_running()]),
                )
                .answer(Method::Get, "/2/jobs/44", job44_running())
                .answer(Method::Get, "/2/jobs/44", fixture("lab/job-44.json")),
        );
        let store = MemoryStore::default();
        let out = crate::actions::run("s", &migrate(), &world(&c), &store)
            .await
            .unwrap();
        assert_eq!(out.reattached, vec![44]);
        assert!(out.submitted.is_empty());
        assert_eq!(sent(&r, Method::Put, MIGRATE), 0, "no second migration");
        assert_eq!(out.verified["pnode"], "node3.lab.test");
    }

    #[tokio::test]
    async fn a_migration_records_its_job_before_waiting_and_never_fails_over() {
        let (c, r) = client(
            Recorded::default()
                .answer(
                    Method::Get,
                    "/2/instances/inst5.lab.test",
                    inst5("node2.lab.test", "running"),
                )
                .answer(
                    Method::Get,
                    "/2/instances/inst5.lab.test",
                    inst5("node2.lab.test", "running"),
                )
                .answer(
                    Method::Get,
                    "/2/instances/inst5.lab.test",
                    inst5("node3.lab.test", "running"),
                )
                .answer(Method::Get, "/2/jobs?bulk=1", serde_json::json!([]))
                .answer(Method::Put, MIGRATE, serde_json::json!(44))
                .answer(Method::Get, "/2/jobs/44", fixture("lab/job-44.json")),
        );
        let store = MemoryStore::default();
        let out = crate::actions::run("s", &migrate(), &world(&c), &store)
            .await
            .unwrap();
        assert_eq!(out.submitted, vec![44]);
        assert_eq!(store.load("s").unwrap().jobs, vec![44]);
        let body = r
            .sent
            .lock()
            .unwrap()
            .iter()
            .find(|(m, p, _)| *m == Method::Put && p == MIGRATE)
            .and_then(|s| s.2.clone())
            .unwrap();
        assert_eq!(body["mode"], "live");
        assert_eq!(body["allow_failover"], false);
    }

    #[tokio::test]
    async fn a_migration_already_done_changes_nothing_and_a_stale_one_is_refused() {
        let (c, r) = client(Recorded::default().answer(
            Method::Get,
            "/2/instances/inst5.lab.test",
            inst5("node3.lab.test", "running"),
        ));
        let out = crate::actions::run("s", &migrate(), &world(&c), &MemoryStore::default())
            .await
            .unwrap();
        assert!(out.already_done);
        assert_eq!(sent(&r, Method::Put, MIGRATE), 0);

        let (c, _) = client(Recorded::default().answer(
            Method::Get,
            "/2/instances/inst5.lab.test",
            inst5("node1.lab.test", "running"),
        ));
        let e = crate::actions::run("s", &migrate(), &world(&c), &MemoryStore::default())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("stale"), "{e}");
    }

    #[tokio::test]
    async fn undrain_keeps_a_drain_someone_else_made() {
        let (c, r) = client(
            Recorded::default()
                .answer(
                    Method::Get,
                    "/2/nodes/node2.lab.test/role",
                    serde_json::json!("drained"),
                )
                .answer(
                    Method::Get,
                    "/2/nodes/node2.lab.test/tags",
                    serde_json::json!([]),
                ),
        );
        let a = Action::Undrain {
            node: "node2.lab.test".into(),
        };
        let out = crate::actions::run("u", &a, &world(&c), &MemoryStore::default())
            .await
            .unwrap();
        assert!(out.already_done);
        assert!(out.observed["kept"]
            .as_str()
            .unwrap()
            .contains("someone else"));
        assert_eq!(sent(&r, Method::Put, "/2/nodes/"), 0);
    }
}
