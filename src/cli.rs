//! The command line: clap definitions and the dispatch to each module. Every
//! subcommand's arguments live next to the module that does the work; this
//! file only wires them together and decides the exit status.

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::Status;

/// Rolling, resumable upgrades of Synnefo sites and Ganeti clusters.
///
/// Typical use: `check` whether the upgrade is feasible, `plan` it, review the
/// plan, then `apply` it. `check` and `plan` only read; nothing changes on any
/// host before `apply`.
#[derive(Debug, Parser)]
#[command(name = "snf-upgrade", version = env!("SNF_UPGRADE_VERSION"), propagate_version = true)]
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
    Inventory(crate::inventory::InventoryArgs),
    /// Show (or, with --write, apply) the config edits of the upgrade under a
    /// root folder: gunicorn, Synnefo settings, Apache sites, APT sources.
    ///
    /// Diffs go to stdout, the list of changes and notes to stderr. Exit
    /// status: 0 nothing to change or all written; 1 changes shown but not
    /// written, or notes a human must act on; 2 an error (file, line and
    /// column named), nothing written. See docs/edits.md.
    Convert(crate::edits::convert::ConvertArgs),
    /// Read what every host runs now: OS, APT sources, packages, holds, dpkg
    /// state, services, disk. Read-only; one SSH round trip per host.
    Facts(crate::facts::FactsArgs),
    /// Plan the rolling upgrade of Ganeti nodes: groups that go down
    /// together and the live migrations that empty them (reads only).
    Plan(crate::planner::PlanArgs),
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

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    match cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "snf-upgrade", &mut std::io::stdout());
            Ok(Status::Success)
        }
        Command::Inventory(args) => crate::inventory::run(args),
        Command::Convert(args) => crate::edits::convert::run(
            &args,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
        Command::Facts(args) => crate::facts::run(args),
        Command::Plan(args) => crate::planner::run(args),
        Command::Man { out } => {
            write_man_pages(&out)?;
            Ok(Status::Success)
        }
    }
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
    fn man_pages_cover_every_subcommand() {
        let dir = std::env::temp_dir().join(format!("snf-man-{}", std::process::id()));
        write_man_pages(&dir).unwrap();
        let page = std::fs::read_to_string(dir.join("snf-upgrade.1")).unwrap();
        assert!(page.contains("completions"));
        assert!(dir.join("snf-upgrade-completions.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
