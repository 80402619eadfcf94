//! A network namespace of the test's own, joined to this machine by a veth
//! pair, so a host can vanish without closing its TCP connections: taking
//! the far end of the link down drops every packet (no FIN, no RST).
//! Addresses are a /30 of 203.0.113.0/24 (TEST-NET-3, never the lab's
//! 198.51.100.0/24); everything is removed when the value is dropped.

use std::process::Command;

pub struct Netns {
    pub name: String,
    /// This machine's end of the link.
    pub near_addr: String,
    /// The address inside the namespace.
    pub far_addr: String,
    near_if: String,
    far_if: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn addresses_in_use() -> String {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .expect("ip (iproute2) is installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Netns {
    /// Makes the namespace and its link; panics (the test fails) when this
    /// machine does not allow it, e.g. when not run as root.
    pub fn new() -> Netns {
        let uid = Command::new("id").arg("-u").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "this test makes a network namespace: run it as root"
        );
        // Unique per test, also when tests share a process.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let pid =
            std::process::id() * 4 + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4;
        let used = addresses_in_use();
        // A /30 no one on this machine uses yet.
        let block = (0..63u32)
            .map(|i| (pid + i) % 63)
            .find(|b| !used.contains(&format!("203.0.113.{} ", 4 * b + 1)))
            .expect("a free /30 in 203.0.113.0/24");
        let n = Netns {
            name: format!("snf-test-{pid}"),
            near_addr: format!("203.0.113.{}", 4 * block + 1),
            far_addr: format!("203.0.113.{}", 4 * block + 2),
            near_if: format!("snft{}a", pid % 1_000_000),
            far_if: format!("snft{}b", pid % 1_000_000),
        };
        // On any failure below, Drop removes what was made.
        let setup = || -> Result<(), String> {
            ip(&["netns", "add", &n.name])?;
            ip(&[
                "link", "add", &n.near_if, "type", "veth", "peer", "name", &n.far_if,
            ])?;
            ip(&["link", "set", &n.far_if, "netns", &n.name])?;
            ip(&[
                "addr",
                "add",
                &format!("{}/30", n.near_addr),
                "dev",
                &n.near_if,
            ])?;
            ip(&["link", "set", &n.near_if, "up"])?;
            n.exec(&[
                "addr",
                "add",
                &format!("{}/30", n.far_addr),
                "dev",
                &n.far_if,
            ])?;
            n.exec(&["link", "set", &n.far_if, "up"])?;
            n.exec(&["link", "set", "lo", "up"])?;
            Ok(())
        };
        if let Err(e) = setup() {
            drop(n);
            panic!("cannot make a test network namespace: {e}");
        }
        n
    }

    fn exec(&self, args: &[&str]) -> Result<(), String> {
        let mut a = vec!["netns", "exec", &self.name, "ip"];
        a.extend_from_slice(args);
        ip(&a)
    }

    /// Takes the far end of the link down: from now on every packet to the
    /// namespace is dropped, and nothing tells the other side.
    pub fn cut(&self) {
        self.exec(&["link", "set", &self.far_if, "down"]).unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys its end of the veth, and with it
        // ours; the explicit delete covers a namespace that was never made.
        let _ = ip(&["netns", "delete", &self.name]);
        let _ = ip(&["link", "delete", &self.near_if]);
    }
}
