//! Shared by the inventory and Ansible targets: a folder holding the files an
//! inventory may name (so that valid inventories are reachable), and the check
//! that a position lies inside the input.

#![allow(dead_code)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

/// The folder the fuzzed inventories "live" in, made once per process.
pub fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("a temporary folder");
        for f in [
            "rapi-ca.pem",
            "rapi.credentials",
            "known_hosts",
            "id_ed25519",
            "ssh_config",
        ] {
            std::fs::write(d.path().join(f), "x\n").unwrap();
        }
        let creds = d.path().join("rapi.credentials");
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        d
    })
    .path()
}

/// A line and column (1-based, column in characters) that exist in `text`;
/// a column one past the end of the line is the line's end.
pub fn assert_inside(text: &str, line: usize, column: usize, what: &dyn std::fmt::Display) {
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        line >= 1 && line <= lines.len(),
        "line {line} outside the input ({} lines): {what}",
        lines.len()
    );
    let width = lines[line - 1].chars().count();
    assert!(
        column >= 1 && column <= width + 1,
        "column {column} outside line {line} ({width} characters): {what}"
    );
}
