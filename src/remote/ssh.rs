//! The `ssh` command line for one host, the private folder of control
//! sockets, and the reading of ssh's own complaints into typed errors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::process::Command;

use super::{trim_detail, RemoteError};
use crate::inventory::{Host, Inventory};

/// Seconds a master connection stays up after its last use, so the next
/// command (or the next run of snf-upgrade) skips the handshake.
pub const DEFAULT_PERSIST_SECS: u32 = 300;

/// Seconds to wait for a TCP connection when the inventory does not say.
pub const DEFAULT_CONNECT_TIMEOUT: u32 = 10;

/// How to reach one host with `ssh`. Anything `None` is left to OpenSSH
/// (~/.ssh/config or the file in `config`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshTarget {
    /// Address or ssh_config alias.
    pub destination: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    /// Used instead of the user's known_hosts files when set.
    pub known_hosts: Option<PathBuf>,
    /// Passed as `ssh -F`.
    pub config: Option<PathBuf>,
    pub jump: Option<String>,
    pub connect_timeout: Option<u32>,
}

impl SshTarget {
    /// The target for `host`: its own settings, else the inventory's [ssh].
    pub fn from_inventory(inv: &Inventory, host: &Host) -> SshTarget {
        let d = &inv.ssh;
        SshTarget {
            destination: host.destination().to_string(),
            user: host.user.clone().or_else(|| d.user.clone()),
            port: host.port.or(d.port),
            identity_file: host
                .identity_file
                .clone()
                .or_else(|| d.identity_file.clone()),
            known_hosts: d.known_hosts.clone(),
            config: d.config.clone(),
            jump: host.jump.clone().or_else(|| d.jump.clone()),
            connect_timeout: d.connect_timeout,
        }
    }

    /// The control socket of this target's master: named by a hash of
    /// everything that makes the connection (not ssh's %C, which depends on
    /// ssh_config and so could not be found without asking ssh), so a
    /// command can use a live master directly.
    pub fn control_socket(&self, control: &ControlDir) -> Option<PathBuf> {
        let dir = control.path.as_ref()?;
        // FNV-1a: stable across builds (the socket outlives the process).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let key = format!(
            "{}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}",
            self.destination,
            self.user,
            self.port,
            self.identity_file,
            self.known_hosts,
            self.config,
            self.jump
        );
        for b in key.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Some(dir.join(format!("m-{h:016x}")))
    }

    /// The arguments before the destination: everything but the command.
    pub fn args(&self, control: &ControlDir) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut opt = |s: String| {
            a.push("-o".into());
            a.push(s);
        };
        // Never weakened, whatever the user's config says: the command line
        // wins over ssh_config. UpdateHostKeys=no: we never write known_hosts.
        opt("StrictHostKeyChecking=yes".into());
        opt("UpdateHostKeys=no".into());
        opt("BatchMode=yes".into());
        opt("LogLevel=ERROR".into());
        opt(format!(
            "ConnectTimeout={}",
            self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
        ));
        opt("ServerAliveInterval=15".into());
        opt("ServerAliveCountMax=4".into());
        if let Some(sock) = self.control_socket(control) {
            opt("ControlMaster=auto".into());
            opt(format!("ControlPath={}", ssh_value(&sock)));
            opt(format!("ControlPersist={}", control.persist_secs));
        }
        if let Some(k) = &self.known_hosts {
            opt(format!("UserKnownHostsFile={}", ssh_value(k)));
        }
        if let Some(c) = &self.config {
            a.splice(0..0, ["-F".to_string(), c.display().to_string()]);
        }
        if let Some(u) = &self.user {
            a.extend(["-l".into(), u.clone()]);
        }
        if let Some(p) = self.port {
            a.extend(["-p".into(), p.to_string()]);
        }
        if let Some(i) = &self.identity_file {
            a.extend(["-i".into(), i.display().to_string()]);
        }
        if let Some(j) = &self.jump {
            a.extend(["-J".into(), j.clone()]);
        }
        a.push("-T".into());
        a
    }

    /// `ssh ARGS -E log -- destination remote_command`.
    pub(super) fn command(&self, control: &ControlDir, log: &Path, remote: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args(self.args(control))
            .arg("-E")
            .arg(log)
            .arg("--")
            .arg(&self.destination)
            .arg(remote);
        c
    }

    /// Turns what ssh logged (it exited 255) into a typed error.
    pub(super) fn classify(&self, host: &str, log: &str) -> RemoteError {
        let host = host.to_string();
        let known_hosts = match &self.known_hosts {
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
        } else if log.contains("host key is known for")
            || log.contains("Host key verification failed")
        {
            RemoteError::HostKeyUnknown {
                host,
                known_hosts,
                detail,
            }
        } else if log.contains("Permission denied")
            || log.contains("Too many authentication failures")
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
        ]
        .iter()
        .any(|s| log.contains(s))
        {
            RemoteError::Unreachable { host, detail }
        } else {
            RemoteError::Ssh { host, detail }
        }
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

    /// Asks every master in this folder to exit (`ssh -O exit`), e.g. after
    /// a reboot changed what the hosts are.
    pub fn close_all(&self, targets: &[SshTarget]) {
        for t in targets {
            let _ = std::process::Command::new("ssh")
                .args(t.args(self))
                .args(["-O", "exit", "--", &t.destination])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_never_weaken_host_key_checking() {
        let d = tempfile::tempdir().unwrap();
        let c = ControlDir::open(&d.path().join("cm")).unwrap();
        let t = SshTarget {
            destination: "h".into(),
            user: Some("admin".into()),
            port: Some(2222),
            known_hosts: Some("/k h/known_hosts".into()),
            config: Some("/etc/cfg".into()),
            jump: Some("bastion".into()),
            ..Default::default()
        };
        let a = t.args(&c).join(" ");
        assert!(a.starts_with("-F /etc/cfg "), "{a}");
        assert!(a.contains("StrictHostKeyChecking=yes"));
        assert!(!a.contains("StrictHostKeyChecking=no"));
        assert!(!a.contains("accept-new"));
        assert!(a.contains("UserKnownHostsFile=\"/k h/known_hosts\""));
        assert!(a.contains("-l admin -p 2222"));
        assert!(a.contains("-J bastion"));
        assert!(a.contains("ControlMaster=auto"));
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
        let cases = [
            ("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.", "host_key_unknown"),
            ("@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nSHA256:abc.\nHost key verification failed.", "host_key_changed"),
            ("root@127.0.0.1: Permission denied (publickey).", "auth_failed"),
            ("ssh: connect to host 127.0.0.1 port 2: Connection refused", "unreachable"),
            ("something odd", "ssh"),
        ];
        for (log, kind) in cases {
            assert_eq!(t.classify("h", log).kind(), kind, "{log}");
        }
    }
}
