//! The real agent process (`bwmon run`) in namespaces the test creates: the fast threshold path,
//! the kernel's HTB classes matching `status`, SIGHUP with a broken slice file, delete/recreate,
//! and kill -9 in the middle of a period.
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use bwmon::{
    shaping::{ClassAllocator, TcBackend, netlink::NetlinkBackend},
    status::{SliceView, Snapshot},
};
use bwmon_tests::{
    agent::Agent,
    frames::{ETH_LEN, IPV4_LEN, UDP_LEN},
    netns::{Pair, addr},
    traffic,
};

const CONFIG: &str = r#"interfaces = ["veth0"]
node_cap = "50mbit"
hardware_max = "100mbit"
period = "1h"
sync_interval = "60s"
"#;

const UID: u32 = 4001;
/// 4,000 KByte budget: threshold 80% = 3,276,800 bytes.
const SLICES: &str = r#"{"slices": [{"name": "alice", "xid": 4001, "attributes": {"net_max_kbyte": 4000}},
                                     {"name": "bob", "xid": 4002}]}"#;
const THRESHOLD: u64 = 4000 * 1024 * 8 / 10;

fn slice<'a>(s: &'a Snapshot, name: &str) -> Option<&'a SliceView> {
    s.slices.iter().find(|v| v.name == name)
}

fn dst() -> SocketAddr {
    SocketAddr::new(addr::B4.parse().expect("literal"), 9)
}

const FRAME: u64 = (ETH_LEN + IPV4_LEN + UDP_LEN + 1000) as u64;

/// Sends 1000-byte datagrams as `UID`, paced over `over`, until the bytes on the wire pass
/// `threshold`; returns the instant the crossing datagram was sent. Never blocks behind a cap.
fn send_and_mark(pair: &Pair, over: Duration, threshold: u64) -> Result<Instant> {
    let below = (threshold / FRAME) as usize;
    let mut sent = traffic::udp_paced_lossy_as(&pair.a, UID, dst(), 1000, below, over)?;
    while sent as u64 * FRAME <= threshold {
        sent += traffic::udp_paced_lossy_as(&pair.a, UID, dst(), 1000, 1, Duration::ZERO)?;
    }
    Ok(Instant::now())
}

#[test]
fn a_slice_is_capped_within_a_second_of_crossing_its_threshold_and_the_kernel_agrees() -> Result<()>
{
    let pair = Pair::new("ag1")?;
    let agent = Agent::start(&pair.a, CONFIG, SLICES)?;
    let start = agent.status()?;
    assert!(!slice(&start, "alice").context("alice listed")?.capped);
    // The periodic sync is 60 s away: only the fast path can notice the crossing.
    let watcher = {
        let socket = agent.socket();
        std::thread::spawn(move || -> Result<Instant> {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(s) = bwmon::status::fetch(&socket, Duration::from_secs(1))
                    && slice(&s, "alice").is_some_and(|a| a.capped)
                {
                    return Ok(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            anyhow::bail!("alice was never capped")
        })
    };
    let crossed = send_and_mark(&pair, Duration::from_secs(3), THRESHOLD)?;
    let capped = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("watcher panicked"))??;
    let delay = capped.saturating_duration_since(crossed);
    eprintln!("capped {delay:?} after the threshold was crossed");
    assert!(
        delay <= Duration::from_secs(1),
        "capped {delay:?} after crossing; log:\n{}",
        agent.log()
    );

    // The kernel's HTB leaf of alice has the ceiling `status` reports, and counts her bytes.
    let snap = agent.status()?;
    let alice = slice(&snap, "alice").context("alice")?;
    assert!(
        alice.bytes >= THRESHOLD,
        "usage {} past the threshold",
        alice.bytes
    );
    let alloc: ClassAllocator = serde_json::from_slice(&std::fs::read(
        agent.dir.path().join("state/classes-veth0.json"),
    )?)?;
    let classes = alloc.classes(UID).context("alice has classes")?;
    let ifindex = pair.a.ifindex("veth0")?;
    let tree = pair
        .a
        .run_in(move || Ok(NetlinkBackend::new()?.read(ifindex)?))?;
    let leaf = tree
        .classes
        .iter()
        .find(|c| c.classid == classes.normal)
        .context("alice's class in the kernel")?;
    let htb = leaf.htb.as_ref().context("an HTB class")?;
    // The kernel keeps rates in whole bytes/s; a sync between the two reads moves the ceiling
    // by far less than 1 B/s (one second of a one-hour period).
    assert!(
        htb.ceil.abs_diff(alice.ceil_bps / 8) <= 1,
        "kernel ceil {} B/s vs status {} bit/s",
        htb.ceil,
        alice.ceil_bps
    );
    assert!(
        leaf.stats.bytes > 0,
        "the HTB class counted alice's packets"
    );

    // An uncapped slice whose queue drains: its HTB class counted exactly the bytes the eBPF
    // program counted for it (wire length, the same definition), and what was sent.
    let bob_uid = 4002;
    let sent = traffic::udp_paced_lossy_as(
        &pair.a,
        bob_uid,
        dst(),
        500,
        200,
        Duration::from_millis(200),
    )?;
    let frame = (ETH_LEN + IPV4_LEN + UDP_LEN + 500) as u64;
    std::thread::sleep(Duration::from_millis(200));
    // SIGHUP reloads (unchanged) config and slices, which syncs at once.
    agent.signal(libc::SIGHUP)?;
    let snap = agent.wait_for(Duration::from_secs(5), |s| {
        slice(s, "bob").is_some_and(|b| b.bytes >= sent as u64 * frame)
    })?;
    let bob = slice(&snap, "bob").context("bob")?;
    let bob_class = alloc.classes(bob_uid).context("bob has classes")?.normal;
    let tree = pair
        .a
        .run_in(move || Ok(NetlinkBackend::new()?.read(ifindex)?))?;
    let leaf = tree
        .classes
        .iter()
        .find(|c| c.classid == bob_class)
        .context("bob's class in the kernel")?;
    assert_eq!(
        (leaf.stats.bytes, bob.bytes),
        (sent as u64 * frame, sent as u64 * frame),
        "(HTB class, eBPF) bytes vs {sent} datagrams sent"
    );
    Ok(())
}

#[test]
fn broken_slice_file_on_sighup_keeps_the_last_good_list() -> Result<()> {
    let pair = Pair::new("ag2")?;
    let agent = Agent::start(&pair.a, CONFIG, SLICES)?;
    std::fs::write(
        agent.slices_file(),
        "{\"slices\": [ {\"name\": \"x\", \"xid\": }",
    )?;
    agent.signal(libc::SIGHUP)?;
    let s = agent.wait_for(Duration::from_secs(5), |s| {
        s.agent.slice_list_problem.is_some()
    })?;
    let problem = s.agent.slice_list_problem.clone().unwrap_or_default();
    assert!(
        problem.contains("slices.json") && problem.contains(":1:"),
        "names file and line: {problem}"
    );
    assert!(
        slice(&s, "alice").is_some() && slice(&s, "bob").is_some(),
        "old list kept"
    );
    assert!(slice(&s, "x").is_none());
    Ok(())
}

#[test]
fn a_deleted_and_recreated_slice_keeps_its_usage_and_a_restart_keeps_usage_and_ceilings()
-> Result<()> {
    let pair = Pair::new("ag3")?;
    let mut agent = Agent::start(&pair.a, CONFIG, SLICES)?;
    let sent =
        traffic::udp_paced_lossy_as(&pair.a, UID, dst(), 1000, 3500, Duration::from_secs(1))?;
    assert!(sent as u64 * FRAME > THRESHOLD, "sent {sent} datagrams");
    let before = agent.wait_for(Duration::from_secs(5), |s| {
        slice(s, "alice").is_some_and(|a| a.capped)
    })?;
    let used = slice(&before, "alice").context("alice")?.bytes;
    assert!(used >= THRESHOLD);

    // Deleted: moves to the dead table with its usage.
    std::fs::write(
        agent.slices_file(),
        r#"{"slices": [{"name": "bob", "xid": 4002}]}"#,
    )?;
    let s = agent.wait_for(Duration::from_secs(5), |s| {
        s.dead.iter().any(|d| d.name == "alice")
    })?;
    assert!(s.dead.iter().any(|d| d.name == "alice" && d.bytes >= used));
    // Recreated (even with another xid): the same record, still capped.
    std::fs::write(agent.slices_file(), SLICES.replace("4001", "4011"))?;
    let s = agent.wait_for(Duration::from_secs(5), |s| {
        slice(s, "alice").is_some_and(|a| a.xid == 4011)
    })?;
    let back = slice(&s, "alice").context("alice")?;
    assert!(
        back.bytes >= used && back.capped,
        "usage {} >= {used}, capped {}",
        back.bytes,
        back.capped
    );
    let ceil = back.ceil_bps;
    let period_start = back.period_start_unix;

    // kill -9 and start again: same usage, same period, capped at the same ceiling.
    agent.crash_and_restart()?;
    let s = agent.wait_for(Duration::from_secs(10), |s| slice(s, "alice").is_some())?;
    let after = slice(&s, "alice").context("alice")?;
    assert!(
        after.bytes >= back.bytes,
        "usage kept: {} >= {}",
        after.bytes,
        back.bytes
    );
    assert_eq!(after.period_start_unix, period_start);
    assert!(after.capped);
    // The ceiling is recomputed from the same budget: equal up to one second of time left.
    let tolerance = ceil / 100 + 16;
    assert!(
        after.ceil_bps.abs_diff(ceil) <= tolerance,
        "ceiling {} vs {ceil}",
        after.ceil_bps
    );
    Ok(())
}

/// With `exempt_classes = "when_limited"` a slice's exempt packets share one class until its
/// exempt budget's threshold is passed; then it gets a class of its own with the capped ceiling,
/// and its exempt packets are steered into it.
#[test]
fn when_limited_a_slice_gets_its_own_exempt_class_once_capped() -> Result<()> {
    const EXEMPT_UID: u32 = 4001;
    /// net_i2_max_kbyte 2000: exempt threshold 80% = 1,638,400 bytes.
    const EXEMPT_THRESHOLD: u64 = 2000 * 1024 * 8 / 10;
    let pair = Pair::new("ag4")?;
    let config = format!(
        "{CONFIG}exempt_prefixes = [\"{}/32\"]\nexempt_classes = \"when_limited\"\n",
        addr::B4_EXTRA
    );
    let slices = r#"{"slices": [{"name": "alice", "xid": 4001, "attributes": {"net_i2_max_kbyte": 2000}},
                                {"name": "bob", "xid": 4002}]}"#;
    let agent = Agent::start(&pair.a, &config, slices)?;
    let exempt_dst = SocketAddr::new(addr::B4_EXTRA.parse()?, 9);
    let ifindex = pair.a.ifindex("veth0")?;
    let read = || {
        pair.a
            .run_in(move || Ok(NetlinkBackend::new()?.read(ifindex)?))
    };
    let alloc = || -> Result<ClassAllocator> {
        Ok(serde_json::from_slice(&std::fs::read(
            agent.dir.path().join("state/classes-veth0.json"),
        )?)?)
    };
    let own = alloc()?.classes(EXEMPT_UID).context("alice's ids")?.exempt;
    let before = read()?;
    assert!(
        before.classes.iter().all(|c| c.classid != own),
        "no exempt class of her own while unlimited"
    );
    let shared = before
        .classes
        .iter()
        .find(|c| c.classid == bwmon::shaping::tree::SHARED_EXEMPT_CLASS)
        .context("the shared exempt class")?;
    let shared_bytes = shared.stats.bytes;

    // Just past the exempt threshold (so that little waits in her capped queue): capped, and a
    // class of her own appears with that ceiling.
    let send = |n, payload, over| {
        traffic::udp_paced_lossy_as(&pair.a, EXEMPT_UID, exempt_dst, payload, n, over)
    };
    let mut sent = send(
        (EXEMPT_THRESHOLD / FRAME) as usize,
        1000,
        Duration::from_secs(2),
    )?;
    while sent as u64 * FRAME <= EXEMPT_THRESHOLD {
        sent += send(1, 1000, Duration::ZERO)?;
    }
    let snap = agent.wait_for(Duration::from_secs(5), |s| {
        slice(s, "alice").is_some_and(|a| a.exempt_capped)
    })?;
    let alice = slice(&snap, "alice").context("alice")?;
    assert!(!alice.capped, "the normal class is untouched");
    let after = read()?;
    let shared_after = after
        .classes
        .iter()
        .find(|c| c.classid == bwmon::shaping::tree::SHARED_EXEMPT_CLASS)
        .context("the shared exempt class")?;
    assert!(
        shared_after.stats.bytes > shared_bytes,
        "her exempt packets went through the shared class until she was capped"
    );
    let class = after
        .classes
        .iter()
        .find(|c| c.classid == own)
        .context("her own exempt class once capped")?;
    let htb = class.htb.as_ref().context("an HTB class")?;
    assert!(
        htb.ceil.abs_diff(alice.exempt_ceil_bps / 8) <= 1,
        "kernel ceil {} B/s vs status {} bit/s",
        htb.ceil,
        alice.exempt_ceil_bps
    );
    // Her next exempt packets are steered into it.
    let counted = class.stats.bytes;
    // Small datagrams: within the class's burst, they leave at once despite its low ceiling.
    assert_eq!(send(20, 100, Duration::ZERO)?, 20);
    std::thread::sleep(Duration::from_millis(300));
    let later = read()?;
    let class = later
        .classes
        .iter()
        .find(|c| c.classid == own)
        .context("her exempt class")?;
    assert!(
        class.stats.bytes > counted,
        "steered into her own class: {} -> {} bytes",
        counted,
        class.stats.bytes
    );
    Ok(())
}
