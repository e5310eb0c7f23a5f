//! RAII guards for network namespaces and the veth links between them.
//!
//! Every test makes its own namespaces with names unique to the process and the test, so tests run
//! in parallel and never touch the host's interfaces. Dropping the guard deletes the namespace,
//! which deletes every link inside it, also when the test panics.
use std::{
    fs::File,
    os::fd::AsFd,
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::{Context, Result, bail};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace that exists for as long as this value does.
#[derive(Debug)]
pub struct NetNs {
    name: String,
    owned: bool,
}

impl NetNs {
    /// Creates a namespace named `bw-<tag>-<pid>-<n>` with its loopback up.
    pub fn new(tag: &str) -> Result<Self> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("bw-{tag}-{}-{n}", std::process::id());
        run("ip", &["netns", "add", &name])?;
        let ns = Self { name, owned: true };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A handle on a namespace some other guard owns (for another thread); it deletes nothing.
    pub fn open(name: &str) -> Result<Self> {
        if !std::path::Path::new("/run/netns").join(name).exists() {
            bail!("no namespace {name}");
        }
        Ok(Self {
            name: name.to_owned(),
            owned: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> args…`.
    pub fn ip(&self, args: &[&str]) -> Result<Output> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs a program inside the namespace and checks that it succeeded.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<Output> {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A `Command` that runs `program` inside the namespace (for background processes).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.name.as_str(), program]);
        cmd
    }

    /// Runs `f` on a new thread that has entered this namespace, and returns its result.
    pub fn run_in<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let file = File::open(format!("/run/netns/{}", self.name))
            .with_context(|| format!("open namespace {}", self.name))?;
        std::thread::spawn(move || -> Result<T> {
            enter(&file)?;
            f()
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread in namespace panicked"))?
    }

    /// The index of link `dev` in this namespace (`/sys/class/net` shows the host's links).
    pub fn ifindex(&self, dev: &str) -> Result<u32> {
        let name = std::ffi::CString::new(dev)?;
        let ns = self.name.clone();
        self.run_in(move || {
            // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
            let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if index == 0 {
                bail!("no link {:?} in namespace {ns}", name);
            }
            Ok(index)
        })
    }

    /// ICMPv6 messages the kernel has sent in this namespace (`Icmp6OutMsgs`): MLD reports and
    /// neighbour discovery from the kernel's own root-owned sockets, which the accounting rightly
    /// counts under `root` and which a test can therefore not predict, only observe.
    pub fn icmp6_out_msgs(&self) -> Result<u64> {
        self.run_in(|| {
            // `thread-self`: the namespace this thread entered, not the process's.
            let text = std::fs::read_to_string("/proc/thread-self/net/snmp6")?;
            text.lines()
                .find_map(|l| l.strip_prefix("Icmp6OutMsgs"))
                .context("Icmp6OutMsgs in snmp6")?
                .trim()
                .parse()
                .context("Icmp6OutMsgs value")
        })
    }

    /// Enters this namespace on the *current* thread (for threads the caller owns).
    pub fn enter_current_thread(&self) -> Result<()> {
        let file = File::open(format!("/run/netns/{}", self.name))
            .with_context(|| format!("open namespace {}", self.name))?;
        enter(&file)
    }
}

fn enter(file: &File) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setns on a valid namespace fd; it changes only the calling thread's namespace.
    let rc = unsafe { libc::setns(file.as_fd().as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        bail!("setns: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair, addressed over IPv4 and IPv6:
/// `a` (`veth0`, .1 / ::1) sends, `b` (`veth0`, .2 / ::2) receives.
#[derive(Debug)]
pub struct Pair {
    pub a: NetNs,
    pub b: NetNs,
    /// Interface name in both namespaces.
    pub ifname: &'static str,
}

/// Addresses of a `Pair`: `a` is .1, `b` is .2 in each subnet. The second subnets are extra
/// destinations on `b` (for exempt-prefix tests). 198.18.0.0/15 is the benchmarking range
/// (RFC 2544); the traffic never leaves the two namespaces.
pub mod addr {
    pub const A4: &str = "198.18.0.1";
    pub const B4: &str = "198.18.0.2";
    pub const B4_EXTRA: &str = "198.18.1.2";
    pub const A6: &str = "fd00:b3::1";
    pub const B6: &str = "fd00:b3::2";
    pub const B6_EXTRA: &str = "fd00:b3:1::2";
}

impl Pair {
    pub fn new(tag: &str) -> Result<Self> {
        let a = NetNs::new(&format!("{tag}a"))?;
        let b = NetNs::new(&format!("{tag}b"))?;
        let ifname = "veth0";
        a.ip(&[
            "link",
            "add",
            ifname,
            "type",
            "veth",
            "peer",
            "name",
            ifname,
            "netns",
            b.name(),
        ])?;
        for (ns, v4, v6) in [(&a, addr::A4, addr::A6), (&b, addr::B4, addr::B6)] {
            // No MLD reports or unsolicited neighbour advertisements from the kernel's own
            // (root-owned) sockets in the middle of a measurement.
            // No link-local address either: no DAD, no router solicitation.
            ns.ip(&[
                "link",
                "set",
                ifname,
                "multicast",
                "off",
                "addrgenmode",
                "none",
            ])?;
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", ifname])?;
            ns.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                ifname,
                "nodad",
            ])?;
            ns.ip(&["link", "set", ifname, "up"])?;
        }
        b.ip(&[
            "addr",
            "add",
            &format!("{}/24", addr::B4_EXTRA),
            "dev",
            ifname,
        ])?;
        b.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{}/64", addr::B6_EXTRA),
            "dev",
            ifname,
            "nodad",
        ])?;
        a.ip(&["route", "add", "198.18.1.0/24", "dev", ifname])?;
        a.ip(&["-6", "route", "add", "fd00:b3:1::/64", "dev", ifname])?;
        // Static neighbours: no ARP/NDP in the middle of a measurement.
        let mac_b = mac_of(&b, ifname)?;
        for dst in [addr::B4, addr::B4_EXTRA, addr::B6, addr::B6_EXTRA] {
            a.ip(&[
                "neigh",
                "replace",
                dst,
                "lladdr",
                &mac_b,
                "dev",
                ifname,
                "nud",
                "permanent",
            ])?;
        }
        let mac_a = mac_of(&a, ifname)?;
        for dst in [addr::A4, addr::A6] {
            b.ip(&[
                "neigh",
                "replace",
                dst,
                "lladdr",
                &mac_a,
                "dev",
                ifname,
                "nud",
                "permanent",
            ])?;
        }
        // The kernel sends a packet or two of its own right after a link comes up; let that
        // pass before a test starts counting.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(Self { a, b, ifname })
    }
}

fn mac_of(ns: &NetNs, ifname: &str) -> Result<String> {
    let out = ns.ip(&["-o", "link", "show", ifname])?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .map(str::to_owned)
        .with_context(|| format!("no MAC in {text}"))
}

/// Runs a command and fails with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) -> Result<Output> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("spawn {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}
