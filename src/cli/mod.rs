//! The command layer: clap definitions, and per subcommand the glue that opens
//! the inventory, builds the clients, calls the library, prints and decides
//! the exit status. The one place with a runtime: `run` makes it, every
//! subcommand below is an `async fn` on it, and the library is either async
//! (remote, ganeti's RAPI client, facts) or plainly synchronous (planner,
//! edits, inventory), never a runtime of its own. docs/architecture.md has
//! the layers.

mod action;
mod convert;
mod facts;
mod inventory;
mod plan;

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};

use crate::ganeti::{RapiClient, RapiConfig};
use crate::Status;

/// The EXIT STATUS section of `--help` and the man page (`Status`).
const EXIT_STATUS: &str = "Exit status:
  0    success, or nothing to do
  1    findings the operator must look at (a check failed, a host
       unreachable, changes shown but not written)
  2    bad input or an error before anything changed
  3    a step failed (apply): the site is where `status` says
  4    refused: preconditions not met or the plan is stale; nothing changed
  5    the cluster's lock is held by another run
  130  interrupted (Ctrl-C); in-flight steps finished, the journal is consistent";

/// Rolling, resumable upgrades of Synnefo sites and Ganeti clusters.
///
/// Typical use: `check` whether the upgrade is feasible, `plan` it, review the
/// plan, then `apply` it. `check` and `plan` only read; nothing changes on any
/// host before `apply`.
#[derive(Debug, Parser)]
#[command(
    name = "snf-upgrade",
    version = env!("SNF_UPGRADE_VERSION"),
    propagate_version = true,
    after_long_help = EXIT_STATUS
)]
pub struct Cli {
    /// More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script for SHELL to stdout.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Validate, import (from Ansible) or extend (from RAPI) a site inventory.
    Inventory(inventory::InventoryArgs),
    /// Show (or, with --write, apply) the config edits of the upgrade under a
    /// root folder: gunicorn, Synnefo settings, Apache sites, APT sources.
    ///
    /// Diffs go to stdout, the list of changes and notes to stderr. Exit
    /// status: 0 nothing to change or all written; 1 changes shown but not
    /// written, or notes a human must act on; 2 an error (file, line and
    /// column named), nothing written. See docs/edits.md.
    Convert(convert::ConvertArgs),
    /// Read what every host runs now: OS, APT sources, packages, holds, dpkg
    /// state, services, disk. Read-only; one SSH round trip per host.
    Facts(facts::FactsArgs),
    /// Plan the rolling upgrade of Ganeti nodes: groups that go down
    /// together and the live migrations that empty them (reads only).
    Plan(plan::PlanArgs),
    /// Run one action (drain, migrate, ...) by hand, as a plan's step runs
    /// it: observe, act, verify; again after a crash, it resumes.
    Action(action::ActionArgs),
    /// Write the man pages (one per subcommand) into DIR.
    Man {
        /// Folder to write `snf-upgrade*.1` into; created if missing.
        #[arg(long, default_value = "man")]
        out: PathBuf,
    },
}

/// Sets up tracing on stderr: warnings by default, more with `-v`.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "snf_upgrade=debug,info",
        (false, _) => "snf_upgrade=trace,debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs one parsed command line on the process's one runtime. A single
/// thread is enough: the work is waiting on SSH and RAPI.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> anyhow::Result<Status> {
    match cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "snf-upgrade", &mut std::io::stdout());
            Ok(Status::Success)
        }
        Command::Inventory(args) => inventory::run(args).await,
        Command::Convert(args) => convert::run(
            &args,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
        Command::Facts(args) => facts::run(args).await,
        Command::Plan(args) => plan::run(args).await,
        Command::Action(args) => action::run(args).await,
        Command::Man { out } => {
            write_man_pages(&out)?;
            Ok(Status::Success)
        }
    }
}

/// The RAPI configuration of one inventory cluster: its URL, the CA or pinned
/// certificate, the address to connect to, the credentials from their file or
/// variable (never shown).
pub fn rapi_config(c: &crate::inventory::Cluster) -> anyhow::Result<RapiConfig> {
    let mut cfg = RapiConfig::new(c.rapi_url.clone());
    cfg.ca_pem = Some(c.rapi_ca.clone());
    cfg.connect_address = match &c.rapi_address {
        Some(a) => Some(a.parse::<IpAddr>().map_err(|_| {
            anyhow::anyhow!(
                "cluster {}: rapi_address `{a}` is not an IP address",
                c.name
            )
        })?),
        None => None,
    };
    let creds = match &c.credentials {
        crate::inventory::Credentials::File(p) => crate::ganeti::Credentials::from_file(p),
        crate::inventory::Credentials::Env(v) => crate::ganeti::Credentials::from_env(v),
    };
    cfg.credentials = Some(creds.with_context(|| format!("cluster {}", c.name))?);
    Ok(cfg)
}

/// The RAPI client of one inventory cluster.
pub fn rapi_client(c: &crate::inventory::Cluster) -> anyhow::Result<RapiClient> {
    RapiClient::new(&rapi_config(c)?).with_context(|| format!("cluster {}", c.name))
}

fn write_man_pages(out: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    clap_mangen::generate_to(Cli::command(), out)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "man pages written to {}", out.display())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rapi_config_comes_from_the_cluster_table() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ca.pem"), "").unwrap();
        std::fs::write(d.path().join("creds"), "u:p\n").unwrap();
        let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
        std::fs::set_permissions(d.path().join("creds"), private).unwrap();
        let p = d.path().join("site.toml");
        std::fs::write(
            &p,
            "version = 1\n\n[[clusters]]\nname = \"c1\"\n\
             rapi_url = \"https://c1.lab.test:5080\"\nrapi_ca = \"ca.pem\"\n\
             rapi_address = \"198.51.100.10\"\nrapi_credentials_file = \"creds\"\n",
        )
        .unwrap();
        let inv = crate::inventory::Inventory::load(&p).unwrap();
        let cfg = rapi_config(&inv.clusters[0]).unwrap();
        assert_eq!(cfg.url, "https://c1.lab.test:5080");
        assert_eq!(
            cfg.ca_pem.as_deref(),
            Some(d.path().join("ca.pem").as_path())
        );
        assert_eq!(cfg.connect_address, Some("198.51.100.10".parse().unwrap()));
        // The password is never in a debug print.
        assert!(!format!("{cfg:?}").contains("\"p\""));
        assert_eq!(cfg.credentials.unwrap().user(), "u");
    }

    #[test]
    fn exit_statuses_are_documented_in_the_help() {
        let help = Cli::command().render_long_help().to_string();
        for code in [0, 1, 2, 3, 4, 5, 130] {
            let status = Status::from_code(code).expect("a documented status");
            assert_eq!(status.code(), code);
            assert!(
                help.contains(&format!("\n  {code} ")),
                "{code} missing from --help"
            );
        }
    }

    #[test]
    fn man_pages_cover_every_subcommand() {
        let dir = std::env::temp_dir().join(format!("snf-man-{}", std::process::id()));
        write_man_pages(&dir).unwrap();
        let page = std::fs::read_to_string(dir.join("snf-upgrade.1")).unwrap();
        assert!(page.contains("completions"));
        assert!(dir.join("snf-upgrade-completions.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
