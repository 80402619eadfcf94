//! `snf-upgrade action`: run one action by hand, as a plan's step would run
//! it: observe, re-attach or act (recording its intent in a state file
//! first), verify. Running it again after a crash resumes it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::actions::{Action, ActionError, FileStore, World};
use crate::inventory::Inventory;
use crate::remote::{default_control_path, ControlDir, Remote};
use crate::Status;

/// Run one action (JSON, as in a plan file) against a cluster of the
/// inventory. Prints the outcome as JSON: whether it was already done, the
/// Ganeti jobs submitted or re-attached to, the evidence before and after.
/// Exit status 0 done, 3 the action failed, 4 refused (the world is not as
/// the action expects), 2 bad input.
#[derive(Debug, Args)]
pub struct ActionArgs {
    /// The site inventory (site.toml).
    #[arg(long, short = 'i', value_name = "FILE")]
    pub inventory: PathBuf,
    /// The Ganeti cluster (default: the inventory's only one).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Where the intent is kept (job ids, what was changed); the same file
    /// on a second run lets it re-attach instead of acting twice.
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// The step's name in the state file.
    #[arg(long, default_value = "action")]
    pub step: String,
    /// The action, e.g. '{"kind": "drain", "node": "node3.lab.test"}'
    /// (docs/actions.md lists the kinds).
    pub action: String,
}

pub async fn run(args: ActionArgs) -> anyhow::Result<Status> {
    let action: Action = serde_json::from_str(&args.action)
        .with_context(|| format!("not an action: {}", args.action))?;
    let inv = Inventory::load(&args.inventory)?;
    let cluster = match &args.cluster {
        Some(name) => inv
            .cluster(name)
            .with_context(|| format!("no cluster {name} in {}", args.inventory.display()))?,
        None => match inv.clusters.as_slice() {
            [only] => only,
            _ => anyhow::bail!(
                "{} names {} clusters; choose one with --cluster",
                args.inventory.display(),
                inv.clusters.len()
            ),
        },
    };
    let rapi = super::rapi_client(cluster)?;
    let control_path = default_control_path();
    let control = Arc::new(ControlDir::open(&control_path).map_err(|e| {
        anyhow::anyhow!(
            "cannot use {} for SSH control sockets: {e}",
            control_path.display()
        )
    })?);
    let hosts: BTreeMap<String, Remote> = Remote::for_inventory(&inv, control)
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    let store = FileStore::new(&args.state);
    let world = World {
        rapi: &rapi,
        hosts: &hosts,
    };
    let result = crate::actions::run(&args.step, &action, &world, &store).await;
    let (status, doc) = match result {
        Ok(outcome) => (
            Status::Success,
            serde_json::json!({"action": action, "ok": true, "outcome": outcome}),
        ),
        Err(e) => {
            let status = match e {
                ActionError::Refused { .. } | ActionError::CannotTell { .. } => Status::Refused,
                _ => Status::StepFailed,
            };
            eprintln!("error: {e}");
            (
                status,
                serde_json::json!({
                    "action": action,
                    "ok": false,
                    "error": e.to_string(),
                    "failure_kind": e.failure_kind(),
                }),
            )
        }
    };
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(status)
}
