//! `inventory discover`: the Ganeti nodes a cluster reports that the
//! inventory does not list yet, as `[[hosts]]` tables to append. Pure but for
//! `append`, which writes the inventory: the command layer asks RAPI and hands
//! the nodes in as [`ReportedNode`]s.

use std::path::Path;

use serde::Serialize;

use super::{toml_string, Inventory, Role};

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
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

/// A node as its cluster reports it (RAPI's `/2/nodes?bulk=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedNode {
    pub name: String,
    /// Primary IP.
    pub address: Option<String>,
    pub offline: bool,
    pub drained: bool,
}

/// Compares what RAPI reported for `cluster` with the inventory.
pub fn compare(inv: &Inventory, cluster: &str, nodes: &[ReportedNode]) -> Vec<Found> {
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
                address: n.address.clone(),
                status,
                offline: n.offline,
                drained: n.drained,
            }
        })
        .collect()
}

/// Inventory hosts said to be nodes of `cluster` that RAPI does not know.
pub fn stale(inv: &Inventory, cluster: &str, nodes: &[ReportedNode]) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The nodes of a recorded RAPI answer (`/2/nodes?bulk=1`).
    fn nodes() -> Vec<ReportedNode> {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rapi/nodes-bulk.json"),
        )
        .unwrap();
        let answer: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        answer
            .iter()
            .map(|n| ReportedNode {
                name: n["name"].as_str().unwrap().to_string(),
                address: n["pip"].as_str().map(str::to_string),
                offline: n["offline"].as_bool().unwrap(),
                drained: n["drained"].as_bool().unwrap(),
            })
            .collect()
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
}
