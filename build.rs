//! Names the build in `snf-upgrade --version`: the crate version, the git
//! commit it was built from and whether the sources differed from that commit
//! ("dirty"). Outside a git checkout of this crate (a source tarball, or git
//! missing) the commit is "unknown".
//!
//! "Dirty" looks at the files the binary is built from (src/, build.rs,
//! Cargo.toml, Cargo.lock), the same ones that make Cargo run this script
//! again, so the flag is never stale; an edited README does not change the
//! binary and does not make it dirty.

use std::path::{Path, PathBuf};
use std::process::Command;

const BUILD_INPUTS: [&str; 4] = ["src", "build.rs", "Cargo.toml", "Cargo.lock"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by Cargo"));
    for input in BUILD_INPUTS {
        println!("cargo:rerun-if-changed={input}");
    }
    let build = if is_git_checkout(&manifest_dir) {
        watch_git_state(&manifest_dir);
        describe(&manifest_dir)
    } else {
        None
    };
    let build = build.unwrap_or_else(|| "commit unknown".to_string());
    println!(
        "cargo:rustc-env=SNF_UPGRADE_VERSION={} ({build})",
        std::env::var("CARGO_PKG_VERSION").expect("set by Cargo")
    );
}

/// Output of `git ARGS` run in DIR, or None when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// Whether DIR is the top of a git work tree. A tarball unpacked inside
/// some other repository must not report that repository's commit.
fn is_git_checkout(dir: &Path) -> bool {
    let top = git(dir, &["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    matches!((top.and_then(|t| t.canonicalize().ok()), dir.canonicalize()), (Some(t), Ok(d)) if t == d)
}

/// Reruns this script when the commit changes: HEAD, the branch it points
/// to (loose or packed), HEAD's reflog and the index. Only existing files:
/// Cargo reruns every build for a missing one.
fn watch_git_state(dir: &Path) {
    let mut paths = vec![
        "HEAD".to_string(),
        "index".into(),
        "packed-refs".into(),
        "logs/HEAD".into(),
    ];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    for p in paths {
        let Some(path) = git(dir, &["rev-parse", "--git-path", &p]) else {
            continue;
        };
        let path = dir.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// "commit 0123456789ab, clean" or "commit 0123456789ab, dirty".
fn describe(dir: &Path) -> Option<String> {
    let commit = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    let mut status = vec!["status", "--porcelain", "--"];
    status.extend(BUILD_INPUTS);
    let state = if git(dir, &status)?.is_empty() {
        "clean"
    } else {
        "dirty"
    };
    Some(format!("commit {commit}, {state}"))
}
