//! Host actions over SSH: services, reboot and wait, the runbook's commands,
//! and the Ganeti cluster commands RAPI has no resource for (watcher pause
//! and resume, master failover), run on the master or the new master.
//!
//! Services are judged by process evidence (`/proc/PID/comm`), never by an
//! init script's exit code. A reboot is judged by the host's boot id: the
//! one recorded before asking must have changed, so a reboot that did not
//! happen fails, and a resumed wait recognises a reboot that did.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::{ev, remote_err, Action, ActionError, Evidence, IntentStore, Observed, Outcome, World};
use crate::remote::{sh_quote, Remote, RunOptions};

/// How long one probe of a host may take.
const PROBE: Duration = Duration::from_secs(15);
/// How long a service may take to stop or start before it counts as failed.
const SERVICE_SETTLE: Duration = Duration::from_secs(60);
/// The watcher pause asked for: longer than any node's reboot; resumed by
/// its own step.
pub const WATCHER_PAUSE: Duration = Duration::from_secs(4 * 60 * 60);

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `/proc/PID/comm` holds at most 15 characters of a process name.
fn comm_name(name: &str) -> &str {
    match name.char_indices().nth(15) {
        Some((i, _)) => &name[..i],
        None => name,
    }
}

/// Pids whose process name is exactly one of `names`.
async fn pids(host: &Remote, names: &[String], action: &Action) -> Result<Vec<u32>, ActionError> {
    let patterns: Vec<String> = names
        .iter()
        .map(|n| format!("-e {}", sh_quote(comm_name(n))))
        .collect();
    // -x: whole-line match of the comm file, so `gunicorn` is not `gunicorn2`.
    let cmd = format!(
        "grep -s -l -x -F {} /proc/[0-9]*/comm | cut -d/ -f3; true",
        patterns.join(" ")
    );
    let out = host
        .run_ok(&cmd, &RunOptions::new(PROBE))
        .await
        .map_err(remote_err(action))?;
    Ok(out
        .stdout_str()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

/// `systemd` when it is PID 1 on the host, else `sysvinit`.
async fn init_system(host: &Remote, action: &Action) -> Result<&'static str, ActionError> {
    let out = host
        .run_ok(
            "if [ -d /run/systemd/system ]; then echo systemd; else echo sysvinit; fi",
            &RunOptions::new(PROBE),
        )
        .await
        .map_err(remote_err(action))?;
    Ok(if out.stdout_str().trim() == "systemd" {
        "systemd"
    } else {
        "sysvinit"
    })
}

fn process_names(service: &str, processes: &[String]) -> Vec<String> {
    if processes.is_empty() {
        vec![service.to_string()]
    } else {
        processes.to_vec()
    }
}

async fn boot(host: &Remote, action: &Action) -> Result<(String, f64), ActionError> {
    let out = host
        .run_ok(
            "cat /proc/sys/kernel/random/boot_id /proc/uptime",
            &RunOptions::new(PROBE),
        )
        .await
        .map_err(remote_err(action))?;
    let text = out.stdout_str();
    let mut lines = text.lines();
    let id = lines.next().unwrap_or_default().trim().to_string();
    let uptime = lines
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap_or(0.0);
    if id.is_empty() {
        return Err(ActionError::CannotTell {
            action: action.describe(),
            reason: format!("{} reports no boot id", host.name),
        });
    }
    Ok((id, uptime))
}

/// The master's host, from RAPI.
async fn master<'w>(world: &'w World<'_>, action: &Action) -> Result<&'w Remote, ActionError> {
    let info = world
        .rapi
        .info()
        .await
        .map_err(|source| ActionError::Rapi {
            action: action.describe(),
            source,
        })?;
    world.host(&info.master, action)
}

pub(super) async fn observe(
    action: &Action,
    world: &World<'_>,
    store: &dyn IntentStore,
    step: &str,
) -> Result<Observed, ActionError> {
    Ok(match action {
        Action::StopService {
            host,
            service,
            processes,
        }
        | Action::StartService {
            host,
            service,
            processes,
        } => {
            let h = world.host(host, action)?;
            let running = pids(h, &process_names(service, processes), action).await?;
            let e = ev(&[("pids", json!(running))]);
            let want_running = matches!(action, Action::StartService { .. });
            if running.is_empty() != want_running {
                Observed::Done { evidence: e }
            } else {
                Observed::NotDone { evidence: e }
            }
        }
        Action::Reboot { host, .. } => {
            let intent = store.load(step)?;
            let h = world.host(host, action)?;
            match boot(h, action).await {
                Ok((id, uptime)) => {
                    let e = ev(&[("boot_id", json!(id)), ("uptime", json!(uptime))]);
                    match intent.before.get("boot_id") {
                        Some(old) if *old != id => Observed::Done { evidence: e },
                        _ => Observed::NotDone { evidence: e },
                    }
                }
                // Down: only a reboot we asked for may be waited on.
                Err(ActionError::Remote { source, .. })
                    if source.is_connection() && intent.before.contains_key("boot_id") =>
                {
                    Observed::NotDone {
                        evidence: ev(&[("reachable", json!(false))]),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Action::RunCommand { host, unless, .. } => {
            let intent = store.load(step)?;
            if intent.result.get("exit_status").map(String::as_str) == Some("0") {
                return Ok(Observed::Done {
                    evidence: ev(&[("ran", json!(true))]),
                });
            }
            match unless {
                Some(check) => {
                    let h = world.host(host, action)?;
                    let out = h
                        .run(check, &RunOptions::new(PROBE).sudo())
                        .await
                        .map_err(remote_err(action))?;
                    let e = ev(&[("unless_status", json!(out.status))]);
                    if out.success() {
                        Observed::Done { evidence: e }
                    } else {
                        Observed::NotDone { evidence: e }
                    }
                }
                None => Observed::NotDone {
                    evidence: Evidence::new(),
                },
            }
        }
        Action::WatcherPause | Action::WatcherResume => {
            let m = master(world, action).await?;
            let out = m
                .run_ok("gnt-cluster watcher info", &RunOptions::new(PROBE).sudo())
                .await
                .map_err(remote_err(action))?;
            let text = out.stdout_str();
            let paused = !text.contains("not paused");
            let e = ev(&[("watcher", json!(text.trim()))]);
            if paused == matches!(action, Action::WatcherPause) {
                Observed::Done { evidence: e }
            } else {
                Observed::NotDone { evidence: e }
            }
        }
        Action::MasterFailover { to } => {
            let info = world
                .rapi
                .info()
                .await
                .map_err(|source| ActionError::Rapi {
                    action: action.describe(),
                    source,
                })?;
            let e = ev(&[("master", json!(info.master))]);
            if info.master == *to {
                Observed::Done { evidence: e }
            } else {
                Observed::NotDone { evidence: e }
            }
        }
        Action::AptUpdate { .. } | Action::DistUpgrade { .. } => {
            return super::apt::observe(step, action, world, store).await
        }
        _ => unreachable!("not a host action: {action:?}"),
    })
}

/// Acts and verifies; the intent is saved before anything changes.
pub(super) async fn act_and_verify(
    step: &str,
    action: &Action,
    world: &World<'_>,
    store: &dyn IntentStore,
) -> Result<Evidence, ActionError> {
    let mut intent = store.load(step)?;
    intent.started = true;
    match action {
        Action::StopService {
            host,
            service,
            processes,
        }
        | Action::StartService {
            host,
            service,
            processes,
        } => {
            let h = world.host(host, action)?;
            let start = matches!(action, Action::StartService { .. });
            let verb = if start { "start" } else { "stop" };
            let init = init_system(h, action).await?;
            let cmd = match init {
                "systemd" => format!("systemctl {verb} {}", sh_quote(service)),
                _ => format!(
                    "if [ -x /etc/init.d/{s} ]; then /etc/init.d/{s} {verb}; else service {s} {verb}; fi",
                    s = sh_quote(service)
                ),
            };
            intent.before.insert("init".into(), init.into());
            store.save(step, &intent)?;
            // The script's exit status is only reported: processes decide.
            let out = h
                .run(&cmd, &RunOptions::new(SERVICE_SETTLE).sudo())
                .await
                .map_err(remote_err(action))?;
            let names = process_names(service, processes);
            let deadline = Instant::now() + SERVICE_SETTLE;
            loop {
                let running = pids(h, &names, action).await?;
                if running.is_empty() != start {
                    return Ok(ev(&[
                        ("pids", json!(running)),
                        ("init", json!(init)),
                        ("script_status", json!(out.status)),
                    ]));
                }
                if Instant::now() > deadline {
                    return Err(ActionError::NotVerified {
                        action: action.describe(),
                        evidence: format!(
                            "after `{cmd}` (exit {}), processes {names:?}: {running:?}",
                            out.status
                        ),
                    });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Action::Reboot { host, budget_s } => {
            let h = world.host(host, action)?;
            let budget = Duration::from_secs(*budget_s);
            if !intent.before.contains_key("boot_id") {
                let (id, uptime) = boot(h, action).await?;
                intent.before.insert("boot_id".into(), id);
                intent.before.insert("uptime".into(), uptime.to_string());
                intent
                    .before
                    .insert("requested_at".into(), format!("{:.3}", now()));
                store.save(step, &intent)?;
                // Detached, so that the SSH session ends cleanly before the
                // host goes down.
                h.run_ok(
                    "nohup sh -c 'sleep 1; reboot' </dev/null >/dev/null 2>&1 &",
                    &RunOptions::new(PROBE).sudo(),
                )
                .await
                .map_err(remote_err(action))?;
            }
            // Asked before (this run or one that died waiting): never ask
            // again, wait for the boot id to change.
            let old = intent.before["boot_id"].clone();
            let started = Instant::now();
            let mut seen_down = false;
            loop {
                match boot(h, action).await {
                    Ok((id, uptime)) if id != old => {
                        return Ok(ev(&[
                            ("boot_id", json!(id)),
                            ("boot_id_before", json!(old)),
                            ("uptime", json!(uptime)),
                            ("seen_down", json!(seen_down)),
                            ("waited_s", json!(started.elapsed().as_secs_f64())),
                        ]))
                    }
                    Ok(_) => {}
                    Err(ActionError::Remote { source, .. }) if source.is_connection() => {
                        seen_down = true;
                    }
                    Err(e) => return Err(e),
                }
                if started.elapsed() > budget {
                    return Err(ActionError::NotVerified {
                        action: action.describe(),
                        evidence: format!(
                            "{host} {} within {} s (boot id still {old})",
                            if seen_down {
                                "went down but did not come back"
                            } else {
                                "did not reboot"
                            },
                            budget.as_secs()
                        ),
                    });
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Action::RunCommand {
            host,
            command,
            sudo,
            timeout_s,
            ..
        } => {
            let h = world.host(host, action)?;
            store.save(step, &intent)?;
            let mut opts = RunOptions::new(Duration::from_secs(*timeout_s));
            if *sudo {
                opts = opts.sudo();
            }
            let out = h.run(command, &opts).await.map_err(remote_err(action))?;
            intent
                .result
                .insert("exit_status".into(), out.status.to_string());
            store.save(step, &intent)?;
            let output = crate::text::scrub(&format!("{}{}", out.stdout_str(), out.stderr_str()));
            let tail = crate::text::tail(&output, crate::text::OUTPUT_LIMIT);
            if out.success() {
                Ok(ev(&[("exit_status", json!(0)), ("output", json!(tail))]))
            } else {
                Err(ActionError::NotVerified {
                    action: action.describe(),
                    evidence: format!("exit status {}: {tail}", out.status),
                })
            }
        }
        Action::WatcherPause | Action::WatcherResume => {
            let m = master(world, action).await?;
            store.save(step, &intent)?;
            let cmd = match action {
                Action::WatcherPause => {
                    format!("gnt-cluster watcher pause {}", WATCHER_PAUSE.as_secs())
                }
                _ => "gnt-cluster watcher continue".to_string(),
            };
            m.run_ok(&cmd, &RunOptions::new(PROBE).sudo())
                .await
                .map_err(remote_err(action))?;
            match observe(action, world, store, step).await? {
                Observed::Done { evidence } => Ok(evidence),
                other => Err(ActionError::NotVerified {
                    action: action.describe(),
                    evidence: format!("{other:?}"),
                }),
            }
        }
        Action::MasterFailover { to } => {
            let err = |source| ActionError::Rapi {
                action: action.describe(),
                source,
            };
            let node = world.rapi.node(to).await.map_err(err)?;
            if !node.master_candidate || node.offline || node.drained {
                return Err(ActionError::Refused {
                    action: action.describe(),
                    reason: format!("{to} is not an online master candidate"),
                });
            }
            let old = world.rapi.info().await.map_err(err)?.master;
            intent.before.insert("master".into(), old.clone());
            store.save(step, &intent)?;
            let h = world.host(to, action)?;
            h.run_ok(
                "gnt-cluster master-failover",
                &RunOptions::new(Duration::from_secs(300)).sudo(),
            )
            .await
            .map_err(remote_err(action))?;
            // Two nodes must agree, and RAPI must answer at the cluster
            // address (the pinned certificate) naming the new master.
            let mut said = Vec::new();
            for name in [to.as_str(), old.as_str()] {
                let out = world
                    .host(name, action)?
                    .run_ok("gnt-cluster getmaster", &RunOptions::new(PROBE).sudo())
                    .await
                    .map_err(remote_err(action))?;
                said.push((name.to_string(), out.stdout_str().trim().to_string()));
            }
            let deadline = Instant::now() + Duration::from_secs(120);
            let rapi_master = loop {
                match world.rapi.info().await {
                    Ok(info) if info.master == *to => break info.master,
                    _ if Instant::now() > deadline => {
                        return Err(ActionError::NotVerified {
                            action: action.describe(),
                            evidence: format!("RAPI did not name {to} as master within 120 s"),
                        })
                    }
                    _ => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            };
            let agree = said
                .iter()
                .all(|(_, m)| m == to || to.starts_with(&format!("{m}.")));
            if !agree {
                return Err(ActionError::NotVerified {
                    action: action.describe(),
                    evidence: format!("gnt-cluster getmaster says {said:?}"),
                });
            }
            Ok(ev(&[
                ("getmaster", json!(said)),
                ("rapi_master", json!(rapi_master)),
                ("master_before", json!(old)),
            ]))
        }
        Action::AptUpdate { .. } | Action::DistUpgrade { .. } => {
            super::apt::act_and_verify(step, action, world, store).await
        }
        _ => unreachable!("not a host action: {action:?}"),
    }
}

pub(super) async fn run(
    step: &str,
    action: &Action,
    world: &World<'_>,
    store: &dyn IntentStore,
) -> Result<Outcome, ActionError> {
    let observed = match observe(action, world, store, step).await? {
        Observed::Done { evidence } => {
            return Ok(Outcome {
                already_done: true,
                reattached: vec![],
                submitted: vec![],
                observed: evidence.clone(),
                verified: evidence,
            })
        }
        Observed::NotDone { evidence } => evidence,
        Observed::CannotTell { reason } => {
            return Err(ActionError::CannotTell {
                action: action.describe(),
                reason,
            })
        }
    };
    let verified = act_and_verify(step, action, world, store).await?;
    Ok(Outcome {
        already_done: false,
        reattached: vec![],
        submitted: vec![],
        observed,
        verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::MemoryStore;
    use crate::ganeti::RapiClient;
    use std::collections::BTreeMap;

    fn world_with_local<'a>(
        rapi: &'a RapiClient,
        hosts: &'a BTreeMap<String, Remote>,
    ) -> World<'a> {
        World { rapi, hosts }
    }

    /// A RAPI client no test here talks to.
    fn idle_rapi() -> RapiClient {
        RapiClient::new(&crate::ganeti::RapiConfig::new("https://127.0.0.1:9")).unwrap()
    }

    #[tokio::test]
    async fn a_command_that_ran_is_not_run_again_and_unless_skips_it() {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("count");
        let rapi = idle_rapi();
        let hosts = BTreeMap::from([("here".to_string(), Remote::local("here"))]);
        let world = world_with_local(&rapi, &hosts);
        let store = MemoryStore::default();
        let a = Action::RunCommand {
            host: "here".into(),
            command: format!("echo x >> {}", marker.display()),
            unless: None,
            sudo: false,
            timeout_s: 10,
        };
        let first = crate::actions::run("c", &a, &world, &store).await.unwrap();
        assert!(!first.already_done);
        let again = crate::actions::run("c", &a, &world, &store).await.unwrap();
        assert!(again.already_done);
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "x\n");

        let b = Action::RunCommand {
            host: "here".into(),
            command: "exit 3".into(),
            unless: Some("true".into()),
            sudo: false,
            timeout_s: 10,
        };
        assert!(
            crate::actions::run("u", &b, &world, &store)
                .await
                .unwrap()
                .already_done
        );
        let c = Action::RunCommand {
            host: "here".into(),
            command: "exit 3".into(),
            unless: None,
            sudo: false,
            timeout_s: 10,
        };
        let e = crate::actions::run("f", &c, &world, &store)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("exit status 3"), "{e}");
    }

    #[tokio::test]
    async fn services_are_judged_by_their_processes() {
        let rapi = idle_rapi();
        let hosts = BTreeMap::from([("here".to_string(), Remote::local("here"))]);
        let world = world_with_local(&rapi, &hosts);
        // No process is named like this: stopped, so stopping is done.
        let a = Action::StopService {
            host: "here".into(),
            service: "snf-no-such-service".into(),
            processes: vec![],
        };
        let out = crate::actions::run("s", &a, &world, &MemoryStore::default())
            .await
            .unwrap();
        assert!(out.already_done);
        // This test's own process is running: "stop" would not be done.
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        let running = Action::StartService {
            host: "here".into(),
            service: "x".into(),
            processes: vec![me.trim().to_string()],
        };
        let out = crate::actions::run("r", &running, &world, &MemoryStore::default())
            .await
            .unwrap();
        assert!(out.already_done, "{out:?}");
        assert!(!out.observed["pids"].as_array().unwrap().is_empty());
    }
}
