//! `snf-upgrade inventory ...`: check, import-ansible, discover (the RAPI
//! calls of discovery are made here; `inventory::discover` only compares).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::inventory::discover::{self as d, DiscoverError, ReportedNode};
use crate::inventory::{import_ansible, Inventory, InventoryError, RoleMap};
use crate::Status;

/// Validate, import or extend a site inventory (site.toml).
#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(subcommand)]
    pub command: InventoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Validate an inventory; every problem is listed with file, line and
    /// field. Exit status 0 when valid, 2 otherwise. Reads no network.
    Check {
        /// The inventory file (site.toml).
        file: PathBuf,
        /// Print the result as JSON: {"file", "valid", "problems": [{file,
        /// line, column, field, message}], "hosts", "clusters"}.
        #[arg(long)]
        json: bool,
    },
    /// Convert an Ansible inventory (INI or YAML) into a site.toml. Groups
    /// become roles only through --map; hosts' ansible_host, ansible_port,
    /// ansible_user, ansible_ssh_private_key_file and a ProxyJump in
    /// ansible_ssh_common_args become host fields.
    ImportAnsible {
        /// The Ansible inventory file.
        file: PathBuf,
        /// GROUP=ROLE: hosts of GROUP (and its children) get ROLE
        /// (ganeti-node, astakos, cyclades, pithos, db, mq, web, admin,
        /// stats, cms, vnc). Repeat for more groups.
        #[arg(long = "map", value_name = "GROUP=ROLE")]
        map: Vec<String>,
        /// GROUP=CLUSTER: hosts of GROUP belong to Ganeti cluster CLUSTER (a
        /// [[clusters]] table is written for it to fill in).
        #[arg(long = "cluster", value_name = "GROUP=CLUSTER")]
        cluster: Vec<String>,
        /// Write here instead of stdout; an existing file is not overwritten.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Ask each cluster's RAPI for its nodes and show the ones the inventory
    /// does not list; with --write, append them (as ganeti-node hosts) to
    /// the inventory. Exit status 1 when new nodes were shown but not
    /// written.
    Discover {
        /// The inventory (site.toml) whose [[clusters]] are asked.
        #[arg(long, short = 'i', value_name = "FILE")]
        inventory: PathBuf,
        /// Only this cluster.
        #[arg(long)]
        cluster: Option<String>,
        /// Append the new nodes to the inventory (existing text is kept as
        /// is; the result is validated before it replaces the file).
        #[arg(long)]
        write: bool,
        /// Print JSON: {"nodes": [{cluster, node, address, status: new |
        /// listed | mismatch, offline, drained}], "stale": [[cluster,
        /// host]], "written": bool}.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `inventory` subcommand.
pub async fn run(args: InventoryArgs) -> anyhow::Result<Status> {
    match args.command {
        InventoryCommand::Discover {
            inventory,
            cluster,
            write,
            json,
        } => discover(&inventory, cluster.as_deref(), write, json).await,
        InventoryCommand::Check { file, json } => check(&file, json),
        InventoryCommand::ImportAnsible {
            file,
            map,
            cluster,
            output,
        } => {
            let mut m = RoleMap::default();
            for s in &map {
                m.add_role(s)?;
            }
            for s in &cluster {
                m.add_cluster(s)?;
            }
            let imported = import_ansible(&file, &m)?;
            for w in &imported.warnings {
                tracing::warn!("{w}");
            }
            match output {
                Some(out) => {
                    // create_new: never clobber an inventory someone edited.
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&out)
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "cannot create {}: {e}; choose another path or remove it first",
                                out.display()
                            )
                        })?;
                    f.write_all(imported.toml.as_bytes())?;
                    eprintln!(
                        "wrote {}; {} warning(s); check it with `snf-upgrade inventory check {}`",
                        out.display(),
                        imported.warnings.len(),
                        out.display()
                    );
                }
                None => std::io::stdout().write_all(imported.toml.as_bytes())?,
            }
            Ok(Status::Success)
        }
    }
}

fn check(file: &std::path::Path, json: bool) -> anyhow::Result<Status> {
    let result = Inventory::load(file);
    let mut out = std::io::stdout().lock();
    match (&result, json) {
        (Err(InventoryError::Read { .. }), _) => Err(result.unwrap_err().into()),
        (Ok(inv), false) => {
            writeln!(
                out,
                "{}: valid ({} hosts, {} clusters)",
                file.display(),
                inv.hosts.len(),
                inv.clusters.len()
            )?;
            Ok(Status::Success)
        }
        (Err(e), false) => {
            writeln!(out, "{e}")?;
            Ok(Status::Error)
        }
        (result, true) => {
            let (problems, hosts, clusters) = match result {
                Ok(inv) => (&[][..], inv.hosts.len(), inv.clusters.len()),
                Err(e) => (e.problems(), 0, 0),
            };
            let v = serde_json::json!({
                "file": file,
                "valid": problems.is_empty(),
                "problems": problems,
                "hosts": hosts,
                "clusters": clusters,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            Ok(if problems.is_empty() {
                Status::Success
            } else {
                Status::Error
            })
        }
    }
}

/// Asks every cluster of the inventory (or the one named) for its nodes and
/// compares them with the inventory.
async fn ask_clusters(inv: &Inventory, only: Option<&str>) -> anyhow::Result<d::Discovery> {
    if let Some(name) = only {
        if inv.cluster(name).is_none() {
            return Err(DiscoverError::UnknownCluster(name.to_string()).into());
        }
    }
    let mut found = Vec::new();
    let mut stale_hosts = Vec::new();
    for c in inv
        .clusters
        .iter()
        .filter(|c| only.is_none_or(|o| o == c.name))
    {
        let client = super::rapi_client(c)?;
        let nodes: Vec<ReportedNode> = client
            .nodes()
            .await
            .with_context(|| format!("cluster {}", c.name))?
            .into_iter()
            .map(|n| ReportedNode {
                name: n.name,
                address: n.pip,
                offline: n.offline,
                drained: n.drained,
            })
            .collect();
        tracing::info!(cluster = %c.name, nodes = nodes.len(), "RAPI listed the nodes");
        found.extend(d::compare(inv, &c.name, &nodes));
        stale_hosts.extend(
            d::stale(inv, &c.name, &nodes)
                .into_iter()
                .map(|h| (c.name.clone(), h)),
        );
    }
    Ok((found, stale_hosts))
}

async fn discover(
    path: &std::path::Path,
    cluster: Option<&str>,
    write: bool,
    json: bool,
) -> anyhow::Result<Status> {
    let inv = Inventory::load(path)?;
    let (found, stale) = ask_clusters(&inv, cluster).await?;
    let tables = d::render(&found);
    let new = found.iter().filter(|f| f.status == "new").count();
    let written = write && new > 0;
    if written {
        d::append(path, &tables)?;
    }
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({ "nodes": found, "stale": stale, "written": written });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        for f in &found {
            writeln!(
                out,
                "{:<9} {} ({}){}",
                f.status,
                f.node,
                f.cluster,
                if f.offline { " offline" } else { "" }
            )?;
        }
        for (c, h) in &stale {
            writeln!(
                out,
                "stale     {h} ({c}): listed as a node, RAPI does not know it"
            )?;
        }
        if new == 0 {
            writeln!(out, "no new nodes")?;
        } else if written {
            writeln!(out, "added {new} node(s) to {}", path.display())?;
        } else {
            write!(out, "{tables}")?;
            writeln!(
                out,
                "\n{new} new node(s) shown above; run again with --write to add them to {}",
                path.display()
            )?;
        }
    }
    for f in found.iter().filter(|f| f.status == "mismatch") {
        tracing::warn!(
            "{} is a node of {} but the inventory lists it without that role or cluster; left as is",
            f.node,
            f.cluster
        );
    }
    Ok(if new > 0 && !written {
        Status::Findings
    } else {
        Status::Success
    })
}
