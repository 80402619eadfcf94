//! Reading APT source files (one-line `.list` and deb822 `.sources`) into
//! entries with their suites; commented-out entries are kept, marked
//! disabled. Read-only: editing sources is `edits`' job.

use super::AptSource;

fn words_of(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// One `deb [opts] URI SUITE [COMPONENT...]` line, or `None`.
fn one_line_entry(line: &str) -> Option<(Vec<String>, String, String, Vec<String>)> {
    let line = line.split_once(" #").map(|(l, _)| l).unwrap_or(line).trim();
    let (ty, rest) = line.split_once(char::is_whitespace)?;
    if ty != "deb" && ty != "deb-src" {
        return None;
    }
    let mut rest = rest.trim_start();
    if let Some(r) = rest.strip_prefix('[') {
        rest = r.split_once(']')?.1.trim_start();
    }
    let mut w = rest.split_whitespace();
    let uri = w.next()?.to_string();
    let suite = w.next()?.to_string();
    Some((
        vec![ty.to_string()],
        uri,
        suite,
        w.map(str::to_string).collect(),
    ))
}

/// A one-line format file; `# deb ...` lines are disabled entries.
pub fn parse_one_line(file: &str, lines: &[&str]) -> Vec<AptSource> {
    let mut out = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let t = raw.trim();
        let (enabled, text) = match t.strip_prefix('#') {
            Some(r) => (false, r.trim_start()),
            None => (true, t),
        };
        if let Some((types, uri, suite, components)) = one_line_entry(text) {
            out.push(AptSource {
                file: file.to_string(),
                line: i + 1,
                format: "one-line".into(),
                types,
                uris: vec![uri],
                suites: vec![suite],
                components,
                enabled,
            });
        }
    }
    out
}

/// A deb822 file: stanzas separated by blank lines. `Enabled: no` stanzas,
/// and stanzas whose every line is commented out, are disabled entries.
pub fn parse_deb822(file: &str, lines: &[&str]) -> Vec<AptSource> {
    let mut out = Vec::new();
    let mut stanza: Vec<(usize, &str)> = Vec::new();
    let flush = |stanza: &mut Vec<(usize, &str)>, out: &mut Vec<AptSource>| {
        if stanza.is_empty() {
            return;
        }
        let all_commented = stanza.iter().all(|(_, l)| l.trim_start().starts_with('#'));
        let mut fields: Vec<(String, String)> = Vec::new();
        for (_, l) in stanza.iter() {
            let l = if all_commented {
                l.trim_start().trim_start_matches('#')
            } else if l.trim_start().starts_with('#') {
                continue;
            } else {
                l
            };
            if l.starts_with(' ') || l.starts_with('\t') {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(l.trim());
                }
            } else if let Some((k, v)) = l.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| {
            fields
                .iter()
                .find(|(f, _)| f == k)
                .map(|(_, v)| words_of(v))
                .unwrap_or_default()
        };
        let (types, uris, suites) = (get("types"), get("uris"), get("suites"));
        if !types.is_empty() && !uris.is_empty() && !suites.is_empty() {
            let enabled_field = get("enabled");
            let enabled = !all_commented
                && !enabled_field
                    .first()
                    .is_some_and(|v| v.eq_ignore_ascii_case("no"));
            out.push(AptSource {
                file: file.to_string(),
                line: stanza[0].0,
                format: "deb822".into(),
                types,
                uris,
                suites,
                components: get("components"),
                enabled,
            });
        }
        stanza.clear();
    };
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() || l.trim() == "#" {
            flush(&mut stanza, &mut out);
        } else {
            stanza.push((i + 1, l));
        }
    }
    flush(&mut stanza, &mut out);
    out
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
        assert_eq!(s[0].line, 1);
        assert!(s[0].enabled);
        assert_eq!(s[1].suites, ["trixie-backports"]);
        assert!(!s[1].enabled);
    }
}
