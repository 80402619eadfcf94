//! The htools text format (`hscan` output, `hroller -t`/`hbal -t` input):
//! parse it into a `Snapshot` and write a `Snapshot` back to it.
//!
//! Sections, separated by one empty line, as in Ganeti's `Text.hs`:
//! groups (`name|uuid|alloc_policy|networks|tags`), nodes
//! (`name|mem_total|mem_node|mem_free|disk_total|disk_free|cpus|Y/N/M|group_uuid|...`),
//! instances (`name|mem|disk|vcpus|status|auto_balance|pnode|snode|disk_template|...`),
//! cluster tags, and optionally instance policies
//! (`owner|std|min;max|disk_templates|vcpu_ratio|spindle_ratio`). Fields the
//! planner does not use are kept verbatim so that parse → write gives the
//! same bytes back.
//!
//! Never reads files itself (the caller passes the text and its name).

use std::collections::HashMap;

use super::model::{Group, Instance, ModelError, Node, Policy, Snapshot, TextLayout};

/// Parses the text of an htools data file; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Snapshot, ModelError> {
    // Split at empty lines like Ganeti's `sepSplit`, remembering each
    // line's number; empty sections beyond the fifth are trailing blanks.
    let mut sections: Vec<Vec<(usize, &str)>> = vec![Vec::new()];
    // Lines end at '\n' only, as Haskell's `lines` in Text.hs splits them: a
    // '\r' stays part of the last field (str::lines would drop it, and the
    // file written back would be another snapshot).
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines = (!text.is_empty())
        .then(|| body.split('\n'))
        .into_iter()
        .flatten();
    for (i, line) in lines.enumerate() {
        if line.is_empty() {
            sections.push(Vec::new());
        } else if let Some(last) = sections.last_mut() {
            last.push((i + 1, line));
        }
    }
    let mut trailing_blank_lines = 0;
    while sections.len() > 5 && sections.last().is_some_and(Vec::is_empty) {
        sections.pop();
        trailing_blank_lines += 1;
    }
    // A whole-line problem points at column 1; a field's at the field.
    let err = |line: usize, message: String| ModelError::Parse {
        file: file.to_string(),
        line,
        column: 1,
        message,
    };
    let field_err = |line: usize, f: &[&str], i: usize, message: String| ModelError::Parse {
        file: file.to_string(),
        line,
        column: field_column(f, i),
        message,
    };
    if sections.len() > 5 {
        let line = sections[5].first().map(|(n, _)| *n).unwrap_or(1);
        return Err(err(
            line,
            format!(
                "{} sections (separated by empty lines) instead of 4 or 5: groups, nodes, instances, cluster tags, policies",
                sections.len()
            ),
        ));
    }
    let layout = TextLayout {
        sections: sections.len().max(2),
        trailing_blank_lines,
    };
    sections.resize(5, Vec::new());
    let mut snap = Snapshot {
        layout,
        ..Snapshot::default()
    };

    for &(n, line) in &sections[0] {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 3 {
            return Err(err(
                n,
                format!(
                    "group line has {} fields, expected at least 3 (name|uuid|alloc_policy)",
                    f.len()
                ),
            ));
        }
        snap.groups.push(Group {
            name: f[0].to_string(),
            uuid: f[1].to_string(),
            alloc_policy: f[2].to_string(),
            rest: f[3..].iter().map(|s| s.to_string()).collect(),
        });
    }
    let group_by_uuid: HashMap<&str, usize> = snap
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.uuid.as_str(), i))
        .collect();

    let mut nodes = Vec::with_capacity(sections[1].len());
    for &(n, line) in &sections[1] {
        let f: Vec<&str> = line.split('|').collect();
        if !(9..=15).contains(&f.len()) {
            return Err(err(
                n,
                format!("node line has {} fields, expected 9 to 15", f.len()),
            ));
        }
        let num = |i: usize, what: &str| whole(&f, i, what).map_err(|m| field_err(n, &f, i, m));
        let cpus = number(&f, 6, "cpus").map_err(|m| field_err(n, &f, 6, m))?;
        let (offline, master) = match f[7] {
            "Y" => (true, false),
            "N" => (false, false),
            "M" => (false, true),
            other => {
                return Err(field_err(
                    n,
                    &f,
                    7,
                    format!("field 8 (offline) is {other:?}, expected Y, N or M"),
                ))
            }
        };
        let group = *group_by_uuid.get(f[8]).ok_or_else(|| {
            field_err(
                n,
                &f,
                8,
                format!(
                    "field 9 (group) names group uuid {:?}, not in the groups section",
                    f[8]
                ),
            )
        })?;
        nodes.push(Node {
            name: f[0].to_string(),
            mem_total: num(1, "mem_total")?,
            mem_node: num(2, "mem_node")?,
            mem_free: num(3, "mem_free")?,
            disk_total: num(4, "disk_total")?,
            disk_free: num(5, "disk_free")?,
            cpus,
            offline,
            drained: false,
            master,
            master_candidate: master,
            group,
            rest: f[9..].iter().map(|s| s.to_string()).collect(),
        });
    }
    snap.nodes = nodes;
    let node_by_name: HashMap<&str, usize> = snap
        .nodes
        .iter()
        .enumerate()
        .map(|(i, nd)| (nd.name.as_str(), i))
        .collect();

    let mut instances = Vec::with_capacity(sections[2].len());
    for &(n, line) in &sections[2] {
        let f: Vec<&str> = line.split('|').collect();
        if !(9..=13).contains(&f.len()) {
            return Err(err(
                n,
                format!("instance line has {} fields, expected 9 to 13", f.len()),
            ));
        }
        let num = |i: usize, what: &str| whole(&f, i, what).map_err(|m| field_err(n, &f, i, m));
        let auto_balance = match f[5] {
            "Y" => true,
            "N" => false,
            other => {
                return Err(field_err(
                    n,
                    &f,
                    5,
                    format!("field 6 (auto_balance) is {other:?}, expected Y or N"),
                ))
            }
        };
        let pnode = *node_by_name.get(f[6]).ok_or_else(|| {
            field_err(
                n,
                &f,
                6,
                format!(
                    "field 7 (primary node) {:?} is not in the nodes section",
                    f[6]
                ),
            )
        })?;
        let snode = if f[7].is_empty() {
            None
        } else {
            Some(*node_by_name.get(f[7]).ok_or_else(|| {
                field_err(
                    n,
                    &f,
                    7,
                    format!(
                        "field 8 (secondary node) {:?} is not in the nodes section",
                        f[7]
                    ),
                )
            })?)
        };
        instances.push(Instance {
            name: f[0].to_string(),
            mem: num(1, "mem")?,
            disk: num(2, "disk")?,
            vcpus: num(3, "vcpus")?,
            status: f[4].to_string(),
            auto_balance,
            pnode,
            snode,
            disk_template: f[8].to_string(),
            rest: f[9..].iter().map(|s| s.to_string()).collect(),
        });
    }
    snap.instances = instances;

    snap.cluster_tags = sections[3].iter().map(|(_, l)| l.to_string()).collect();
    if layout.sections == 5 {
        let pols = &sections[4];
        let mut policies = Vec::new();
        for &(n, line) in pols {
            let f: Vec<&str> = line.split('|').collect();
            if f.len() != 6 {
                return Err(err(
                    n,
                    format!(
                        "policy line has {} fields, expected 6 (owner|std|min;max|disk_templates|vcpu_ratio|spindle_ratio)",
                        f.len()
                    ),
                ));
            }
            let vcpu_ratio = number(&f, 4, "vcpu_ratio").map_err(|m| field_err(n, &f, 4, m))?;
            policies.push(Policy {
                owner: f[0].to_string(),
                vcpu_ratio,
                disk_templates: f[3]
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                raw: line[f[0].len() + 1..].to_string(),
            });
        }
        snap.policies = Some(policies);
    }
    Ok(snap)
}

/// The snapshot's fingerprint: `sha256:` and the hex SHA-256 of its htools
/// text (`write`): any change of a node, an instance or a policy changes it,
/// so a plan can be matched to the cluster state it was computed from.
pub fn digest(snap: &Snapshot) -> String {
    let text = write(snap);
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Writes a snapshot in the text format (drained nodes are written offline,
/// as htools itself does: neither may receive instances).
pub fn write(snap: &Snapshot) -> String {
    let mut sections = snap.layout.sections.clamp(2, 5);
    if snap.instances.iter().len() > 0 {
        sections = sections.max(3);
    }
    if !snap.cluster_tags.is_empty() {
        sections = sections.max(4);
    }
    if snap.policies.is_some() {
        sections = 5;
    }
    let mut out = String::new();
    let join = |first: &[String], rest: &[String]| -> String {
        first
            .iter()
            .chain(rest.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join("|")
    };
    for g in &snap.groups {
        out.push_str(&join(
            &[g.name.clone(), g.uuid.clone(), g.alloc_policy.clone()],
            &g.rest,
        ));
        out.push('\n');
    }
    out.push('\n');
    for n in &snap.nodes {
        let flag = if n.offline || n.drained {
            "Y"
        } else if n.master {
            "M"
        } else {
            "N"
        };
        let group = snap
            .groups
            .get(n.group)
            .map(|g| g.uuid.clone())
            .unwrap_or_default();
        out.push_str(&join(
            &[
                n.name.clone(),
                n.mem_total.to_string(),
                n.mem_node.to_string(),
                n.mem_free.to_string(),
                n.disk_total.to_string(),
                n.disk_free.to_string(),
                fmt_num(n.cpus),
                flag.to_string(),
                group,
            ],
            &n.rest,
        ));
        out.push('\n');
    }
    if sections >= 3 {
        out.push('\n');
    }
    for i in &snap.instances {
        let name_of = |idx: usize| {
            snap.nodes
                .get(idx)
                .map(|n| n.name.clone())
                .unwrap_or_default()
        };
        out.push_str(&join(
            &[
                i.name.clone(),
                i.mem.to_string(),
                i.disk.to_string(),
                i.vcpus.to_string(),
                i.status.clone(),
                if i.auto_balance { "Y" } else { "N" }.to_string(),
                name_of(i.pnode),
                i.snode.map(name_of).unwrap_or_default(),
                i.disk_template.clone(),
            ],
            &i.rest,
        ));
        out.push('\n');
    }
    if sections >= 4 {
        out.push('\n');
        for t in &snap.cluster_tags {
            out.push_str(t);
            out.push('\n');
        }
    }
    if sections == 5 {
        out.push('\n');
        for p in snap.policies.iter().flatten() {
            out.push_str(&p.owner);
            out.push('|');
            out.push_str(&p.raw);
            out.push('\n');
        }
    }
    for _ in 0..snap.layout.trailing_blank_lines {
        out.push('\n');
    }
    out
}

/// Field `i` of a line as a whole number, or the message saying why not.
fn whole(f: &[&str], i: usize, what: &str) -> Result<u64, String> {
    f[i].trim()
        .parse::<u64>()
        .map_err(|_| format!("field {} ({what}) is {:?}, not a whole number", i + 1, f[i]))
}

/// Field `i` of a line as a finite decimal number the way htools reads one
/// (`-`, digits, optional `.digits` and exponent): Rust's own float parser
/// also takes `inf`, `nan`, `.5` and `1e999` (infinite), which htools refuses.
fn number(f: &[&str], i: usize, what: &str) -> Result<f64, String> {
    let t = f[i].trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(e) => (&t[..e], Some(&t[e + 1..])),
        None => (t, None),
    };
    let (int, frac) = match mantissa
        .strip_prefix('-')
        .unwrap_or(mantissa)
        .split_once('.')
    {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa.strip_prefix('-').unwrap_or(mantissa), None),
    };
    let well_formed = digits(int)
        && frac.is_none_or(digits)
        && exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    match t.parse::<f64>() {
        Ok(x) if well_formed && x.is_finite() => Ok(x),
        Ok(_) if well_formed => Err(format!(
            "field {} ({what}) is {:?}, out of range (not a finite number)",
            i + 1,
            f[i]
        )),
        _ => Err(format!(
            "field {} ({what}) is {:?}, not a finite decimal number",
            i + 1,
            f[i]
        )),
    }
}

/// 1-based column (in characters) where field `i` of a `|`-separated line
/// starts.
fn field_column(f: &[&str], i: usize) -> usize {
    1 + f[..i.min(f.len())]
        .iter()
        .map(|s| s.chars().count() + 1)
        .sum::<usize>()
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ganeti::model::Mirror;
    use std::path::Path;

    /// Ganeti's own example files (copied from its test data).
    pub(crate) fn corpus() -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/htools");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "data"))
            .collect();
        files.sort();
        assert!(files.len() >= 7, "corpus missing in {}", dir.display());
        files
            .into_iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn every_ganeti_example_loads_and_round_trips_byte_for_byte() {
        for (name, text) in corpus() {
            let snap = parse(&text, &name).unwrap_or_else(|e| panic!("{e}"));
            assert!(!snap.nodes.is_empty(), "{name}");
            assert_eq!(write(&snap), text, "{name} did not round-trip");
            // And a generated file with no instances or tags.
            let bare = "g|u|preferred|\n\nn1|100|0|100|10|10|4|N|u|1\n\n\n";
            assert_eq!(write(&parse(bare, "bare").unwrap()), bare);
        }
    }

    #[test]
    fn reads_the_numbers_and_roles() {
        let (_, text) = corpus()
            .into_iter()
            .find(|(n, _)| n == "hbal-evac.data")
            .unwrap();
        let snap = parse(&text, "hbal-evac.data").unwrap();
        assert_eq!(snap.nodes.len(), 4);
        assert!(snap.nodes[0].offline);
        assert_eq!(snap.nodes[1].mem_total, 4000);
        assert_eq!(snap.instances.len(), 6);
        let i = &snap.instances[0];
        assert_eq!((i.mem, i.disk, i.vcpus), (1000, 1000, 1));
        assert_eq!(i.mirror(), Mirror::Drbd);
        assert_eq!(snap.nodes[i.snode.unwrap()].name, "node-1");
        assert_eq!(snap.vcpu_ratio(0), 4.0);
    }

    #[test]
    fn bad_lines_are_named_with_file_and_line() {
        let text = "g|u|preferred|\n\nn1|100|0|100|10|10|4|N|u|1\nn2|1x0|0|100|10|10|4|N|u|1\n\n\n";
        let err = parse(text, "x.data").unwrap_err().to_string();
        assert!(err.starts_with("x.data:4:4: field 2 (mem_total)"), "{err}");
        assert!(err.contains("mem_total"), "{err}");
        let text =
            "g|u|preferred|\n\nn1|100|0|100|10|10|4|N|u|1\n\ni|10|10|1|running|Y|ghost||plain||1\n";
        let err = parse(text, "y.data").unwrap_err().to_string();
        assert!(
            err.starts_with("y.data:5:") && err.contains("ghost"),
            "{err}"
        );
        let err = parse("a|u|p\n\nb\n\nc\n\nd\n\ne\n\nf\n", "z.data")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("6 sections") && err.starts_with("z.data:11:"),
            "{err}"
        );
    }

    #[test]
    fn infinite_and_nan_numbers_are_refused_with_line_and_column() {
        // Rust's float parser takes each of these; htools does not.
        for bad in [
            "inf", "nan", "NaN", "infinity", "-inf", "1e999", ".5", "4.", "+4",
        ] {
            let text = format!("g|u|preferred|\n\nn1|100|0|100|10|10|{bad}|N|u|1\n\n\n");
            let err = parse(&text, "n.data").unwrap_err().to_string();
            // Field 7 starts after "n1|100|0|100|10|10|": column 20.
            assert!(
                err.starts_with("n.data:3:20: field 7 (cpus)"),
                "{bad}: {err}"
            );
            let policy = format!(
                "g|u|preferred|\n\nn1|100|0|100|10|10|4|N|u|1\n\n\n\n|std|min;max|plain|{bad}|32.0\n"
            );
            let err = parse(&policy, "p.data").unwrap_err().to_string();
            assert!(
                err.starts_with("p.data:7:20: field 5 (vcpu_ratio)"),
                "{bad}: {err}"
            );
        }
        for good in ["4", "4.0", "-1", "1e3", "2.5E-1"] {
            let text = format!("g|u|preferred|\n\nn1|100|0|100|10|10|{good}|N|u|1\n\n\n");
            let snap = parse(&text, "n.data").unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(snap.nodes[0].cpus, good.parse::<f64>().unwrap());
        }
    }

    #[test]
    fn a_carriage_return_stays_in_its_field() {
        // Found by fuzz/fuzz_targets/htools.rs: "\r\n" lost its '\r', so the
        // file written back parsed to another snapshot.
        let text = "g|u|preferred|x\r\r\n\nn1|100|0|100|10|10|4|N|u|1\r\n\n\n";
        let snap = parse(text, "cr.data").unwrap();
        assert_eq!(snap.groups[0].rest, ["x\r\r"]);
        assert_eq!(write(&snap), text);
        assert_eq!(parse(&write(&snap), "cr.data").unwrap(), snap);
    }

    #[test]
    fn drained_nodes_are_written_offline() {
        let text = "g|u|preferred|\n\nn1|100|0|100|10|10|4|N|u|1\n\n\n";
        let mut snap = parse(text, "t").unwrap();
        snap.nodes[0].drained = true;
        assert!(write(&snap).contains("|4|Y|u|"));
    }
}
