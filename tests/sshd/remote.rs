//! remote over a real sshd: host keys refused, hosts down, timeouts, atomic
//! uploads, streamed output, multiplexed connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use snf_upgrade::remote::{fan_out, ControlDir, Remote, RemoteError, RunOptions, Transport};

use crate::harness::{rt, Sshd};

fn opts() -> RunOptions {
    RunOptions::new(Duration::from_secs(30))
}

fn remote(sshd: &Sshd, name: &str, kh: std::path::PathBuf, control: &Arc<ControlDir>) -> Remote {
    Remote::new(name, Transport::Ssh(sshd.target(kh)), control.clone())
}

fn control(sshd: &Sshd) -> Arc<ControlDir> {
    Arc::new(ControlDir::open(&sshd.path("cm")).unwrap().with_persist(30))
}

#[test]
fn runs_commands_over_one_multiplexed_connection() {
    let sshd = Sshd::start();
    let c = control(&sshd);
    let r = remote(&sshd, "h", sshd.known_hosts(), &c);
    let rt = rt();
    let out = rt
        .block_on(r.run("echo out; echo err >&2; exit 3", &opts()))
        .unwrap();
    assert_eq!(
        (out.status, &out.stdout[..], &out.stderr[..]),
        (3, &b"out\n"[..], &b"err\n"[..])
    );
    // The first command left a master behind; the control socket is there.
    let sockets = std::fs::read_dir(sshd.path("cm"))
        .unwrap()
        .filter(|e| {
            use std::os::unix::fs::FileTypeExt;
            e.as_ref().unwrap().file_type().unwrap().is_socket()
        })
        .count();
    assert_eq!(sockets, 1);
    // A remote command exiting 255 is not mistaken for an ssh failure.
    let out = rt.block_on(r.run("exit 255", &opts())).unwrap();
    assert_eq!(out.status, 255);
    // With the master up, commands go to it directly over the control
    // socket: no `ssh` process is needed any more (none could be found).
    let path = std::env::var_os("PATH").unwrap();
    std::env::set_var("PATH", "/nonexistent");
    let opts = opts().stdin(b"through the master\n".to_vec());
    let out = rt.block_on(r.run("cat; echo err >&2; exit 7", &opts));
    std::env::set_var("PATH", path);
    let out = out.unwrap();
    assert_eq!(
        (out.status, &out.stdout[..], &out.stderr[..]),
        (7, &b"through the master\n"[..], &b"err\n"[..])
    );
}

/// Tries `touch MARKER` on the sshd with `known_hosts`; returns the error and
/// asserts the command never ran.
fn refused_touch(sshd: &Sshd, known_hosts: std::path::PathBuf, c: &Arc<ControlDir>) -> RemoteError {
    let r = remote(sshd, "h", known_hosts, c);
    let marker = sshd.path("ran");
    let e = rt()
        .block_on(r.run(&format!("touch {}", marker.display()), &opts()))
        .unwrap_err();
    assert!(
        !marker.exists(),
        "the command ran although the host key was refused"
    );
    e
}

#[test]
fn unknown_host_key_is_refused_and_nothing_runs() {
    let sshd = Sshd::start();
    let c = control(&sshd);
    let empty = sshd.path("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let e = refused_touch(&sshd, empty.clone(), &c);
    assert!(matches!(e, RemoteError::HostKeyUnknown { .. }), "{e}");
    assert!(e.to_string().contains("host key is not known"), "{e}");
    // known_hosts was not written to (no silent accept-new).
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "");
}

#[test]
fn changed_host_key_is_refused_and_nothing_runs() {
    let sshd = Sshd::start();
    let c = control(&sshd);
    let wrong = sshd.known_hosts_with("wrong_known_hosts", "other_host_key");
    let before = std::fs::read_to_string(&wrong).unwrap();
    let e = refused_touch(&sshd, wrong.clone(), &c);
    assert!(matches!(e, RemoteError::HostKeyChanged { .. }), "{e}");
    assert!(e.to_string().contains("SHA256:"), "{e}");
    assert_eq!(std::fs::read_to_string(&wrong).unwrap(), before);
}

#[test]
fn a_host_that_is_down_is_reported_and_the_others_still_run() {
    let sshd = Sshd::start();
    let c = control(&sshd);
    let mut down = sshd.target(sshd.known_hosts());
    down.settings.port = Some(crate::harness::free_port());
    let remotes = vec![
        remote(&sshd, "up1", sshd.known_hosts(), &c),
        Remote::new("down", Transport::Ssh(down), c.clone()),
        remote(&sshd, "up2", sshd.known_hosts(), &c),
    ];
    let res = rt().block_on(fan_out(remotes, 2, |r| async move {
        r.run_ok("echo alive", &opts()).await.map(|o| o.stdout)
    }));
    let names: Vec<_> = res.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["up1", "down", "up2"]);
    assert_eq!(res[0].1.as_ref().unwrap(), b"alive\n");
    assert_eq!(res[2].1.as_ref().unwrap(), b"alive\n");
    let e = res[1].1.as_ref().unwrap_err();
    assert!(matches!(e, RemoteError::Unreachable { .. }), "{e}");
    assert!(e.is_connection());
}

#[test]
fn a_timeout_is_honoured_here_and_on_the_host() {
    let sshd = Sshd::start();
    let c = control(&sshd);
    let r = remote(&sshd, "h", sshd.known_hosts(), &c);
    let rt = rt();
    // Warm the connection so the timeout measures the command alone.
    rt.block_on(r.run_ok("true", &opts())).unwrap();
    let t = Instant::now();
    let e = rt
        .block_on(r.run("sleep 37.25", &RunOptions::new(Duration::from_secs(2))))
        .unwrap_err();
    let took = t.elapsed();
    assert!(matches!(e, RemoteError::Timeout { .. }), "{e}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    // The remote side's `timeout` ends the command too.
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let ps = std::process::Command::new("pgrep")
            .args(["-f", "sleep 37.25"])
            .output()
            .unwrap();
        if !ps.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the remote sleep outlived its timeout"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_upload_is_atomic_and_keeps_mode_and_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let sshd = Sshd::start();
    let c = control(&sshd);
    let r = remote(&sshd, "h", sshd.known_hosts(), &c);
    let target = sshd.path("data/file.conf");
    std::fs::create_dir(sshd.path("data")).unwrap();
    const SIZE: usize = 4 << 20;
    let a = vec![b'a'; SIZE];
    let b = vec![b'b'; SIZE];
    std::fs::write(&target, &a).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if root {
        std::os::unix::fs::chown(&target, Some(65534), Some(65534)).unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, target) = (stop.clone(), target.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let got = std::fs::read(&target).unwrap();
                assert_eq!(got.len(), SIZE, "a reader saw a partial file");
                assert!(
                    got.iter().all(|&x| x == got[0]),
                    "a reader saw mixed content"
                );
                reads += 1;
            }
            reads
        })
    };
    let rt = rt();
    let path = target.to_str().unwrap();
    for i in 0..6 {
        let data = if i % 2 == 0 { &b } else { &a };
        rt.block_on(r.upload(path, data, None, None, &opts()))
            .unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().expect("the reader saw only whole files");
    assert!(reads > 0);
    assert_eq!(std::fs::read(&target).unwrap(), a);
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    if root {
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }
    // Nothing left behind but the file.
    assert_eq!(std::fs::read_dir(sshd.path("data")).unwrap().count(), 1);
    // A new file gets the mode asked for.
    let new = sshd.path("data/new");
    rt.block_on(r.upload(new.to_str().unwrap(), b"x", Some(0o600), None, &opts()))
        .unwrap();
    assert_eq!(
        std::fs::metadata(&new).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        rt.block_on(r.download(new.to_str().unwrap(), &opts()))
            .unwrap(),
        b"x"
    );
}

#[test]
fn long_output_is_streamed_line_by_line() {
    let sshd = Sshd::start();
    let c = control(&sshd);
    let r = remote(&sshd, "h", sshd.known_hosts(), &c);
    let mut n = 0usize;
    let mut cb = |_: snf_upgrade::remote::Stream, l: &[u8]| {
        n += 1;
        assert_eq!(l, format!("{n}\n").as_bytes());
    };
    let out = rt()
        .block_on(r.run_streaming("seq 1 200000", &opts(), Some(&mut cb)))
        .unwrap();
    assert_eq!(n, 200000);
    assert!(out.stdout.ends_with(b"199999\n200000\n"));
}

#[test]
fn sudo_runs_as_root() {
    // Connected as root, `sudo` options run the command directly; as another
    // user they go through `sudo -n` (refused without passwordless sudo).
    let sshd = Sshd::start();
    let c = control(&sshd);
    let r = remote(&sshd, "h", sshd.known_hosts(), &c);
    match rt().block_on(r.run("id -u", &opts().sudo())) {
        Ok(out) => assert_eq!(out.stdout, b"0\n"),
        Err(e) => assert!(matches!(e, RemoteError::SudoRefused { .. }), "{e}"),
    }
}
