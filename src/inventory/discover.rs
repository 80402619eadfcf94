//! `inventory discover`: the Ganeti nodes RAPI knows that the inventory does
//! not list yet, as `[[hosts]]` tables to append. Comparing is pure
//! ([`compare`]); talking to RAPI goes through `ganeti::RapiClient`, built
//! from the inventory's cluster tables (certificate verified, credentials
//! from their file or variable, never shown).

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use super::{toml_string, Cluster, Credentials, Inventory, Role};
use crate::ganeti::{NodeInfo, RapiClient, RapiConfig, RapiError};

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cluster {cluster}: {source}")]
    Rapi { cluster: String, source: RapiError },
    #[error("cluster {cluster}: rapi_address `{address}` is not an IP address")]
    Address { cluster: String, address: String },
    #[error("no cluster named `{0}` in the inventory")]
    UnknownCluster(String),
    #[error("cannot update {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the updated inventory would not be valid (nothing was written): {0}")]
    Invalid(#[from] super::InventoryError),
}

/// A node RAPI reported, and what the inventory says of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub cluster: String,
    pub node: String,
    pub address: Option<String>,
    /// `new`: not in the inventory; `listed`: already a ganeti-node host of
    /// this cluster; `mismatch`: listed, but without the role or with
    /// another cluster (left alone: the operator decides).
    pub status: &'static str,
    pub offline: bool,
    pub drained: bool,
}

/// The RAPI configuration for one inventory cluster.
pub fn rapi_config(c: &Cluster) -> Result<RapiConfig, DiscoverError> {
    let mut cfg = RapiConfig::new(c.rapi_url.clone());
    cfg.ca_pem = Some(c.rapi_ca.clone());
    cfg.connect_address = match &c.rapi_address {
        Some(a) => Some(a.parse::<IpAddr>().map_err(|_| DiscoverError::Address {
            cluster: c.name.clone(),
            address: a.clone(),
        })?),
        None => None,
    };
    let creds = match &c.credentials {
        Credentials::File(p) => crate::ganeti::Credentials::from_file(p),
        Credentials::Env(v) => crate::ganeti::Credentials::from_env(v),
    };
    cfg.credentials = Some(creds.map_err(|source| DiscoverError::Rapi {
        cluster: c.name.clone(),
        source,
    })?);
    Ok(cfg)
}

/// Compares what RAPI reported for `cluster` with the inventory.
pub fn compare(inv: &Inventory, cluster: &str, nodes: &[NodeInfo]) -> Vec<Found> {
    nodes
        .iter()
        .map(|n| {
            let listed = inv.host(&n.name);
            let status = match listed {
                None => "new",
                Some(h)
                    if h.has_role(Role::GanetiNode) && h.cluster.as_deref() == Some(cluster) =>
                {
                    "listed"
                }
                Some(_) => "mismatch",
            };
            Found {
                cluster: cluster.to_string(),
                node: n.name.clone(),
                address: n.pip.clone(),
                status,
                offline: n.offline,
                drained: n.drained,
            }
        })
        .collect()
}

/// Inventory hosts said to be nodes of `cluster` that RAPI does not know.
pub fn stale(inv: &Inventory, cluster: &str, nodes: &[NodeInfo]) -> Vec<String> {
    inv.hosts_with(Role::GanetiNode)
        .filter(|h| h.cluster.as_deref() == Some(cluster))
        .filter(|h| !nodes.iter().any(|n| n.name == h.name))
        .map(|h| h.name.clone())
        .collect()
}

/// The `[[hosts]]` tables for the new nodes.
pub fn render(found: &[Found]) -> String {
    let mut out = String::new();
    for f in found.iter().filter(|f| f.status == "new") {
        out.push_str(&format!(
            "\n# discovered through RAPI of {}{}\n[[hosts]]\nname = {}\n",
            f.cluster,
            match (f.offline, f.drained) {
                (true, _) => " (offline)",
                (false, true) => " (drained)",
                _ => "",
            },
            toml_string(&f.node)
        ));
        if let Some(a) = &f.address {
            out.push_str(&format!("address = {}\n", toml_string(a)));
        }
        out.push_str(&format!(
            "roles = [\"ganeti-node\"]\ncluster = {}\n",
            toml_string(&f.cluster)
        ));
    }
    out
}

/// Appends `tables` to the inventory at `path`, keeping everything already
/// there byte for byte; the result is validated first and written
/// atomically (temporary file + rename), so a bad result changes nothing.
pub fn append(path: &Path, tables: &str) -> Result<Inventory, DiscoverError> {
    let io = |source| DiscoverError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut text = std::fs::read_to_string(path).map_err(io)?;
    if !text.ends_with('\n') && !text.is_empty() {
        text.push('\n');
    }
    text.push_str(tables);
    let inv = Inventory::parse(path, &text)?;
    crate::fsutil::write_atomic(path, text.as_bytes(), None).map_err(io)?;
    Ok(inv)
}

/// What RAPI reported, compared with the inventory: every node, and the
/// (cluster, host) pairs the inventory lists as nodes but RAPI does not know.
pub type Discovery = (Vec<Found>, Vec<(String, String)>);

/// Asks every cluster (or the one named) for its nodes.
pub fn discover(inv: &Inventory, only: Option<&str>) -> Result<Discovery, DiscoverError> {
    if let Some(name) = only {
        if inv.cluster(name).is_none() {
            return Err(DiscoverError::UnknownCluster(name.to_string()));
        }
    }
    let mut found = Vec::new();
    let mut stale_hosts = Vec::new();
    for c in inv
        .clusters
        .iter()
        .filter(|c| only.is_none_or(|o| o == c.name))
    {
        let rapi = |source| DiscoverError::Rapi {
            cluster: c.name.clone(),
            source,
        };
        let client = RapiClient::new(&rapi_config(c)?).map_err(rapi)?;
        let nodes = client.nodes().map_err(rapi)?;
        tracing::info!(cluster = %c.name, nodes = nodes.len(), "RAPI listed the nodes");
        found.extend(compare(inv, &c.name, &nodes));
        stale_hosts.extend(
            stale(inv, &c.name, &nodes)
                .into_iter()
                .map(|h| (c.name.clone(), h)),
        );
    }
    Ok((found, stale_hosts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<NodeInfo> {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rapi/nodes-bulk.json"),
        )
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn inventory(d: &tempfile::TempDir) -> std::path::PathBuf {
        std::fs::write(d.path().join("ca.pem"), "").unwrap();
        std::fs::write(d.path().join("creds"), "u:p\n").unwrap();
        let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
        std::fs::set_permissions(d.path().join("creds"), private).unwrap();
        let p = d.path().join("site.toml");
        std::fs::write(
            &p,
            "version = 1 # keep this comment\n\n[[clusters]]\nname = \"c1\"\n\
             rapi_url = \"https://c1.lab.test:5080\"\nrapi_ca = \"ca.pem\"\n\
             rapi_credentials_file = \"creds\"\n\n\
             [[hosts]]\nname = \"node1.lab.test\"\nroles = [\"ganeti-node\"]\ncluster = \"c1\"\n\n\
             [[hosts]]\nname = \"node2.lab.test\"\nroles = [\"db\"]\n\n\
             [[hosts]]\nname = \"old.lab.test\"\nroles = [\"ganeti-node\"]\ncluster = \"c1\"\n",
        )
        .unwrap();
        p
    }

    #[test]
    fn new_listed_mismatched_and_stale_nodes() {
        let d = tempfile::tempdir().unwrap();
        let inv = Inventory::load(&inventory(&d)).unwrap();
        let found = compare(&inv, "c1", &nodes());
        let got: Vec<_> = found.iter().map(|f| (f.node.as_str(), f.status)).collect();
        assert_eq!(
            got,
            [
                ("node1.lab.test", "listed"),
                ("node2.lab.test", "mismatch"),
                ("node3.lab.test", "new")
            ]
        );
        assert_eq!(found[2].address.as_deref(), Some("198.51.100.13"));
        assert_eq!(stale(&inv, "c1", &nodes()), ["old.lab.test"]);
    }

    #[test]
    fn append_keeps_the_file_and_adds_valid_tables() {
        let d = tempfile::tempdir().unwrap();
        let p = inventory(&d);
        let before = std::fs::read_to_string(&p).unwrap();
        let inv = Inventory::load(&p).unwrap();
        let tables = render(&compare(&inv, "c1", &nodes()));
        let inv = append(&p, &tables).unwrap();
        let after = std::fs::read_to_string(&p).unwrap();
        assert!(
            after.starts_with(&before),
            "existing text kept byte for byte"
        );
        let n3 = inv.host("node3.lab.test").unwrap();
        assert_eq!(n3.address.as_deref(), Some("198.51.100.13"));
        assert_eq!(n3.cluster.as_deref(), Some("c1"));
        // Running it again finds nothing new.
        assert_eq!(render(&compare(&inv, "c1", &nodes())), "");
        // A result that would not validate changes nothing.
        let e = append(&p, "\n[[hosts]]\nname = \"x\"\nroles = [\"nope\"]\n").unwrap_err();
        assert!(matches!(e, DiscoverError::Invalid(_)), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), after);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 3);
    }

    #[test]
    fn rapi_config_comes_from_the_cluster_table() {
        let d = tempfile::tempdir().unwrap();
        let inv = Inventory::load(&inventory(&d)).unwrap();
        let cfg = rapi_config(&inv.clusters[0]).unwrap();
        assert_eq!(cfg.url, "https://c1.lab.test:5080");
        assert_eq!(
            cfg.ca_pem.as_deref(),
            Some(d.path().join("ca.pem").as_path())
        );
        assert_eq!(cfg.credentials.unwrap().user(), "u");
        // The password is never in a debug print.
        assert!(!format!("{:?}", rapi_config(&inv.clusters[0]).unwrap()).contains("\"p\""));
    }
}
