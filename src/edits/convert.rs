//! Every config rule of an upgrade on the files under a root folder (`/`, or
//! a copy of a host's root for review): `propose` finds the files and returns
//! the edits as a `Proposal` (diffs, changes, notes); `super::apply` writes
//! them with backups. The `convert` command (`cli::convert`) prints them.
//!
//! Every file is parsed and every edit validated before anything is written:
//! one error anywhere and nothing changes.

use std::path::{Path, PathBuf};

use super::apt::SuiteMap;
use super::settings::SettingsOptions;
use super::{apache, apt, gunicorn, settings, shown, EditError, Edited, Note, Proposal};

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
