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
    // The checkout itself is always machine-specific; the folder above it is
    // too unless it is a standard place any machine has (/tmp, /home, ...),
    // where other paths of the project legitimately live.
    const STANDARD: &[&str] = &[
        "/",
        "/tmp",
        "/var/tmp",
        "/home",
        "/root",
        "/srv",
        "/opt",
        "/mnt",
        "/run",
        "/var/lib",
        "/usr/src",
        "/usr/local/src",
    ];
    let mut needles = vec![format!("{}/", root.to_str().expect("a UTF-8 path"))];
    if !STANDARD.contains(&above) {
        needles.push(format!("{above}/"));
    }
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
            if needles.iter().any(|n| line.contains(n.as_str())) {
                offenders.push(format!("{name}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(checked > 100, "only {checked} files checked");
    assert!(
        offenders.is_empty(),
        "{needles:?} named in:\n{}",
        offenders.join("\n")
    );
}
