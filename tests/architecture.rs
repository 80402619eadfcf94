//! The layers of docs/architecture.md, checked on the source: which module
//! may name which, and where I/O and the runtime may appear.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Module → the modules of ours it may use (docs/architecture.md).
const ALLOWED: &[(&str, &[&str])] = &[
    ("inventory", &["text", "fsutil"]),
    ("remote", &["inventory"]),
    ("ganeti", &["text", "fsutil"]),
    (
        "facts",
        &["remote", "inventory", "text", "fsutil", "apt_sources"],
    ),
    ("planner", &["ganeti"]),
    ("edits", &["text", "fsutil", "apt_sources"]),
    ("journal", &["actions", "text", "fsutil"]),
    (
        "actions",
        &["ganeti", "remote", "edits", "inventory", "text", "fsutil"],
    ),
    ("text", &[]),
    ("fsutil", &[]),
    ("apt_sources", &[]),
];

/// Words the planner's files may not contain: it is pure.
const PLANNER_FORBIDDEN: &[&str] = &[
    "rapi",
    "RapiClient",
    "tokio",
    "std::fs",
    "std::net",
    "std::process",
    "std::time::Instant",
    "SystemTime",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The files of module `m`: `src/m.rs` and everything under `src/m/`.
fn files_of(m: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let top = src().join(format!("{m}.rs"));
    if top.exists() {
        out.push(top);
    }
    let mut stack = vec![src().join(m)];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.map(Result::unwrap) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && p.file_name().is_some_and(|n| n != "tests.rs")
            {
                // (`tests.rs` files are `#[cfg(test)]` modules.)
                out.push(p);
            }
        }
    }
    assert!(!out.is_empty(), "no files for module {m}");
    out
}

/// The source without its test modules (`#[cfg(test)]` to the end of the
/// file, as every file here puts them last) and without comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.insert(name);
    }
    out
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let mut offences = Vec::new();
    for (module, allowed) in ALLOWED {
        for file in files_of(module) {
            for used in crate_paths(&code(&file)) {
                if used != *module && !allowed.contains(&used.as_str()) {
                    offences.push(format!("{} uses crate::{used}", file.display()));
                }
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn the_planner_does_no_io() {
    let mut offences = Vec::new();
    for file in files_of("planner") {
        let code = code(&file);
        for word in PLANNER_FORBIDDEN {
            if code.contains(word) {
                offences.push(format!("{} names {word}", file.display()));
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn only_the_command_layer_makes_a_runtime_and_nothing_blocks() {
    let mut offences = Vec::new();
    for module in [
        "inventory",
        "remote",
        "ganeti",
        "facts",
        "planner",
        "edits",
        "checks",
        "engine",
        "report",
        "runbook",
    ] {
        for file in files_of(module) {
            let code = code(&file);
            for word in ["tokio::runtime", "block_on", "reqwest::blocking"] {
                if code.contains(word) {
                    offences.push(format!("{} names {word}", file.display()));
                }
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}
