//! The file as written (serde with spans, unknown keys refused) and its
//! validation into the model. Every problem is collected with its location,
//! so one `inventory check` lists them all.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{
    Cluster, Credentials, Host, Inventory, InventoryError, JumpHop, Problem, Role, SshSettings,
    FORMAT_VERSION,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    version: Option<Spanned<i64>>,
    site: Option<RawSite>,
    ssh: Option<RawSsh>,
    #[serde(default)]
    clusters: Vec<Spanned<RawCluster>>,
    #[serde(default)]
    hosts: Vec<Spanned<RawHost>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSsh {
    user: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    identity_file: Option<Spanned<String>>,
    known_hosts: Option<Spanned<String>>,
    config: Option<Spanned<String>>,
    jump: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: Spanned<String>,
    rapi_url: Spanned<String>,
    rapi_address: Option<Spanned<String>>,
    rapi_ca: Option<Spanned<String>>,
    rapi_credentials_file: Option<Spanned<String>>,
    rapi_credentials_env: Option<Spanned<String>>,
    // Accepted by the parser only to refuse them with a better sentence than
    // "unknown field".
    rapi_password: Option<Spanned<toml::Value>>,
    rapi_credentials: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    address: Option<Spanned<String>>,
    #[serde(default)]
    roles: Vec<Spanned<String>>,
    cluster: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    identity_file: Option<Spanned<String>>,
    jump: Option<Spanned<String>>,
}

/// Collects problems against one file's text.
struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    base: PathBuf,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn at(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Resolves a path named in the inventory; it must exist.
    fn existing_file(&mut self, v: &Spanned<String>, field: &str, what: &str) -> PathBuf {
        let p = resolve(&self.base, v.get_ref());
        if v.get_ref().is_empty() {
            self.at(v.span(), field, format!("{what} is empty"));
        } else if !p.is_file() {
            self.at(
                v.span(),
                field,
                format!("{what} {} does not exist (relative paths are relative to the inventory's folder)", p.display()),
            );
        }
        p
    }

    fn port(&mut self, v: &Spanned<i64>, field: &str) -> Option<u16> {
        match u16::try_from(*v.get_ref()) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.at(
                    v.span(),
                    field,
                    format!("port {} is not in 1..65535", v.get_ref()),
                );
                None
            }
        }
    }

    /// A ProxyJump value: every hop `[user@]host[:port]` (or a host's name).
    fn jump(&mut self, v: &Spanned<String>, field: &str) -> Option<String> {
        let j = self.non_empty(v, field)?;
        for hop in j.split(',') {
            if let Err(e) = JumpHop::parse(hop) {
                self.at(v.span(), field, format!("jump host {e}"));
                return None;
            }
        }
        Some(j)
    }

    fn non_empty(&mut self, v: &Spanned<String>, field: &str) -> Option<String> {
        if v.get_ref().trim().is_empty() {
            self.at(v.span(), field, "must not be empty");
            None
        } else {
            Some(v.get_ref().clone())
        }
    }
}

pub(super) fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
    let raw: RawInventory = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let (line, column) = line_col(text, offset);
            return Err(InventoryError::Invalid(vec![Problem {
                file: path.to_path_buf(),
                line,
                column,
                field: field_at(text, offset),
                message: e.message().trim().to_string(),
            }]));
        }
    };
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = std::path::absolute(&base).unwrap_or(base);
    let mut cx = Ctx {
        file: path,
        text,
        base,
        problems: Vec::new(),
    };

    match &raw.version {
        None => cx.at(0..0, "version", "missing; add `version = 1` at the top"),
        Some(v) if *v.get_ref() != FORMAT_VERSION => cx.at(
            v.span(),
            "version",
            format!(
                "format version {} is not supported by this build (it reads version {FORMAT_VERSION})",
                v.get_ref()
            ),
        ),
        Some(_) => {}
    }

    let ssh = raw
        .ssh
        .map(|s| ssh_defaults(&mut cx, s))
        .unwrap_or_default();

    let mut clusters = Vec::new();
    let mut cluster_names = HashSet::new();
    for (i, c) in raw.clusters.into_iter().enumerate() {
        let field = |f: &str| format!("clusters[{i}].{f}");
        let span = c.span();
        let c = c.into_inner();
        let name = cx.non_empty(&c.name, &field("name")).unwrap_or_default();
        if !cluster_names.insert(name.clone()) {
            cx.at(
                c.name.span(),
                field("name"),
                format!("cluster `{name}` is defined twice"),
            );
        }
        let url = c.rapi_url.get_ref().clone();
        let userinfo = url_userinfo(&url);
        if userinfo.is_some() {
            cx.at(
                c.rapi_url.span(),
                field("rapi_url"),
                "holds a user and password (`user:password@`); remove them and put \
                 `user:password` in a credentials file (rapi_credentials_file, mode 0600)",
            );
        }
        if !url.starts_with("https://") {
            let shown = match userinfo {
                Some(u) => url.replacen(u, "<redacted>", 1),
                None => url.clone(),
            };
            cx.at(
                c.rapi_url.span(),
                field("rapi_url"),
                format!("`{shown}` is not https:// (RAPI is only spoken over verified TLS)"),
            );
        }
        for inline in [&c.rapi_password, &c.rapi_credentials]
            .into_iter()
            .flatten()
        {
            let key = if c.rapi_password.as_ref().map(Spanned::span) == Some(inline.span()) {
                "rapi_password"
            } else {
                "rapi_credentials"
            };
            cx.at(
                inline.span(),
                field(key),
                "inline passwords are refused; put `user:password` in a file \
                 (rapi_credentials_file) or an environment variable (rapi_credentials_env)",
            );
        }
        let rapi_ca = match &c.rapi_ca {
            Some(ca) => cx.existing_file(ca, &field("rapi_ca"), "CA certificate"),
            None => {
                cx.at(
                    span.clone(),
                    field("rapi_ca"),
                    "missing: name the PEM the RAPI certificate is verified against \
                     (TLS is never left unverified)",
                );
                PathBuf::new()
            }
        };
        let credentials = match (&c.rapi_credentials_file, &c.rapi_credentials_env) {
            (Some(f), None) => {
                let field = field("rapi_credentials_file");
                let path = cx.existing_file(f, &field, "credentials file");
                if path.is_file() {
                    if let Err(reason) = crate::fsutil::owner_only(&path) {
                        cx.at(
                            f.span(),
                            field,
                            format!("credentials file {}: {reason}", path.display()),
                        );
                    }
                }
                Credentials::File(path)
            }
            (None, Some(e)) => Credentials::Env(
                cx.non_empty(e, &field("rapi_credentials_env"))
                    .unwrap_or_default(),
            ),
            (Some(_), Some(e)) => {
                cx.at(
                    e.span(),
                    field("rapi_credentials_env"),
                    "set either rapi_credentials_file or rapi_credentials_env, not both",
                );
                Credentials::Env(String::new())
            }
            (None, None) => {
                cx.at(
                    span,
                    field("rapi_credentials_file"),
                    "missing: set rapi_credentials_file or rapi_credentials_env",
                );
                Credentials::Env(String::new())
            }
        };
        if let Some(a) = &c.rapi_address {
            if a.get_ref().parse::<std::net::IpAddr>().is_err() {
                cx.at(
                    a.span(),
                    field("rapi_address"),
                    format!("`{}` is not an IP address", a.get_ref()),
                );
            }
        }
        clusters.push(Cluster {
            name,
            rapi_url: url,
            rapi_address: c.rapi_address.map(Spanned::into_inner),
            rapi_ca,
            credentials,
        });
    }

    let mut hosts = Vec::new();
    let mut host_names = HashSet::new();
    for (i, h) in raw.hosts.into_iter().enumerate() {
        let field = |f: &str| format!("hosts[{i}].{f}");
        let span = h.span();
        let h = h.into_inner();
        let name = cx.non_empty(&h.name, &field("name")).unwrap_or_default();
        if !host_names.insert(name.clone()) {
            cx.at(
                h.name.span(),
                field("name"),
                format!("host `{name}` is listed twice"),
            );
        }
        let mut roles = Vec::new();
        for r in &h.roles {
            match Role::parse(r.get_ref()) {
                Some(role) if roles.contains(&role) => cx.at(
                    r.span(),
                    field("roles"),
                    format!("role `{role}` is listed twice"),
                ),
                Some(role) => roles.push(role),
                None => cx.at(
                    r.span(),
                    field("roles"),
                    format!(
                        "unknown role `{}` (known: {})",
                        r.get_ref(),
                        Role::known_list()
                    ),
                ),
            }
        }
        let cluster = h.cluster.as_ref().map(|c| c.get_ref().clone());
        match (&h.cluster, roles.contains(&Role::GanetiNode)) {
            (Some(c), _) if !cluster_names.contains(c.get_ref()) => cx.at(
                c.span(),
                field("cluster"),
                format!(
                    "cluster `{}` is not defined in a [[clusters]] table",
                    c.get_ref()
                ),
            ),
            (None, true) => cx.at(
                span,
                field("cluster"),
                format!("host `{name}` has role ganeti-node but names no cluster"),
            ),
            _ => {}
        }
        let address = h
            .address
            .as_ref()
            .and_then(|a| cx.non_empty(a, &field("address")));
        let user = h
            .user
            .as_ref()
            .and_then(|u| cx.non_empty(u, &field("user")));
        let port = h.port.as_ref().and_then(|p| cx.port(p, &field("port")));
        let identity_file = h
            .identity_file
            .as_ref()
            .map(|f| cx.existing_file(f, &field("identity_file"), "identity file"));
        let jump = h.jump.as_ref().and_then(|j| cx.jump(j, &field("jump")));
        hosts.push(Host {
            name,
            address,
            roles,
            cluster,
            ssh: SshSettings {
                user,
                port,
                identity_file,
                jump,
                ..Default::default()
            },
        });
    }

    if !cx.problems.is_empty() {
        return Err(InventoryError::Invalid(cx.problems));
    }
    let site_name = raw.site.and_then(|s| s.name).unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Ok(Inventory {
        path: path.to_path_buf(),
        site_name,
        ssh,
        clusters,
        hosts,
    })
}

fn ssh_defaults(cx: &mut Ctx<'_>, s: RawSsh) -> SshSettings {
    let connect_timeout =
        s.connect_timeout
            .as_ref()
            .and_then(|t| match u32::try_from(*t.get_ref()) {
                Ok(v) if v > 0 => Some(v),
                _ => {
                    cx.at(
                        t.span(),
                        "ssh.connect_timeout",
                        "must be a positive number of seconds",
                    );
                    None
                }
            });
    SshSettings {
        user: s.user.as_ref().and_then(|u| cx.non_empty(u, "ssh.user")),
        port: s.port.as_ref().and_then(|p| cx.port(p, "ssh.port")),
        identity_file: s
            .identity_file
            .as_ref()
            .map(|f| cx.existing_file(f, "ssh.identity_file", "identity file")),
        known_hosts: s
            .known_hosts
            .as_ref()
            .map(|f| cx.existing_file(f, "ssh.known_hosts", "known_hosts file")),
        config: s
            .config
            .as_ref()
            .map(|f| cx.existing_file(f, "ssh.config", "ssh config file")),
        jump: s.jump.as_ref().and_then(|j| cx.jump(j, "ssh.jump")),
        connect_timeout,
    }
}

/// A path from the inventory: `~/` is the user's home (as ssh reads it),
/// relative paths are relative to the inventory's folder.
fn resolve(base: &Path, p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => base.join(p),
    }
}

pub(super) use crate::text::line_col;

/// The `user:password` (or `user`) part of a URL's authority, if any.
fn url_userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit_once('@').map(|(userinfo, _)| userinfo)
}

/// Best-effort dotted field path (`hosts[2].port`) of the key at `offset`,
/// from the table headers above it; for parser errors, which carry only a
/// span.
fn field_at(text: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let mut pos = 0;
    let mut key = None;
    for line in text.split_inclusive('\n') {
        let end = pos + line.len();
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{n}]");
            *n += 1;
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_string();
        } else if offset >= pos && offset < end.max(pos + 1) {
            if let Some((k, _)) = t.split_once('=') {
                let k = k.trim().trim_matches('"');
                // `= 1` has no key: the problem is the table's (or the top's).
                if !t.starts_with('#') && !k.is_empty() {
                    key = Some(k.to_string());
                }
            }
        }
        if offset < end {
            break;
        }
        pos = end;
    }
    match (table.is_empty(), key) {
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
        (true, None) => "(top level)".to_string(),
        (false, None) => table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "id_ed25519",
            "known_hosts",
            "rapi-ca.pem",
            "rapi.credentials",
        ] {
            std::fs::write(d.path().join(f), "x\n").unwrap();
        }
        private(&d.path().join("rapi.credentials"));
        d
    }

    fn private(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    const GOOD: &str = r#"
version = 1

[site]
name = "lab"

[ssh]
user = "root"
port = 22
identity_file = "id_ed25519"
known_hosts = "known_hosts"
connect_timeout = 5

[[clusters]]
name = "cluster.lab.test"
rapi_url = "https://cluster.lab.test:5080"
rapi_address = "198.51.100.10"
rapi_ca = "rapi-ca.pem"
rapi_credentials_file = "rapi.credentials"

[[hosts]]
name = "node1.lab.test"
address = "198.51.100.11"
roles = ["ganeti-node"]
cluster = "cluster.lab.test"

[[hosts]]
name = "astakos.lab.test"
roles = ["astakos", "db", "web"]
port = 2222
"#;

    fn parse_in(d: &tempfile::TempDir, text: &str) -> Result<Inventory, InventoryError> {
        Inventory::parse(&d.path().join("site.toml"), text)
    }

    fn problems(d: &tempfile::TempDir, text: &str) -> Vec<Problem> {
        parse_in(d, text).unwrap_err().problems().to_vec()
    }

    #[test]
    fn reads_the_documented_example() {
        let d = dir();
        let inv = parse_in(&d, GOOD).unwrap();
        assert_eq!(inv.site_name, "lab");
        assert_eq!(inv.hosts.len(), 2);
        assert_eq!(inv.hosts[0].destination(), "198.51.100.11");
        assert_eq!(inv.hosts[1].destination(), "astakos.lab.test");
        assert_eq!(inv.hosts[1].roles, [Role::Astakos, Role::Db, Role::Web]);
        assert_eq!(inv.hosts[1].ssh.port, Some(2222));
        assert_eq!(inv.ssh.identity_file, Some(d.path().join("id_ed25519")));
        assert_eq!(
            inv.clusters[0].credentials,
            Credentials::File(d.path().join("rapi.credentials"))
        );
        assert_eq!(inv.hosts_with(Role::GanetiNode).count(), 1);
    }

    #[test]
    fn the_doc_example_is_accepted() {
        // docs/inventory.md's example must stay valid (its files made up).
        let doc = include_str!("../../docs/inventory.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let d = dir();
        std::fs::create_dir(d.path().join("ssh")).unwrap();
        std::fs::write(d.path().join("ssh/id_ed25519"), "").unwrap();
        std::fs::write(d.path().join("ssh_config"), "").unwrap();
        let inv = parse_in(&d, example).unwrap();
        assert_eq!(inv.hosts.len(), 2);
        assert_eq!(inv.ssh.jump.as_deref(), Some("bastion.example.org"));
    }

    #[test]
    fn unknown_key_is_named_with_line_and_field() {
        let d = dir();
        let text = GOOD.replace("port = 2222", "prot = 2222");
        let p = problems(&d, &text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].line, 30);
        assert_eq!(p[0].field, "hosts[1].prot");
        assert!(
            p[0].message.contains("unknown field `prot`"),
            "{}",
            p[0].message
        );
        assert!(p[0].to_string().contains("site.toml:30:"), "{}", p[0]);
    }

    #[test]
    fn syntax_error_is_located() {
        let d = dir();
        let p = problems(&d, "version = 1\n[[hosts]]\nname = \"a\nroles = []\n");
        assert_eq!(p[0].line, 3, "{p:?}");
        assert_eq!(p[0].field, "hosts[0].name");
    }

    #[test]
    fn a_line_without_a_key_names_its_table() {
        // Found by fuzz/fuzz_targets/inventory.rs: the field was "".
        let d = dir();
        let p = problems(&d, "=!e| s    ");
        assert_eq!(
            (p[0].line, p[0].field.as_str()),
            (1, "(top level)"),
            "{p:?}"
        );
        let p = problems(&d, "version = 1\n[ssh]\n = 2\n");
        assert_eq!((p[0].line, p[0].field.as_str()), (3, "ssh"), "{p:?}");
    }

    #[test]
    fn every_semantic_problem_is_listed() {
        let d = dir();
        let text = GOOD
            .replace("version = 1", "version = 2")
            .replace("\"astakos\", \"db\"", "\"astakos\", \"dbx\"")
            .replace("cluster = \"cluster.lab.test\"", "cluster = \"other\"")
            .replace("https://cluster", "http://cluster")
            .replace("known_hosts = \"known_hosts\"", "known_hosts = \"missing\"")
            .replace("port = 2222", "port = 70000")
            .replace("astakos.lab.test", "node1.lab.test");
        let p = problems(&d, &text);
        let fields: Vec<_> = p.iter().map(|p| (p.line, p.field.as_str())).collect();
        assert_eq!(
            fields,
            [
                (2, "version"),
                (11, "ssh.known_hosts"),
                (16, "clusters[0].rapi_url"),
                (25, "hosts[0].cluster"),
                (28, "hosts[1].name"),
                (29, "hosts[1].roles"),
                (30, "hosts[1].port"),
            ],
            "{p:#?}"
        );
        assert!(p[5].message.contains("unknown role `dbx`"));
    }

    #[test]
    fn inline_password_and_missing_ca_are_refused() {
        let d = dir();
        let text = GOOD.replace("rapi_ca = \"rapi-ca.pem\"\n", "").replace(
            "rapi_credentials_file = \"rapi.credentials\"",
            "rapi_password = \"secret\"",
        );
        let p = problems(&d, &text);
        let msgs: Vec<_> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "clusters[0].rapi_password",
                "clusters[0].rapi_ca",
                "clusters[0].rapi_credentials_file"
            ]
        );
        // The password itself never appears in the message.
        assert!(!p.iter().any(|p| p.to_string().contains("secret")));
    }

    #[test]
    fn a_password_in_the_rapi_url_is_refused_without_showing_it() {
        let d = dir();
        for url in [
            "https://lab:s3cret@cluster.lab.test:5080",
            "https://lab@cluster.lab.test:5080/",
            "http://lab:s3cret@cluster.lab.test",
        ] {
            let text = GOOD.replace("https://cluster.lab.test:5080", url);
            let p = problems(&d, &text);
            assert_eq!((p[0].line, p[0].column), (16, 12), "{url}: {p:?}");
            assert_eq!(p[0].field, "clusters[0].rapi_url");
            assert!(
                p[0].message.contains("user and password")
                    && p[0].message.contains("credentials file"),
                "{}",
                p[0]
            );
            assert!(
                p[0].to_string()
                    .contains("site.toml:16:12: clusters[0].rapi_url:"),
                "{}",
                p[0]
            );
            assert!(!p.iter().any(|p| p.to_string().contains("s3cret")), "{p:?}");
        }
        // An `@` in the path is not a user.
        let text = GOOD.replace(
            "https://cluster.lab.test:5080",
            "https://cluster.lab.test:5080/x@y",
        );
        assert!(parse_in(&d, &text).is_ok());
    }

    #[test]
    fn a_credentials_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir();
        let creds = d.path().join("rapi.credentials");
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
        let p = problems(&d, GOOD);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            (p[0].line, p[0].field.as_str()),
            (19, "clusters[0].rapi_credentials_file")
        );
        let shown = p[0].to_string();
        assert!(shown.contains(&creds.display().to_string()), "{shown}");
        assert!(
            shown.contains("mode 0644") && shown.contains("chmod 600"),
            "{shown}"
        );
        private(&creds);
        assert!(parse_in(&d, GOOD).is_ok());
    }

    #[test]
    fn ganeti_node_needs_a_cluster() {
        let d = dir();
        let text = GOOD.replace("cluster = \"cluster.lab.test\"\n", "");
        let p = problems(&d, &text);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "hosts[0].cluster");
        assert_eq!(p[0].line, 21);
    }

    #[test]
    fn missing_version_is_an_error() {
        let d = dir();
        let p = problems(&d, "[[hosts]]\nname = \"a\"\n");
        assert_eq!(p[0].field, "version");
    }
}
