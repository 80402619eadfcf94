//! A throwaway OpenSSH server on loopback for tests: its own host key, its
//! own authorized key, a free high port; killed when dropped. Clients get a
//! known_hosts naming its key, and an empty ssh config so the user's own
//! ~/.ssh/config does not interfere.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use snf_upgrade::inventory::SshSettings;
use snf_upgrade::remote::SshTarget;

pub struct Sshd {
    pub dir: tempfile::TempDir,
    /// The address it listens on (loopback unless started in a namespace).
    pub addr: String,
    pub port: u16,
    child: Child,
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "snf-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) is installed");
    assert!(st.success());
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    pub fn start() -> Sshd {
        Sshd::start_at("127.0.0.1", None)
    }

    /// An sshd listening on `addr`, run inside network namespace `netns`
    /// when given (the caller made `addr` reachable there).
    pub fn start_at(addr: &str, netns: Option<&str>) -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: run scripts/install-deps (openssh-server)"
        );
        // sshd's privilege separation folder; present where openssh-server runs.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("snf-sshd")
            .tempdir()
            .unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("other_host_key"));
        keygen(&d.join("id"));
        std::fs::copy(d.join("id.pub"), d.join("authorized_keys")).unwrap();
        std::fs::write(d.join("ssh_config"), "").unwrap();
        // In a namespace of its own, any port is free.
        let port = if netns.is_some() { 2222 } else { free_port() };
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "ListenAddress {addr}:{port}\nHostKey {d}/host_key\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPidFile none\nStrictModes no\n\
                 UsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nMaxStartups 200:30:300\nMaxSessions 200\n",
                d = d.display()
            ),
        )
        .unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(sshd);
                c
            }
            None => Command::new(sshd),
        };
        let child = cmd
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd starts");
        let t = Instant::now();
        let sock: std::net::SocketAddr = format!("{addr}:{port}").parse().unwrap();
        while TcpStream::connect_timeout(&sock, Duration::from_secs(1)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "sshd did not listen on port {port}: {}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
        Sshd {
            dir,
            addr: addr.to_string(),
            port,
            child,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A known_hosts file (named `name`) holding `key_file`'s public key for
    /// this server's address and port.
    pub fn known_hosts_with(&self, name: &str, key_file: &str) -> PathBuf {
        let key = std::fs::read_to_string(self.path(&format!("{key_file}.pub"))).unwrap();
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        let p = self.path(name);
        std::fs::write(
            &p,
            format!("[{}]:{} {}\n", self.addr, self.port, key.join(" ")),
        )
        .unwrap();
        p
    }

    /// The right known_hosts.
    pub fn known_hosts(&self) -> PathBuf {
        self.known_hosts_with("known_hosts", "host_key")
    }

    /// Lets the holder of `other`'s client key log in here too.
    pub fn authorize(&self, other: &Sshd) {
        use std::io::Write;
        let key = std::fs::read(other.path("id.pub")).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.path("authorized_keys"))
            .unwrap()
            .write_all(&key)
            .unwrap();
    }

    /// What sshd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    pub fn target(&self, known_hosts: PathBuf) -> SshTarget {
        SshTarget {
            name: "test".into(),
            destination: self.addr.clone(),
            settings: SshSettings {
                user: Some(whoami()),
                port: Some(self.port),
                identity_file: Some(self.path("id")),
                known_hosts: Some(known_hosts),
                config: Some(self.path("ssh_config")),
                jump: None,
                connect_timeout: Some(5),
            },
            via: None,
        }
    }
}

impl Sshd {
    /// Writes `site.toml` here: `[ssh]` with this server's user, identity,
    /// `known_hosts` (a file name here) and ssh config, then `hosts` (TOML
    /// `[[hosts]]` tables).
    pub fn inventory(&self, known_hosts: &str, hosts: &str) -> PathBuf {
        let p = self.path("site.toml");
        std::fs::write(
            &p,
            format!(
                "version = 1\n[site]\nname = \"test\"\n[ssh]\nuser = \"{}\"\nidentity_file = \"id\"\n\
                 known_hosts = \"{known_hosts}\"\nconfig = \"ssh_config\"\nconnect_timeout = 10\n{hosts}",
                whoami()
            ),
        )
        .unwrap();
        p
    }

    /// `snf-upgrade facts --inventory INV ARGS` with this server's control
    /// folder.
    pub fn facts(&self, inv: &Path, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_snf-upgrade"))
            .args(["facts", "--inventory"])
            .arg(inv)
            .args(args)
            .env("SNF_UPGRADE_CONTROL_DIR", self.path("cm"))
            .output()
            .unwrap()
    }
}

/// The versions of the packages that matter, as dpkg-query here sees them.
pub fn real_packages() -> serde_json::Map<String, serde_json::Value> {
    let q = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev} ${Package} ${Version}\n"])
        .output()
        .unwrap();
    let mut expected = serde_json::Map::new();
    for l in String::from_utf8_lossy(&q.stdout).lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() == 3 && f[0].ends_with('i') && snf_upgrade::facts::package_matters(f[1]) {
            expected.insert(f[1].to_string(), f[2].into());
        }
    }
    expected
}

/// The versions a host's facts report.
pub fn versions(host: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    host["packages"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["version"].clone()))
        .collect()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
