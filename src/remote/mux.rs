//! A client of OpenSSH's connection-multiplexing protocol (PROTOCOL.mux in
//! OpenSSH): when a master connection to a host is already up, a command is
//! asked of it directly over its control socket, handing it our ends of
//! three pipes, instead of starting one more `ssh` process. Host keys,
//! authentication and the connection itself stay entirely OpenSSH's: the
//! master was started (and the host key verified) by `ssh` itself.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::pin::Pin;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::unix::pipe;
use tokio::net::UnixStream;

const MUX_MSG_HELLO: u32 = 0x0000_0001;
const MUX_C_NEW_SESSION: u32 = 0x1000_0002;
const MUX_C_ALIVE_CHECK: u32 = 0x1000_0004;
const MUX_C_TERMINATE: u32 = 0x1000_0005;
const MUX_S_OK: u32 = 0x8000_0001;
const MUX_S_PERMISSION_DENIED: u32 = 0x8000_0002;
const MUX_S_FAILURE: u32 = 0x8000_0003;
const MUX_S_EXIT_MESSAGE: u32 = 0x8000_0004;
const MUX_S_ALIVE: u32 = 0x8000_0005;
const MUX_S_SESSION_OPENED: u32 = 0x8000_0006;
const MUX_S_TTY_ALLOC_FAIL: u32 = 0x8000_0008;
const MUX_VERSION: u32 = 4;
/// "No escape character".
const NO_ESCAPE: u32 = 0xffff_ffff;

/// A command running through a master: our ends of its pipes, and the
/// exit status to come.
pub(super) struct MuxSession {
    pub stdin: Option<pipe::Sender>,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    pub exit: Pin<Box<dyn Future<Output = io::Result<i32>> + Send>>,
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put_str(b: &mut Vec<u8>, s: &[u8]) {
    put_u32(b, s.len() as u32);
    b.extend_from_slice(s);
}

fn proto(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

async fn write_packet(s: &mut UnixStream, payload: &[u8]) -> io::Result<()> {
    let mut b = Vec::with_capacity(payload.len() + 4);
    put_str(&mut b, payload);
    s.write_all(&b).await
}

async fn read_packet(s: &mut UnixStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 256 * 1024 {
        return Err(proto(format!("mux packet of {len} bytes")));
    }
    let mut b = vec![0u8; len];
    s.read_exact(&mut b).await?;
    Ok(b)
}

fn get_u32(b: &[u8], at: usize) -> io::Result<u32> {
    b.get(at..at + 4)
        .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| proto("short mux packet"))
}

fn get_str(b: &[u8], at: usize) -> String {
    let len = get_u32(b, at).unwrap_or(0) as usize;
    b.get(at + 4..at + 4 + len)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_default()
}

/// Passes one descriptor over the socket, as OpenSSH's `mm_send_fd` does
/// (one byte of data carrying it).
async fn send_fd(s: &UnixStream, fd: &OwnedFd) -> io::Result<()> {
    let raw = [fd.as_raw_fd()];
    loop {
        s.writable().await?;
        let sent = s.try_io(Interest::WRITABLE, || {
            let cmsg = [ControlMessage::ScmRights(&raw)];
            sendmsg::<UnixAddr>(
                s.as_raw_fd(),
                &[io::IoSlice::new(&[0u8])],
                &cmsg,
                MsgFlags::empty(),
                None,
            )
            .map_err(io::Error::from)
        });
        match sent {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Connects to the master at `socket`. `Ok(None)`: no live master there
/// (the caller starts `ssh`, which makes one).
pub(super) async fn connect(socket: &Path) -> io::Result<Option<UnixStream>> {
    if !socket.exists() {
        return Ok(None);
    }
    match UnixStream::connect(socket).await {
        Ok(s) => Ok(Some(s)),
        // A master that exited leaves its socket behind.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The greeting both sides send first.
pub(super) async fn hello(s: &mut UnixStream) -> io::Result<()> {
    let mut hello = Vec::new();
    put_u32(&mut hello, MUX_MSG_HELLO);
    put_u32(&mut hello, MUX_VERSION);
    write_packet(s, &hello).await?;
    let theirs = read_packet(s).await?;
    if get_u32(&theirs, 0)? != MUX_MSG_HELLO || get_u32(&theirs, 4)? != MUX_VERSION {
        return Err(proto("the master speaks another mux protocol version"));
    }
    Ok(())
}

/// `ssh -O check`: the master process answers (says nothing of whether
/// its connection to the host still works; its keepalives tell that).
pub(super) async fn alive_check(s: &mut UnixStream) -> io::Result<()> {
    let mut req = Vec::new();
    put_u32(&mut req, MUX_C_ALIVE_CHECK);
    put_u32(&mut req, 0);
    write_packet(s, &req).await?;
    let reply = read_packet(s).await?;
    match get_u32(&reply, 0)? {
        MUX_S_ALIVE => Ok(()),
        t => Err(proto(format!(
            "unexpected mux reply {t:#x} to an alive check"
        ))),
    }
}

/// `ssh -O exit`: asks the master at `socket` to close its connection.
pub(super) async fn terminate(socket: &Path) -> io::Result<()> {
    let Some(mut s) = connect(socket).await? else {
        return Ok(());
    };
    hello(&mut s).await?;
    let mut req = Vec::new();
    put_u32(&mut req, MUX_C_TERMINATE);
    put_u32(&mut req, 0);
    write_packet(&mut s, &req).await?;
    match read_packet(&mut s).await {
        Ok(reply) if get_u32(&reply, 0)? == MUX_S_OK => Ok(()),
        // It may close the socket before answering.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
        Ok(reply) => Err(proto(format!(
            "the master refused to exit: {}",
            get_str(&reply, 8)
        ))),
        Err(e) => Err(e),
    }
}

/// Asks the master on `s` (greeted) to run `command` (as ssh would send
/// it). Errors before the session is open mean nothing ran.
pub(super) async fn open_session(
    mut s: UnixStream,
    command: &str,
    with_stdin: bool,
) -> io::Result<MuxSession> {
    let (in_r, in_w) = nix::unistd::pipe().map_err(io::Error::from)?;
    let (out_r, out_w) = nix::unistd::pipe().map_err(io::Error::from)?;
    let (err_r, err_w) = nix::unistd::pipe().map_err(io::Error::from)?;

    let rid = 1;
    let mut req = Vec::new();
    put_u32(&mut req, MUX_C_NEW_SESSION);
    put_u32(&mut req, rid);
    put_str(&mut req, b""); // reserved
    put_u32(&mut req, 0); // no tty
    put_u32(&mut req, 0); // no X11 forwarding
    put_u32(&mut req, 0); // no agent forwarding
    put_u32(&mut req, 0); // not a subsystem
    put_u32(&mut req, NO_ESCAPE);
    put_str(&mut req, b""); // TERM
    put_str(&mut req, command.as_bytes());
    write_packet(&mut s, &req).await?;
    send_fd(&s, &in_r).await?;
    send_fd(&s, &out_w).await?;
    send_fd(&s, &err_w).await?;
    // The master holds its own copies now; ours must go, or our reads never
    // see EOF.
    drop((in_r, out_w, err_w));

    let reply = read_packet(&mut s).await?;
    match get_u32(&reply, 0)? {
        MUX_S_SESSION_OPENED => {}
        MUX_S_PERMISSION_DENIED | MUX_S_FAILURE => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("the master refused the session: {}", get_str(&reply, 8)),
            ))
        }
        t => return Err(proto(format!("unexpected mux reply {t:#x}"))),
    }

    let stdin = if with_stdin {
        Some(pipe::Sender::from_owned_fd(in_w)?)
    } else {
        drop(in_w); // empty stdin: EOF at once
        None
    };
    let exit = Box::pin(async move {
        loop {
            let p = match read_packet(&mut s).await {
                Ok(p) => p,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the connection to the host ended before the command's exit status came",
                    ))
                }
                Err(e) => return Err(e),
            };
            match get_u32(&p, 0)? {
                MUX_S_EXIT_MESSAGE => return Ok(get_u32(&p, 8)? as i32),
                MUX_S_TTY_ALLOC_FAIL => continue,
                t => return Err(proto(format!("unexpected mux message {t:#x}"))),
            }
        }
    });
    Ok(MuxSession {
        stdin,
        stdout: pipe::Receiver::from_owned_fd(out_r)?,
        stderr: pipe::Receiver::from_owned_fd(err_r)?,
        exit,
    })
}
