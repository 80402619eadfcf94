//! Commands and files on hosts through the system OpenSSH client, with
//! connection multiplexing and verified host keys; a local transport for tests.
//!
//! Owns: building `ssh` command lines (the user's ~/.ssh/config, agent, jump
//! hosts and known_hosts keep working; ControlMaster/ControlPersist sockets in
//! a private folder), running one command with a timeout and streamed output,
//! atomic upload and download, and a bounded fan-out over many hosts that
//! reports each host's failure without stopping the others.
//! Never: weakens host-key checking (StrictHostKeyChecking is always `yes`,
//! known_hosts is never written), types a password, or decides what a
//! command's failure means: callers get the exit status and the output.

mod mux;
mod ssh;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Command;

pub use crate::inventory::SshTarget;
use ssh::Mux;
pub use ssh::{ControlDir, SERVER_ALIVE_COUNT_MAX, SERVER_ALIVE_INTERVAL};

/// How long a kept master may take to answer its alive check.
const MUX_CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// How long a kept master may take to open a session. A master whose host
/// is gone (no FIN, no RST) accepts the request and never answers: after
/// this the host is named unreachable (nothing was started on it), well
/// before its keepalives would drop it, so a new command learns it within
/// 15 s, as a fresh connection would (ConnectTimeout 10 s).
const MUX_OPEN_DEADLINE: Duration = Duration::from_secs(4);

/// How a host is reached.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Through the system `ssh`.
    Ssh(SshTarget),
    /// On this machine, through `sh -c`: for unit tests only.
    Local,
}

/// One host to run commands on.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The host's name, as in the inventory; used in every message.
    pub name: String,
    transport: Transport,
    control: Arc<ControlDir>,
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives each output line (with its `\n`) as it arrives.
pub type LineSink<'a> = &'a mut (dyn FnMut(Stream, &[u8]) + Send);

/// What a command produced. A non-zero `status` is not an error here.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// How to run one command. Every command has a deadline: there is no way
/// to make one without it.
#[derive(Debug, Clone)]
pub struct RunOptions {
    timeout: Duration,
    sudo: bool,
    stdin: Option<Vec<u8>>,
}

impl RunOptions {
    /// Kill the command (here and, through coreutils `timeout`, on the host)
    /// after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        RunOptions {
            timeout,
            sudo: false,
            stdin: None,
        }
    }

    /// Run as root: directly when the SSH user is root, else via `sudo -n`.
    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    /// Feed `data` to the command's stdin (otherwise stdin is empty).
    pub fn stdin(mut self, data: Vec<u8>) -> Self {
        self.stdin = Some(data);
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Why a command could not be run (or, for `run_ok`, failed).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{host}: the host key is not known ({detail}); verify the host's key fingerprint out of band, add it to {known_hosts}, and retry")]
    HostKeyUnknown {
        host: String,
        known_hosts: String,
        detail: String,
    },
    #[error("{host}: THE HOST KEY HAS CHANGED ({detail}); someone may be intercepting the connection, or the host was reinstalled: find out which before replacing its entry in {known_hosts}")]
    HostKeyChanged {
        host: String,
        known_hosts: String,
        detail: String,
    },
    #[error("{host}: SSH login refused ({detail}); check the user and identity file in the inventory, or the agent")]
    AuthFailed { host: String, detail: String },
    #[error("{host}: unreachable over SSH ({detail}); check that it is up and the address and port in the inventory")]
    Unreachable { host: String, detail: String },
    #[error("{host}: ssh failed: {detail}")]
    Ssh { host: String, detail: String },
    #[error("{host}: `{command}` did not finish within {}s; it was killed", after.as_secs_f32())]
    Timeout {
        host: String,
        command: String,
        after: Duration,
    },
    #[error("{host}: sudo -n refused to run `{command}` ({detail}); give the SSH user passwordless sudo or connect as root")]
    SudoRefused {
        host: String,
        command: String,
        detail: String,
    },
    #[error("{host}: `{command}` exited with status {status}: {stderr}")]
    Failed {
        host: String,
        command: String,
        status: i32,
        stderr: String,
    },
    #[error("cannot start {program}: {source}; is it installed?")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{host}: I/O error talking to the ssh process: {source}")]
    Io {
        host: String,
        source: std::io::Error,
    },
}

impl RemoteError {
    /// True when the host could not be reached at all (nothing ran on it).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            RemoteError::HostKeyUnknown { .. }
                | RemoteError::HostKeyChanged { .. }
                | RemoteError::AuthFailed { .. }
                | RemoteError::Unreachable { .. }
                | RemoteError::Ssh { .. }
        )
    }

    /// A short machine name for the kind of error (used in JSON output).
    pub fn kind(&self) -> &'static str {
        match self {
            RemoteError::HostKeyUnknown { .. } => "host_key_unknown",
            RemoteError::HostKeyChanged { .. } => "host_key_changed",
            RemoteError::AuthFailed { .. } => "auth_failed",
            RemoteError::Unreachable { .. } => "unreachable",
            RemoteError::Ssh { .. } => "ssh",
            RemoteError::Timeout { .. } => "timeout",
            RemoteError::SudoRefused { .. } => "sudo_refused",
            RemoteError::Failed { .. } => "failed",
            RemoteError::Spawn { .. } => "spawn",
            RemoteError::Io { .. } => "io",
        }
    }
}

/// Quotes `s` for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command line the remote shell runs for `command` under `opts`.
fn wrap(command: &str, opts: &RunOptions) -> String {
    // Also on the host, so a killed ssh does not leave the command running;
    // a second later than here, so the local timeout fires first.
    let inner = format!(
        "timeout -k 5 {} sh -c {}",
        opts.timeout.as_secs().max(1) + 1,
        sh_quote(command)
    );
    if opts.sudo {
        format!("if [ \"$(id -u)\" = 0 ]; then exec {inner}; else exec sudo -n -- {inner}; fi")
    } else {
        // exec: the login shell need not fork to run it.
        format!("exec {inner}")
    }
}

impl Remote {
    pub fn new(name: impl Into<String>, transport: Transport, control: Arc<ControlDir>) -> Self {
        Remote {
            name: name.into(),
            transport,
            control,
        }
    }

    /// A transport running on this machine (unit tests).
    pub fn local(name: impl Into<String>) -> Self {
        Remote::new(name, Transport::Local, Arc::new(ControlDir::unused()))
    }

    /// One remote per inventory host, sharing `control`.
    pub fn for_inventory(
        inv: &crate::inventory::Inventory,
        control: Arc<ControlDir>,
    ) -> Vec<Remote> {
        inv.hosts
            .iter()
            .map(|h| {
                Remote::new(
                    h.name.clone(),
                    Transport::Ssh(inv.ssh_target(h)),
                    control.clone(),
                )
            })
            .collect()
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Runs `command` (a shell command line) and returns what it produced.
    pub async fn run(&self, command: &str, opts: &RunOptions) -> Result<Output, RemoteError> {
        self.run_streaming(command, opts, None).await
    }

    /// Like [`run`](Self::run), but an exit status other than 0 is an error
    /// carrying the command's stderr.
    pub async fn run_ok(&self, command: &str, opts: &RunOptions) -> Result<Output, RemoteError> {
        let out = self.run(command, opts).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(RemoteError::Failed {
                host: self.name.clone(),
                command: command.to_string(),
                status: out.status,
                stderr: trim_detail(&out.stderr_str()),
            })
        }
    }

    /// Runs `command`, handing every output line (with its `\n`) to
    /// `on_line` as it arrives; the output is captured too.
    pub async fn run_streaming(
        &self,
        command: &str,
        opts: &RunOptions,
        mut on_line: Option<LineSink<'_>>,
    ) -> Result<Output, RemoteError> {
        let wrapped = wrap(command, opts);
        tracing::debug!(host = %self.name, command, "run");
        let io_err = |source| RemoteError::Io {
            host: self.name.clone(),
            source,
        };
        // A live master: ask it directly (no ssh process). Otherwise, or if
        // it refuses, start ssh, which also makes the master.
        let mut mux = Mux::Use;
        let mut mux_session = None;
        if let Transport::Ssh(t) = &self.transport {
            if let Some(sock) = t.control_socket(&self.control) {
                match self.through_master(&sock, &wrapped, opts, command).await? {
                    Ok(s) => mux_session = Some(s),
                    Err(m) => mux = m,
                }
            }
        }
        let (spawned, log) = match mux_session {
            Some(s) => (
                Spawned {
                    stdin: s
                        .stdin
                        .map(|w| Box::new(w) as Box<dyn AsyncWrite + Unpin + Send>),
                    stdout: Box::new(s.stdout),
                    stderr: Box::new(s.stderr),
                    exit: s.exit,
                },
                None,
            ),
            None => {
                let (cmd, log) = match &self.transport {
                    Transport::Local => {
                        let mut c = Command::new("sh");
                        c.arg("-c").arg(&wrapped);
                        (c, None)
                    }
                    Transport::Ssh(t) => {
                        let log = self.control.log_file();
                        (t.command(&self.control, &log, mux, &wrapped), Some(log))
                    }
                };
                (spawn(cmd, opts.stdin.is_some())?, log)
            }
        };
        let Spawned {
            mut stdin,
            stdout,
            stderr,
            exit,
        } = spawned;
        let stdin_data = opts.stdin.clone();
        let mut out_r = BufReader::new(stdout);
        let mut err_r = BufReader::new(stderr);
        let work = async {
            let feed = async {
                if let (Some(mut w), Some(data)) = (stdin.take(), stdin_data) {
                    // A command that exits without reading all of stdin is
                    // not our error; its status says what happened.
                    let _ = w.write_all(&data).await;
                    let _ = w.shutdown().await;
                }
                Ok::<(), std::io::Error>(())
            };
            let read = async {
                let mut out = Output::default();
                let (mut out_done, mut err_done) = (false, false);
                let (mut ob, mut eb) = (Vec::new(), Vec::new());
                while !(out_done && err_done) {
                    // read_until keeps partial lines in its buffer when the
                    // other branch wins, so no byte is lost.
                    tokio::select! {
                        n = out_r.read_until(b'\n', &mut ob), if !out_done => {
                            if n? == 0 { out_done = true; }
                            if !ob.is_empty() && (out_done || ob.ends_with(b"\n")) {
                                if let Some(f) = on_line.as_mut() { f(Stream::Stdout, &ob); }
                                out.stdout.append(&mut ob);
                            }
                        }
                        n = err_r.read_until(b'\n', &mut eb), if !err_done => {
                            if n? == 0 { err_done = true; }
                            if !eb.is_empty() && (err_done || eb.ends_with(b"\n")) {
                                if let Some(f) = on_line.as_mut() { f(Stream::Stderr, &eb); }
                                out.stderr.append(&mut eb);
                            }
                        }
                    }
                }
                Ok::<Output, std::io::Error>(out)
            };
            let (_, mut out) = tokio::try_join!(feed, read)?;
            out.status = exit.await?;
            Ok::<Output, std::io::Error>(out)
        };
        let started = std::time::Instant::now();
        let t = opts.timeout;
        let result = tokio::time::timeout(t, work).await;
        // What ssh (and each jump host's ssh) said; the files go either way.
        let said = |l: &Path| {
            let text = std::fs::read_to_string(l).unwrap_or_default();
            let _ = std::fs::remove_file(l);
            text
        };
        let logs = match (&self.transport, &log) {
            (Transport::Ssh(target), Some(l)) => Some((
                said(l),
                target
                    .hop_logs(l)
                    .iter()
                    .map(|h| said(h))
                    .collect::<Vec<_>>(),
            )),
            _ => None,
        };
        let Ok(result) = result else {
            return Err(RemoteError::Timeout {
                host: self.name.clone(),
                command: command.to_string(),
                after: t,
            });
        };
        let out = match result {
            Ok(out) => out,
            // The master lost the connection mid-command.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => {
                return Err(RemoteError::Unreachable {
                    host: self.name.clone(),
                    detail: e.to_string(),
                })
            }
            Err(e) => return Err(io_err(e)),
        };
        // 124: the host-side `timeout` won the race against ours.
        if out.status == 124 && started.elapsed() >= t {
            return Err(RemoteError::Timeout {
                host: self.name.clone(),
                command: command.to_string(),
                after: t,
            });
        }
        if let (Transport::Ssh(t), Some((log, hops))) = (&self.transport, logs) {
            // 255 is ssh's own failure only when ssh said something; a
            // remote command may exit 255 too.
            let hop_said = hops.iter().any(|h| !h.trim().is_empty());
            if out.status == 255 && (!log.trim().is_empty() || hop_said) {
                return Err(t.classify(&self.name, &log, &hops));
            }
            if !log.trim().is_empty() {
                tracing::debug!(host = %self.name, ssh = %log.trim(), "ssh said");
            }
        }
        if opts.sudo && out.status == 1 {
            let err = out.stderr_str();
            if err.starts_with("sudo:") || err.contains("\nsudo:") {
                return Err(RemoteError::SudoRefused {
                    host: self.name.clone(),
                    command: command.to_string(),
                    detail: trim_detail(&err),
                });
            }
        }
        Ok(out)
    }

    /// Runs `wrapped` through the kept master at `sock`, if one answers.
    /// `Ok(Err(mux))`: no session; start `ssh` with `mux` (bypassing a
    /// master that is up but does not answer its alive check). An error:
    /// the master took the request and never opened the session, which is
    /// what a master to a vanished host does.
    async fn through_master(
        &self,
        sock: &Path,
        wrapped: &str,
        opts: &RunOptions,
        command: &str,
    ) -> Result<Result<mux::MuxSession, Mux>, RemoteError> {
        let Ok(Some(mut stream)) = mux::connect(sock).await else {
            return Ok(Err(Mux::Use));
        };
        let greeted = async {
            mux::hello(&mut stream).await?;
            mux::alive_check(&mut stream).await
        };
        match tokio::time::timeout(MUX_CHECK_DEADLINE.min(opts.timeout), greeted).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // Gone (or going) away: ssh makes a new one.
                tracing::debug!(host = %self.name, "mux: {e}; starting ssh");
                return Ok(Err(Mux::Use));
            }
            Err(_) => {
                tracing::debug!(host = %self.name, "mux: the master does not answer; a connection of its own");
                return Ok(Err(Mux::Bypass));
            }
        }
        let open = mux::open_session(stream, wrapped, opts.stdin.is_some());
        let deadline = MUX_OPEN_DEADLINE.min(opts.timeout);
        match tokio::time::timeout(deadline, open).await {
            Ok(Ok(s)) => Ok(Ok(s)),
            Ok(Err(e)) => {
                tracing::debug!(host = %self.name, "mux: {e}; starting ssh");
                Ok(Err(Mux::Use))
            }
            Err(_) if deadline < MUX_OPEN_DEADLINE => Err(RemoteError::Timeout {
                host: self.name.clone(),
                command: command.to_string(),
                after: deadline,
            }),
            Err(_) => Err(RemoteError::Unreachable {
                host: self.name.clone(),
                detail: format!(
                    "the kept connection to it did not open a session within {}s; it may be down or cut off",
                    deadline.as_secs()
                ),
            }),
        }
    }

    /// Writes `data` to `path` atomically: a temporary file in the same
    /// folder, then a rename, so a reader sees the old or the new content,
    /// never a part. An existing file's owner and mode are kept unless
    /// `mode`/`owner` are given; a new file gets `mode` or 0644.
    pub async fn upload(
        &self,
        path: &str,
        data: &[u8],
        mode: Option<u32>,
        owner: Option<&str>,
        opts: &RunOptions,
    ) -> Result<(), RemoteError> {
        let f = sh_quote(path);
        let mode_cmd = match mode {
            Some(m) => format!("chmod {m:o} \"$t\""),
            None => {
                "if [ -e \"$f\" ]; then chmod --reference=\"$f\" \"$t\"; else chmod 644 \"$t\"; fi"
                    .to_string()
            }
        };
        let owner_cmd = match owner {
            Some(o) => format!("chown {} \"$t\"", sh_quote(o)),
            None => "if [ -e \"$f\" ]; then chown --reference=\"$f\" \"$t\"; fi".to_string(),
        };
        let script = format!(
            "set -e; f={f}; d=$(dirname -- \"$f\"); b=$(basename -- \"$f\"); \
             t=$(mktemp \"$d/.$b.snf-XXXXXX\"); trap 'rm -f -- \"$t\"' EXIT; \
             cat > \"$t\"; {owner_cmd}; {mode_cmd}; sync -- \"$t\" 2>/dev/null || true; \
             mv -f -- \"$t\" \"$f\"; trap - EXIT"
        );
        let out = self
            .run(&script, &opts.clone().stdin(data.to_vec()))
            .await?;
        if out.success() {
            Ok(())
        } else {
            Err(RemoteError::Failed {
                host: self.name.clone(),
                command: format!("upload to {path}"),
                status: out.status,
                stderr: trim_detail(&out.stderr_str()),
            })
        }
    }

    /// Reads the file at `path`.
    pub async fn download(&self, path: &str, opts: &RunOptions) -> Result<Vec<u8>, RemoteError> {
        Ok(self
            .run_ok(&format!("cat -- {}", sh_quote(path)), opts)
            .await?
            .stdout)
    }
}

/// A running command, whichever way it was started.
struct Spawned {
    stdin: Option<Box<dyn AsyncWrite + Unpin + Send>>,
    stdout: Box<dyn AsyncRead + Unpin + Send>,
    stderr: Box<dyn AsyncRead + Unpin + Send>,
    exit: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<i32>> + Send>>,
}

/// Starts `cmd` with piped output (and stdin if `with_stdin`); killed if
/// dropped before it ends (a timeout).
fn spawn(mut cmd: Command, with_stdin: bool) -> Result<Spawned, RemoteError> {
    cmd.stdin(if with_stdin {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    })
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .spawn()
        .map_err(|source| RemoteError::Spawn { program, source })?;
    let stdin = child
        .stdin
        .take()
        .map(|w| Box::new(w) as Box<dyn AsyncWrite + Unpin + Send>);
    let stdout = Box::new(child.stdout.take().expect("stdout is piped"));
    let stderr = Box::new(child.stderr.take().expect("stderr is piped"));
    Ok(Spawned {
        stdin,
        stdout,
        stderr,
        exit: Box::pin(async move { Ok(child.wait().await?.code().unwrap_or(-1)) }),
    })
}

/// The last lines of what a process said, for one-line error messages.
pub(crate) fn trim_detail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(2)..].join(" / ");
    if tail.chars().count() > 300 {
        let cut: String = tail.chars().take(300).collect();
        format!("{cut}...")
    } else {
        tail
    }
}

/// Runs `f` on every remote, at most `limit` at a time. Every host gets its
/// result, in input order; one host's failure never stops the others.
pub async fn fan_out<T, F, Fut>(
    remotes: Vec<Remote>,
    limit: usize,
    f: F,
) -> Vec<(String, Result<T, RemoteError>)>
where
    T: Send + 'static,
    F: Fn(Remote) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, RemoteError>> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let f = Arc::new(f);
    let mut set = tokio::task::JoinSet::new();
    let names: Vec<String> = remotes.iter().map(|r| r.name.clone()).collect();
    for (i, r) in remotes.into_iter().enumerate() {
        let sem = sem.clone();
        let f = f.clone();
        set.spawn(async move {
            let _permit = sem
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            (i, f(r).await)
        });
    }
    let mut results: Vec<Option<Result<T, RemoteError>>> = names.iter().map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, r)) => results[i] = Some(r),
            // A panic in one host's task is a bug; it must not hide the
            // other hosts' results, so it becomes that host's error below.
            Err(e) => tracing::error!("a fan-out task failed: {e}"),
        }
    }
    names
        .into_iter()
        .zip(results)
        .map(|(name, r)| {
            let r = r.unwrap_or_else(|| {
                Err(RemoteError::Ssh {
                    host: name.clone(),
                    detail: "internal error: the task for this host panicked".into(),
                })
            });
            (name, r)
        })
        .collect()
}

/// The default folder for control sockets: `$XDG_RUNTIME_DIR/snf-upgrade`,
/// else `~/.cache/snf-upgrade/ssh`; `SNF_UPGRADE_CONTROL_DIR` overrides.
pub fn default_control_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SNF_UPGRADE_CONTROL_DIR") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_RUNTIME_DIR") {
        return Path::new(&p).join("snf-upgrade");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    Path::new(&home).join(".cache/snf-upgrade/ssh")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RunOptions {
        RunOptions::new(Duration::from_secs(30))
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn quoting_round_trips_through_sh() {
        for s in ["plain", "with space", "it's", "$HOME `x` \"q\"", ""] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", sh_quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }

    #[test]
    fn local_run_captures_both_streams_and_status() {
        let r = Remote::local("here");
        let out = rt()
            .block_on(r.run("echo out; echo err >&2; exit 3", &opts()))
            .unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn streaming_sees_every_line_in_order() {
        let r = Remote::local("here");
        let mut lines = Vec::new();
        let mut cb = |s: Stream, l: &[u8]| lines.push((s, String::from_utf8_lossy(l).into_owned()));
        let out = rt()
            .block_on(r.run_streaming(
                "for i in 1 2 3; do echo $i; done; printf tail",
                &opts(),
                Some(&mut cb),
            ))
            .unwrap();
        assert_eq!(out.stdout, b"1\n2\n3\ntail");
        let got: Vec<_> = lines.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(got, ["1\n", "2\n", "3\n", "tail"]);
    }

    #[test]
    fn timeout_kills_the_command() {
        let r = Remote::local("here");
        let t = std::time::Instant::now();
        let e = rt()
            .block_on(r.run("sleep 20", &RunOptions::new(Duration::from_secs(1))))
            .unwrap_err();
        assert!(matches!(e, RemoteError::Timeout { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn stdin_is_fed() {
        let r = Remote::local("here");
        let opts = opts().stdin(b"abc".to_vec());
        let out = rt().block_on(r.run("tr a-z A-Z", &opts)).unwrap();
        assert_eq!(out.stdout, b"ABC");
    }

    #[test]
    fn upload_keeps_mode_and_download_reads_back() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("conf");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let r = Remote::local("here");
        let ps = p.to_str().unwrap();
        let rt = rt();
        rt.block_on(r.upload(ps, b"new\n", None, None, &opts()))
            .unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert_eq!(rt.block_on(r.download(ps, &opts())).unwrap(), b"new\n");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        let e = rt
            .block_on(r.download("/nonexistent/x", &opts()))
            .unwrap_err();
        assert!(matches!(e, RemoteError::Failed { .. }), "{e}");
    }

    #[test]
    fn sudo_wrapper_runs_as_root_directly() {
        // As root (CI), the wrapper must not call sudo at all.
        let w = wrap("id -u", &opts().sudo());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&w)
            .output()
            .unwrap();
        if nix_uid() == 0 {
            assert_eq!(out.stdout, b"0\n");
        }
    }

    fn nix_uid() -> u32 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
    }

    #[test]
    fn fan_out_keeps_order_and_reports_each_failure() {
        let remotes: Vec<Remote> = (0..6).map(|i| Remote::local(format!("h{i}"))).collect();
        let res = rt().block_on(fan_out(remotes, 2, |r| async move {
            let n: usize = r.name[1..].parse().unwrap();
            r.run_ok(&format!("exit {}", n % 2), &opts())
                .await
                .map(|_| n)
        }));
        assert_eq!(res.len(), 6);
        for (i, (name, r)) in res.iter().enumerate() {
            assert_eq!(name, &format!("h{i}"));
            assert_eq!(r.is_ok(), i % 2 == 0);
        }
    }
}
