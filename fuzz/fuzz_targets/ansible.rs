//! Shared by the Ansible targets: one import, checked. An error names a line
//! of the input; an import is TOML that `inventory check` reads, whose only
//! problems are values copied from the Ansible variables (a key file that
//! does not exist here, an empty or out-of-range value).

use snf_upgrade::inventory::{
    import_ansible_text, AnsibleError, Inventory, InventoryError, RoleMap,
};

pub fn check(data: &[u8], file_name: &str) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut map = RoleMap::default();
    for spec in ["ganeti=ganeti-node", "web=web", "db=db", "all=admin"] {
        map.add_role(spec).unwrap();
    }
    map.add_cluster("ganeti=cluster.lab.test").unwrap();
    let path = crate::site::dir().join(file_name);
    match import_ansible_text(&path, text, &map) {
        Ok(imported) => {
            let hosts = imported.toml.matches("\n[[hosts]]\n").count();
            assert!(
                hosts as u64 <= snf_upgrade::inventory::MAX_HOSTS,
                "{hosts} hosts"
            );
            if let Err(e) = toml::from_str::<toml::Table>(&imported.toml) {
                panic!("the import is not TOML: {e}\n{}", imported.toml);
            }
            let site = crate::site::dir().join("site.toml");
            match Inventory::parse(&site, &imported.toml) {
                Ok(_) => {}
                Err(InventoryError::Invalid(problems)) => {
                    for p in problems {
                        let copied = [
                            ".identity_file",
                            ".name",
                            ".address",
                            ".user",
                            ".jump",
                            ".port",
                        ]
                        .iter()
                        .any(|f| p.field.ends_with(f))
                            && !p.message.contains("twice");
                        assert!(copied, "the import breaks a rule: {p}\n{}", imported.toml);
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
        Err(AnsibleError::Syntax { line, message, .. }) => {
            let lines = text.split('\n').count();
            assert!(
                line >= 1 && line <= lines,
                "line {line} outside the input ({lines} lines): {message}"
            );
        }
        Err(e) => panic!("an error without a line: {e}"),
    }
}
