//! `snf-upgrade facts`: read every host's facts and print them.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::facts::{gather_all, HostFacts};
use crate::inventory::Inventory;
use crate::remote::{default_control_path, ControlDir, Remote};
use crate::Status;

/// Read what every host runs now (one SSH round trip per host). Exit status
/// 1 when a host could not be read, 0 otherwise.
#[derive(Debug, Args)]
pub struct FactsArgs {
    /// The site inventory (site.toml).
    #[arg(long, short = 'i', value_name = "FILE")]
    pub inventory: PathBuf,
    /// Print JSON: {"inventory", "hosts": [{"host", "reachable", "error":
    /// {kind, message}?, "os", "kernel", "boot_id", "apt_sources",
    /// "packages", "held", "dpkg", "services", "disk"}]}.
    #[arg(long)]
    pub json: bool,
    /// Only these hosts (names as in the inventory; comma-separated or
    /// repeated).
    #[arg(long, value_delimiter = ',', value_name = "HOST")]
    pub hosts: Vec<String>,
    /// How many hosts are read at once.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Seconds one host may take.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// Runs `snf-upgrade facts`.
pub async fn run(args: FactsArgs) -> anyhow::Result<Status> {
    let inv = Inventory::load(&args.inventory)?;
    let control_path = default_control_path();
    // The control folder is private (0700): the package-list snapshots
    // live there too.
    let cache = Some(control_path.join("facts-cache"));
    let control = Arc::new(ControlDir::open(&control_path).map_err(|e| {
        anyhow::anyhow!(
            "cannot use {} for SSH control sockets: {e}",
            control_path.display()
        )
    })?);
    let mut remotes = Remote::for_inventory(&inv, control);
    if !args.hosts.is_empty() {
        for h in &args.hosts {
            if inv.host(h).is_none() {
                anyhow::bail!(
                    "host `{h}` is not in {}; names are as in its [[hosts]] tables",
                    args.inventory.display()
                );
            }
        }
        remotes.retain(|r| args.hosts.contains(&r.name));
    }
    let started = std::time::Instant::now();
    let hosts = gather_all(
        remotes,
        args.concurrency,
        Duration::from_secs(args.timeout),
        cache,
    )
    .await;
    tracing::info!(
        hosts = hosts.len(),
        "facts read in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({ "inventory": inv.path, "hosts": hosts });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        for h in &hosts {
            write_text(&mut out, h)?;
        }
    }
    let failed = hosts.iter().filter(|h| h.error.is_some()).count();
    if failed > 0 {
        eprintln!(
            "{failed} of {} host(s) could not be read; see their errors above",
            hosts.len()
        );
        Ok(Status::Findings)
    } else {
        Ok(Status::Success)
    }
}

fn gib(kib: u64) -> String {
    format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0))
}

fn write_text(out: &mut impl Write, h: &HostFacts) -> std::io::Result<()> {
    let Some(f) = &h.facts else {
        let e = h.error.as_ref().map(|e| e.message.as_str()).unwrap_or("?");
        let what = if h.reachable { "FAILED" } else { "UNREACHABLE" };
        return writeln!(out, "{}: {what}: {e}", h.host);
    };
    writeln!(
        out,
        "{}: {} {} ({}), kernel {}",
        h.host,
        f.os.id,
        f.os.version_id.as_deref().unwrap_or("?"),
        f.os.codename.as_deref().unwrap_or("no codename"),
        f.kernel.as_deref().unwrap_or("?")
    )?;
    let src = |enabled: bool| {
        f.apt_sources
            .iter()
            .filter(|s| s.enabled == enabled)
            .map(|s| {
                format!(
                    "{} ({}:{})",
                    s.suites.join(" "),
                    s.file.rsplit('/').next().unwrap_or(&s.file),
                    s.line
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "  apt:      {}", src(true))?;
    let disabled = src(false);
    if !disabled.is_empty() {
        writeln!(out, "  disabled: {disabled}")?;
    }
    let pk: Vec<String> = f
        .packages
        .iter()
        .map(|(n, p)| {
            let mut s = format!("{n} {}", p.version);
            if p.state != "installed" {
                s.push_str(&format!(" [{}]", p.state));
            }
            s
        })
        .collect();
    writeln!(out, "  packages: {}", pk.join(", "))?;
    if !f.held.is_empty() {
        writeln!(out, "  held:     {}", f.held.join(", "))?;
    }
    if f.dpkg.is_clean() {
        writeln!(out, "  dpkg:     clean")?;
    } else {
        let pending: Vec<String> = f
            .dpkg
            .pending
            .iter()
            .map(|(p, s)| format!("{p} ({s})"))
            .collect();
        writeln!(
            out,
            "  dpkg:     NOT CLEAN{}{}",
            if f.dpkg.interrupted {
                ": interrupted (dpkg --configure -a needed)"
            } else {
                ""
            },
            if pending.is_empty() {
                String::new()
            } else {
                format!("; pending: {}", pending.join(", "))
            }
        )?;
    }
    let services: Vec<&str> = f.services.iter().map(|s| s.name.as_str()).collect();
    writeln!(out, "  services: {}", services.join(", "))?;
    let disk: Vec<String> = f
        .disk
        .iter()
        .map(|d| format!("{} {} free", d.path, gib(d.avail_kib)))
        .collect();
    writeln!(out, "  disk:     {}", disk.join(", "))
}
