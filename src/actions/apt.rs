//! APT actions: `apt-get update` that fails on failed downloads, and a
//! non-interactive dist-upgrade that survives a dropped connection or a
//! killed controller.
//!
//! The dist-upgrade runs detached on the host (systemd-run where systemd is
//! PID 1, else setsid), with its pid, log and exit status in files under
//! `HOST_STATE/<step>/`: a resumed run re-attaches to it by those files,
//! never starts a second one while it runs, and recovers an interrupted dpkg
//! (`dpkg --configure -a`, `apt-get -f install`) before anything else. A
//! policy-rc.d of ours refuses service starts for the duration; it is
//! removed at the end, and by the next observe after a crash. Before acting,
//! a simulation's removals are recorded, and the removal of a package the
//! runbook protects fails the step before anything changes.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{ev, remote_err, Action, ActionError, Evidence, IntentStore, Observed, World};
use crate::remote::{sh_quote, Remote, RunOptions};

/// Where host-side jobs keep their pid, log and exit status.
pub const HOST_STATE: &str = "/var/lib/snf-upgrade/jobs";
/// Marks the policy-rc.d we install (an operator's own is never touched).
const POLICY_MARK: &str = "# snf-upgrade: no service starts during the upgrade";
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
/// Free space a dist-upgrade needs at least, on / and on /var (KiB).
pub const MIN_FREE_KIB: u64 = 1024 * 1024;
const PROBE: Duration = Duration::from_secs(30);
const DPKG_OPTS: &str = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

/// A step name usable as a folder name on the host.
fn slug(step: &str) -> String {
    step.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// State of a detached host job.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostJob {
    /// Never started (no folder).
    Absent,
    Running {
        pid: u32,
    },
    Finished {
        status: i32,
    },
    /// Started, not running, no exit status: killed with its host (a reboot
    /// or a crash in the middle of dpkg).
    Died,
}

async fn host_job(h: &Remote, dir: &str, action: &Action) -> Result<HostJob, ActionError> {
    let d = sh_quote(dir);
    let out = h
        .run_ok(
            &format!(
                "if [ ! -d {d} ]; then echo absent; \
                 elif [ -f {d}/status ]; then echo finished $(cat {d}/status); \
                 elif [ -f {d}/pid ] && kill -0 $(cat {d}/pid) 2>/dev/null; then echo running $(cat {d}/pid); \
                 else echo died; fi"
            ),
            &RunOptions::new(PROBE).sudo(),
        )
        .await
        .map_err(remote_err(action))?;
    let text = out.stdout_str();
    let mut w = text.split_whitespace();
    Ok(match (w.next(), w.next()) {
        (Some("absent"), _) => HostJob::Absent,
        (Some("finished"), Some(s)) => HostJob::Finished {
            status: s.parse().unwrap_or(-1),
        },
        (Some("running"), Some(p)) => HostJob::Running {
            pid: p.parse().unwrap_or(0),
        },
        _ => HostJob::Died,
    })
}

/// Starts `script` detached, its pid, log and exit status in `dir`.
async fn start_detached(
    h: &Remote,
    dir: &str,
    script: &str,
    action: &Action,
) -> Result<(), ActionError> {
    let d = sh_quote(dir);
    // The wrapper writes the pid first and the status last (atomically), so
    // `host_job` never reads a half-written state.
    let wrapper = format!(
        "echo $$ > {d}/pid; sh {d}/script > {d}/log 2>&1; echo $? > {d}/status.tmp; mv {d}/status.tmp {d}/status"
    );
    let cmd = format!(
        "set -e; rm -rf {d}; mkdir -p {d}; chmod 700 {d}; cat > {d}/script; \
         if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then \
           systemd-run --quiet --collect --unit snf-upgrade-{unit} sh -c {w}; \
         else setsid sh -c {w} </dev/null >/dev/null 2>&1 & fi",
        unit = slug(dir.rsplit('/').next().unwrap_or("job")),
        w = sh_quote(&wrapper),
    );
    h.run_ok(
        &cmd,
        &RunOptions::new(PROBE)
            .sudo()
            .stdin(script.as_bytes().to_vec()),
    )
    .await
    .map_err(remote_err(action))?;
    Ok(())
}

async fn log_tail(h: &Remote, dir: &str, action: &Action) -> Result<String, ActionError> {
    let out = h
        .run(
            &format!("tail -c 65536 {}/log 2>/dev/null", sh_quote(dir)),
            &RunOptions::new(PROBE).sudo(),
        )
        .await
        .map_err(remote_err(action))?;
    Ok(crate::text::scrub(&out.stdout_str()))
}

/// Removes a policy-rc.d we left behind (a crash during an upgrade); an
/// operator's is kept. Returns whether one was removed.
async fn remove_stale_policy(h: &Remote, action: &Action) -> Result<bool, ActionError> {
    let out = h
        .run_ok(
            &format!(
                "if grep -qxF {m} {p} 2>/dev/null; then rm -f {p}; echo removed; fi",
                m = sh_quote(POLICY_MARK),
                p = POLICY_RC_D
            ),
            &RunOptions::new(PROBE).sudo(),
        )
        .await
        .map_err(remote_err(action))?;
    Ok(out.stdout_str().contains("removed"))
}

/// What `apt-get -s dist-upgrade` would do: packages to install or upgrade,
/// packages to remove.
async fn simulate(h: &Remote, action: &Action) -> Result<(Vec<String>, Vec<String>), ActionError> {
    let out = h
        .run_ok(
            "LC_ALL=C apt-get -s -o Debug::NoLocking=1 dist-upgrade",
            &RunOptions::new(Duration::from_secs(120)).sudo(),
        )
        .await
        .map_err(remote_err(action))?;
    let mut inst = Vec::new();
    let mut remv = Vec::new();
    for l in out.stdout_str().lines() {
        let mut w = l.split_whitespace();
        match (w.next(), w.next()) {
            (Some("Inst"), Some(p)) => inst.push(p.to_string()),
            (Some("Remv"), Some(p)) => remv.push(p.to_string()),
            _ => {}
        }
    }
    Ok((inst, remv))
}

/// Whether dpkg left work half done (the audit lists it).
async fn dpkg_pending(h: &Remote, action: &Action) -> Result<bool, ActionError> {
    let out = h
        .run("dpkg --audit", &RunOptions::new(PROBE).sudo())
        .await
        .map_err(remote_err(action))?;
    Ok(!out.stdout_str().trim().is_empty())
}

/// Free KiB on / and /var.
async fn free_kib(h: &Remote, action: &Action) -> Result<Vec<(String, u64)>, ActionError> {
    let out = h
        .run_ok("df -P -k / /var", &RunOptions::new(PROBE))
        .await
        .map_err(remote_err(action))?;
    Ok(out
        .stdout_str()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(5)?.to_string(), f.get(3)?.parse().ok()?))
        })
        .collect())
}

fn dist_upgrade_script(hold: &[String]) -> String {
    let holds = if hold.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = hold.iter().map(|p| sh_quote(p)).collect();
        format!("apt-mark hold {}\n", names.join(" "))
    };
    format!(
        "set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
printf '#!/bin/sh\\n%s\\nexit 101\\n' {mark} > {p}.tmp
chmod 755 {p}.tmp
mv {p}.tmp {p}
trap 'rm -f {p}' EXIT
dpkg --configure -a
apt-get -y {DPKG_OPTS} -f install
{holds}apt-get -y {DPKG_OPTS} dist-upgrade
",
        mark = sh_quote(POLICY_MARK),
        p = POLICY_RC_D,
    )
}

pub(super) async fn observe(
    step: &str,
    action: &Action,
    world: &World<'_>,
    _store: &dyn IntentStore,
) -> Result<Observed, ActionError> {
    match action {
        Action::AptUpdate { .. } => Ok(Observed::NotDone {
            evidence: Evidence::new(),
        }),
        Action::DistUpgrade { host, .. } => {
            let h = world.host(host, action)?;
            let dir = format!("{HOST_STATE}/{}", slug(step));
            let job = host_job(h, &dir, action).await?;
            if let HostJob::Running { pid } = job {
                return Ok(Observed::NotDone {
                    evidence: ev(&[("running_pid", json!(pid))]),
                });
            }
            let removed_policy = remove_stale_policy(h, action).await?;
            let pending = dpkg_pending(h, action).await?;
            let (inst, remv) = simulate(h, action).await?;
            let e = ev(&[
                ("to_install", json!(inst.len())),
                ("to_remove", json!(remv)),
                ("dpkg_pending", json!(pending)),
                ("stale_policy_rc_d_removed", json!(removed_policy)),
                ("host_job", json!(format!("{job:?}"))),
            ]);
            if inst.is_empty() && remv.is_empty() && !pending {
                Ok(Observed::Done { evidence: e })
            } else {
                Ok(Observed::NotDone { evidence: e })
            }
        }
        _ => unreachable!("not an APT action: {action:?}"),
    }
}

pub(super) async fn act_and_verify(
    step: &str,
    action: &Action,
    world: &World<'_>,
    store: &dyn IntentStore,
) -> Result<Evidence, ActionError> {
    let mut intent = store.load(step)?;
    intent.started = true;
    match action {
        Action::AptUpdate { host } => {
            let h = world.host(host, action)?;
            store.save(step, &intent)?;
            // Error-Mode=any: without it apt-get exits 0 when every download
            // failed.
            let out = h
                .run(
                    "LC_ALL=C apt-get -o APT::Update::Error-Mode=any -q update",
                    &RunOptions::new(Duration::from_secs(600)).sudo(),
                )
                .await
                .map_err(remote_err(action))?;
            let log = crate::text::scrub(&format!("{}{}", out.stdout_str(), out.stderr_str()));
            if out.success() {
                Ok(ev(&[("output", json!(crate::text::tail(&log, 16 * 1024)))]))
            } else {
                Err(ActionError::NotVerified {
                    action: action.describe(),
                    evidence: format!(
                        "apt-get update exit {}: {}",
                        out.status,
                        crate::text::tail(&log, 4096)
                    ),
                })
            }
        }
        Action::DistUpgrade {
            host,
            hold,
            protect,
            budget_s,
        } => {
            let h = world.host(host, action)?;
            let dir = format!("{HOST_STATE}/{}", slug(step));
            let job = host_job(h, &dir, action).await?;
            let attach = matches!(job, HostJob::Running { .. });
            if !attach {
                // Before anything changes: an operator's policy-rc.d, the
                // space, the simulation's removals.
                let other_policy = h
                    .run(
                        &format!(
                            "test -e {p} && ! grep -qxF {m} {p}",
                            p = POLICY_RC_D,
                            m = sh_quote(POLICY_MARK)
                        ),
                        &RunOptions::new(PROBE).sudo(),
                    )
                    .await
                    .map_err(remote_err(action))?;
                if other_policy.success() {
                    return Err(ActionError::Refused {
                        action: action.describe(),
                        reason: format!("{POLICY_RC_D} exists and is not snf-upgrade's; remove it or let the upgrade own it"),
                    });
                }
                for (mount, kib) in free_kib(h, action).await? {
                    if kib < MIN_FREE_KIB {
                        return Err(ActionError::Refused {
                            action: action.describe(),
                            reason: format!(
                                "{mount} has {} MiB free, a dist-upgrade needs at least {} MiB",
                                kib / 1024,
                                MIN_FREE_KIB / 1024
                            ),
                        });
                    }
                }
                let (inst, remv) = simulate(h, action).await?;
                let protected: Vec<&String> = remv.iter().filter(|p| protect.contains(p)).collect();
                intent
                    .before
                    .insert("simulated_installs".into(), inst.len().to_string());
                intent
                    .before
                    .insert("simulated_removals".into(), remv.join(" "));
                store.save(step, &intent)?;
                if !protected.is_empty() {
                    return Err(ActionError::Refused {
                        action: action.describe(),
                        reason: format!("the upgrade would remove protected packages {protected:?}; nothing was changed"),
                    });
                }
                start_detached(h, &dir, &dist_upgrade_script(hold), action).await?;
                intent.before.insert("host_job".into(), dir.clone());
                store.save(step, &intent)?;
            }
            let deadline = Instant::now() + Duration::from_secs(*budget_s);
            let status = loop {
                match host_job(h, &dir, action).await {
                    Ok(HostJob::Finished { status }) => break status,
                    Ok(HostJob::Died) => {
                        return Err(ActionError::NotVerified {
                            action: action.describe(),
                            evidence: format!(
                                "the upgrade on {host} stopped without an exit status (its host rebooted or crashed); run again: dpkg is recovered first"
                            ),
                        })
                    }
                    Ok(HostJob::Absent) => {
                        return Err(ActionError::NotVerified {
                            action: action.describe(),
                            evidence: format!("{dir} vanished on {host}"),
                        })
                    }
                    Ok(HostJob::Running { .. }) => {}
                    // A dropped connection does not stop the upgrade: look again.
                    Err(ActionError::Remote { source, .. }) if source.is_connection() => {}
                    Err(e) => return Err(e),
                }
                if Instant::now() > deadline {
                    return Err(ActionError::NotVerified {
                        action: action.describe(),
                        evidence: format!("still running after {budget_s} s (it keeps running; a new run re-attaches)"),
                    });
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            };
            let log = log_tail(h, &dir, action).await?;
            intent
                .result
                .insert("exit_status".into(), status.to_string());
            store.save(step, &intent)?;
            if status != 0 {
                return Err(ActionError::NotVerified {
                    action: action.describe(),
                    evidence: format!(
                        "dist-upgrade exit {status}: {}",
                        crate::text::tail(&log, 4096)
                    ),
                });
            }
            match observe(step, action, world, store).await? {
                Observed::Done { mut evidence } => {
                    evidence.insert("reattached".into(), json!(attach));
                    evidence.insert("log".into(), json!(crate::text::tail(&log, 16 * 1024)));
                    Ok(evidence)
                }
                other => Err(ActionError::NotVerified {
                    action: action.describe(),
                    evidence: format!("after the upgrade: {other:?}"),
                }),
            }
        }
        _ => unreachable!("not an APT action: {action:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upgrade_script_refuses_service_starts_and_keeps_conffiles() {
        let s = dist_upgrade_script(&["ganeti-3.0".into()]);
        assert!(s.contains("exit 101"));
        assert!(s.contains("trap 'rm -f /usr/sbin/policy-rc.d' EXIT"));
        assert!(s.contains("--force-confold") && s.contains("--force-confdef"));
        assert!(s.contains("DEBIAN_FRONTEND=noninteractive"));
        let configure = s.find("dpkg --configure -a").unwrap();
        let upgrade = s.find("dist-upgrade").unwrap();
        assert!(configure < upgrade, "recovery first");
        assert!(s.find("apt-mark hold ganeti-3.0").unwrap() < upgrade);
    }

    #[test]
    fn step_names_become_safe_folder_names() {
        assert_eq!(
            slug("node1.lab.test/dist-upgrade"),
            "node1_lab_test_dist-upgrade"
        );
    }
}
