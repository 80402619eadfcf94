//! APT source files read the way APT reads them: the one parser behind both
//! `facts` (which lists the sources of a host) and `edits` (which rewrites
//! their suites), so the two never disagree on what a line means.
//!
//! - One-line format (`sources.list`, `*.list`): APT drops everything from
//!   the first `#` of a line on, wherever it is (inside `[options]` or a
//!   URI too), then reads `TYPE [OPTIONS] URI SUITE [COMPONENT...]`.
//! - deb822 (`*.sources`): a line starting with `#` is a comment and does
//!   not end a paragraph; a line starting with a space or tab continues the
//!   field before it; blank lines separate paragraphs.
//!
//! Positions are byte offsets, so `edits` can splice and errors can name a
//! line and column. Nothing here reads files or knows about hosts.

use std::ops::Range;

/// A line or paragraph APT would refuse: where (byte offset into what was
/// parsed) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub offset: usize,
    pub message: String,
}

fn error(offset: usize, message: impl Into<String>) -> SourceError {
    SourceError {
        offset,
        message: message.into(),
    }
}

/// One active one-line entry; ranges are into the line given to
/// [`parse_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneLine {
    pub kind: Range<usize>,
    /// `[...]`, brackets included.
    pub options: Option<Range<usize>>,
    pub uri: Range<usize>,
    pub suite: Range<usize>,
    pub components: Vec<Range<usize>>,
}

/// What APT reads of a one-line-format line: everything before its first `#`.
pub fn active_part(line: &str) -> &str {
    line.split('#').next().unwrap_or("")
}

/// Parses one line of a one-line-format file (without its line end).
/// `Ok(None)` for a blank or comment-only line.
pub fn parse_line(line: &str) -> Result<Option<OneLine>, SourceError> {
    let content = active_part(line.trim_end_matches('\r'));
    if content.trim().is_empty() {
        return Ok(None);
    }
    let toks = tokens(content);
    let kind = toks[0].clone();
    let ty = &content[kind.clone()];
    if ty != "deb" && ty != "deb-src" {
        return Err(error(
            kind.start,
            format!("expected deb or deb-src, found {ty:?}"),
        ));
    }
    let mut i = 1;
    let mut options = None;
    if let Some(o) = toks.get(1) {
        if content[o.clone()].starts_with('[') {
            // Options run to the first ']' (they may contain spaces).
            let close = content[o.start..]
                .find(']')
                .ok_or_else(|| error(o.start, "'[' of the options is never closed"))?;
            let end = o.start + close + 1;
            options = Some(o.start..end);
            i = toks
                .iter()
                .position(|t| t.start >= end)
                .unwrap_or(toks.len());
        }
    }
    let uri = toks
        .get(i)
        .cloned()
        .ok_or_else(|| error(content.len(), "missing URI"))?;
    let suite = toks
        .get(i + 1)
        .cloned()
        .ok_or_else(|| error(content.len(), "missing suite"))?;
    if !content[uri.clone()].contains(':') {
        return Err(error(
            uri.start,
            format!("{:?} is not a URI", &content[uri.clone()]),
        ));
    }
    let components = toks[i + 2..].to_vec();
    if !content[suite.clone()].ends_with('/') && components.is_empty() {
        return Err(error(
            content.len(),
            "missing component (a suite not ending in '/' needs one)",
        ));
    }
    Ok(Some(OneLine {
        kind,
        options,
        uri,
        suite,
        components,
    }))
}

/// Whitespace-separated tokens as byte ranges.
fn tokens(s: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(st)) => {
                out.push(st..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push(st..s.len());
    }
    out
}

/// One deb822 field: its name, 1-based line, and the byte range of its value
/// (after the colon, through its last continuation line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub line: usize,
    pub value: Range<usize>,
}

/// Splits deb822 text into paragraphs of fields.
pub fn paragraphs(text: &str) -> Result<Vec<Vec<Field>>, SourceError> {
    let mut out: Vec<Vec<Field>> = Vec::new();
    let mut current: Vec<Field> = Vec::new();
    let mut offset = 0;
    for (idx, raw) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match current.last_mut() {
                Some(f) => f.value.end = start + line.len(),
                None => {
                    return Err(error(
                        start,
                        "a continuation line without a field before it",
                    ))
                }
            }
            continue;
        }
        let Some(colon) = line.find(':') else {
            return Err(error(start, "expected 'Field: value'"));
        };
        let field = &line[..colon];
        if field.is_empty() || field.contains(char::is_whitespace) {
            return Err(error(start, "expected 'Field: value'"));
        }
        if current.iter().any(|f| f.name.eq_ignore_ascii_case(field)) {
            return Err(error(
                start,
                format!("field {field} appears twice in this source"),
            ));
        }
        current.push(Field {
            name: field.to_string(),
            line: idx + 1,
            value: start + colon + 1..start + line.len(),
        });
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// A field's value as words (continuation lines joined).
pub fn words(text: &str, field: &Field) -> Vec<String> {
    text[field.value.clone()]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A URI without the `user:password@` APT accepts in it (credentials belong
/// in auth.conf; they must never be shown).
pub fn without_credentials(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &str) -> Option<(String, String, Vec<String>)> {
        let e = parse_line(line).ok()??;
        Some((
            line[e.uri].to_string(),
            line[e.suite].to_string(),
            e.components
                .iter()
                .map(|c| line[c.clone()].to_string())
                .collect(),
        ))
    }

    /// Where a comment starts, as APT decides it (the cases facts and edits
    /// used to read differently).
    #[test]
    fn a_hash_ends_the_line_wherever_it_is() {
        // Trailing comments, with or without a space before them.
        assert_eq!(
            entry("deb http://a/debian wheezy main contrib # bpo"),
            Some((
                "http://a/debian".into(),
                "wheezy".into(),
                vec!["main".into(), "contrib".into()]
            ))
        );
        assert_eq!(
            entry("deb http://a/debian wheezy main#x").unwrap().2,
            ["main"]
        );
        // Inside the options: the '[' is never closed.
        let e = parse_line("deb [arch=amd64 # x] http://a/ wheezy main").unwrap_err();
        assert_eq!(e, error(4, "'[' of the options is never closed"));
        // Inside a URI: what is left has no suite.
        let e = parse_line("deb http://a/debian#frag wheezy main").unwrap_err();
        assert_eq!(e.message, "missing suite");
        assert_eq!(parse_line("# deb http://a/ wheezy main").unwrap(), None);
        assert_eq!(parse_line("   ").unwrap(), None);
        assert_eq!(
            entry("deb cdrom:[Debian]/ bookworm main").unwrap().0,
            "cdrom:[Debian]/"
        );
    }

    #[test]
    fn deb822_comments_start_a_line_and_do_not_split_paragraphs() {
        let text = "Types: deb\n# a comment\n#\nURIs: http://a/\nSuites: x\n  y\n # indented: a continuation\nComponents: main\n\nTypes: deb\n";
        let p = paragraphs(text).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].len(), 4);
        let suites = &p[0][2];
        assert_eq!(
            words(text, suites),
            ["x", "y", "#", "indented:", "a", "continuation"]
        );
        assert_eq!(paragraphs("  x\n").unwrap_err().offset, 0);
    }

    #[test]
    fn credentials_are_not_shown() {
        assert_eq!(
            without_credentials("https://user:s3cret@apt.example.org/debian"),
            "https://apt.example.org/debian"
        );
        assert_eq!(without_credentials("http://a/x@y"), "http://a/x@y");
        assert_eq!(without_credentials("cdrom:[Debian]/"), "cdrom:[Debian]/");
    }
}
