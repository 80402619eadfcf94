//! Apache sites for Apache 2.4 (jessie): the `X-Forwarded-Protocol` request
//! header becomes `X-Forwarded-Proto` (replaced, never both), and site files
//! without `.conf` are renamed with it, their `sites-enabled` links following
//! as `a2dissite`/`a2ensite` would (2.4 loads only `sites-enabled/*.conf`).
//!
//! Apache's config is read line by line (with `\` continuations) and only the
//! header token is rewritten; section nesting is checked so a malformed file
//! is an error with its line and column. Debian's own `default` and
//! `default-ssl` sites are left to the apache2 package, which migrates them.

use std::path::{Path, PathBuf};

use super::{apply_splices, shown, Change, EditError, Edited, Note, Op, Proposal, Splice};

pub const RULE_HEADER: &str = "apache-forwarded-proto";
pub const RULE_RENAME: &str = "apache-site-conf";

const OLD_HEADER: &str = "X-Forwarded-Protocol";
const NEW_HEADER: &str = "X-Forwarded-Proto";

/// One logical line: its byte range and its words (byte ranges), comments and
/// continuations resolved.
struct Logical {
    start: usize,
    words: Vec<std::ops::Range<usize>>,
}

/// Splits Apache config text into logical lines, checking `<Section>` nesting.
fn lex(name: &str, text: &str) -> Result<Vec<Logical>, EditError> {
    let mut out = Vec::new();
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let start = pos;
        // A logical line runs until a newline not preceded by a backslash.
        let mut end = pos;
        loop {
            let le = text[end..].find('\n').map_or(text.len(), |i| end + i);
            let line = text[end..le].trim_end_matches('\r');
            if line.ends_with('\\') && le < text.len() {
                end = le + 1;
                continue;
            }
            end = le;
            break;
        }
        pos = if end < text.len() {
            end + 1
        } else {
            text.len()
        };
        let body = &text[start..end];
        let lead = body.len() - body.trim_start().len();
        if body.trim_start().starts_with('#') || body.trim().is_empty() {
            continue;
        }
        let words = words(text, start + lead, end);
        let Some(first) = words.first() else { continue };
        let w = &text[first.clone()];
        if let Some(rest) = w.strip_prefix("</") {
            let close = rest.trim_end_matches('>');
            match stack.pop() {
                Some((open, _)) if open.eq_ignore_ascii_case(close) => {}
                Some((open, _)) => {
                    return Err(EditError::at(
                        name,
                        text,
                        first.start,
                        format!("</{close}> closes <{open}>"),
                    ))
                }
                None => {
                    return Err(EditError::at(
                        name,
                        text,
                        first.start,
                        format!("</{close}> without an opening section"),
                    ))
                }
            }
        } else if let Some(rest) = w.strip_prefix('<') {
            if !text[start..end].trim_end().ends_with('>') {
                return Err(EditError::at(
                    name,
                    text,
                    first.start,
                    "section tag without a closing '>'",
                ));
            }
            let open = rest.trim_end_matches('>');
            if open.is_empty() {
                return Err(EditError::at(name, text, first.start, "empty section tag"));
            }
            stack.push((open.to_string(), first.start));
        }
        out.push(Logical {
            start: start + lead,
            words,
        });
    }
    if let Some((open, at)) = stack.pop() {
        return Err(EditError::at(
            name,
            text,
            at,
            format!("<{open}> is never closed"),
        ));
    }
    Ok(out)
}

/// Words of a logical line (quotes kept as part of the word; continuations
/// are whitespace).
fn words(text: &str, from: usize, to: usize) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        let c = bytes[i];
        if c.is_ascii_whitespace()
            || (c == b'\\' && i + 1 < to && matches!(bytes[i + 1], b'\n' | b'\r'))
        {
            i += 1;
            continue;
        }
        let start = i;
        if c == b'"' {
            i += 1;
            while i < to && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(to);
        } else {
            while i < to && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        out.push(start..i);
    }
    out
}

fn unquote(w: &str) -> &str {
    w.strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .unwrap_or(w)
}

/// Converts one site file's text: the header rule.
pub fn convert_site(name: &str, text: &str) -> Result<Edited, EditError> {
    let lines = lex(name, text)?;
    let mut out = Edited::unchanged(text);
    let is_set = |l: &Logical, header: &str| {
        l.words.len() >= 3
            && text[l.words[0].clone()].eq_ignore_ascii_case("RequestHeader")
            && text[l.words[1].clone()].eq_ignore_ascii_case("set")
            && unquote(&text[l.words[2].clone()]).eq_ignore_ascii_case(header)
    };
    let has_new = lines.iter().any(|l| is_set(l, NEW_HEADER));
    let mut splices = Vec::new();
    for l in lines.iter().filter(|l| is_set(l, OLD_HEADER)) {
        let (line, _) = super::line_col(text, l.start);
        let value = l
            .words
            .get(3)
            .map(|w| unquote(&text[w.clone()]).to_ascii_lowercase());
        if value.as_deref() != Some("https") {
            out.note(
                Some(line),
                RULE_HEADER,
                format!("{OLD_HEADER} is set to something other than \"https\"; check it by hand"),
            );
            continue;
        }
        if has_new {
            // Never both: the old line goes, as a comment.
            let ls = super::python::line_start(text, l.start);
            splices.push(Splice::insert(
                ls,
                format!("# Replaced by {NEW_HEADER} (snf-upgrade convert):\n#"),
            ));
            out.changes.push((
                RULE_HEADER,
                format!("line {line}: duplicate {OLD_HEADER} commented out ({NEW_HEADER} is set)"),
            ));
        } else {
            let w = l.words[2].clone();
            let quoted = text[w.clone()].starts_with('"');
            let new = if quoted {
                format!("\"{NEW_HEADER}\"")
            } else {
                NEW_HEADER.to_string()
            };
            splices.push(Splice::new(w, new));
            out.changes.push((
                RULE_HEADER,
                format!("line {line}: RequestHeader {OLD_HEADER} → {NEW_HEADER}"),
            ));
        }
    }
    if !splices.is_empty() {
        out.new = apply_splices(text, &splices);
        // Validation: still well formed, and no old header left.
        let again = convert_site(name, &out.new)?;
        if !again.changes.is_empty() {
            return Err(EditError::Usage(format!(
                "{name}: converted site failed validation"
            )));
        }
    }
    Ok(out)
}

/// File names that are not sites: editor and package-manager leftovers.
pub fn is_leftover(name: &str) -> bool {
    const SUFFIXES: [&str; 12] = [
        "~",
        ".bak",
        ".orig",
        ".old",
        ".save",
        ".swp",
        ".dpkg-old",
        ".dpkg-dist",
        ".dpkg-new",
        ".dpkg-bak",
        ".ucf-old",
        ".ucf-dist",
    ];
    name.starts_with('.') || SUFFIXES.iter().any(|s| name.ends_with(s))
}

const APACHE: &str = "etc/apache2";
/// Beyond this many files, includes are not followed further (a loop of
/// globs, or a tree that is not Apache's).
const MAX_FILES: usize = 10_000;

/// Plans the header edits and the `.conf` renames under `root`: the header
/// rule on every file Apache 2.4 loads, or loads once enabled (sites and
/// conf snippets, available or enabled, links followed, and the files they
/// `Include`), renames where 2.4 would skip a file for its name.
pub fn plan(root: &Path) -> Result<Proposal, Vec<EditError>> {
    let apache = PathBuf::from(APACHE);
    let avail_rel = apache.join("sites-available");
    let enabled_rel = apache.join("sites-enabled");
    let mut proposal = Proposal::default();
    let mut errors = Vec::new();
    let avail =
        list(&root.join(&avail_rel)).map_err(|e| vec![EditError::io(shown(&avail_rel), e)])?;
    let enabled = list(&root.join(&enabled_rel)).unwrap_or_default();
    let conf_enabled_rel = apache.join("conf-enabled");
    let conf_enabled = list(&root.join(&conf_enabled_rel)).unwrap_or_default();

    // Every file Apache reads as config: plain files of the four folders,
    // what their links point to, then what those files include.
    let mut targets = std::collections::BTreeSet::new();
    for dir in [
        "sites-available",
        "sites-enabled",
        "conf-available",
        "conf-enabled",
    ] {
        let dir = apache.join(dir);
        for (name, _) in list(&root.join(&dir)).unwrap_or_default() {
            if !is_leftover(&name) {
                if let Some(file) = resolve_file(root, &dir.join(&name)) {
                    targets.insert(file);
                }
            }
        }
    }
    let mut queue: Vec<PathBuf> = targets.iter().cloned().collect();
    let mut texts = std::collections::BTreeMap::new();
    while let Some(rel) = queue.pop() {
        let text = match super::read_text(&shown(&rel), &root.join(&rel)) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Ok(lines) = lex(&shown(&rel), &text) {
            for pattern in includes(&text, &lines) {
                for file in expand(root, &pattern) {
                    if targets.len() < MAX_FILES && targets.insert(file.clone()) {
                        queue.push(file);
                    }
                }
            }
        }
        texts.insert(rel, text);
    }
    for (rel, text) in &texts {
        match convert_site(&shown(rel), text) {
            Ok(edited) => edited.into_proposal(rel, text, &mut proposal),
            Err(e) => errors.push(e),
        }
    }

    let mut renamed = Vec::new();
    for (name, kind) in &avail {
        if *kind != Kind::File || is_leftover(name) {
            continue;
        }
        let rel = avail_rel.join(name);
        if name.ends_with(".conf") || name == "default" || name == "default-ssl" {
            continue;
        }
        let to = format!("{name}.conf");
        if avail.iter().any(|(n, _)| *n == to) {
            proposal.notes.push(rename_note(
                &rel,
                format!(
                    "both {name} and {to} exist; Apache 2.4 loads only {to}: merge them by hand"
                ),
            ));
            continue;
        }
        rename_to_conf(&mut proposal, &avail_rel, name);
        renamed.push(name.clone());
    }
    // Plain files in the -enabled folders: Apache 2.4 loads only *.conf there.
    for (dir, entries) in [(&enabled_rel, &enabled), (&conf_enabled_rel, &conf_enabled)] {
        for (name, kind) in entries.iter() {
            if *kind != Kind::File || is_leftover(name) || name.ends_with(".conf") {
                continue;
            }
            let rel = dir.join(name);
            let to = format!("{name}.conf");
            if entries.iter().any(|(n, _)| *n == to) {
                proposal.notes.push(rename_note(&rel, format!("a file without .conf, which Apache 2.4 does not load, and {to} exists too: merge them by hand")));
                continue;
            }
            rename_to_conf(&mut proposal, dir, name);
        }
    }
    for (name, kind) in &enabled {
        let rel = enabled_rel.join(name);
        let Kind::Link(target) = kind else { continue };
        let site = target
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let in_avail = target
            .parent()
            .is_some_and(|p| p.ends_with("sites-available"));
        let new_site = if in_avail && renamed.contains(&site) {
            format!("{site}.conf")
        } else {
            site.clone()
        };
        let new_name = if name.ends_with(".conf") {
            name.clone()
        } else {
            format!("{name}.conf")
        };
        if new_site == site && new_name == *name {
            continue;
        }
        if !in_avail || !(renamed.contains(&site) || site.ends_with(".conf")) {
            proposal.notes.push(rename_note(
                &rel,
                format!(
                    "links to {} and is not loaded by Apache 2.4; enable it by hand",
                    target.display()
                ),
            ));
            continue;
        }
        if new_name != *name && enabled.iter().any(|(n, _)| *n == new_name) {
            proposal.notes.push(rename_note(
                &rel,
                format!("{new_name} exists as well; remove the old link by hand"),
            ));
            continue;
        }
        let new_target = target.with_file_name(&new_site);
        proposal.ops.push(Op::Relink {
            from: rel.clone(),
            old_target: target.clone(),
            to: enabled_rel.join(&new_name),
            target: new_target,
        });
        proposal.changes.push(Change {
            file: shown(&rel),
            rule: RULE_RENAME,
            summary: format!(
                "re-enabled as {new_name} -> {}",
                target.with_file_name(&new_site).display()
            ),
        });
    }
    if errors.is_empty() {
        Ok(proposal)
    } else {
        Err(errors)
    }
}

/// Renames `dir/name` to `dir/name.conf`: Apache 2.4 loads only `*.conf`.
fn rename_to_conf(proposal: &mut Proposal, dir: &Path, name: &str) {
    let to = format!("{name}.conf");
    proposal.ops.push(Op::Rename {
        from: dir.join(name),
        to: dir.join(&to),
    });
    proposal.changes.push(Change {
        file: shown(&dir.join(name)),
        rule: RULE_RENAME,
        summary: format!("renamed to {to} (Apache 2.4 loads only *.conf)"),
    });
}

/// A note of the rename rule on `rel`.
fn rename_note(rel: &Path, message: impl Into<String>) -> Note {
    Note {
        file: shown(rel),
        line: None,
        rule: RULE_RENAME,
        id: None,
        message: message.into(),
    }
}

/// The arguments of `Include` and `IncludeOptional` directives.
fn includes(text: &str, lines: &[Logical]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.words.len() >= 2)
        .filter(|l| {
            let d = &text[l.words[0].clone()];
            d.eq_ignore_ascii_case("Include") || d.eq_ignore_ascii_case("IncludeOptional")
        })
        .map(|l| unquote(&text[l.words[1].clone()]).to_string())
        // ${VAR} is set by envvars at run time; not followed.
        .filter(|p| !p.contains("${"))
        .collect()
}

/// A root-relative path with `.`/`..` resolved lexically; None when it would
/// leave the root.
fn normal(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::Normal(p) => out.push(p),
            std::path::Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    Some(out)
}

/// The regular file `rel` is, or its links lead to, inside the root.
fn resolve_file(root: &Path, rel: &Path) -> Option<PathBuf> {
    let mut rel = normal(rel)?;
    for _ in 0..16 {
        let meta = std::fs::symlink_metadata(root.join(&rel)).ok()?;
        if meta.file_type().is_file() {
            return Some(rel);
        }
        if !meta.file_type().is_symlink() {
            return None;
        }
        let target = std::fs::read_link(root.join(&rel)).ok()?;
        rel = if target.is_absolute() {
            normal(&target)?
        } else {
            normal(&rel.parent()?.join(target))?
        };
    }
    None
}

/// The files an Include pattern names under the root, as Apache expands it:
/// relative to ServerRoot (/etc/apache2), fnmatch wildcards in any part, a
/// folder meaning every file below it; sorted.
fn expand(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = if pattern.starts_with('/') {
        PathBuf::from(pattern)
    } else {
        Path::new("/").join(APACHE).join(pattern)
    };
    let Some(full) = normal(&full) else {
        return Vec::new();
    };
    let mut paths = vec![PathBuf::new()];
    for part in full.components() {
        let part = part.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for p in &paths {
            if part.contains(['*', '?', '[']) {
                let mut names: Vec<String> = std::fs::read_dir(root.join(p))
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') && wildcard(&part, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| p.join(n)));
            } else {
                next.push(p.join(part.as_ref()));
            }
        }
        paths = next;
    }
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.into_iter().rev().collect();
    while let Some(p) = stack.pop() {
        if out.len() >= MAX_FILES {
            break;
        }
        if root.join(&p).is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(root.join(&p))
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| p.join(e.file_name()))
                .collect();
            names.sort();
            stack.extend(names.into_iter().rev());
        } else if let Some(file) = resolve_file(root, &p) {
            out.push(file);
        }
    }
    out
}

/// fnmatch's `*`, `?` and `[...]` on one file name.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ni, mut star) = (0, 0, None::<(usize, usize)>);
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class(&p[pi..], n[ni]).map(|len| pi + len),
            Some(c) if *c == n[ni] => Some(pi + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A `[...]` class at the start of `p` matching `c`: its length in chars.
fn class(p: &[char], c: char) -> Option<usize> {
    let end = p.iter().skip(2).position(|x| *x == ']')? + 2;
    let body = &p[1..end];
    let (negate, body) = match body.first() {
        Some('!' | '^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    (hit != negate).then_some(end + 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    File,
    Link(PathBuf),
    Other,
}

/// The entries of a folder, sorted by name; a missing folder is empty.
fn list(dir: &Path) -> std::io::Result<Vec<(String, Kind)>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ft = entry.file_type()?;
        let kind = if ft.is_symlink() {
            Kind::Link(std::fs::read_link(entry.path())?)
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        out.push((name, kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSL_0181: &str = include_str!(
        "../../tests/data/corpus-0.18.1/snf-deploy/files/etc/apache2/sites-available/synnefo-ssl"
    );

    #[test]
    fn header_is_replaced_in_place() {
        let out = convert_site("s", SSL_0181).unwrap();
        let want = SSL_0181.replace(
            "X-Forwarded-Protocol \"https\"",
            "X-Forwarded-Proto \"https\"",
        );
        assert_eq!(out.new, want);
        assert_eq!(out.changes.len(), 1);
        assert!(convert_site("s", &out.new).unwrap().changes.is_empty());
    }

    #[test]
    fn never_both_headers() {
        let src = "<VirtualHost *:443>\n  RequestHeader set X-Forwarded-Proto \"https\"\n  requestheader SET x-forwarded-protocol https\n</VirtualHost>\n";
        let out = convert_site("s", src).unwrap();
        assert_eq!(out.new, "<VirtualHost *:443>\n  RequestHeader set X-Forwarded-Proto \"https\"\n# Replaced by X-Forwarded-Proto (snf-upgrade convert):\n#  requestheader SET x-forwarded-protocol https\n</VirtualHost>\n");
    }

    #[test]
    fn comments_and_other_values_are_left() {
        let src = "# RequestHeader set X-Forwarded-Protocol \"https\"\nRequestHeader set X-Forwarded-Protocol ssl\n";
        let out = convert_site("s", src).unwrap();
        assert_eq!(out.new, src);
        assert_eq!(out.notes.len(), 1);
    }

    #[test]
    fn malformed_sections_are_located() {
        let e =
            convert_site("s", "<VirtualHost *:80>\n  <Directory />\n</VirtualHost>\n").unwrap_err();
        assert_eq!(e.to_string(), "s:3:1: </VirtualHost> closes <Directory>");
        let e = convert_site("s", "x\n  <IfModule mod_ssl.c>\n").unwrap_err();
        assert_eq!(e.to_string(), "s:2:3: <IfModule> is never closed");
        let e = convert_site("s", "<VirtualHost *:80\n</VirtualHost>\n").unwrap_err();
        assert!(e.to_string().starts_with("s:1:1:"));
    }

    #[test]
    fn continuation_lines_are_one_directive() {
        let src = "RequestHeader set \\\n   X-Forwarded-Protocol \"https\"\n";
        let out = convert_site("s", src).unwrap();
        assert_eq!(
            out.new,
            "RequestHeader set \\\n   X-Forwarded-Proto \"https\"\n"
        );
    }

    #[test]
    fn wildcards_are_fnmatch() {
        assert!(wildcard("*.conf", "a.conf"));
        assert!(!wildcard("*.conf", "a.conf~"));
        assert!(wildcard("s?te*", "site-x"));
        assert!(wildcard("[a-c]x[!0-9]", "bxy"));
        assert!(!wildcard("[a-c]x[!0-9]", "bx1"));
        assert!(wildcard("*a*b", "xxaxxb"));
    }

    /// Every file Apache 2.4 loads gets the header rule: plain files in
    /// sites-enabled (renamed when they lack .conf), conf snippets, and the
    /// files they include (relative to ServerRoot, wildcards, folders).
    #[test]
    fn every_file_apache_loads_gets_the_header() {
        let root = tempfile::tempdir().unwrap();
        let apache = root.path().join("etc/apache2");
        let old = "RequestHeader set X-Forwarded-Protocol \"https\"\n";
        for (rel, text) in [
            ("sites-enabled/plain", old.to_string()),
            ("sites-enabled/plain.conf.bak", old.to_string()),
            (
                "sites-enabled/other.conf",
                "<VirtualHost *:80>\n  Include snippets/*.inc\n</VirtualHost>\n".to_string(),
            ),
            ("snippets/proxy.inc", old.to_string()),
            ("snippets/unused.txt", old.to_string()),
            (
                "conf-available/headers.conf",
                format!("{old}IncludeOptional \"/etc/apache2/extra\"\n"),
            ),
            ("extra/deep/x", old.to_string()),
            ("conf-enabled/local", old.to_string()),
        ] {
            let p = apache.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::create_dir_all(apache.join("sites-available")).unwrap();
        std::os::unix::fs::symlink(
            "../conf-available/headers.conf",
            apache.join("conf-enabled/headers.conf"),
        )
        .unwrap();
        let p = plan(root.path()).unwrap();
        let mut edited: Vec<&str> = p
            .changes
            .iter()
            .filter(|c| c.rule == RULE_HEADER)
            .map(|c| c.file.as_str())
            .collect();
        edited.sort();
        assert_eq!(
            edited,
            [
                "/etc/apache2/conf-available/headers.conf",
                "/etc/apache2/conf-enabled/local",
                "/etc/apache2/extra/deep/x",
                "/etc/apache2/sites-enabled/plain",
                "/etc/apache2/snippets/proxy.inc",
            ]
        );
        let renames: Vec<&Op> = p
            .ops
            .iter()
            .filter(|o| matches!(o, Op::Rename { .. }))
            .collect();
        assert_eq!(renames.len(), 2, "{renames:?}");
        super::super::apply(root.path(), &p).unwrap();
        let plain = std::fs::read_to_string(apache.join("sites-enabled/plain.conf")).unwrap();
        assert_eq!(plain, "RequestHeader set X-Forwarded-Proto \"https\"\n");
        assert!(apache.join("conf-enabled/local.conf").is_file());
        assert!(plan(root.path()).unwrap().is_empty());
    }

    #[test]
    fn renames_follow_a2ensite() {
        let root = tempfile::tempdir().unwrap();
        let avail = root.path().join("etc/apache2/sites-available");
        let enabled = root.path().join("etc/apache2/sites-enabled");
        std::fs::create_dir_all(&avail).unwrap();
        std::fs::create_dir_all(&enabled).unwrap();
        std::fs::write(
            avail.join("synnefo"),
            "<VirtualHost *:80>\n</VirtualHost>\n",
        )
        .unwrap();
        std::fs::write(avail.join("synnefo-ssl"), SSL_0181).unwrap();
        std::fs::write(avail.join("synnefo~"), "junk <").unwrap();
        std::fs::write(avail.join("default"), "").unwrap();
        std::os::unix::fs::symlink("../sites-available/synnefo", enabled.join("synnefo")).unwrap();
        std::os::unix::fs::symlink(
            "../sites-available/synnefo-ssl",
            enabled.join("synnefo-ssl"),
        )
        .unwrap();
        let p = plan(root.path()).unwrap();
        assert_eq!(p.ops.len(), 5, "{:#?}", p.ops);
        super::super::apply(root.path(), &p).unwrap();
        assert!(avail.join("synnefo.conf").is_file());
        assert!(!avail.join("synnefo").exists());
        assert_eq!(
            std::fs::read_link(enabled.join("synnefo-ssl.conf")).unwrap(),
            PathBuf::from("../sites-available/synnefo-ssl.conf")
        );
        assert!(std::fs::symlink_metadata(enabled.join("synnefo")).is_err());
        assert!(std::fs::read_to_string(avail.join("synnefo-ssl.conf"))
            .unwrap()
            .contains("X-Forwarded-Proto \"https\""));
        assert!(avail.join("default").exists());
        assert!(plan(root.path()).unwrap().is_empty());
    }
}
