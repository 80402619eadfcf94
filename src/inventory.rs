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

/// The only format version this build reads.
pub const FORMAT_VERSION: i64 = 1;

/// A validated site inventory. Paths are absolute (resolved against the
/// inventory file's folder).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inventory {
    /// The file it was read from.
    pub path: PathBuf,
    pub site_name: String,
    pub ssh: SshDefaults,
    pub clusters: Vec<Cluster>,
    pub hosts: Vec<Host>,
}

/// SSH settings for every host; anything `None` is left to OpenSSH.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SshDefaults {
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub jump: Option<String>,
    pub connect_timeout: Option<u32>,
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
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    pub jump: Option<String>,
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

    /// The hosts with `role`, in file order.
    pub fn hosts_with(&self, role: Role) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(move |h| h.has_role(role))
    }
}

/// Quotes `s` as a TOML basic string (for the writers of inventories).
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
