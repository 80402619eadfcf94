//! site.toml: the inventory parser and its validation. An invalid inventory
//! lists problems located inside the input; a valid one keeps the rules
//! `inventory check` promises (docs/inventory.md).
#![no_main]

mod site;

use libfuzzer_sys::fuzz_target;
use snf_upgrade::inventory::{Inventory, InventoryError, Role};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = site::dir().join("site.toml");
    match Inventory::parse(&path, text) {
        Ok(inv) => {
            let mut names = std::collections::HashSet::new();
            for h in &inv.hosts {
                assert!(!h.name.trim().is_empty(), "a host without a name");
                assert!(names.insert(&h.name), "host {} listed twice", h.name);
                if h.has_role(Role::GanetiNode) {
                    let c = h
                        .cluster
                        .as_deref()
                        .expect("a ganeti-node without a cluster");
                    assert!(inv.cluster(c).is_some(), "cluster {c} not defined");
                }
                assert_ne!(h.ssh.port, Some(0));
            }
            for c in &inv.clusters {
                assert!(c.rapi_url.starts_with("https://"), "{}", c.rapi_url);
                let authority = c.rapi_url["https://".len()..]
                    .split(['/', '?', '#'])
                    .next()
                    .unwrap();
                assert!(!authority.contains('@'), "a password in {}", c.rapi_url);
            }
        }
        Err(InventoryError::Invalid(problems)) => {
            assert!(!problems.is_empty(), "invalid without a problem");
            for p in &problems {
                assert_eq!(p.file, path);
                assert!(!p.field.is_empty(), "a problem without a field: {p}");
                site::assert_inside(text, p.line, p.column, p);
            }
        }
        Err(e @ InventoryError::Read { .. }) => panic!("parse read a file: {e}"),
    }
});
