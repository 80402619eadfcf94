//! `snf-upgrade convert`: the config edits of an upgrade under a root folder,
//! shown as diffs (the default), applied with `--write`, or listed as JSON.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::edits::apt::SuiteMap;
use crate::edits::convert::{propose, ConvertOptions};
use crate::edits::{EditError, Note, Proposal};
use crate::Status;

/// Shows or applies the config edits an upgrade needs.
///
/// Exit status: 0 nothing to change (or written successfully); 1 changes shown
/// but not written, or notes a human must act on; 2 an error (file, line and
/// column named; nothing written).
#[derive(Debug, Clone, clap::Args)]
pub struct ConvertArgs {
    /// Root of the host's file system: `/`, or a copy of it.
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// The Synnefo version the files are at.
    #[arg(long, default_value = "0.18.1")]
    pub from: String,
    /// The Synnefo version to convert them for.
    #[arg(long, default_value = "0.19")]
    pub to: String,
    /// Print unified diffs and change nothing (the default).
    #[arg(long, conflicts_with = "write")]
    pub diff: bool,
    /// Apply the edits, atomically per file, after backing every touched file
    /// up under ROOT/var/backups/snf-upgrade/<UTC time>/.
    #[arg(long)]
    pub write: bool,
    /// Print one JSON object (changes, notes, errors, diff) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also move APT sources from release OLD to NEW (repeatable), e.g.
    /// `--suite bookworm=trixie`. 0.18.1 → 0.19 implies wheezy=jessie.
    #[arg(long = "suite", value_name = "OLD=NEW", value_parser = SuiteMap::parse_pair)]
    pub suites: Vec<(String, String)>,
    /// ALLOWED_HOSTS for Django, comma-separated (default: 0.19's `*`, written
    /// where the setting is missing).
    #[arg(long, value_delimiter = ',', value_name = "HOST,...")]
    pub allowed_hosts: Option<Vec<String>>,
}

#[derive(Serialize)]
struct JsonError {
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl From<&EditError> for JsonError {
    fn from(e: &EditError) -> Self {
        match e {
            EditError::Parse {
                file,
                line,
                column,
                message,
            } => JsonError {
                file: Some(file.clone()),
                line: Some(*line),
                column: Some(*column),
                message: message.clone(),
            },
            EditError::Io { file, source } => JsonError {
                file: Some(file.clone()),
                line: None,
                column: None,
                message: source.to_string(),
            },
            EditError::Usage(m) | EditError::Locked(m) | EditError::RolledBack(m) => JsonError {
                file: None,
                line: None,
                column: None,
                message: m.clone(),
            },
        }
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    root: String,
    from: &'a str,
    to: &'a str,
    written: bool,
    backup_dir: Option<String>,
    changes: &'a [crate::edits::Change],
    notes: &'a [Note],
    errors: Vec<JsonError>,
    diff: String,
}

/// Runs `convert` and prints its outcome; the status is the exit code.
pub fn run(
    args: &ConvertArgs,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> anyhow::Result<Status> {
    let report = |errors: &[EditError],
                  p: &Proposal,
                  written: bool,
                  backup: Option<&Path>,
                  out: &mut dyn std::io::Write| {
        let r = JsonReport {
            root: args.root.display().to_string(),
            from: &args.from,
            to: &args.to,
            written,
            backup_dir: backup.map(|b| b.display().to_string()),
            changes: &p.changes,
            notes: &p.notes,
            errors: errors.iter().map(JsonError::from).collect(),
            diff: p.diff(),
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
        anyhow::Ok(())
    };
    let empty = Proposal::default();
    let mut opts = match ConvertOptions::for_versions(&args.from, &args.to) {
        Ok(o) => o,
        Err(e) => {
            if args.json {
                report(std::slice::from_ref(&e), &empty, false, None, out)?;
            } else {
                writeln!(err, "error: {e}")?;
            }
            return Ok(Status::Error);
        }
    };
    for (old, new) in &args.suites {
        opts.suites.add(old, new);
    }
    opts.settings.allowed_hosts = args.allowed_hosts.clone();
    if !args.root.is_dir() {
        let e = EditError::Usage(format!("--root {}: not a folder", args.root.display()));
        if args.json {
            report(std::slice::from_ref(&e), &empty, false, None, out)?;
        } else {
            writeln!(err, "error: {e}")?;
        }
        return Ok(Status::Error);
    }
    let proposal = match propose(&args.root, &opts) {
        Ok(p) => p,
        Err(errors) => {
            if args.json {
                report(&errors, &empty, false, None, out)?;
            } else {
                for e in &errors {
                    writeln!(err, "error: {e}")?;
                }
                writeln!(
                    err,
                    "nothing was changed; fix the files named above and run again"
                )?;
            }
            return Ok(Status::Error);
        }
    };
    let mut backup = None;
    if args.write && !proposal.is_empty() {
        match crate::edits::apply(&args.root, &proposal) {
            Ok(dir) => backup = Some(dir),
            Err(e) => {
                if args.json {
                    report(std::slice::from_ref(&e), &proposal, false, None, out)?;
                } else {
                    writeln!(err, "error: {e}")?;
                }
                return Ok(match e {
                    EditError::Locked(_) => Status::LockHeld,
                    _ => Status::Error,
                });
            }
        }
    }
    if args.json {
        report(&[], &proposal, backup.is_some(), backup.as_deref(), out)?;
    } else {
        if !args.write {
            write!(out, "{}", proposal.diff())?;
        }
        for c in &proposal.changes {
            writeln!(err, "change: {c}")?;
        }
        for n in &proposal.notes {
            writeln!(err, "note: {n}")?;
        }
        match (&backup, proposal.is_empty()) {
            (_, true) => writeln!(err, "nothing to change")?,
            (Some(dir), false) => {
                writeln!(err, "written; originals backed up in {}", dir.display())?
            }
            (None, false) => writeln!(
                err,
                "{} change(s) shown, nothing written (use --write to apply)",
                proposal.changes.len()
            )?,
        }
    }
    let status = if !proposal.notes.is_empty() || (!proposal.is_empty() && !args.write) {
        Status::Findings
    } else {
        Status::Success
    };
    Ok(status)
}
