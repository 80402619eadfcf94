//! The site inventory: hosts, roles, SSH endpoints, Ganeti clusters. Parsing
//! and validation touch no network. Format: `docs/inventory.md`.
//!
//! Owns: reading `site.toml` into [`Inventory`] (every problem named by file,
//! line, column and field), the Ansible import, and comparing what a cluster
//! reports with the inventory (`discover`).
//! Never: dials out (the command layer asks RAPI and hands the answer in),
//! reads secrets (only checks that the file naming them exists), or writes a
//! file it was not asked to write.

// Explicit paths, so that fuzz/ can compile this file as a module of its own
// (as src/edits.rs does).
#[path = "inventory/ansible.rs"]
mod ansible;
#[path = "inventory/discover.rs"]
pub mod discover;
#[path = "inventory/raw.rs"]
mod raw;

use std::fmt;
use std::path::{Path, PathBuf};

pub use ansible::{
    import_ansible, import_ansible_text, AnsibleError, Imported, RoleMap, MAX_HOSTS,
};

/// Jump hosts in front of jump hosts, at most (a loop ends there).
const MAX_JUMP_DEPTH: usize = 8;

/// The only format version this build reads.
pub const FORMAT_VERSION: i64 = 1;

/// A validated site inventory. Paths are absolute (resolved against the
/// inventory file's folder).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inventory {
    /// The file it was read from.
    pub path: PathBuf,
    pub site_name: String,
    /// The `[ssh]` table: settings for every host.
    pub ssh: SshSettings,
    pub clusters: Vec<Cluster>,
    pub hosts: Vec<Host>,
}

/// How hosts are reached over SSH. One type for the inventory's `[ssh]`
/// defaults, for a host's overrides, and for both merged
/// ([`Inventory::ssh_target`]); anything `None` is left to OpenSSH.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SshSettings {
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    /// Used instead of the user's known_hosts files when set.
    pub known_hosts: Option<PathBuf>,
    /// Passed as `ssh -F`.
    pub config: Option<PathBuf>,
    /// ProxyJump: comma-separated hops, each the name of an inventory host
    /// or `[user@]host[:port]`.
    pub jump: Option<String>,
    pub connect_timeout: Option<u32>,
}

impl SshSettings {
    /// These settings, with `defaults` wherever they say nothing.
    pub fn or(&self, defaults: &SshSettings) -> SshSettings {
        SshSettings {
            user: self.user.clone().or_else(|| defaults.user.clone()),
            port: self.port.or(defaults.port),
            identity_file: self
                .identity_file
                .clone()
                .or_else(|| defaults.identity_file.clone()),
            known_hosts: self
                .known_hosts
                .clone()
                .or_else(|| defaults.known_hosts.clone()),
            config: self.config.clone().or_else(|| defaults.config.clone()),
            jump: self.jump.clone().or_else(|| defaults.jump.clone()),
            connect_timeout: self.connect_timeout.or(defaults.connect_timeout),
        }
    }
}

/// How to reach one host: where to connect, the settings that apply
/// (inventory defaults and the host's overrides, resolved), and the jump
/// host in front of it, resolved the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SshTarget {
    /// What messages call it: the inventory's name, or the jump as written.
    pub name: String,
    /// Address or ssh_config alias.
    pub destination: String,
    /// Resolved; `jump` is left as written, `via` is what it resolved to.
    pub settings: SshSettings,
    /// The last hop before this host (its own `via` the one before that).
    pub via: Option<Box<SshTarget>>,
}

impl SshTarget {
    /// The jump hosts in the order they are connected: the nearest to us
    /// first, the one in front of this host last.
    pub fn hops(&self) -> Vec<&SshTarget> {
        let mut hops = Vec::new();
        let mut at = self.via.as_deref();
        while let Some(h) = at {
            hops.push(h);
            at = h.via.as_deref();
        }
        hops.reverse();
        hops
    }
}

/// One hop of a jump written `[user@]host[:port]` (`[addr]:port` for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHop {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl JumpHop {
    pub fn parse(spec: &str) -> Result<JumpHop, String> {
        let spec = spec.trim();
        let (user, rest) = match spec.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, spec),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner
                .split_once(']')
                .ok_or_else(|| format!("`{spec}`: `[` without `]`"))?;
            (h, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                _ => (rest, None),
            }
        };
        let port = match port {
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => return Err(format!("`{spec}`: port `{p}` is not in 1..65535")),
            },
            None => None,
        };
        if host.is_empty() || user.as_deref() == Some("") || host.contains(char::is_whitespace) {
            return Err(format!("`{spec}` is not [user@]host[:port]"));
        }
        Ok(JumpHop {
            user,
            host: host.to_string(),
            port,
        })
    }
}

/// One Ganeti cluster and how to reach its RAPI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cluster {
    pub name: String,
    pub rapi_url: String,
    pub rapi_address: Option<String>,
    pub rapi_ca: PathBuf,
    pub credentials: Credentials,
}

/// Where the RAPI `user:password` line is read from (never inline).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Credentials {
    File(PathBuf),
    Env(String),
}

/// One host of the site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Host {
    pub name: String,
    /// Address or ssh_config alias to connect to; the name when `None`.
    pub address: Option<String>,
    pub roles: Vec<Role>,
    pub cluster: Option<String>,
    /// This host's own SSH settings (user, port, identity_file, jump), over
    /// the inventory's `[ssh]`.
    pub ssh: SshSettings,
}

impl Host {
    /// What `ssh` is given as destination.
    pub fn destination(&self) -> &str {
        self.address.as_deref().unwrap_or(&self.name)
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// What a host does in the site (`docs/inventory.md`, "Roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    GanetiNode,
    Astakos,
    Cyclades,
    Pithos,
    Db,
    Mq,
    Web,
    Admin,
    Stats,
    Cms,
    Vnc,
}

impl Role {
    pub const ALL: [Role; 11] = [
        Role::GanetiNode,
        Role::Astakos,
        Role::Cyclades,
        Role::Pithos,
        Role::Db,
        Role::Mq,
        Role::Web,
        Role::Admin,
        Role::Stats,
        Role::Cms,
        Role::Vnc,
    ];

    /// The name used in the inventory.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::GanetiNode => "ganeti-node",
            Role::Astakos => "astakos",
            Role::Cyclades => "cyclades",
            Role::Pithos => "pithos",
            Role::Db => "db",
            Role::Mq => "mq",
            Role::Web => "web",
            Role::Admin => "admin",
            Role::Stats => "stats",
            Role::Cms => "cms",
            Role::Vnc => "vnc",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn known_list() -> String {
        Role::ALL.map(Role::as_str).join(", ")
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One thing wrong with an inventory, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, e.g. `hosts[2].roles`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.field,
            self.message
        )
    }
}

/// Why an inventory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory {}: {source}; check the path", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        let file = self.0.first().map(|p| p.file.display().to_string());
        write!(
            f,
            "inventory {} has {n} problem{}; fix {} and run `snf-upgrade inventory check` again",
            file.as_deref().unwrap_or("?"),
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" },
        )?;
        for p in self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl InventoryError {
    /// The located problems (empty for an unreadable file).
    pub fn problems(&self) -> &[Problem] {
        match self {
            InventoryError::Invalid(p) => p,
            InventoryError::Read { .. } => &[],
        }
    }
}

impl Inventory {
    /// Reads and validates the inventory at `path`.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Inventory::parse(path, &text)
    }

    /// Parses and validates `text` as if read from `path` (relative paths
    /// inside resolve against `path`'s folder; files named must exist).
    pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
        raw::parse(path, text)
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// How to reach `host`: the one place where the inventory's `[ssh]`
    /// defaults, the host's overrides and its jump hosts are resolved.
    pub fn ssh_target(&self, host: &Host) -> SshTarget {
        self.resolve(&host.name, host.destination(), &host.ssh, 0)
    }

    fn resolve(&self, name: &str, destination: &str, own: &SshSettings, depth: usize) -> SshTarget {
        let settings = own.or(&self.ssh);
        let via = settings
            .jump
            .as_deref()
            .and_then(|spec| self.jump_chain(spec, depth));
        SshTarget {
            name: name.to_string(),
            destination: destination.to_string(),
            settings,
            via,
        }
    }

    /// The hops of `spec`, the last one returned (each holding the one
    /// before it). A hop naming an inventory host is reached as that host;
    /// any other gets the `[ssh]` defaults and what the spec says.
    fn jump_chain(&self, spec: &str, depth: usize) -> Option<Box<SshTarget>> {
        // A jump host reached through itself would never end.
        if depth >= MAX_JUMP_DEPTH {
            return None;
        }
        let mut via: Option<Box<SshTarget>> = None;
        for (i, hop) in spec.split(',').map(str::trim).enumerate() {
            let mut t = match self.host(hop) {
                Some(h) => self.resolve(&h.name, h.destination(), &h.ssh, depth + 1),
                None => {
                    // Checked when the inventory was read.
                    let j = JumpHop::parse(hop).unwrap_or(JumpHop {
                        user: None,
                        host: hop.to_string(),
                        port: None,
                    });
                    let own = SshSettings {
                        user: j.user,
                        port: j.port,
                        ..Default::default()
                    };
                    let mut settings = own.or(&self.ssh);
                    settings.jump = None;
                    SshTarget {
                        name: hop.to_string(),
                        destination: j.host,
                        settings,
                        via: None,
                    }
                }
            };
            // Only the first hop keeps a jump of its own.
            if i > 0 {
                t.via = via.take();
            }
            via = Some(Box::new(t));
        }
        via
    }

    /// The hosts with `role`, in file order.
    pub fn hosts_with(&self, role: Role) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(move |h| h.has_role(role))
    }
}

/// Quotes `s` as a TOML basic string (for the writers of inventories).
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(text: &str) -> Result<Inventory, InventoryError> {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("id"), "").unwrap();
        std::fs::write(d.path().join("bastion_id"), "").unwrap();
        Inventory::parse(&d.path().join("site.toml"), text)
    }

    const SITE: &str = r#"
version = 1
[ssh]
user = "root"
port = 22
identity_file = "id"
connect_timeout = 7
[[hosts]]
name = "bastion"
address = "203.0.113.9"
port = 2200
identity_file = "bastion_id"
roles = ["admin"]
[[hosts]]
name = "node1"
address = "10.0.0.1"
user = "admin"
jump = "bastion"
roles = ["web"]
[[hosts]]
name = "node2"
jump = "ops@gw1.example.org:2022,gw2"
roles = ["web"]
"#;

    #[test]
    fn one_resolver_merges_defaults_overrides_and_jump_hosts() {
        let inv = inventory(SITE).unwrap();
        let t = inv.ssh_target(inv.host("node1").unwrap());
        assert_eq!(
            (t.name.as_str(), t.destination.as_str()),
            ("node1", "10.0.0.1")
        );
        assert_eq!(t.settings.user.as_deref(), Some("admin"));
        assert_eq!(t.settings.port, Some(22));
        assert_eq!(t.settings.connect_timeout, Some(7));
        // The jump is the inventory host, reached with its own settings.
        let hop = t.via.as_deref().unwrap();
        assert_eq!(hop.destination, "203.0.113.9");
        assert_eq!(hop.settings.port, Some(2200));
        assert_eq!(hop.settings.user.as_deref(), Some("root"));
        assert!(hop
            .settings
            .identity_file
            .as_ref()
            .unwrap()
            .ends_with("bastion_id"));
        assert!(hop.via.is_none());
        // Hops written out: nearest first, each with the [ssh] defaults.
        let t = inv.ssh_target(inv.host("node2").unwrap());
        let hops: Vec<(&str, Option<&str>, Option<u16>)> = t
            .hops()
            .iter()
            .map(|h| {
                (
                    h.destination.as_str(),
                    h.settings.user.as_deref(),
                    h.settings.port,
                )
            })
            .collect();
        assert_eq!(
            hops,
            [
                ("gw1.example.org", Some("ops"), Some(2022)),
                ("gw2", Some("root"), Some(22))
            ]
        );
        assert!(t.hops().iter().all(|h| h
            .settings
            .identity_file
            .as_ref()
            .unwrap()
            .ends_with("id")));
    }

    #[test]
    fn a_jump_host_through_itself_ends() {
        let inv = inventory(&SITE.replace("identity_file = \"bastion_id\"", "jump = \"bastion\""))
            .unwrap();
        let t = inv.ssh_target(inv.host("node1").unwrap());
        assert!(t.hops().len() <= MAX_JUMP_DEPTH + 1);
    }

    #[test]
    fn jump_specs_parse_or_are_named_in_the_file() {
        let hop = JumpHop::parse("u@[2001:db8::1]:2222").unwrap();
        assert_eq!(
            (hop.user.as_deref(), hop.host.as_str(), hop.port),
            (Some("u"), "2001:db8::1", Some(2222))
        );
        assert_eq!(JumpHop::parse("2001:db8::1").unwrap().port, None);
        for bad in ["h:0", "h:x", "@h", "[h", ""] {
            assert!(JumpHop::parse(bad).is_err(), "{bad}");
        }
        let e =
            inventory(&SITE.replace("gw1.example.org:2022", "gw1.example.org:99999")).unwrap_err();
        let p = &e.problems()[0];
        assert_eq!(p.field, "hosts[2].jump");
        assert!(p.message.contains("99999"), "{p}");
    }
}
