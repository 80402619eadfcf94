//! `snf-upgrade convert`: every config rule of an upgrade on the files under a
//! root folder (`/`, or a copy of a host's root for review). `--diff` (the
//! default) prints unified diffs and changes nothing; `--write` applies them
//! with backups; `--json` lists each change.
//!
//! Every file is parsed and every edit validated before anything is written:
//! one error anywhere and nothing changes.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::apt::SuiteMap;
use super::settings::SettingsOptions;
use super::{apache, apt, gunicorn, settings, shown, EditError, Edited, Note, Proposal};
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

/// What a conversion needs besides the files.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    pub suites: SuiteMap,
    pub settings: SettingsOptions,
}

impl ConvertOptions {
    /// The options an upgrade between two Synnefo versions implies.
    pub fn for_versions(from: &str, to: &str) -> Result<Self, EditError> {
        let mut suites = SuiteMap::default();
        match (from, to) {
            ("0.18.1", "0.19") => suites.add("wheezy", "jessie"),
            _ => {
                return Err(EditError::Usage(format!(
                    "no conversion from Synnefo {from} to {to}; this tool knows 0.18.1 → 0.19"
                )))
            }
        }
        Ok(ConvertOptions {
            suites,
            settings: SettingsOptions::default(),
        })
    }
}

/// Every edit the rules want under `root`, or every error found.
pub fn propose(root: &Path, opts: &ConvertOptions) -> Result<Proposal, Vec<EditError>> {
    let mut proposal = Proposal::default();
    let mut errors = Vec::new();

    // gunicorn: every config but the package's *.example.
    for rel in files(root, "etc/gunicorn.d", |n| {
        !n.ends_with(".example") && !apache::is_leftover(n)
    }) {
        let s = shown(&rel);
        match super::read_text(&s, &root.join(&rel))
            .and_then(|t| gunicorn::convert(&s, &t).map(|e| (t, e)))
        {
            Ok((text, edited)) => add(root, &rel, &text, edited, &mut proposal),
            Err(e) => errors.push(e),
        }
    }

    // Synnefo settings: all *.conf together, in the order Synnefo reads them.
    let conf = files(root, "etc/synnefo", |n| {
        n.ends_with(".conf") && !n.starts_with('.')
    });
    let mut texts = Vec::new();
    for rel in &conf {
        match super::read_text(&shown(rel), &root.join(rel)) {
            Ok(t) => texts.push((shown(rel), t)),
            Err(e) => errors.push(e),
        }
    }
    if texts.len() == conf.len() {
        match settings::convert(&texts, &opts.settings) {
            Ok(results) => {
                for ((rel, (_, text)), edited) in conf.iter().zip(&texts).zip(results) {
                    add(root, rel, text, edited, &mut proposal);
                }
            }
            Err(e) => errors.push(e),
        }
    }

    match apache::plan(root) {
        Ok(p) => proposal.extend(p),
        Err(es) => errors.extend(es),
    }

    // APT sources.
    let mut sources: Vec<PathBuf> = Vec::new();
    if root.join("etc/apt/sources.list").is_file() {
        sources.push(PathBuf::from("etc/apt/sources.list"));
    }
    sources.extend(files(root, "etc/apt/sources.list.d", |n| {
        (n.ends_with(".list") || n.ends_with(".sources")) && !n.starts_with('.')
    }));
    for rel in sources {
        let s = shown(&rel);
        let deb822 = rel.extension().is_some_and(|e| e == "sources");
        let result = super::read_text(&s, &root.join(&rel)).and_then(|t| {
            let e = if deb822 {
                apt::convert_sources(&s, &t, &opts.suites)
            } else {
                apt::convert_list(&s, &t, &opts.suites)
            };
            e.map(|e| (t, e))
        });
        match result {
            Ok((text, edited)) => add(root, &rel, &text, edited, &mut proposal),
            Err(e) => errors.push(e),
        }
    }

    if errors.is_empty() {
        Ok(proposal)
    } else {
        Err(errors)
    }
}

/// Adds one file's result; a symlinked config is reported, not replaced by a
/// file.
fn add(root: &Path, rel: &Path, text: &str, edited: Edited, proposal: &mut Proposal) {
    let is_link =
        std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && edited.new != text {
        proposal.notes.push(Note {
            file: shown(rel),
            line: None,
            rule: edited.changes.first().map_or("convert", |c| c.0),
            id: None,
            message: "is a symlink and needs changes; convert the file it points to by hand".into(),
        });
        return;
    }
    edited.into_proposal(rel, text, proposal);
}

/// Regular files (or links to them) directly in `root/dir` whose name passes
/// `keep`, sorted by name; none when the folder is missing.
fn files(root: &Path, dir: &str, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| keep(n))
        .collect();
    names.sort();
    names.into_iter().map(|n| Path::new(dir).join(n)).collect()
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
            EditError::Usage(m) => JsonError {
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
    changes: &'a [super::Change],
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
        match super::apply(&args.root, &proposal) {
            Ok(dir) => backup = Some(dir),
            Err(e) => {
                if args.json {
                    report(std::slice::from_ref(&e), &proposal, false, None, out)?;
                } else {
                    writeln!(err, "error: {e}")?;
                }
                return Ok(Status::Error);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinked_configs_are_reported_not_replaced() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/gunicorn.d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            root.path().join("real"),
            "CONFIG = {'mode': 'django', 'working_dir': '/etc/synnefo', 'args': ()}\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(root.path().join("real"), dir.join("synnefo")).unwrap();
        let opts = ConvertOptions::for_versions("0.18.1", "0.19").unwrap();
        let p = propose(root.path(), &opts).unwrap();
        assert!(p.ops.is_empty());
        assert_eq!(p.notes.len(), 1);
        assert!(p.notes[0].message.contains("symlink"));
    }

    #[test]
    fn only_known_versions() {
        assert!(ConvertOptions::for_versions("0.18", "0.19").is_err());
        let o = ConvertOptions::for_versions("0.18.1", "0.19").unwrap();
        assert_eq!(o.suites.map("wheezy").as_deref(), Some("jessie"));
    }
}
