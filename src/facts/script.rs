//! The one shell script that reads every fact of a host in a single SSH
//! round trip, and the parser of its sectioned output. The script only
//! reads; it is POSIX sh and avoids forks where a builtin will do, because
//! on a site of hundreds of nodes its cost is paid hundreds of times.

use std::collections::{BTreeMap, BTreeSet};

use super::{AptSource, Disk, DpkgState, Facts, OsRelease, PackageState, Service};

/// Section markers are `@@snf:NAME`; a file inside a section is `@@file PATH`.
pub const SCRIPT: &str = r#"export LC_ALL=C
dump() { while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done < "$1"; }
echo @@snf:os
[ -r /etc/os-release ] && dump /etc/os-release
echo @@snf:debian_version
[ -r /etc/debian_version ] && dump /etc/debian_version
echo @@snf:kernel
read -r k < /proc/sys/kernel/osrelease && echo "$k"
echo @@snf:boot_id
read -r b < /proc/sys/kernel/random/boot_id && echo "$b"
echo @@snf:apt
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do
  case "$f" in *.list|*.sources|*.list.*|*.sources.*) ;; *) continue ;; esac
  [ -f "$f" ] && [ -r "$f" ] || continue
  echo "@@file $f"; dump "$f"
done
echo @@snf:dpkg_updates
journal=
for f in /var/lib/dpkg/updates/*; do [ -e "$f" ] && echo "$f" && journal=1; done
echo @@snf:dpkg_fp
fp=$(stat -c '%d:%i:%s:%.9Y' /var/lib/dpkg/status 2>/dev/null)
echo "$fp"
# The package list is the dearest read here. When the caller saw this very
# status file (device, inode, size, mtime in ns: dpkg replaces it by rename
# on every change) and dpkg's journal is empty, it reuses what it read then.
pending=$journal
if [ -n "$fp" ] && [ "$fp" = "${snf_dpkg_fp:-}" ] && [ -z "$journal" ]; then
  echo @@snf:dpkg_unchanged
else
  echo @@snf:dpkg
  s=$(dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\n' 2>/dev/null)
  printf '%s\n' "$s"
  # dpkg --audit only when something is not fully installed (state U F H W
  # t, or reinst-required) or the journal is not empty: on a clean host it
  # reports nothing, and it costs more than everything else together.
  nl='
'
  case "$nl$s" in *"$nl"?[UFHWt]*|*"$nl"??R*) pending=1 ;; esac
fi
echo @@snf:dpkg_audit
[ -n "$pending" ] && dpkg --audit 2>&1
echo @@snf:systemd
[ -d /run/systemd/system ] && systemctl list-units --type=service --state=running --no-legend --plain 2>/dev/null
echo @@snf:pidfiles
for f in /run/*.pid /run/*/*.pid; do
  [ -f "$f" ] && [ -r "$f" ] || continue
  p=; read -r p 2>/dev/null < "$f"
  case "$p" in ''|*[!0-9]*) continue ;; esac
  [ -d "/proc/$p" ] && echo "$f $p"
done
echo @@snf:procs
# Only the names service_for() knows (reading every /proc/PID/comm from sh
# costs twice as much as grep does); python/perl scripts by their cmdline.
grep -s -x -E 'apache2|httpd|postgres|memcached|gunicorn|sshd|cron|beam\.smp|rabbitmq-server|snf-dispatcher|snf-ganeti-even|ganeti-[a-z]+|archipelago|vlmcd|mt-pfiled|mt-sosd|blockerb|blockerm|python[0-9.]*|perl' /proc/[0-9]*/comm |
while IFS=: read -r f c; do
  case "$c" in
    python*|perl*) a=$(tr '\0' ' ' 2>/dev/null < "${f%/comm}/cmdline"); echo "$c $a" ;;
    *) echo "$c" ;;
  esac
done
echo @@snf:df
df -P -k / /var 2>/dev/null
echo @@snf:end
exit 0
"#;

/// Why the output could not be read as facts.
#[derive(Debug, thiserror::Error)]
#[error("the facts script's output is incomplete (no `{0}` section); the host may lack a POSIX sh or dpkg")]
pub struct Incomplete(pub &'static str);

/// Splits the output into its sections.
fn sections(out: &str) -> BTreeMap<&str, Vec<&str>> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut cur: Option<&str> = None;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("@@snf:") {
            cur = Some(name.trim());
            map.entry(name.trim()).or_default();
        } else if let Some(c) = cur {
            map.entry(c).or_default().push(line);
        }
    }
    map
}

/// The package list read from a host, kept to be reused while the host's
/// dpkg status file stays the same file (see the script).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgSnapshot {
    /// The status file's `device:inode:size:mtime` when it was read.
    pub fingerprint: String,
    /// The script's `dpkg` section.
    pub lines: String,
}

/// Facts, plus the package list to keep for next time.
#[derive(Debug)]
pub struct Parsed {
    pub facts: Facts,
    /// The package list as read now (None when the cached one was reused).
    pub snapshot: Option<DpkgSnapshot>,
}

/// The script to send, told about the package list we already hold.
pub fn script_for(cached: Option<&DpkgSnapshot>) -> String {
    match cached {
        Some(c) => format!(
            "snf_dpkg_fp={}\n{SCRIPT}",
            crate::remote::sh_quote(&c.fingerprint)
        ),
        None => SCRIPT.to_string(),
    }
}

/// Reads the script's output; `cached` is what was sent to `script_for`.
pub fn parse(out: &str, cached: Option<&DpkgSnapshot>) -> Result<Parsed, Incomplete> {
    let s = sections(out);
    for required in ["os", "apt", "df", "end"] {
        if !s.contains_key(required) {
            return Err(Incomplete(required));
        }
    }
    let get = |name: &str| s.get(name).cloned().unwrap_or_default();
    let first = |name: &str| get(name).first().map(|l| l.trim().to_string());
    let fingerprint = first("dpkg_fp").unwrap_or_default();
    let (dpkg_lines, snapshot) = match (s.get("dpkg"), s.contains_key("dpkg_unchanged"), cached) {
        (Some(lines), _, _) => {
            let text = lines.join("\n");
            let snap = (!fingerprint.is_empty()).then(|| DpkgSnapshot {
                fingerprint: fingerprint.clone(),
                lines: text.clone(),
            });
            (text, snap)
        }
        (None, true, Some(c)) if c.fingerprint == fingerprint => (c.lines.clone(), None),
        _ => return Err(Incomplete("dpkg")),
    };
    let dpkg_lines: Vec<&str> = dpkg_lines.lines().collect();
    let (packages, held, pending) = parse_dpkg(&dpkg_lines);
    let mut audit: Vec<String> = get("dpkg_audit").iter().map(|l| l.to_string()).collect();
    while audit.last().is_some_and(|l| l.trim().is_empty()) {
        audit.pop();
    }
    let facts = Facts {
        os: parse_os(&get("os"), first("debian_version")),
        kernel: first("kernel"),
        boot_id: first("boot_id"),
        apt_sources: parse_apt(&get("apt")),
        packages,
        held,
        dpkg: DpkgState {
            pending,
            interrupted: !get("dpkg_updates").is_empty(),
            audit,
        },
        services: parse_services(&get("systemd"), &get("pidfiles"), &get("procs")),
        disk: parse_df(&get("df")),
    };
    Ok(Parsed { facts, snapshot })
}

fn parse_os(lines: &[&str], debian_version: Option<String>) -> OsRelease {
    let mut kv = BTreeMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once('=') {
            let v = v.trim().trim_matches('"').trim_matches('\'');
            kv.insert(k.trim().to_string(), v.to_string());
        }
    }
    let mut codename = kv
        .get("VERSION_CODENAME")
        .cloned()
        .filter(|c| !c.is_empty());
    // Debian testing has no codename in os-release; debian_version says
    // e.g. "trixie/sid".
    if codename.is_none() {
        codename = debian_version
            .as_deref()
            .and_then(|d| d.split_once('/'))
            .map(|(c, _)| c.to_string());
    }
    OsRelease {
        id: kv.get("ID").cloned().unwrap_or_default(),
        version_id: kv.get("VERSION_ID").cloned(),
        codename,
        pretty_name: kv.get("PRETTY_NAME").cloned(),
        debian_version,
    }
}

/// Names whose versions matter for the upgrade.
pub fn package_matters(name: &str) -> bool {
    const PREFIXES: [&str; 6] = [
        "snf-",
        "ganeti",
        "archipelago",
        "gunicorn",
        "apache2",
        "postgresql",
    ];
    const EXACT: [&str; 7] = [
        "synnefo",
        "python-astakosclient",
        "python3-gevent",
        "python3-greenlet",
        "python-gevent",
        "python-greenlet",
        "memcached",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || EXACT.contains(&name)
}

/// `${db:Status-Abbrev}\t${Package}\t${Version}` lines → (versions of the
/// packages that matter, held packages, packages in an unfinished state).
type DpkgParsed = (
    BTreeMap<String, PackageState>,
    Vec<String>,
    Vec<(String, String)>,
);

fn parse_dpkg(lines: &[&str]) -> DpkgParsed {
    let mut packages = BTreeMap::new();
    let mut held = Vec::new();
    let mut pending = Vec::new();
    for l in lines {
        let mut f = l.split('\t');
        let (Some(abbrev), Some(name), Some(version)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let a: Vec<char> = abbrev.chars().collect();
        let (want, state) = (
            a.first().copied().unwrap_or(' '),
            a.get(1).copied().unwrap_or(' '),
        );
        if want == 'h' && state != 'n' {
            held.push(name.to_string());
        }
        let state_name = match state {
            'i' => "installed",
            'c' => "config-files",
            'n' => "not-installed",
            'U' => "unpacked",
            'F' => "half-configured",
            'H' => "half-installed",
            'W' => "triggers-awaited",
            't' => "triggers-pending",
            _ => "unknown",
        };
        if matches!(state, 'U' | 'F' | 'H' | 'W' | 't') || a.get(2) == Some(&'R') {
            pending.push((name.to_string(), state_name.to_string()));
        }
        if package_matters(name) && !matches!(state, 'n' | 'c') {
            packages.insert(
                name.to_string(),
                PackageState {
                    version: version.to_string(),
                    state: state_name.to_string(),
                    held: want == 'h',
                },
            );
        }
    }
    held.sort();
    (packages, held, pending)
}

/// The `apt` section: `@@file PATH` then the file's lines.
fn parse_apt(lines: &[&str]) -> Vec<AptSource> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(file) = lines[i].strip_prefix("@@file ") else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].starts_with("@@file ") {
            end += 1;
        }
        let body = &lines[start..end];
        // apt reads only *.list and *.sources; anything else (.disabled,
        // .save, .distUpgrade) is kept but reported as disabled.
        let active_file = file.ends_with(".list") || file.ends_with(".sources");
        let found = if file.ends_with(".sources") || file.contains(".sources.") {
            super::apt::parse_deb822(file, body)
        } else {
            super::apt::parse_one_line(file, body)
        };
        out.extend(found.into_iter().map(|mut s| {
            s.enabled &= active_file;
            s
        }));
        i = end;
    }
    out
}

/// Maps a process or pid-file name to the service it stands for.
fn service_for(name: &str) -> Option<&'static str> {
    Some(match name {
        "apache2" | "httpd" => "apache2",
        "postgres" | "postgresql" => "postgresql",
        "memcached" => "memcached",
        "gunicorn" => "gunicorn",
        "sshd" => "ssh",
        "cron" => "cron",
        "beam.smp" | "rabbitmq-server" | "rabbitmq" => "rabbitmq-server",
        "snf-dispatcher" => "snf-dispatcher",
        // /proc/PID/comm is cut at 15 characters.
        "snf-ganeti-even" | "snf-ganeti-eventd" => "snf-ganeti-eventd",
        "ganeti-noded" | "ganeti-confd" | "ganeti-wconfd" | "ganeti-luxid" | "ganeti-rapi"
        | "ganeti-kvmd" | "ganeti-mond" | "ganeti-metad" | "ganeti-masterd" => {
            return GANETI.iter().copied().find(|g| *g == name)
        }
        "archipelago" | "vlmcd" | "mt-pfiled" | "blockerb" | "blockerm" | "mt-sosd" => {
            "archipelago"
        }
        _ => return None,
    })
}

const GANETI: [&str; 9] = [
    "ganeti-noded",
    "ganeti-confd",
    "ganeti-wconfd",
    "ganeti-luxid",
    "ganeti-rapi",
    "ganeti-kvmd",
    "ganeti-mond",
    "ganeti-metad",
    "ganeti-masterd",
];

/// Running services from systemd (when PID 1 is systemd), live pid files
/// and the process list; each with what showed it.
fn parse_services(systemd: &[&str], pidfiles: &[&str], procs: &[&str]) -> Vec<Service> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in systemd {
        if let Some(unit) = l.split_whitespace().next() {
            let name = unit.trim_end_matches(".service");
            found
                .entry(name.to_string())
                .or_default()
                .insert("systemd".into());
        }
    }
    for l in pidfiles {
        let Some((path, _pid)) = l.rsplit_once(' ') else {
            continue;
        };
        let p = std::path::Path::new(path);
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let dir = p
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        // /run/postgresql/15-main.pid → postgresql; /run/apache2/apache2.pid → apache2
        let raw = if dir != "run" && !stem.contains(dir) && service_for(dir).is_some() {
            dir
        } else {
            stem
        };
        let name = service_for(raw).unwrap_or(raw);
        found
            .entry(name.to_string())
            .or_default()
            .insert(format!("pidfile {path}"));
    }
    for l in procs {
        let mut words = l.split_whitespace();
        let Some(comm) = words.next() else { continue };
        let name = if comm.starts_with("python") || comm.starts_with("perl") {
            // `python3 /usr/bin/gunicorn ...`: the script names the service.
            words
                .filter(|w| !w.starts_with('-'))
                .find_map(|w| service_for(w.rsplit('/').next().unwrap_or(w)))
        } else {
            service_for(comm)
        };
        if let Some(name) = name {
            found
                .entry(name.to_string())
                .or_default()
                .insert(format!("process {comm}"));
        }
    }
    found
        .into_iter()
        .map(|(name, evidence)| Service {
            name,
            evidence: evidence.into_iter().collect(),
        })
        .collect()
}

/// `df -P -k / /var` → one entry per path asked (in that order).
fn parse_df(lines: &[&str]) -> Vec<Disk> {
    let paths = ["/", "/var"];
    lines
        .iter()
        .filter(|l| !l.starts_with("Filesystem"))
        .zip(paths)
        .filter_map(|(l, path)| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 {
                return None;
            }
            Some(Disk {
                path: path.to_string(),
                filesystem: f[0].to_string(),
                mount: f[5..].join(" "),
                size_kib: f[1].parse().ok()?,
                avail_kib: f[3].parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "@@snf:os
PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"
ID=debian
VERSION_ID=\"12\"
VERSION_CODENAME=bookworm
@@snf:debian_version
12.8
@@snf:kernel
6.1.0-28-amd64
@@snf:boot_id
0b5c4a7e-1111-2222-3333-444455556666
@@snf:apt
@@file /etc/apt/sources.list
deb http://deb.debian.org/debian bookworm main
# deb http://deb.debian.org/debian bookworm-backports main
deb [arch=amd64 signed-by=/usr/share/keyrings/grnet.gpg] http://apt.dev.grnet.gr bookworm/
@@file /etc/apt/sources.list.d/debian.sources
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main contrib

Types: deb
URIs: http://security.debian.org/debian-security
Suites: bookworm-security
Components: main
Enabled: no
@@file /etc/apt/sources.list.d/ceph.list.disabled
deb https://download.ceph.com/debian-reef bookworm main
@@snf:dpkg_updates
@@snf:dpkg_fp
2049:1234:567:1700000000.123456789
@@snf:dpkg
ii \tsnf-common\t0.18.1-1~wheezy
hi \tganeti-3.0\t3.0.2-3
ii \tbash\t5.2.15-2
iU \tpostgresql-15\t15.8-0+deb12u1
rc \tapache2\t2.4.62-1
hi \tlibc6\t2.36-9
@@snf:dpkg_audit
The following packages have been unpacked but not yet configured.
 postgresql-15
@@snf:systemd
@@snf:pidfiles
/run/sshd.pid 120
/run/apache2/apache2.pid 300
/run/postgresql/15-main.pid 400
@@snf:procs
sshd
apache2
apache2
postgres
python3 /usr/bin/python3 /usr/bin/gunicorn --config /etc/gunicorn.d/synnefo
snf-ganeti-even
bash
@@snf:df
Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda1         264212084 17264328  78021560      19% /
/dev/vdb1         1000 500  400      50% /var
@@snf:end
";

    #[test]
    fn parses_every_section() {
        let p = parse(SAMPLE, None).unwrap();
        let f = p.facts;
        assert_eq!(f.os.id, "debian");
        assert_eq!(f.os.codename.as_deref(), Some("bookworm"));
        assert_eq!(f.os.version_id.as_deref(), Some("12"));
        assert_eq!(f.kernel.as_deref(), Some("6.1.0-28-amd64"));
        let names: Vec<_> = f.packages.keys().map(String::as_str).collect();
        assert_eq!(names, ["ganeti-3.0", "postgresql-15", "snf-common"]);
        assert_eq!(f.packages["snf-common"].version, "0.18.1-1~wheezy");
        assert!(f.packages["ganeti-3.0"].held);
        assert_eq!(f.packages["postgresql-15"].state, "unpacked");
        assert_eq!(f.held, ["ganeti-3.0", "libc6"]);
        assert_eq!(
            f.dpkg.pending,
            [("postgresql-15".to_string(), "unpacked".to_string())]
        );
        assert!(!f.dpkg.interrupted);
        assert_eq!(f.dpkg.audit.len(), 2);
        let services: Vec<_> = f.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            services,
            [
                "apache2",
                "gunicorn",
                "postgresql",
                "snf-ganeti-eventd",
                "ssh"
            ]
        );
        assert_eq!(f.disk.len(), 2);
        assert_eq!(f.disk[1].path, "/var");
        assert_eq!(f.disk[1].avail_kib, 400);
        assert_eq!(f.disk[0].mount, "/");
    }

    #[test]
    fn apt_sources_of_every_kind_with_disabled_ones_marked() {
        let f = parse(SAMPLE, None).unwrap().facts;
        let got: Vec<_> = f
            .apt_sources
            .iter()
            .map(|s| {
                (
                    s.file.rsplit('/').next().unwrap(),
                    s.line,
                    s.suites.join(","),
                    s.enabled,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("sources.list", 1, "bookworm".to_string(), true),
                ("sources.list", 2, "bookworm-backports".to_string(), false),
                ("sources.list", 3, "bookworm/".to_string(), true),
                (
                    "debian.sources",
                    1,
                    "bookworm,bookworm-updates".to_string(),
                    true
                ),
                ("debian.sources", 6, "bookworm-security".to_string(), false),
                ("ceph.list.disabled", 1, "bookworm".to_string(), false),
            ]
        );
        assert_eq!(f.apt_sources[2].uris, ["http://apt.dev.grnet.gr"]);
        assert_eq!(f.apt_sources[3].types, ["deb", "deb-src"]);
    }

    #[test]
    fn the_script_greps_every_process_name_service_for_knows() {
        let names = [
            "apache2",
            "httpd",
            "postgres",
            "memcached",
            "gunicorn",
            "sshd",
            "cron",
            "beam.smp",
            "rabbitmq-server",
            "snf-dispatcher",
            "snf-ganeti-even",
            "archipelago",
            "vlmcd",
            "mt-pfiled",
            "mt-sosd",
            "blockerb",
            "blockerm",
            "python3",
            "python2.7",
            "perl",
        ];
        let mut all: Vec<&str> = names.to_vec();
        all.extend(GANETI);
        let pattern = SCRIPT
            .lines()
            .find_map(|l| l.strip_prefix("grep -s -x -E '"))
            .and_then(|l| l.split('\'').next())
            .unwrap();
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("names"), all.join("\n")).unwrap();
        let out = std::process::Command::new("grep")
            .args(["-c", "-x", "-E", pattern])
            .arg(d.path().join("names"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            all.len().to_string()
        );
        for n in all {
            let is_script = n.starts_with("python") || n.starts_with("perl");
            assert!(is_script || service_for(n).is_some(), "{n}");
        }
    }

    #[test]
    fn missing_sections_are_an_error() {
        assert!(parse("@@snf:os\nID=debian\n", None).is_err());
    }

    #[test]
    fn the_script_runs_here_and_parses() {
        // The real script on this machine (a Debian host with dpkg).
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .output()
            .unwrap();
        assert!(out.status.success());
        let p = parse(&String::from_utf8_lossy(&out.stdout), None).unwrap();
        let f = p.facts;
        assert!(!f.os.id.is_empty());
        assert!(!f.disk.is_empty());
        assert!(f.boot_id.is_some());
        // Told the fingerprint it just gave, the script skips the package
        // list, and the snapshot stands in for it.
        let snap = p.snapshot.expect("a snapshot of the package list");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script_for(Some(&snap)))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("@@snf:dpkg_unchanged"), "{text}");
        let again = parse(&text, Some(&snap)).unwrap();
        assert!(again.snapshot.is_none());
        assert_eq!(again.facts.packages, f.packages);
        // A stale snapshot is never used.
        let stale = DpkgSnapshot {
            fingerprint: "0:0:0:0".into(),
            lines: String::new(),
        };
        assert!(parse(&text, Some(&stale)).is_err());
    }
}
