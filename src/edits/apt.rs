//! APT sources to the next Debian release: one-line `.list` files and deb822
//! `.sources` files. The suite of every active source (Debian's and third
//! parties': GRNET, ceph, ...) follows a mapping the caller gives (the
//! runbook's: wheezy → jessie; bookworm → trixie in the lab): `-backports`,
//! `-updates`, `-proposed-updates` follow their codename, GRNET-style flat
//! `wheezy/` paths too, and security's old `CODENAME/updates` becomes
//! `CODENAME-security` where the target release names it so (bullseye on).
//!
//! Only the suite token is rewritten. Comments, options (`[arch=…]`,
//! `signed-by`), URIs and disabled sources (`# deb …` lines, `Enabled: no`
//! paragraphs) stay byte for byte; a URI that mentions the old codename is
//! reported, not rewritten. Lines are read by `crate::apt_sources`, the
//! parser `facts` uses too.

use super::{apply_splices, EditError, Edited, Splice};
use crate::apt_sources::{paragraphs, parse_line, without_credentials, words, Field};

pub const RULE: &str = "apt-suite";

/// Old codename → new codename pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuiteMap {
    pub pairs: Vec<(String, String)>,
}

/// Releases that still name security updates `CODENAME/updates`.
const SLASH_UPDATES: [&str; 8] = [
    "squeeze", "wheezy", "jessie", "stretch", "buster", "lenny", "etch", "sarge",
];

impl SuiteMap {
    /// Parses `OLD=NEW`.
    pub fn parse_pair(s: &str) -> Result<(String, String), String> {
        let (old, new) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected OLD=NEW"))?;
        let ok = |c: &str| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
        };
        if !ok(old) || !ok(new) {
            return Err(format!(
                "{s:?}: codenames are lower-case words such as wheezy=jessie"
            ));
        }
        Ok((old.to_string(), new.to_string()))
    }

    pub fn add(&mut self, old: &str, new: &str) {
        self.pairs.retain(|(o, _)| o != old);
        self.pairs.push((old.to_string(), new.to_string()));
    }

    /// The new suite for `suite`, or None when it does not change.
    pub fn map(&self, suite: &str) -> Option<String> {
        let (core, flat) = match suite.strip_suffix('/') {
            Some(c) => (c, "/"),
            None => (suite, ""),
        };
        for (old, new) in &self.pairs {
            let security = || {
                if SLASH_UPDATES.contains(&new.as_str()) {
                    format!("{new}/updates")
                } else {
                    format!("{new}-security")
                }
            };
            let mapped = if core == old {
                Some(new.clone())
            } else if let Some(rest) = core.strip_prefix(old.as_str()) {
                match rest {
                    "/updates" => Some(security()),
                    "-security" => Some(security()),
                    "-backports" | "-backports-sloppy" | "-updates" | "-proposed-updates" => {
                        Some(format!("{new}{rest}"))
                    }
                    _ => None,
                }
            } else {
                None
            };
            if let Some(m) = mapped {
                return Some(format!("{m}{flat}"));
            }
        }
        None
    }

    fn old_in_uri(&self, uri: &str) -> Option<&str> {
        self.pairs.iter().map(|(o, _)| o.as_str()).find(|o| {
            uri.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|part| part == *o)
        })
    }
}

/// Converts a one-line-style `.list` file (or `/etc/apt/sources.list`).
pub fn convert_list(name: &str, text: &str, map: &SuiteMap) -> Result<Edited, EditError> {
    let mut out = Edited::unchanged(text);
    let mut splices = Vec::new();
    let mut offset = 0;
    for (idx, raw) in text.split_inclusive('\n').enumerate() {
        let line_no = idx + 1;
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let entry =
            parse_line(line).map_err(|e| EditError::at(name, text, start + e.offset, e.message))?;
        // Blank, or all comment (a disabled source, too): kept as it is.
        let Some(entry) = entry else { continue };
        let uri = without_credentials(&line[entry.uri.clone()]);
        let suite = &line[entry.suite.clone()];
        if let Some(new) = map.map(suite) {
            let at = start + entry.suite.start;
            splices.push(Splice::new(at..at + suite.len(), new.clone()));
            out.changes
                .push((RULE, format!("line {line_no}: {suite} → {new}")));
            if let Some(old) = map.old_in_uri(&uri) {
                out.note(
                    Some(line_no),
                    RULE,
                    format!("the URI {uri} mentions {old}; check it serves the new release"),
                );
            }
            if suite.ends_with("/updates")
                && !new.ends_with("/updates")
                && uri.contains("security.debian.org")
                && !uri.contains("debian-security")
            {
                out.note(Some(line_no), RULE, format!("{new} is served under http://security.debian.org/debian-security; check the URI {uri}"));
            }
        }
    }
    if !splices.is_empty() {
        out.new = apply_splices(text, &splices);
        convert_list(name, &out.new, &SuiteMap::default())?; // still well formed
    }
    Ok(out)
}

/// Converts a deb822-style `.sources` file.
pub fn convert_sources(name: &str, text: &str, map: &SuiteMap) -> Result<Edited, EditError> {
    let mut out = Edited::unchanged(text);
    let mut splices = Vec::new();
    let paragraphs =
        paragraphs(text).map_err(|e| EditError::at(name, text, e.offset, e.message))?;
    for para in paragraphs {
        let get = |f: &str| para.iter().find(|x| x.name.eq_ignore_ascii_case(f));
        let first = &para[0];
        let value = |f: &Field| text[f.value.clone()].trim().to_string();
        if get("Enabled").is_some_and(|f| value(f).eq_ignore_ascii_case("no")) {
            continue; // a disabled source stays as it is
        }
        for required in ["Types", "URIs", "Suites"] {
            if get(required).is_none() {
                return Err(EditError::at(
                    name,
                    text,
                    line_offset(text, first.line),
                    format!("this source has no {required} field"),
                ));
            }
        }
        let suites = get("Suites").expect("checked");
        let uris = words(text, get("URIs").expect("checked"))
            .iter()
            .map(|u| without_credentials(u))
            .collect::<Vec<_>>()
            .join(" ");
        let body = &text[suites.value.clone()];
        let mut pos = 0;
        for tok in body.split(|c: char| c.is_whitespace()) {
            let at = suites.value.start + pos;
            pos += tok.len() + 1;
            if tok.is_empty() {
                continue;
            }
            if let Some(new) = map.map(tok) {
                splices.push(Splice::new(at..at + tok.len(), new.clone()));
                out.changes
                    .push((RULE, format!("line {}: Suites {tok} → {new}", suites.line)));
                if let Some(old) = map.old_in_uri(&uris) {
                    out.note(
                        Some(suites.line),
                        RULE,
                        format!("the URIs {uris} mention {old}; check they serve the new release"),
                    );
                }
            }
        }
    }
    if !splices.is_empty() {
        out.new = apply_splices(text, &splices);
        convert_sources(name, &out.new, &SuiteMap::default())?;
    }
    Ok(out)
}

fn line_offset(text: &str, line: usize) -> usize {
    text.split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheezy() -> SuiteMap {
        let mut m = SuiteMap::default();
        m.add("wheezy", "jessie");
        m
    }

    #[test]
    fn suites_map_with_their_suffixes() {
        let m = wheezy();
        assert_eq!(m.map("wheezy").as_deref(), Some("jessie"));
        assert_eq!(m.map("wheezy/").as_deref(), Some("jessie/"));
        assert_eq!(
            m.map("wheezy-backports").as_deref(),
            Some("jessie-backports")
        );
        assert_eq!(m.map("wheezy-updates").as_deref(), Some("jessie-updates"));
        assert_eq!(m.map("wheezy/updates").as_deref(), Some("jessie/updates"));
        assert_eq!(m.map("unstable/"), None);
        assert_eq!(m.map("wheezyx"), None);
        let mut b = SuiteMap::default();
        b.add("buster", "bullseye");
        b.add("bookworm", "trixie");
        assert_eq!(
            b.map("buster/updates").as_deref(),
            Some("bullseye-security")
        );
        assert_eq!(
            b.map("bookworm-security").as_deref(),
            Some("trixie-security")
        );
    }

    #[test]
    fn snf_deploy_lists() {
        let ceph = include_str!(
            "../../tests/data/corpus-0.18.1/snf-deploy/files/etc/apt/sources.list.d/ceph.list"
        );
        let ceph_019 = include_str!(
            "../../tests/data/corpus-0.19/snf-deploy/files/etc/apt/sources.list.d/ceph.list"
        );
        assert_eq!(convert_list("c", ceph, &wheezy()).unwrap().new, ceph_019);
        let grnet = "# Synnefo packages\ndeb http://apt.dev.grnet.gr wheezy/\ndeb-src http://apt.dev.grnet.gr wheezy/\ndeb http://apt.dev.grnet.gr unstable/\n";
        assert_eq!(
            convert_list("g", grnet, &wheezy()).unwrap().new,
            "# Synnefo packages\ndeb http://apt.dev.grnet.gr jessie/\ndeb-src http://apt.dev.grnet.gr jessie/\ndeb http://apt.dev.grnet.gr unstable/\n"
        );
    }

    #[test]
    fn options_comments_and_disabled_lines_are_kept() {
        let src = "#deb http://x/debian wheezy main\ndeb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://x/debian wheezy-backports main contrib # bpo\n  deb http://security.debian.org/ wheezy/updates main\n";
        let out = convert_list("l", src, &wheezy()).unwrap();
        assert_eq!(out.new, "#deb http://x/debian wheezy main\ndeb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://x/debian jessie-backports main contrib # bpo\n  deb http://security.debian.org/ jessie/updates main\n");
        assert_eq!(out.changes.len(), 2);
    }

    #[test]
    fn malformed_lines_are_located() {
        let m = wheezy();
        let e = convert_list(
            "l",
            "deb http://x wheezy main\ndeb [arch=amd64 http://x wheezy main\n",
            &m,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "l:2:5: '[' of the options is never closed");
        let e = convert_list("l", "rpm http://x wheezy main\n", &m).unwrap_err();
        assert_eq!(
            e.to_string(),
            "l:1:1: expected deb or deb-src, found \"rpm\""
        );
        let e = convert_list("l", "deb http://x wheezy\n", &m).unwrap_err();
        assert!(e.to_string().starts_with("l:1:"));
    }

    #[test]
    fn deb822_sources() {
        let src = "# Debian\nTypes: deb deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n  bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n\nEnabled: no\nTypes: deb\nURIs: http://old/\nSuites: bookworm\nComponents: main\n";
        let mut m = SuiteMap::default();
        m.add("bookworm", "trixie");
        let out = convert_sources("s", src, &m).unwrap();
        assert_eq!(
            out.new,
            src.replacen("bookworm", "trixie", 4)
                .replace("Suites: bookworm-security", "Suites: trixie-security")
        );
        assert!(out.new.ends_with("Suites: bookworm\nComponents: main\n"));
        assert_eq!(out.changes.len(), 4);
        let e = convert_sources("s", "Types: deb\nURIs http://x\n", &m).unwrap_err();
        assert_eq!(e.to_string(), "s:2:1: expected 'Field: value'");
        let e = convert_sources("s", "Types: deb\nSuites: x\n", &m).unwrap_err();
        assert_eq!(e.to_string(), "s:1:1: this source has no URIs field");
    }
}
