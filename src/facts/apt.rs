//! Reading APT source files (one-line `.list` and deb822 `.sources`) into
//! entries with their suites; commented-out entries are kept, marked
//! disabled. Lines are read by `crate::apt_sources`, the parser `edits`
//! rewrites them with, so both agree on where a comment starts. URIs are
//! shown without credentials. Read-only: editing sources is `edits`' job.

use super::AptSource;
use crate::apt_sources::{paragraphs, parse_line, without_credentials, words};

/// A one-line format file; `# deb ...` lines are disabled entries. Lines APT
/// would refuse are not sources and are left out.
pub fn parse_one_line(file: &str, lines: &[&str]) -> Vec<AptSource> {
    let mut out = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let t = raw.trim_start();
        let (enabled, text) = match t.strip_prefix('#') {
            Some(r) => (false, r.trim_start_matches('#').trim_start()),
            None => (true, *raw),
        };
        let Ok(Some(e)) = parse_line(text) else {
            continue;
        };
        out.push(AptSource {
            file: file.to_string(),
            line: i + 1,
            format: "one-line".into(),
            types: vec![text[e.kind].to_string()],
            uris: vec![without_credentials(&text[e.uri])],
            suites: vec![text[e.suite].to_string()],
            components: e
                .components
                .iter()
                .map(|c| text[c.clone()].to_string())
                .collect(),
            enabled,
        });
    }
    out
}

/// A deb822 file. `Enabled: no` stanzas, and stanzas (lines between blank
/// lines) whose every line is commented out, are disabled entries.
pub fn parse_deb822(file: &str, lines: &[&str]) -> Vec<AptSource> {
    let mut out = Vec::new();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    // A file APT refuses yields what precedes the error: nothing, here.
    if let Ok(paras) = paragraphs(&text) {
        for p in paras {
            out.extend(entry(file, &text, &p, 0, true));
        }
    }
    // Commented-out stanzas: every line of a blank-separated group is '#'.
    let mut group: Vec<(usize, &str)> = Vec::new();
    let flush = |group: &mut Vec<(usize, &str)>, out: &mut Vec<AptSource>| {
        if !group.is_empty() && group.iter().all(|(_, l)| l.starts_with('#')) {
            let body: String = group
                .iter()
                .map(|(_, l)| format!("{}\n", l.trim_start_matches('#').trim_start()))
                .collect();
            if let Ok(paras) = paragraphs(&body) {
                for p in paras {
                    out.extend(entry(file, &body, &p, group[0].0 - 1, false));
                }
            }
        }
        group.clear();
    };
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            flush(&mut group, &mut out);
        } else {
            group.push((i + 1, l));
        }
    }
    flush(&mut group, &mut out);
    out.sort_by_key(|s| s.line);
    out
}

/// The source a paragraph describes, if it has Types, URIs and Suites.
fn entry(
    file: &str,
    text: &str,
    para: &[crate::apt_sources::Field],
    line_base: usize,
    active: bool,
) -> Option<AptSource> {
    let get = |k: &str| {
        para.iter()
            .find(|f| f.name.eq_ignore_ascii_case(k))
            .map(|f| words(text, f))
            .unwrap_or_default()
    };
    let (types, uris, suites) = (get("types"), get("uris"), get("suites"));
    if types.is_empty() || uris.is_empty() || suites.is_empty() {
        return None;
    }
    let enabled = active
        && !get("enabled")
            .first()
            .is_some_and(|v| v.eq_ignore_ascii_case("no"));
    Some(AptSource {
        file: file.to_string(),
        line: line_base + para[0].line,
        format: "deb822".into(),
        types,
        uris: uris.iter().map(|u| without_credentials(u)).collect(),
        suites,
        components: get("components"),
        enabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_options_and_comments() {
        let s = parse_one_line(
            "f",
            &[
                "deb [arch=amd64] http://a/debian bookworm main contrib # note",
                "#deb-src http://a/debian bookworm main",
                "# just a comment",
                "deb cdrom:[Debian]/ bookworm main",
            ],
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].components, ["main", "contrib"]);
        assert!(!s[1].enabled && s[1].types == ["deb-src"]);
        assert_eq!(s[2].uris, ["cdrom:[Debian]/"]);
    }

    /// The cases facts and edits used to read differently: facts now reads
    /// them as APT (and `edits`) does.
    #[test]
    fn comments_start_where_apt_says() {
        let s = parse_one_line(
            "f",
            &[
                "deb [arch=amd64 # x] http://a/debian wheezy main",
                "deb http://a/debian#frag wheezy main",
                "deb http://a/debian wheezy main#trailing",
                "deb https://user:s3cret@apt.example.org/debian wheezy main",
            ],
        );
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(
            (s[0].line, s[0].components.clone()),
            (3, vec!["main".to_string()])
        );
        assert_eq!(s[1].uris, ["https://apt.example.org/debian"]);
        let d = parse_deb822(
            "f",
            &[
                "Types: deb",
                "#",
                "URIs: https://u:p@a/debian",
                "Suites: trixie",
                "  trixie-updates",
                "Components: main",
            ],
        );
        assert_eq!(
            d.len(),
            1,
            "a '#' line neither ends nor breaks the stanza: {d:?}"
        );
        assert_eq!(d[0].suites, ["trixie", "trixie-updates"]);
        assert_eq!(d[0].uris, ["https://a/debian"]);
        // Edits agree: the same lines are errors or the same entries there.
        let map = crate::edits::apt::SuiteMap::default();
        assert!(crate::edits::apt::convert_list(
            "f",
            "deb [arch=amd64 # x] http://a/ wheezy main\n",
            &map
        )
        .is_err());
        assert!(crate::edits::apt::convert_list(
            "f",
            "deb http://a/debian#frag wheezy main\n",
            &map
        )
        .is_err());
    }

    #[test]
    fn deb822_commented_stanza_and_continuations() {
        let s = parse_deb822(
            "f",
            &[
                "# header comment",
                "Types: deb",
                "URIs: http://a/debian",
                "Suites: trixie",
                "Components: main",
                "Signed-By:",
                " -----BEGIN PGP PUBLIC KEY BLOCK-----",
                "",
                "#Types: deb",
                "#URIs: http://b/",
                "#Suites: trixie-backports",
            ],
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].line, 2, "the line of its first field");
        assert!(s[0].enabled);
        assert_eq!(s[1].suites, ["trixie-backports"]);
        assert!(!s[1].enabled);
    }
}
