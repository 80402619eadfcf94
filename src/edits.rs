//! Lossless config editors for the 0.18.1 → 0.19 upgrade: Python settings
//! (`/etc/gunicorn.d/*`, `/etc/synnefo/*.conf`), Apache sites and APT sources.
//!
//! What this module owns: reading those files as text, deciding which rules
//! apply, producing the new text as splices into the old one (so every byte an
//! editor does not change round-trips unchanged), validating the result, and
//! writing it atomically with a backup.
//!
//! What it must never do: guess. A value it cannot evaluate, a customised
//! setting it has no rule for, or a file it cannot parse becomes a [`Note`] or
//! an [`EditError`] naming the file, line and column, and nothing is written.
//! It never talks to a host: callers hand it a root folder (`/` or a copy).

// Explicit paths so fuzz/ can compile these files alone (see fuzz/src/lib.rs):
// they resolve from this file's folder wherever the module is mounted.
#[path = "edits/apache.rs"]
pub mod apache;
#[path = "edits/apt.rs"]
pub mod apt;
#[path = "edits/convert.rs"]
pub mod convert;
#[path = "edits/gunicorn.rs"]
pub mod gunicorn;
#[path = "edits/python.rs"]
pub mod python;
#[path = "edits/redact.rs"]
pub mod redact;
#[path = "edits/settings.rs"]
pub mod settings;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// An error that stops a conversion before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// A file that cannot be parsed (or a value that cannot be understood):
    /// the file is named relative to the root, with a 1-based line and column.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Reading or writing failed.
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The caller asked for something this tool does not know.
    #[error("{0}")]
    Usage(String),
    /// Another run holds the root's lock; nothing was changed.
    #[error("{0}")]
    Locked(String),
    /// A write failed part-way; what was replaced was restored (the message
    /// says what, and what could not be).
    #[error("{0}")]
    RolledBack(String),
}

impl EditError {
    /// A parse error at a byte offset of `text`.
    pub fn at(file: &str, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_col(text, offset);
        EditError::Parse {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Wraps an I/O error with the file it concerns.
    pub fn io(file: impl AsRef<Path>, source: std::io::Error) -> Self {
        EditError::Io {
            file: file.as_ref().display().to_string(),
            source,
        }
    }
}

pub use crate::text::line_col;

/// Reads a file as UTF-8; invalid bytes are a parse error with their position.
pub fn read_text(shown: &str, path: &Path) -> Result<String, EditError> {
    let bytes = std::fs::read(path).map_err(|e| EditError::io(shown, e))?;
    text_from_bytes(shown, bytes)
}

/// Turns bytes into text, or an error naming the first invalid byte.
pub fn text_from_bytes(shown: &str, bytes: Vec<u8>) -> Result<String, EditError> {
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        // The valid prefix is text; count lines and columns in it.
        let prefix = String::from_utf8_lossy(&bytes[..good]).into_owned();
        EditError::at(shown, &prefix, good, "not valid UTF-8")
    })
}

/// One replacement of `range` (byte offsets into the original text) by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub range: std::ops::Range<usize>,
    pub text: String,
}

impl Splice {
    pub fn new(range: std::ops::Range<usize>, text: impl Into<String>) -> Self {
        Splice {
            range,
            text: text.into(),
        }
    }
    pub fn insert(at: usize, text: impl Into<String>) -> Self {
        Splice::new(at..at, text)
    }
}

/// Applies splices to `text`. Splices must not overlap; insertions at the same
/// offset keep their given order. Every byte outside the ranges is kept.
pub fn apply_splices(text: &str, splices: &[Splice]) -> String {
    let mut order: Vec<&Splice> = splices.iter().collect();
    order.sort_by_key(|s| (s.range.start, s.range.end));
    let mut out = String::with_capacity(text.len() + 256);
    let mut pos = 0;
    for s in order {
        debug_assert!(s.range.start >= pos, "overlapping splices");
        let start = s.range.start.max(pos);
        out.push_str(&text[pos..start]);
        out.push_str(&s.text);
        pos = s.range.end.max(start);
    }
    out.push_str(&text[pos..]);
    out
}

/// The result of one editor on one file: the new text (equal to the old one
/// when nothing is needed), what changed, and notes for the operator.
#[derive(Debug, Default, Clone)]
pub struct Edited {
    pub new: String,
    /// (rule, summary) for each change made.
    pub changes: Vec<(&'static str, String)>,
    /// (line, rule, message, stable id) for each thing a human must decide.
    pub notes: Vec<(Option<usize>, &'static str, String, Option<&'static str>)>,
}

impl Edited {
    /// Nothing to change yet: the text as it is.
    pub fn unchanged(text: &str) -> Self {
        Edited {
            new: text.to_string(),
            ..Edited::default()
        }
    }

    pub fn note(&mut self, line: Option<usize>, rule: &'static str, message: impl Into<String>) {
        self.notes.push((line, rule, message.into(), None));
    }

    /// A note other tools act on (`check`): `id` is stable across releases.
    pub fn note_with_id(
        &mut self,
        line: Option<usize>,
        rule: &'static str,
        id: &'static str,
        message: impl Into<String>,
    ) {
        self.notes.push((line, rule, message.into(), Some(id)));
    }

    /// Adds this file's result to a proposal (a write when the text changed).
    pub fn into_proposal(self, rel: &Path, old: &str, proposal: &mut Proposal) {
        let file = shown(rel);
        for (rule, summary) in self.changes {
            proposal.changes.push(Change {
                file: file.clone(),
                rule,
                summary,
            });
        }
        for (line, rule, message, id) in self.notes {
            proposal.notes.push(Note {
                file: file.clone(),
                line,
                rule,
                id,
                message,
            });
        }
        if self.new != old {
            proposal.ops.push(Op::Write {
                path: rel.to_path_buf(),
                old: old.to_string(),
                new: self.new,
            });
        }
    }
}

/// What a rule changes, for the operator (`--json` lists these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The file as it would be on the host (`/etc/...`).
    pub file: String,
    /// The rule's stable name, e.g. `gunicorn-wsgi`.
    pub rule: &'static str,
    /// One sentence.
    pub summary: String,
}

/// Something the operator must look at that no rule may decide (a customised
/// LOGGING_SETUP, a custom cache backend, ...). Notes never change files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub rule: &'static str,
    /// A stable name for notes other commands act on (`check` reports
    /// these as WARN), e.g. `gunicorn-django-mode-app`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'static str>,
    pub message: String,
}

/// One file-system operation of a conversion. Paths are relative to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Replace the content of an existing file (`old` is what was read).
    Write {
        path: PathBuf,
        old: String,
        new: String,
    },
    /// Rename a file (the Apache `.conf` suffix).
    Rename { from: PathBuf, to: PathBuf },
    /// Replace the symlink `from` (pointing at `old_target`) by `to` pointing
    /// at `target` (sites-enabled).
    Relink {
        from: PathBuf,
        old_target: PathBuf,
        to: PathBuf,
        target: PathBuf,
    },
}

impl Op {
    /// The paths this operation touches (for backups).
    fn touched(&self) -> Vec<&Path> {
        match self {
            Op::Write { path, .. } => vec![path],
            Op::Rename { from, to } => vec![from, to],
            Op::Relink { from, to, .. } => vec![from, to],
        }
    }
}

/// Everything a conversion would do: operations, what they mean, and notes.
#[derive(Debug, Default, Clone)]
pub struct Proposal {
    pub ops: Vec<Op>,
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
}

impl Proposal {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn extend(&mut self, other: Proposal) {
        self.ops.extend(other.ops);
        self.changes.extend(other.changes);
        self.notes.extend(other.notes);
    }

    /// A unified diff of every operation, in order (renames as git does).
    /// Secret values in it are `<redacted>` (`redact`): diffs are shown.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for op in &self.ops {
            match op {
                Op::Write { path, old, new } => {
                    let shown = shown(path);
                    let python =
                        path.starts_with("etc/synnefo") || path.starts_with("etc/gunicorn.d");
                    let (old, new) = (redact::redact(old, python), redact::redact(new, python));
                    let diff = similar::TextDiff::from_lines(old.as_str(), new.as_str());
                    let text = diff
                        .unified_diff()
                        .context_radius(3)
                        .header(&format!("a{shown}"), &format!("b{shown}"))
                        .to_string();
                    out.push_str(&text);
                    if !text.ends_with('\n') {
                        out.push('\n');
                    }
                }
                Op::Rename { from, to } => {
                    out.push_str(&format!(
                        "rename from {}\nrename to {}\n",
                        shown(from),
                        shown(to)
                    ));
                }
                Op::Relink {
                    from,
                    old_target,
                    to,
                    target,
                } => {
                    out.push_str(&format!(
                        "symlink {} -> {}\n     now {} -> {}\n",
                        shown(from),
                        old_target.display(),
                        shown(to),
                        target.display()
                    ));
                }
            }
        }
        out
    }
}

/// A root-relative path as it is on the host: `/etc/...`.
pub fn shown(rel: &Path) -> String {
    format!("/{}", rel.display())
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] {}", self.file, self.rule, self.summary)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{} [{}] {}", self.file, line, self.rule, self.message),
            None => write!(f, "{} [{}] {}", self.file, self.rule, self.message),
        }
    }
}

/// Where backups of one `--write` run go: `<root>/var/backups/snf-upgrade/
/// <UTC timestamp>/<original path>`. Outside every folder a daemon reads
/// (gunicorn reads all of /etc/gunicorn.d, Apache all of sites-enabled), so a
/// backup can never be loaded as config.
pub fn backup_dir(root: &Path, now: std::time::SystemTime) -> PathBuf {
    root.join("var/backups/snf-upgrade").join(utc_stamp(now))
}

/// `YYYYmmddTHHMMSSZ` for a point in time (UTC, civil calendar).
pub fn utc_stamp(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The lock a `--write` run holds on its root, so two runs never interleave:
/// `ROOT/var/backups/snf-upgrade/lock` (flock). It lives under the root, so
/// it keys itself by the root (an offline copy has its own) and needs no
/// path of the machine; the backups are there anyway.
pub fn lock_path(root: &Path) -> PathBuf {
    root.join(BACKUPS).join("lock")
}

const BACKUPS: &str = "var/backups/snf-upgrade";

/// Creates `dir` and its missing parents with mode 0700 (backups hold
/// secrets: settings with passwords and tokens).
fn private_dir(dir: &Path) -> Result<(), EditError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| EditError::io(dir, e))?;
    // An existing folder keeps its mode from before: tighten it.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| EditError::io(dir, e))
}

/// Takes the root's lock, or says who holds it.
fn lock_root(root: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, EditError> {
    use std::io::{Read, Seek, Write};
    let path = lock_path(root);
    private_dir(path.parent().expect("the lock has a folder"))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| EditError::io(&path, e))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut held) => {
            // Who holds it, for the message a second run prints.
            let _ = held.set_len(0);
            let _ = held.rewind();
            let _ = writeln!(held, "{}", std::process::id());
            Ok(held)
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(EditError::Locked(format!(
                "another snf-upgrade convert --write (pid {}) is writing under {}; it holds {}: nothing was changed, run again when it is done",
                pid.trim(),
                root.display(),
                path.display()
            )))
        }
        Err((_, errno)) => Err(EditError::io(&path, errno.into())),
    }
}

/// Applies a validated proposal under `root`, all or nothing:
/// 1. takes the root's lock (`lock_path`);
/// 2. checks every file is as it was read and no rename target exists;
/// 3. backs up every touched path into a fresh 0700 folder (files and
///    folders fsynced, with a `MANIFEST`) before any original is replaced;
/// 4. writes each file atomically (`fsutil::write_atomic`; mode and owner
///    kept), then renames and relinks.
///
/// If a step of 4 fails, what was already replaced is restored from the
/// backups and the error says so. Returns the backup folder.
pub fn apply(root: &Path, proposal: &Proposal) -> Result<PathBuf, EditError> {
    let _lock = lock_root(root)?;
    // Refuse before touching anything if a file changed since it was read:
    // never clobber someone else's edit.
    for op in &proposal.ops {
        match op {
            Op::Write { path, old, .. } => {
                if &read_text(&shown(path), &root.join(path))? != old {
                    return Err(EditError::Usage(format!(
                        "{} changed while converting; run again",
                        shown(path)
                    )));
                }
            }
            Op::Rename { to, .. } => {
                if std::fs::symlink_metadata(root.join(to)).is_ok() {
                    return Err(EditError::Usage(format!(
                        "{} exists; not renaming",
                        shown(to)
                    )));
                }
            }
            Op::Relink { .. } => {}
        }
    }
    let backups = back_up(root, proposal)?;
    let mut done: Vec<&Op> = Vec::new();
    let mut failure = None;
    // Writes first, then renames and relinks (a renamed file is written
    // under its old name first).
    let ordered = proposal
        .ops
        .iter()
        .filter(|o| matches!(o, Op::Write { .. }))
        .chain(
            proposal
                .ops
                .iter()
                .filter(|o| !matches!(o, Op::Write { .. })),
        );
    for op in ordered {
        // A failed relink may have done half its work: undo it too.
        if !matches!(op, Op::Write { .. } | Op::Rename { .. }) {
            done.push(op);
        }
        match perform(root, op) {
            Ok(()) => {
                if matches!(op, Op::Write { .. } | Op::Rename { .. }) {
                    done.push(op);
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let Some(cause) = failure else {
        return Ok(backups);
    };
    let mut restored = Vec::new();
    let mut lost = Vec::new();
    for op in done.iter().rev() {
        match undo(root, &backups, op) {
            Ok(()) => restored.push(op_name(op)),
            Err(e) => lost.push(format!("{}: {e}", op_name(op))),
        }
    }
    let message = if lost.is_empty() {
        format!(
            "{cause}; the {} change(s) already made were undone from the backups in {} ({}): every file is as before",
            restored.len(),
            backups.display(),
            if restored.is_empty() { "none".to_string() } else { restored.join(", ") }
        )
    } else {
        format!(
            "{cause}; undoing from the backups in {} FAILED for {}: restore those by hand from there (undone: {})",
            backups.display(),
            lost.join("; "),
            if restored.is_empty() { "none".to_string() } else { restored.join(", ") }
        )
    };
    Err(EditError::RolledBack(message))
}

fn op_name(op: &Op) -> String {
    match op {
        Op::Write { path, .. } => shown(path),
        Op::Rename { from, .. } => shown(from),
        Op::Relink { from, .. } => shown(from),
    }
}

/// Copies every path the proposal touches into a new 0700 backup folder,
/// fsynced (files, MANIFEST, folders) before returning.
fn back_up(root: &Path, proposal: &Proposal) -> Result<PathBuf, EditError> {
    let base = root.join(BACKUPS);
    private_dir(&base)?;
    // Two runs in the same second must not share a folder.
    let stamp = backup_dir(root, std::time::SystemTime::now());
    let backups = unique_dir(stamp);
    private_dir(&backups)?;
    let mut manifest = String::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut dirs = std::collections::BTreeSet::new();
    for op in &proposal.ops {
        for rel in op.touched() {
            if !seen.insert(rel.to_path_buf()) {
                continue;
            }
            let src = root.join(rel);
            let Ok(meta) = std::fs::symlink_metadata(&src) else {
                continue; // a path that does not exist yet (rename target)
            };
            let dst = backups.join(rel);
            let parent = dst.parent().expect("under the backup folder");
            private_dir(parent)?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&src).map_err(|e| EditError::io(&src, e))?;
                std::os::unix::fs::symlink(&target, &dst).map_err(|e| EditError::io(&dst, e))?;
            } else {
                std::fs::copy(&src, &dst).map_err(|e| EditError::io(&dst, e))?;
                std::fs::File::open(&dst)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| EditError::io(&dst, e))?;
            }
            // Every folder from the file's up to the backups' parent.
            let mut d = parent.to_path_buf();
            while d.starts_with(&base) {
                dirs.insert(d.clone());
                if !d.pop() {
                    break;
                }
            }
            manifest.push_str(&format!("{}\n", shown(rel)));
        }
    }
    let list = backups.join("MANIFEST");
    crate::fsutil::write_atomic(&list, manifest.as_bytes(), Some(0o600))
        .map_err(|e| EditError::io(&list, e))?;
    dirs.insert(backups.clone());
    dirs.insert(base.clone());
    for d in dirs.iter().rev() {
        crate::fsutil::sync_dir(d).map_err(|e| EditError::io(d, e))?;
    }
    if let Some(parent) = base.parent() {
        crate::fsutil::sync_dir(parent).map_err(|e| EditError::io(parent, e))?;
    }
    Ok(backups)
}

/// One operation, as `apply` does it.
fn perform(root: &Path, op: &Op) -> Result<(), EditError> {
    match op {
        Op::Write { path, old, new } => {
            let full = root.join(path);
            // Refuse if the file changed since it was read: never clobber.
            if &read_text(&shown(path), &full)? != old {
                return Err(EditError::Usage(format!(
                    "{} changed while converting",
                    shown(path)
                )));
            }
            write_atomic(&full, new.as_bytes())
        }
        Op::Rename { from, to } => {
            let (src, dst) = (root.join(from), root.join(to));
            if std::fs::symlink_metadata(&dst).is_ok() {
                return Err(EditError::Usage(format!(
                    "{} exists; not renaming",
                    shown(to)
                )));
            }
            std::fs::rename(&src, &dst).map_err(|e| EditError::io(&src, e))?;
            sync_parent(&dst)
        }
        Op::Relink {
            from, to, target, ..
        } => {
            let (src, dst) = (root.join(from), root.join(to));
            replace_link(&dst, target)?;
            if src != dst {
                std::fs::remove_file(&src).map_err(|e| EditError::io(&src, e))?;
            }
            sync_parent(&dst)
        }
    }
}

/// Puts back what `perform(op)` changed, from the backups.
fn undo(root: &Path, backups: &Path, op: &Op) -> Result<(), EditError> {
    match op {
        Op::Write { path, .. } => {
            let saved = backups.join(path);
            let bytes = std::fs::read(&saved).map_err(|e| EditError::io(&saved, e))?;
            write_atomic(&root.join(path), &bytes)
        }
        Op::Rename { from, to } => {
            let (src, dst) = (root.join(from), root.join(to));
            if std::fs::symlink_metadata(&src).is_err() {
                std::fs::rename(&dst, &src).map_err(|e| EditError::io(&dst, e))?;
            }
            sync_parent(&src)
        }
        Op::Relink {
            from,
            old_target,
            to,
            ..
        } => {
            let (src, dst) = (root.join(from), root.join(to));
            if src != dst
                && std::fs::symlink_metadata(&dst).is_ok_and(|m| m.file_type().is_symlink())
            {
                std::fs::remove_file(&dst).map_err(|e| EditError::io(&dst, e))?;
            }
            // A relink that failed before removing the old link left it be.
            if std::fs::read_link(&src).ok().as_deref() != Some(old_target.as_path()) {
                replace_link(&src, old_target)?;
            }
            sync_parent(&src)
        }
    }
}

/// Makes `link` a symlink to `target`, atomically (a temporary link renamed
/// over it).
fn replace_link(link: &Path, target: &Path) -> Result<(), EditError> {
    let tmp = link.with_file_name(format!(
        ".{}.snf-upgrade-tmp",
        link.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| EditError::io(&tmp, e))?;
    std::fs::rename(&tmp, link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        EditError::io(link, e)
    })
}

fn sync_parent(path: &Path) -> Result<(), EditError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::fsutil::sync_dir(dir).map_err(|e| EditError::io(dir, e))
}

fn unique_dir(base: PathBuf) -> PathBuf {
    let mut candidate = base.clone();
    let mut n = 1;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}.{n}", base.display()));
        n += 1;
    }
    candidate
}

/// Writes `bytes` to `path` atomically, keeping the mode and owner of the file
/// it replaces (`fsutil::write_atomic`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EditError> {
    crate::fsutil::write_atomic(path, bytes, None).map_err(|e| EditError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splices_keep_every_other_byte() {
        let text = "abc def ghi";
        let out = apply_splices(
            text,
            &[
                Splice::new(4..7, "DEF"),
                Splice::insert(11, "!"),
                Splice::insert(0, ">"),
            ],
        );
        assert_eq!(out, ">abc DEF ghi!");
    }

    #[test]
    fn invalid_utf8_is_located() {
        let err = text_from_bytes("f", b"ok\nab\xffc".to_vec()).unwrap_err();
        assert_eq!(err.to_string(), "f:2:3: not valid UTF-8");
    }

    #[test]
    fn stamps_are_utc_civil_time() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        assert_eq!(utc_stamp(t), "20261118T110640Z");
        assert_eq!(utc_stamp(std::time::UNIX_EPOCH), "19700101T000000Z");
    }
}
