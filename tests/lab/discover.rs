//! `snf-upgrade inventory discover` against the lab's Ganeti RAPI (TLS
//! verified against the lab's CA file, credentials from the lab's file): a
//! node left out of the inventory is found and appended with its primary IP.

use std::process::Command;

use crate::lab_out;

#[test]
fn discover_adds_the_node_the_inventory_lacks() {
    let out = lab_out();
    let d = tempfile::tempdir().unwrap();
    // A copy of the lab's output folder (the inventory names files in it).
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", out.display()))
        .arg(d.path())
        .status()
        .unwrap();
    assert!(st.success());
    let site = d.path().join("site.toml");
    let inv = snf_upgrade::inventory::Inventory::load(&site).unwrap();
    let nodes: Vec<_> = inv
        .hosts_with(snf_upgrade::inventory::Role::GanetiNode)
        .map(|h| (h.name.clone(), h.address.clone()))
        .collect();
    assert!(nodes.len() >= 2, "the lab has several nodes");
    let (dropped, address) = nodes.last().unwrap().clone();
    // Drop the last node's [[hosts]] table.
    let text = std::fs::read_to_string(&site).unwrap();
    let marker = format!("[[hosts]]\nname = \"{dropped}\"");
    let start = text.find(&marker).expect("the node's table");
    let end = text[start + 1..]
        .find("[[hosts]]")
        .map(|i| start + 1 + i)
        .unwrap_or(text.len());
    let trimmed = format!("{}{}", &text[..start], &text[end..]);
    std::fs::write(&site, &trimmed).unwrap();

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
            .args(["inventory", "discover", "--inventory"])
            .arg(&site)
            .args(args)
            .output()
            .unwrap()
    };
    // Shown, not written: exit status 1, file unchanged.
    let shown = run(&["--json"]);
    assert_eq!(
        shown.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let new: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "new")
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(new, [dropped.as_str()]);
    assert_eq!(std::fs::read_to_string(&site).unwrap(), trimmed);

    // Written: the node is back, with its primary IP, and the rest of the
    // file is kept byte for byte.
    let written = run(&["--write"]);
    assert_eq!(
        written.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let after = std::fs::read_to_string(&site).unwrap();
    assert!(after.starts_with(&trimmed));
    let inv = snf_upgrade::inventory::Inventory::load(&site).unwrap();
    let h = inv.host(&dropped).expect("the node was added");
    assert_eq!(h.address, address);
    assert_eq!(h.cluster.as_deref(), Some(inv.clusters[0].name.as_str()));
    // Nothing new the second time.
    assert_eq!(run(&[]).status.code(), Some(0));
}
