//! Properties of the source tree itself.

use std::path::Path;
use std::process::Command;

/// No file of the project names a location of the machine it was written on:
/// every location is a setting with a default inside the project, its state
/// folder or a standard Debian place. The folder above the checkout is the
/// machine-specific part, so it must appear nowhere.
#[test]
fn no_file_names_the_folder_above_the_checkout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let above = root
        .parent()
        .expect("the checkout has a parent folder")
        .to_str()
        .expect("a UTF-8 path");
    assert!(
        above.len() > 1,
        "checkout directly under /: nothing to look for"
    );
    let needle = format!("{above}/");
    let files = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .expect("git runs");
    assert!(files.status.success(), "git ls-files failed");
    let mut offenders = Vec::new();
    let mut checked = 0;
    for name in files.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let Ok(bytes) = std::fs::read(root.join(&name)) else {
            continue; // listed but deleted in the work tree
        };
        checked += 1;
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            if line.contains(&needle) {
                offenders.push(format!("{name}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(checked > 100, "only {checked} files checked");
    assert!(
        offenders.is_empty(),
        "{needle} named in:\n{}",
        offenders.join("\n")
    );
}
