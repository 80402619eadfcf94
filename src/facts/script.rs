//! The one shell script that reads every fact of a host in a single SSH
//! round trip, and the reader of its framed output. The script only reads;
//! it is POSIX sh and avoids forks where a builtin will do, because on a
//! site of hundreds of nodes its cost is paid hundreds of times.
//!
//! Framing: every section is `@@snf:NAME LENGTH\n` and then exactly LENGTH
//! bytes, the length counted by the shell itself (`${#s}`, bytes under
//! `LC_ALL=C`) of the very text it prints. The reader takes each section by
//! its length, never by looking for markers, so nothing inside one (a file
//! name, a process name, a line of a file) can start another; output that
//! does not frame exactly, to its last byte, is refused.

use std::collections::{BTreeMap, BTreeSet};

use super::{AptSource, Disk, DpkgState, Facts, OsRelease, PackageState, Service};

/// Process names are read from /proc/PID/comm (never the arguments, which
/// any user sets freely), NUL-terminated by `grep -z`: a name with a
/// newline of its own is one record that matches nothing.
pub const SCRIPT: &str = r#"export LC_ALL=C
nl='
'
# sec NAME TEXT: one section, TEXT and a newline, framed by its length.
sec() { if [ -n "$2" ]; then printf '@@snf:%s %s\n%s\n' "$1" $((${#2} + 1)) "$2"; else printf '@@snf:%s 0\n' "$1"; fi; }
dump() { while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done < "$1"; }
sec os "$([ -r /etc/os-release ] && dump /etc/os-release)"
sec debian_version "$([ -r /etc/debian_version ] && dump /etc/debian_version)"
sec kernel "$(read -r k < /proc/sys/kernel/osrelease && echo "$k")"
sec boot_id "$(read -r b < /proc/sys/kernel/random/boot_id && echo "$b")"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do
  case "$f" in *.list|*.sources|*.list.*|*.sources.*) ;; *) continue ;; esac
  [ -f "$f" ] && [ -r "$f" ] || continue
  sec apt_file "$f"; sec apt_body "$(dump "$f")"
done
journal=
for f in /var/lib/dpkg/updates/*; do [ -e "$f" ] && journal=1; done
sec dpkg_updates "$journal"
fp=$(stat -c '%d:%i:%s:%.9Y' /var/lib/dpkg/status 2>/dev/null)
sec dpkg_fp "$fp"
# The package list is the dearest read here. When the caller saw this very
# status file (device, inode, size, mtime in ns: dpkg replaces it by rename
# on every change) and dpkg's journal is empty, it reuses what it read then.
pending=$journal
if [ -n "$fp" ] && [ "$fp" = "${snf_dpkg_fp:-}" ] && [ -z "$journal" ]; then
  sec dpkg_unchanged ""
else
  s=$(dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\n' 2>/dev/null)
  sec dpkg "$s"
  # dpkg --audit only when something is not fully installed (state U F H W
  # t, or reinst-required) or the journal is not empty: on a clean host it
  # reports nothing, and it costs more than everything else together.
  case "$nl$s" in *"$nl"?[UFHWt]*|*"$nl"??R*) pending=1 ;; esac
fi
sec dpkg_audit "$([ -n "$pending" ] && dpkg --audit 2>&1)"
sec systemd "$([ -d /run/systemd/system ] && systemctl list-units --type=service --state=running --no-legend --plain 2>/dev/null)"
# Pid files of live processes; none from a folder anyone may write to
# (sticky, like /run/lock): those prove nothing.
sec pidfiles "$(for f in /run/*.pid /run/*/*.pid; do
  case "$f" in *"$nl"*) continue ;; esac
  [ -f "$f" ] && [ -r "$f" ] && [ ! -k "${f%/*}" ] || continue
  p=; read -r p 2>/dev/null < "$f"
  case "$p" in ''|*[!0-9]*) continue ;; esac
  [ -d "/proc/$p" ] && echo "$f $p"
done)"
# Only the names service_for() knows (reading every /proc/PID/comm from sh
# costs twice as much as grep does). A record is the whole comm file and
# matches only when it is exactly a known name and the kernel's newline.
sec procs "$(grep -z -h -s -x -E '(apache2|httpd|postgres|memcached|gunicorn|sshd|cron|beam\.smp|rabbitmq-server|snf-dispatcher|snf-ganeti-even|ganeti-[a-z]+|archipelago|vlmcd|mt-pfiled|mt-sosd|blockerb|blockerm)[[:space:]]' /proc/[0-9]*/comm | tr -d '\000')"
sec df "$(df -P -k / /var 2>/dev/null)"
sec end ""
exit 0
"#;

/// Why the output could not be read as facts.
#[derive(Debug, thiserror::Error)]
pub enum Incomplete {
    #[error(
        "the facts script's output has no `{0}` section; the host may lack a POSIX sh or dpkg"
    )]
    Missing(&'static str),
    #[error("the facts script's output is not framed as it must be ({0}); nothing of it was used")]
    Framing(String),
}

/// One section: its name and its bytes.
type Section<'a> = (&'a str, &'a [u8]);

/// Splits the output into its sections by their lengths. Any byte that is
/// not in a section's frame, a section cut short, or output after `end`
/// refuses the whole output.
fn sections(out: &[u8]) -> Result<Vec<Section<'_>>, Incomplete> {
    let bad = |m: String| Err(Incomplete::Framing(m));
    let mut found = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let Some(eol) = out[at..].iter().position(|&b| b == b'\n') else {
            return bad(format!("an unterminated header at byte {at}"));
        };
        let header = std::str::from_utf8(&out[at..at + eol]).unwrap_or("");
        let parsed = header
            .strip_prefix("@@snf:")
            .and_then(|h| h.split_once(' '))
            .and_then(|(name, len)| Some((name, len.parse::<usize>().ok()?)));
        let Some((name, len)) = parsed else {
            return bad(format!("no section header at byte {at}"));
        };
        let start = at + eol + 1;
        let Some(body) = out.get(start..start + len) else {
            return bad(format!("section `{name}` is cut short"));
        };
        found.push((name, body));
        at = start + len;
        if name == "end" {
            if at != out.len() {
                return bad(format!("{} bytes after the end", out.len() - at));
            }
            return Ok(found);
        }
    }
    Err(Incomplete::Missing("end"))
}

/// A section's text as lines (a section holds its text and a newline).
fn lines(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The sections, each named once (APT files in order, by pairs).
struct Sections {
    named: BTreeMap<String, Vec<String>>,
    apt_files: Vec<(String, Vec<String>)>,
}

impl Sections {
    fn read(out: &[u8]) -> Result<Sections, Incomplete> {
        let mut named = BTreeMap::new();
        let mut apt_files = Vec::new();
        let mut apt_path: Option<String> = None;
        for (name, body) in sections(out)? {
            match name {
                "apt_file" => {
                    let text = String::from_utf8_lossy(body);
                    apt_path = Some(text.strip_suffix('\n').unwrap_or(&text).to_string());
                }
                "apt_body" => {
                    let Some(path) = apt_path.take() else {
                        return Err(Incomplete::Framing("an APT file without its path".into()));
                    };
                    apt_files.push((path, lines(body)));
                }
                _ => {
                    if named.insert(name.to_string(), lines(body)).is_some() {
                        return Err(Incomplete::Framing(format!("section `{name}` twice")));
                    }
                }
            }
        }
        if apt_path.is_some() {
            return Err(Incomplete::Framing("an APT path without its file".into()));
        }
        Ok(Sections { named, apt_files })
    }

    fn get(&self, name: &str) -> Vec<&str> {
        self.named
            .get(name)
            .map(|l| l.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn first(&self, name: &str) -> Option<String> {
        self.get(name).first().map(|l| l.trim().to_string())
    }
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
/// Only output that frames exactly is read (and only then is there a
/// snapshot to keep).
pub fn parse(out: &[u8], cached: Option<&DpkgSnapshot>) -> Result<Parsed, Incomplete> {
    let s = Sections::read(out)?;
    for required in ["os", "dpkg_fp", "dpkg_audit", "procs", "df"] {
        if !s.named.contains_key(required) {
            return Err(Incomplete::Missing(required));
        }
    }
    let fingerprint = s.first("dpkg_fp").unwrap_or_default();
    let (dpkg_lines, snapshot) = match (
        s.named.get("dpkg"),
        s.named.contains_key("dpkg_unchanged"),
        cached,
    ) {
        (Some(lines), false, _) => {
            let text = lines.join("\n");
            let snap = (!fingerprint.is_empty()).then(|| DpkgSnapshot {
                fingerprint: fingerprint.clone(),
                lines: text.clone(),
            });
            (text, snap)
        }
        (None, true, Some(c)) if c.fingerprint == fingerprint => (c.lines.clone(), None),
        _ => return Err(Incomplete::Missing("dpkg")),
    };
    let dpkg_lines: Vec<&str> = dpkg_lines.lines().collect();
    let (packages, held, pending) = parse_dpkg(&dpkg_lines);
    let mut audit: Vec<String> = s.get("dpkg_audit").iter().map(|l| l.to_string()).collect();
    while audit.last().is_some_and(|l| l.trim().is_empty()) {
        audit.pop();
    }
    let facts = Facts {
        os: parse_os(&s.get("os"), s.first("debian_version")),
        kernel: s.first("kernel"),
        boot_id: s.first("boot_id"),
        apt_sources: parse_apt(&s.apt_files),
        packages,
        held,
        dpkg: DpkgState {
            pending,
            interrupted: !s.get("dpkg_updates").is_empty(),
            audit,
        },
        services: parse_services(&s.get("systemd"), &s.get("pidfiles"), &s.get("procs")),
        disk: parse_df(&s.get("df")),
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

/// The APT files, each with its lines.
fn parse_apt(files: &[(String, Vec<String>)]) -> Vec<AptSource> {
    let mut out = Vec::new();
    for (file, lines) in files {
        let body: Vec<&str> = lines.iter().map(String::as_str).collect();
        // apt reads only *.list and *.sources; anything else (.disabled,
        // .save, .distUpgrade) is kept but reported as disabled.
        let active_file = file.ends_with(".list") || file.ends_with(".sources");
        let found = if file.ends_with(".sources") || file.contains(".sources.") {
            super::apt::parse_deb822(file, &body)
        } else {
            super::apt::parse_one_line(file, &body)
        };
        out.extend(found.into_iter().map(|mut s| {
            s.enabled &= active_file;
            s
        }));
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
    // Process names only (a script run by its interpreter shows as the
    // script's name when started through its #! line, as services are).
    for comm in procs {
        if let Some(name) = service_for(comm) {
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

    /// Frames text written the readable way (`@@snf:NAME` lines, APT files
    /// as `@@file PATH` lines inside `apt`) as the script does.
    fn frame(text: &str) -> Vec<u8> {
        let mut parts: Vec<(String, String)> = Vec::new();
        let mut in_apt = false;
        for line in text.split_inclusive('\n') {
            if let Some(name) = line.strip_prefix("@@snf:") {
                in_apt = name.trim() == "apt";
                if !in_apt {
                    parts.push((name.trim().to_string(), String::new()));
                }
            } else if let Some(path) = line.strip_prefix("@@file ").filter(|_| in_apt) {
                parts.push(("apt_file".into(), path.to_string()));
                parts.push(("apt_body".into(), String::new()));
            } else if let Some(last) = parts.last_mut() {
                last.1.push_str(line);
            }
        }
        let mut out = Vec::new();
        for (name, body) in parts {
            out.extend(format!("@@snf:{name} {}\n{body}", body.len()).into_bytes());
        }
        out
    }

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
gunicorn
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
        let p = parse(&frame(SAMPLE), None).unwrap();
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
        let f = parse(&frame(SAMPLE), None).unwrap().facts;
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
        ];
        let mut all: Vec<&str> = names.to_vec();
        all.extend(GANETI);
        let grep = SCRIPT
            .lines()
            .find_map(|l| l.strip_prefix("sec procs \"$("))
            .and_then(|l| l.split(" /proc/").next())
            .unwrap();
        // comm files as the kernel gives them (name and newline), and names
        // with a line of their own, which must match nothing.
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("proc/1");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, n) in all.iter().enumerate() {
            let p = d.path().join(format!("proc/{i}"));
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("comm"), format!("{n}\n")).unwrap();
            let q = d.path().join(format!("proc/{}", 1000 + i));
            std::fs::create_dir_all(&q).unwrap();
            std::fs::write(q.join("comm"), format!("x\n{n}\n")).unwrap();
            let r = d.path().join(format!("proc/{}", 2000 + i));
            std::fs::create_dir_all(&r).unwrap();
            std::fs::write(r.join("comm"), format!("{n}\n@@snf:end 0\n")).unwrap();
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{grep} {}/proc/[0-9]*/comm | tr -d '\\000'",
                d.path().display()
            ))
            .output()
            .unwrap();
        let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        got.sort();
        let mut want: Vec<String> = all.iter().map(|n| n.to_string()).collect();
        want.sort();
        assert_eq!(got, want);
        for n in all {
            assert!(service_for(n).is_some(), "{n}");
        }
    }

    #[test]
    fn missing_sections_are_an_error() {
        let e = parse(&frame("@@snf:os\nID=debian\n@@snf:end\n"), None).unwrap_err();
        assert!(matches!(e, Incomplete::Missing(_)), "{e}");
        let e = parse(b"@@snf:os 10\nID=debian\n", None).unwrap_err();
        assert!(matches!(e, Incomplete::Missing("end")), "{e}");
    }

    /// SAMPLE framed, with its `procs` section holding `procs` (framed as
    /// the script frames it, whatever it says).
    fn with_procs(procs: &str) -> Vec<u8> {
        let framed = String::from_utf8(frame(SAMPLE)).unwrap();
        let (head, rest) = framed.split_once("@@snf:procs ").unwrap();
        let tail = &rest[rest.find("@@snf:df ").unwrap()..];
        format!("{head}@@snf:procs {}\n{procs}{tail}", procs.len()).into_bytes()
    }

    #[test]
    fn text_inside_a_section_never_starts_another() {
        // What the old line-marked output let a process name inject.
        let forged = "sshd\n@@snf:dpkg 20\nii \tsnf-fake\t9.9\n@@snf:end 0\n";
        let f = parse(&with_procs(forged), None).unwrap().facts;
        let clean = parse(&with_procs("sshd\n"), None).unwrap().facts;
        assert!(!f.packages.contains_key("snf-fake"));
        assert_eq!(f.packages, clean.packages);
        assert_eq!(f.held, clean.held);
        assert_eq!(f.services, clean.services);
    }

    #[test]
    fn output_that_does_not_frame_exactly_is_refused() {
        let good = frame(SAMPLE);
        assert!(parse(&good, None).is_ok());
        let framing = |out: &[u8]| matches!(parse(out, None), Err(Incomplete::Framing(_)));
        // A byte more or less anywhere in a section: the next header is off.
        let s = String::from_utf8(good.clone()).unwrap();
        let longer = s.replacen("bookworm main\n", "bookworm main\nx\n", 1);
        assert!(
            framing(longer.as_bytes()),
            "a section longer than its length"
        );
        let shorter = s.replacen("bookworm main\n", "bookworm\n", 1);
        assert!(
            framing(shorter.as_bytes()),
            "a section shorter than its length"
        );
        // Cut short, or followed by anything.
        assert!(framing(&good[..good.len() - 20]), "cut short");
        let mut trailing = good.clone();
        trailing.extend(b"@@snf:dpkg 19\nii \tsnf-fake\t9.9\n");
        assert!(framing(&trailing), "output after the end");
        // Something before the first header.
        let mut leading = b"hello\n".to_vec();
        leading.extend(&good);
        assert!(framing(&leading));
        // A section given twice.
        let twice = frame(&SAMPLE.replacen("@@snf:kernel\n", "@@snf:kernel\nx\n@@snf:kernel\n", 1));
        assert!(framing(&twice));
        // Lengths are bytes: a multibyte character counts for its bytes.
        let utf8 = frame(&SAMPLE.replacen("12.8", "12.8 é", 1));
        assert_eq!(
            parse(&utf8, None)
                .unwrap()
                .facts
                .os
                .debian_version
                .as_deref(),
            Some("12.8 é")
        );
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
        let p = parse(&out.stdout, None).unwrap();
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
        assert!(text.contains("@@snf:dpkg_unchanged 0\n"), "{text}");
        let again = parse(&out.stdout, Some(&snap)).unwrap();
        assert!(again.snapshot.is_none());
        assert_eq!(again.facts.packages, f.packages);
        // A stale snapshot is never used.
        let stale = DpkgSnapshot {
            fingerprint: "0:0:0:0".into(),
            lines: String::new(),
        };
        assert!(parse(&out.stdout, Some(&stale)).is_err());
    }

    #[test]
    fn the_script_frames_under_bash_and_a_utf8_locale_too() {
        // /bin/sh is dash here; some hosts run bash as sh, some a UTF-8
        // locale: the lengths must still be bytes.
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(SCRIPT)
            .env("LC_ALL", "C.UTF-8")
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap();
        assert!(out.status.success());
        parse(&out.stdout, None).unwrap();
    }
}
