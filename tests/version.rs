//! `snf-upgrade --version` names the exact build: crate version, git commit
//! and whether the sources differed from it (build.rs).

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
        .args(args)
        .output()
        .expect("snf-upgrade runs");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn git(args: &[&str]) -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
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

/// What this checkout says the build is, as build.rs computes it.
fn expected_build() -> String {
    let top = git(&["rev-parse", "--show-toplevel"]);
    let here = Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .unwrap();
    if top.and_then(|t| Path::new(&t).canonicalize().ok()) != Some(here) {
        return "commit unknown".into();
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).expect("a commit");
    assert_eq!(commit.len(), 12, "{commit}");
    assert!(commit.bytes().all(|b| b.is_ascii_hexdigit()), "{commit}");
    let status = git(&[
        "status",
        "--porcelain",
        "--",
        "src",
        "build.rs",
        "Cargo.toml",
        "Cargo.lock",
    ])
    .unwrap();
    let state = if status.is_empty() { "clean" } else { "dirty" };
    format!("commit {commit}, {state}")
}

#[test]
fn version_names_the_crate_version_the_commit_and_the_tree_state() {
    let want = format!(
        "snf-upgrade {} ({})\n",
        env!("CARGO_PKG_VERSION"),
        expected_build()
    );
    assert_eq!(run(&["--version"]), want);
    assert_eq!(run(&["-V"]), want);
    // propagate_version: a subcommand answers the same.
    assert_eq!(
        run(&["plan", "--version"]),
        want.replacen("snf-upgrade", "snf-upgrade-plan", 1)
    );
}
