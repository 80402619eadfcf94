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

/// Plans the header edits and the `.conf` renames under `root`
/// (`etc/apache2/sites-available` and `sites-enabled`).
pub fn plan(root: &Path) -> Result<Proposal, Vec<EditError>> {
    let avail_rel = PathBuf::from("etc/apache2/sites-available");
    let enabled_rel = PathBuf::from("etc/apache2/sites-enabled");
    let mut proposal = Proposal::default();
    let mut errors = Vec::new();
    let avail =
        list(&root.join(&avail_rel)).map_err(|e| vec![EditError::io(shown(&avail_rel), e)])?;
    let mut renamed = Vec::new();
    for (name, kind) in &avail {
        if *kind != Kind::File || is_leftover(name) {
            continue;
        }
        let rel = avail_rel.join(name);
        match super::read_text(&shown(&rel), &root.join(&rel))
            .and_then(|t| convert_site(&shown(&rel), &t).map(|e| (t, e)))
        {
            Ok((text, edited)) => edited.into_proposal(&rel, &text, &mut proposal),
            Err(e) => errors.push(e),
        }
        if name.ends_with(".conf") || name == "default" || name == "default-ssl" {
            continue;
        }
        let to = format!("{name}.conf");
        if avail.iter().any(|(n, _)| *n == to) {
            proposal.notes.push(Note {
                file: shown(&rel),
                line: None,
                rule: RULE_RENAME,
                id: None,
                message: format!(
                    "both {name} and {to} exist; Apache 2.4 loads only {to}: merge them by hand"
                ),
            });
            continue;
        }
        proposal.ops.push(Op::Rename {
            from: rel.clone(),
            to: avail_rel.join(&to),
        });
        proposal.changes.push(Change {
            file: shown(&rel),
            rule: RULE_RENAME,
            summary: format!("renamed to {to} (Apache 2.4 loads only *.conf)"),
        });
        renamed.push(name.clone());
    }
    let enabled = list(&root.join(&enabled_rel)).unwrap_or_default();
    for (name, kind) in &enabled {
        let rel = enabled_rel.join(name);
        if name.ends_with(".conf") && *kind == Kind::File {
            continue;
        }
        match kind {
            Kind::Link(target) => {
                let site = target.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let in_avail = target.parent().is_some_and(|p| p.ends_with("sites-available"));
                let new_site = if in_avail && renamed.contains(&site) { format!("{site}.conf") } else { site.clone() };
                let new_name = if name.ends_with(".conf") { name.clone() } else { format!("{name}.conf") };
                if new_site == site && new_name == *name {
                    continue;
                }
                if !in_avail || !(renamed.contains(&site) || site.ends_with(".conf")) {
                    proposal.notes.push(Note {
                        file: shown(&rel),
                        line: None,
                        rule: RULE_RENAME,
                        id: None,
                        message: format!("links to {} and is not loaded by Apache 2.4; enable it by hand", target.display()),
                    });
                    continue;
                }
                if new_name != *name && enabled.iter().any(|(n, _)| *n == new_name) {
                    proposal.notes.push(Note {
                        file: shown(&rel),
                        line: None,
                        rule: RULE_RENAME,
                        id: None,
                        message: format!("{new_name} exists as well; remove the old link by hand"),
                    });
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
                    summary: format!("re-enabled as {new_name} -> {}", target.with_file_name(&new_site).display()),
                });
            }
            Kind::File if !is_leftover(name) => proposal.notes.push(Note {
                file: shown(&rel),
                line: None,
                rule: RULE_RENAME,
                id: None,
                message: "a file (not a link) without .conf; Apache 2.4 will not load it: move it by hand".into(),
            }),
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(proposal)
    } else {
        Err(errors)
    }
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
