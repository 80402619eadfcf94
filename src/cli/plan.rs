//! `snf-upgrade plan`: read a cluster (htools file, or live through RAPI
//! from an inventory), plan, validate the plan, print it. Only reads.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use crate::ganeti::{htools, Snapshot};
use crate::planner::{Constraints, RollPlan};
use crate::Status;

/// RollPlan a rolling upgrade: groups of nodes and the live migrations that
/// empty each group first. Reads only; nothing changes on any cluster.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// RollPlan from a cluster file in htools text format (`hscan` output, the
    /// file `hroller -t` reads).
    #[arg(long, value_name = "FILE", required_unless_present = "inventory")]
    pub htools: Option<PathBuf>,
    /// RollPlan the live Ganeti clusters of this inventory (read through RAPI).
    #[arg(long, value_name = "FILE", conflicts_with = "htools")]
    pub inventory: Option<PathBuf>,
    /// With --inventory: only this cluster.
    #[arg(long, requires = "inventory")]
    pub cluster: Option<String>,
    /// At most K nodes of a cluster down at once (0: no cap).
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub max_parallel: usize,
    /// At most K nodes of one node group down at once (0: no cap beyond
    /// --max-parallel).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub max_parallel_per_group: usize,
    /// MiB of memory every node keeps free after every move.
    #[arg(long, value_name = "MIB", default_value_t = 0)]
    pub reserve_mem: u64,
    /// Accept downtime (instances shut down while their node is upgraded)
    /// where no live move exists; without it such a plan exits with 1.
    #[arg(long)]
    pub allow_offline: bool,
    /// Favour fewer migrations over fewer groups: a node waits for the
    /// nodes holding its DRBD secondaries instead of filling a group.
    #[arg(long)]
    pub fewer_migrations: bool,
    /// Nodes to upgrade (comma-separated or repeated); default: every
    /// online node.
    #[arg(long, value_delimiter = ',', value_name = "NODE")]
    pub nodes: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Same as --format json.
    #[arg(long)]
    pub json: bool,
    /// Also write the plan as JSON to FILE.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not plan: validate the plan in FILE (JSON as printed by `plan
    /// --format json`, e.g. translated from hroller) against the cluster
    /// and the constraints; print the findings.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
    /// With --inventory: also write each cluster as read, in htools text
    /// format, to DIR/CLUSTER.data.
    #[arg(long, value_name = "DIR")]
    pub save_htools: Option<PathBuf>,
}

/// Text for people, JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Runs `plan`.
pub async fn run(args: PlanArgs) -> anyhow::Result<Status> {
    let constraints = Constraints {
        max_parallel: args.max_parallel,
        max_parallel_per_group: args.max_parallel_per_group,
        reserve_mem: args.reserve_mem,
        allow_offline: args.allow_offline,
        prefer_fewer_migrations: args.fewer_migrations,
    };
    let json = args.json || args.format == Format::Json;
    let clusters: Vec<(String, Snapshot)> = match (&args.htools, &args.inventory) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let snap = htools::parse(&text, &file.display().to_string())?;
            vec![(file.display().to_string(), snap)]
        }
        (None, Some(inv)) => {
            read_inventory(inv, args.cluster.as_deref(), args.save_htools.as_deref()).await?
        }
        (None, None) => bail!("give --htools FILE or --inventory FILE"),
    };

    let mut status = Status::Success;
    let mut outputs = Vec::new();
    for (name, snap) in &clusters {
        let upgrade = upgrade_set(snap, &args.nodes)?;
        if let Some(plan_file) = &args.check {
            let text = std::fs::read_to_string(plan_file)
                .with_context(|| format!("cannot read {}", plan_file.display()))?;
            let plan = plan_to_check(&text, &plan_file.display().to_string(), name)?;
            let findings = plan.check(snap, &upgrade, &constraints);
            if !findings.is_empty() {
                status = Status::Findings;
            }
            outputs.push((
                name.clone(),
                serde_json::json!({
                    "violations": findings,
                    "groups": plan.groups.len(),
                    "migrations": plan.migrations,
                    "downtime": plan.groups.iter().map(|g| g.downtime.len()).sum::<usize>(),
                }),
                render_findings(name, &findings, &plan),
            ));
            continue;
        }
        let mut plan = crate::planner::plan(snap, &upgrade, &constraints);
        plan.cluster = name.clone();
        let findings = plan.check(snap, &upgrade, &constraints);
        if !findings.is_empty() {
            // A planner bug: never hand out a plan that breaks a rule.
            let list: Vec<String> = findings.iter().take(10).map(|f| f.to_string()).collect();
            bail!(
                "internal error: the plan for {name} breaks {} rule(s); not printing it. First: {}",
                findings.len(),
                list.join(" | ")
            );
        }
        if plan.has_downtime() && !constraints.allow_offline {
            status = Status::Findings;
        }
        let text = render_text(name, snap, &plan, &constraints);
        outputs.push((name.clone(), serde_json::to_value(&plan)?, text));
    }

    let json_doc = json_document(&outputs);
    if let Some(out) = &args.output {
        let text = serde_json::to_string_pretty(&json_doc)? + "\n";
        crate::fsutil::write_atomic(out, text.as_bytes(), None)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    match print(json, &json_doc, &outputs) {
        // `plan ... | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(status),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(status),
    }
}

fn print(
    json: bool,
    json_doc: &serde_json::Value,
    outputs: &[(String, serde_json::Value, String)],
) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(json_doc)?)?;
    } else {
        for (_, _, text) in outputs {
            write!(stdout, "{text}")?;
        }
    }
    stdout.flush()
}

/// The one JSON shape of `plan`, whatever the source: `{"clusters": [plan,
/// ...]}`, each plan naming its cluster (docs/planner.md).
fn json_document(outputs: &[(String, serde_json::Value, String)]) -> serde_json::Value {
    serde_json::json!({
        "clusters": outputs.iter().map(|(_, value, _)| value.clone()).collect::<Vec<_>>()
    })
}

/// The plan of `cluster` in a file given to `--check`: a document as `plan`
/// prints it (the plan naming that cluster, or its only plan), or one bare
/// plan (e.g. translated from hroller).
fn plan_to_check(text: &str, origin: &str, cluster: &str) -> anyhow::Result<RollPlan> {
    let value: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("{origin} is not JSON"))?;
    let Some(plans) = value.get("clusters").and_then(|c| c.as_array()) else {
        return Ok(RollPlan::from_json(text, origin)?);
    };
    let pick = plans
        .iter()
        .find(|p| p.get("cluster").and_then(|c| c.as_str()) == Some(cluster))
        .or(if plans.len() == 1 {
            plans.first()
        } else {
            None
        })
        .with_context(|| format!("{origin} has no plan for cluster {cluster}"))?;
    Ok(RollPlan::from_json(&pick.to_string(), origin)?)
}

/// The node indices to upgrade: the named ones, or every online node.
fn upgrade_set(snap: &Snapshot, names: &[String]) -> anyhow::Result<Vec<usize>> {
    if names.is_empty() {
        return Ok(crate::planner::default_upgrade_set(snap));
    }
    let index = snap.node_index();
    names
        .iter()
        .map(|n| {
            index
                .get(n.as_str())
                .copied()
                .with_context(|| format!("--nodes: {n} is not a node of the cluster"))
        })
        .collect()
}

/// Reads every (or one) cluster of the inventory through RAPI.
async fn read_inventory(
    path: &Path,
    only: Option<&str>,
    save: Option<&Path>,
) -> anyhow::Result<Vec<(String, Snapshot)>> {
    let inventory = crate::inventory::Inventory::load(path)?;
    let mut out = Vec::new();
    for cluster in &inventory.clusters {
        if only.is_some_and(|o| o != cluster.name) {
            continue;
        }
        let client = super::rapi_client(cluster)?;
        let snap = client
            .snapshot()
            .await
            .with_context(|| format!("reading cluster {} through RAPI", cluster.name))?;
        if let Some(dir) = save {
            std::fs::create_dir_all(dir)?;
            let file = dir.join(format!("{}.data", cluster.name));
            std::fs::write(&file, htools::write(&snap))
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        out.push((cluster.name.clone(), snap));
    }
    if out.is_empty() {
        bail!(
            "{}: no cluster{} to plan",
            path.display(),
            only.map(|o| format!(" named {o}")).unwrap_or_default()
        );
    }
    Ok(out)
}

fn render_findings(name: &str, findings: &[crate::planner::Violation], plan: &RollPlan) -> String {
    let mut s = format!(
        "{name}: plan of {} groups, {} migrations: {} violation(s)\n",
        plan.groups.len(),
        plan.migrations,
        findings.len()
    );
    for f in findings {
        s.push_str(&format!("  {f}\n"));
    }
    s
}

fn render_text(name: &str, snap: &Snapshot, plan: &RollPlan, c: &Constraints) -> String {
    let st = &plan.stats;
    let nodes: usize = plan.groups.iter().map(|g| g.nodes.len()).sum();
    let mut s = format!(
        "{name}: {nodes} nodes in {} groups (at most {} at once), {} migrations\n",
        plan.groups.len(),
        if c.max_parallel == 0 {
            "any number".to_string()
        } else {
            c.max_parallel.to_string()
        },
        plan.migrations
    );
    s.push_str(&format!(
        "  DRBD: {} migrations for {} instances (lower bound {}); externally mirrored: {} migrations for {} instances; {} to make room\n",
        st.drbd_migrations,
        st.drbd_instances,
        st.drbd_lower_bound,
        st.external_migrations,
        st.external_instances_moved,
        st.room_migrations
    ));
    if st.downtime_instances > 0 {
        s.push_str(&format!(
            "  DOWNTIME: {} instance(s) must be shut down while their node is upgraded{}\n",
            st.downtime_instances,
            if c.allow_offline {
                " (accepted: --allow-offline)"
            } else {
                "; rerun with --allow-offline to accept this offline plan"
            }
        ));
    }
    let _ = snap;
    for (i, g) in plan.groups.iter().enumerate() {
        s.push_str(&format!("group {}: {}\n", i + 1, g.nodes.join(", ")));
        if let Some(f) = &g.master_failover {
            s.push_str(&format!(
                "  master failover {} -> {}{}\n",
                f.from,
                f.to,
                if f.promote {
                    " (promote to master candidate first)"
                } else {
                    ""
                }
            ));
        }
        for m in &g.moves {
            s.push_str(&format!(
                "  migrate {} {} -> {}\n",
                m.instance, m.from, m.to
            ));
        }
        for d in &g.downtime {
            s.push_str(&format!("  downtime {d}\n"));
        }
    }
    if !plan.infeasible.is_empty() {
        s.push_str("not possible without downtime:\n");
        for f in &plan.infeasible {
            s.push_str(&format!("  {}: {}\n", f.node, f.reason));
        }
    }
    s
}
