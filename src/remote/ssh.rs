//! The `ssh` command line for one host, the private folder of control
//! sockets, and the reading of ssh's own complaints into typed errors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::process::Command;

use super::{sh_quote, trim_detail, RemoteError};
use crate::inventory::SshTarget;

/// Seconds a master connection stays up after its last use, so the next
/// command (or the next run of snf-upgrade) skips the handshake.
pub const DEFAULT_PERSIST_SECS: u32 = 300;

/// Seconds to wait for a TCP connection when the inventory does not say.
pub const DEFAULT_CONNECT_TIMEOUT: u32 = 10;

/// Keepalives: a host that stops answering (gone without closing TCP) is
/// dropped after INTERVAL × (COUNT_MAX + 1) = 12 s of silence, and every
/// command on that connection ends as `unreachable`.
pub const SERVER_ALIVE_INTERVAL: u32 = 3;
pub const SERVER_ALIVE_COUNT_MAX: u32 = 3;

/// Whether a command goes through (and may start) a kept master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mux {
    Use,
    /// Its own connection: the master did not answer its alive check.
    Bypass,
}

/// `%` is ssh's token character in a ProxyCommand: a literal one is `%%`.
fn escape_tokens(s: &str) -> String {
    s.replace('%', "%%")
}

// How `remote` reaches an [`SshTarget`] (the type is the inventory's: one
// type for "how to reach this host", resolved in one place).
impl SshTarget {
    /// The control socket of this target's master: named by a hash of
    /// everything that makes the connection (not ssh's %C, which depends on
    /// ssh_config and so could not be found without asking ssh), so a
    /// command can use a live master directly.
    pub fn control_socket(&self, control: &ControlDir) -> Option<PathBuf> {
        let dir = control.path.as_ref()?;
        // FNV-1a: stable across builds (the socket outlives the process).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut key = String::new();
        let mut at = Some(self);
        while let Some(t) = at {
            let s = &t.settings;
            key.push_str(&format!(
                "{}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0",
                t.destination, s.user, s.port, s.identity_file, s.known_hosts, s.config
            ));
            at = t.via.as_deref();
        }
        for b in key.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Some(dir.join(format!("m-{h:016x}")))
    }

    /// What the target and every jump host get alike: host keys checked
    /// strictly against the inventory's known_hosts and never written, no
    /// prompts, bounded connects, keepalives, the user, port and identity.
    fn hardened(&self) -> Vec<String> {
        let s = &self.settings;
        let mut a: Vec<String> = Vec::new();
        if let Some(c) = &s.config {
            a.extend(["-F".to_string(), c.display().to_string()]);
        }
        let mut opt = |o: String| a.extend(["-o".to_string(), o]);
        // Never weakened, whatever the user's config says: the command line
        // wins over ssh_config. UpdateHostKeys=no: we never write known_hosts.
        opt("StrictHostKeyChecking=yes".into());
        opt("UpdateHostKeys=no".into());
        opt("BatchMode=yes".into());
        opt("LogLevel=ERROR".into());
        opt(format!(
            "ConnectTimeout={}",
            s.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
        ));
        opt(format!("ServerAliveInterval={SERVER_ALIVE_INTERVAL}"));
        opt(format!("ServerAliveCountMax={SERVER_ALIVE_COUNT_MAX}"));
        if let Some(k) = &s.known_hosts {
            opt(format!("UserKnownHostsFile={}", ssh_value(k)));
        }
        if let Some(u) = &s.user {
            a.extend(["-l".into(), u.clone()]);
        }
        if let Some(p) = s.port {
            a.extend(["-p".into(), p.to_string()]);
        }
        if let Some(i) = &s.identity_file {
            a.extend(["-i".into(), i.display().to_string()]);
        }
        a
    }

    /// The ProxyCommand that reaches this target through its jump hosts:
    /// `ssh -W` to each hop with the same hardening as the target (ssh's
    /// own `-J` passes none of our options on), each hop logging to its
    /// own file in `hop_logs` (nearest hop first).
    fn proxy_command(&self, hop_logs: &[PathBuf]) -> Option<String> {
        let hops = self.hops();
        let mut proxy: Option<String> = None;
        for (hop, log) in hops.iter().zip(hop_logs) {
            let mut words = vec!["ssh".to_string()];
            words.extend(hop.hardened());
            words.extend(["-o".into(), "ControlPath=none".into()]);
            if let Some(p) = proxy.take() {
                words.extend(["-o".into(), format!("ProxyCommand={p}")]);
            }
            words.extend(["-E".into(), log.display().to_string()]);
            let mut line: Vec<String> = words.iter().map(|w| sh_quote(&escape_tokens(w))).collect();
            // The one part ssh must expand: the next hop's address.
            line.extend(["-W".into(), "'[%h]:%p'".into(), "--".into()]);
            line.push(sh_quote(&escape_tokens(&hop.destination)));
            proxy = Some(line.join(" "));
        }
        proxy
    }

    /// The arguments before the destination: everything but the command.
    pub(super) fn args(&self, control: &ControlDir, mux: Mux, hop_logs: &[PathBuf]) -> Vec<String> {
        let mut a = self.hardened();
        let mut opt = |o: String| a.extend(["-o".to_string(), o]);
        match (mux, self.control_socket(control)) {
            (Mux::Use, Some(sock)) => {
                opt("ControlMaster=auto".into());
                opt(format!("ControlPath={}", ssh_value(&sock)));
                opt(format!("ControlPersist={}", control.persist_secs));
            }
            _ => opt("ControlPath=none".into()),
        }
        if let Some(p) = self.proxy_command(hop_logs) {
            opt(format!("ProxyCommand={p}"));
        }
        a.push("-T".into());
        a
    }

    /// One log file per jump host, next to the command's own.
    pub(super) fn hop_logs(&self, log: &Path) -> Vec<PathBuf> {
        (0..self.hops().len())
            .map(|i| PathBuf::from(format!("{}.hop{i}", log.display())))
            .collect()
    }

    /// `ssh ARGS -E log -- destination remote_command`.
    pub(super) fn command(
        &self,
        control: &ControlDir,
        log: &Path,
        mux: Mux,
        remote: &str,
    ) -> Command {
        let mut c = Command::new("ssh");
        c.args(self.args(control, mux, &self.hop_logs(log)))
            .arg("-E")
            .arg(log)
            .arg("--")
            .arg(&self.destination)
            .arg(remote);
        c
    }

    /// Turns what ssh logged (it exited 255) into a typed error. `hop_logs`
    /// is what each jump host's ssh said, nearest first: the first that
    /// said anything is where the connection failed, and is named.
    pub(super) fn classify(&self, host: &str, log: &str, hop_logs: &[String]) -> RemoteError {
        for (hop, said) in self.hops().into_iter().zip(hop_logs) {
            if !said.trim().is_empty() {
                return classify_log(
                    &format!("jump host {} (on the way to {host})", hop.name),
                    hop,
                    said,
                );
            }
        }
        classify_log(host, self, log)
    }
}

/// What `ssh` to `target` said, as a typed error about `host`.
fn classify_log(host: &str, target: &SshTarget, log: &str) -> RemoteError {
    let host = host.to_string();
    let known_hosts = match &target.settings.known_hosts {
        Some(k) => k.display().to_string(),
        None => "your known_hosts file".to_string(),
    };
    let detail = trim_detail(log);
    if log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || log.contains("has changed and you have requested strict checking")
    {
        // The fingerprint line is the useful part of ssh's banner.
        let fp = log
            .lines()
            .find(|l| l.contains("SHA256:"))
            .map(|l| format!("the host now offers {}", l.trim().trim_end_matches('.')))
            .unwrap_or(detail);
        RemoteError::HostKeyChanged {
            host,
            known_hosts,
            detail: fp,
        }
    } else if log.contains("host key is known for") || log.contains("Host key verification failed")
    {
        RemoteError::HostKeyUnknown {
            host,
            known_hosts,
            detail,
        }
    } else if log.contains("Permission denied") || log.contains("Too many authentication failures")
    {
        RemoteError::AuthFailed { host, detail }
    } else if [
        "Connection refused",
        "Connection timed out",
        "timed out",
        "No route to host",
        "Could not resolve hostname",
        "Network is unreachable",
        "Connection closed by",
        "Connection reset",
        "kex_exchange_identification",
        "server not responding",
        "Broken pipe",
    ]
    .iter()
    .any(|s| log.contains(s))
    {
        RemoteError::Unreachable { host, detail }
    } else {
        RemoteError::Ssh { host, detail }
    }
}

/// An ssh_config value, quoted if it has spaces.
fn ssh_value(p: &Path) -> String {
    let s = p.display().to_string();
    if s.contains(' ') {
        format!("\"{s}\"")
    } else {
        s
    }
}

/// The private folder holding control sockets and per-command ssh logs.
#[derive(Debug)]
pub struct ControlDir {
    path: Option<PathBuf>,
    persist_secs: u32,
    counter: AtomicU64,
}

impl ControlDir {
    /// Opens (creating it mode 0700) the folder at `path`. Refuses a folder
    /// that others may enter: a socket there would hand them our sessions.
    pub fn open(path: &Path) -> std::io::Result<ControlDir> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        if !path.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)?;
        }
        let meta = std::fs::metadata(path)?;
        let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
        if Some(meta.uid()) != me || meta.permissions().mode() & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "control socket folder {} must be owned by you and mode 0700 (chmod 700 it, or remove it)",
                    path.display()
                ),
            ));
        }
        // A socket path longer than ~104 bytes is refused by the kernel.
        if path.as_os_str().len() > 60 {
            tracing::warn!(
                "control socket folder {} has a long path; ssh may refuse it (set SNF_UPGRADE_CONTROL_DIR)",
                path.display()
            );
        }
        Ok(ControlDir {
            path: Some(path.to_path_buf()),
            persist_secs: DEFAULT_PERSIST_SECS,
            counter: AtomicU64::new(0),
        })
    }

    /// No multiplexing (and no folder): for the local transport.
    pub fn unused() -> ControlDir {
        ControlDir {
            path: None,
            persist_secs: 0,
            counter: AtomicU64::new(0),
        }
    }

    /// How long masters stay up after their last use.
    pub fn with_persist(mut self, secs: u32) -> Self {
        self.persist_secs = secs.max(1);
        self
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A fresh file for one ssh process's own messages (`ssh -E`).
    pub(super) fn log_file(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let dir = self.path.clone().unwrap_or_else(std::env::temp_dir);
        dir.join(format!("log-{}-{n}", std::process::id()))
    }

    /// Asks the masters of `targets` to exit (e.g. after a reboot changed
    /// what the hosts are), each within `deadline`; a master that does not
    /// answer is left to its keepalives.
    pub async fn close_all(&self, targets: &[SshTarget], deadline: Duration) {
        for t in targets {
            if let Some(sock) = t.control_socket(self) {
                let _ = tokio::time::timeout(deadline, super::mux::terminate(&sock)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::inventory::SshSettings;

    fn target(name: &str, user: &str, via: Option<SshTarget>) -> SshTarget {
        SshTarget {
            name: name.into(),
            destination: name.into(),
            settings: SshSettings {
                user: Some(user.into()),
                port: Some(2222),
                identity_file: Some("/keys/id%1".into()),
                known_hosts: Some("/k h/known_hosts".into()),
                config: Some("/etc/cfg".into()),
                ..Default::default()
            },
            via: via.map(Box::new),
        }
    }

    /// What ssh does to a ProxyCommand before the shell runs it: `%%` is
    /// `%`, `%h` and `%p` the next host; then the shell splits the words.
    fn run_as_ssh_would(proxy: &str, host: &str, port: &str) -> Vec<String> {
        let mut expanded = String::new();
        let mut chars = proxy.chars();
        while let Some(c) = chars.next() {
            match (c, c == '%') {
                (_, true) => match chars.next() {
                    Some('%') => expanded.push('%'),
                    Some('h') => expanded.push_str(host),
                    Some('p') => expanded.push_str(port),
                    other => panic!("unexpected token %{other:?} in {proxy}"),
                },
                (c, false) => expanded.push(c),
            }
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("set -- {expanded}; printf '%s\\0' \"$@\""))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn args_never_weaken_host_key_checking() {
        let d = tempfile::tempdir().unwrap();
        let c = ControlDir::open(&d.path().join("cm")).unwrap();
        let t = target("h", "admin", None);
        let a = t.args(&c, Mux::Use, &[]).join(" ");
        assert!(a.starts_with("-F /etc/cfg "), "{a}");
        assert!(a.contains("StrictHostKeyChecking=yes"));
        assert!(!a.contains("StrictHostKeyChecking=no"));
        assert!(!a.contains("accept-new"));
        assert!(a.contains("UserKnownHostsFile=\"/k h/known_hosts\""));
        assert!(a.contains("-l admin -p 2222"));
        assert!(a.contains("ControlMaster=auto"));
        assert!(a.contains("ServerAliveInterval=3 -o ServerAliveCountMax=3"));
        let bypass = t.args(&c, Mux::Bypass, &[]).join(" ");
        assert!(bypass.contains("ControlPath=none") && !bypass.contains("ControlMaster"));
    }

    #[test]
    fn every_jump_host_gets_the_hardening_of_the_target() {
        let d = tempfile::tempdir().unwrap();
        let c = ControlDir::open(&d.path().join("cm")).unwrap();
        // us → first → second → h
        let first = target("first", "u1", None);
        let second = target("second", "u2", Some(first));
        let t = target("h", "admin", Some(second));
        let logs = t.hop_logs(Path::new("/logs/l"));
        let a = t.args(&c, Mux::Use, &logs);
        assert!(!a.iter().any(|w| w == "-J"), "{a:?}");
        let proxy = a
            .iter()
            .find_map(|w| w.strip_prefix("ProxyCommand="))
            .expect("a ProxyCommand");
        // The outer ssh runs the hop to `second`, which reaches h.
        let outer = run_as_ssh_would(proxy, "h", "2222");
        let inner = outer
            .iter()
            .find_map(|w| w.strip_prefix("ProxyCommand="))
            .expect("the second hop reaches the first through its own ProxyCommand");
        // ...and the hop to `second` runs the hop to `first`.
        let innermost = run_as_ssh_would(inner, "second", "2222");
        for (words, dest, user, log, via) in [
            (&outer, "second", "u2", "/logs/l.hop1", "[h]:2222"),
            (&innermost, "first", "u1", "/logs/l.hop0", "[second]:2222"),
        ] {
            let line = words.join(" ");
            assert_eq!(words[0], "ssh");
            for want in [
                "StrictHostKeyChecking=yes",
                "UpdateHostKeys=no",
                "BatchMode=yes",
                "ConnectTimeout=10",
                "ServerAliveInterval=3",
                "ControlPath=none",
                "UserKnownHostsFile=\"/k h/known_hosts\"",
            ] {
                assert!(words.iter().any(|w| w == want), "{want} missing: {line}");
            }
            assert!(
                line.contains(&format!("-l {user} -p 2222 -i /keys/id%1")),
                "{line}"
            );
            assert!(line.starts_with("ssh -F /etc/cfg "), "{line}");
            assert!(line.contains(&format!("-E {log}")), "{line}");
            assert!(line.ends_with(&format!("-W {via} -- {dest}")), "{line}");
        }
    }

    #[test]
    fn control_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b");
        ControlDir::open(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(ControlDir::open(&p).is_err());
    }

    #[test]
    fn ssh_messages_become_typed_errors() {
        let t = SshTarget::default();
        let via = target("h", "u", Some(target("bastion", "j", None)));
        let e = via.classify(
            "h",
            "kex_exchange_identification: Connection closed",
            &["Host key verification failed.".into()],
        );
        assert_eq!(e.kind(), "host_key_unknown");
        assert!(
            e.to_string()
                .starts_with("jump host bastion (on the way to h)"),
            "{e}"
        );
        let cases = [
            ("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.", "host_key_unknown"),
            ("@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nSHA256:abc.\nHost key verification failed.", "host_key_changed"),
            ("root@127.0.0.1: Permission denied (publickey).", "auth_failed"),
            ("ssh: connect to host 127.0.0.1 port 2: Connection refused", "unreachable"),
            ("something odd", "ssh"),
        ];
        for (log, kind) in cases {
            assert_eq!(t.classify("h", log, &[]).kind(), kind, "{log}");
        }
    }
}
