//! `snf-upgrade plan` as an operator runs it: exit statuses, the JSON, the
//! text, errors naming file and line, `--check`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/htools")
        .join(name)
}

fn plan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
        .arg("plan")
        .args(args)
        .output()
        .expect("snf-upgrade runs")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn a_plan_without_downtime_exits_0_with_the_documented_json() {
    let f = fixture("hroller-online.data");
    let out = plan(&[
        "--htools",
        f.to_str().unwrap(),
        "--max-parallel",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json(&out);
    assert_eq!(doc["clusters"].as_array().unwrap().len(), 1);
    let v = &doc["clusters"][0];
    assert_eq!(v["schema"], 1);
    assert_eq!(v["cluster"], f.to_str().unwrap());
    assert_eq!(v["constraints"]["max_parallel"], 2);
    let digest = v["snapshot_digest"].as_str().unwrap();
    assert!(
        digest.len() == 7 + 64 && digest.starts_with("sha256:"),
        "{digest}"
    );
    let groups = v["groups"].as_array().unwrap();
    assert!(groups
        .iter()
        .all(|g| g["nodes"].as_array().unwrap().len() <= 2));
    let moves: usize = groups
        .iter()
        .map(|g| g["moves"].as_array().unwrap().len())
        .sum();
    assert_eq!(v["migrations"].as_u64().unwrap() as usize, moves);
    assert!(v["infeasible"].as_array().unwrap().is_empty());
    assert_eq!(groups[0]["moves"][0]["kind"], "migrate");
    assert!(
        v["stats"]["drbd_lower_bound"].as_u64().unwrap()
            <= v["stats"]["drbd_migrations"].as_u64().unwrap()
    );
}

#[test]
fn downtime_exits_1_unless_accepted_and_says_why() {
    let f = fixture("hroller-nonredundant.data");
    let out = plan(&["--htools", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DOWNTIME"), "{text}");
    assert!(
        text.contains("plain disks (not mirrored) and cannot move live"),
        "{text}"
    );
    assert!(text.contains("--allow-offline"), "{text}");
    let out = plan(&["--htools", f.to_str().unwrap(), "--allow-offline", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!json(&out)["clusters"][0]["infeasible"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn a_bad_file_names_file_and_line_and_exits_2() {
    let dir = std::env::temp_dir().join(format!("snf-plan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.data");
    std::fs::write(&f, "g|u|preferred|\n\nn1|100|0|100|10|10|4|Q|u|1\n\n\n").unwrap();
    let out = plan(&["--htools", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.data:3:") && err.contains("offline"),
        "{err}"
    );
    let out = plan(&[
        "--htools",
        fixture("hbal-evac.data").to_str().unwrap(),
        "--nodes",
        "ghost",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ghost"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reports_a_broken_plan() {
    let dir = std::env::temp_dir().join(format!("snf-plan-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = fixture("hroller-full.data");
    // Both nodes of DRBD pair node-00/node-01 down at once, nothing moved.
    let broken = dir.join("plan.json");
    std::fs::write(
        &broken,
        r#"{"groups": [{"nodes": ["node-00", "node-01"], "moves": [], "downtime": []}], "migrations": 0, "infeasible": []}"#,
    )
    .unwrap();
    let out = plan(&[
        "--htools",
        f.to_str().unwrap(),
        "--check",
        broken.to_str().unwrap(),
        "--json",
        "--max-parallel",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let rules: Vec<u64> = json(&out)["clusters"][0]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_u64().unwrap())
        .collect();
    assert!(
        rules.contains(&1) && rules.contains(&2) && rules.contains(&5),
        "{rules:?}"
    );
    // Our own plan for the same file passes.
    let ours = dir.join("ours.json");
    let out = plan(&[
        "--htools",
        f.to_str().unwrap(),
        "-o",
        ours.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = plan(&[
        "--htools",
        f.to_str().unwrap(),
        "--check",
        ours.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_digest_follows_the_cluster_and_newer_schemas_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.data");
    let text = std::fs::read_to_string(fixture("hroller-online.data")).unwrap();
    std::fs::write(&f, &text).unwrap();
    let digest = || {
        let out = plan(&["--htools", f.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        json(&out)["clusters"][0]["snapshot_digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = digest();
    assert_eq!(digest(), first, "the same cluster, the same digest");
    // One instance stops: another cluster state, another digest.
    let changed = text.replacen("|running|", "|ADMIN_down|", 1);
    assert_ne!(changed, text);
    std::fs::write(&f, changed).unwrap();
    assert_ne!(digest(), first);

    // A plan written by a newer snf-upgrade is refused, not guessed at.
    let p = dir.path().join("plan.json");
    let out = plan(&["--htools", f.to_str().unwrap(), "-o", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    doc["clusters"][0]["schema"] = 99.into();
    std::fs::write(&p, doc.to_string()).unwrap();
    let out = plan(&[
        "--htools",
        f.to_str().unwrap(),
        "--check",
        p.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("schema 99"), "{err}");
}

#[test]
fn output_file_is_replaced_atomically_keeping_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plan.json");
    std::fs::write(&p, "old").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    let f = fixture("hroller-online.data");
    let out = plan(&["--htools", f.to_str().unwrap(), "-o", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(doc["clusters"][0]["schema"], 1);
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}
