//! The tc program run on crafted frames through `BPF_PROG_TEST_RUN`: no interface, exact counter
//! changes. (`BPF_PROG_TEST_RUN` gives each packet a socket owned by uid 0 in the test's own
//! cgroup, which is what the uid- and cgroup-mode cases below rely on.)
use std::net::{Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result};
use aya::programs::{TestRun, TestRunOptions};
use bwmon::accounting::{Accounting, Counters, SliceIdMode, SlotClass};
use bwmon_common::{CLASS_EXEMPT, CLASS_NORMAL, SLOT_DEFAULT, SLOT_ROOT};
use bwmon_tests::{frames, pins::PinDir, skb::SkbCtx};

const V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const V4_EXEMPT: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
const V4_CARVED: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 200);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("literal")
}

fn rules() -> Vec<(ipnet::IpNet, bool)> {
    [
        ("198.18.1.0/24", true),
        ("198.18.1.192/26", false),
        ("100.64.0.0/10", true),
        ("100.66.0.0/16", false),
        ("100.65.5.0/24", false),
        ("fd00:b3:1::/48", true),
        ("fd00:b3:1:ff::/64", false),
    ]
    .iter()
    .map(|(p, e)| (p.parse().expect("literal"), *e))
    .collect()
}

struct Harness {
    acc: Accounting,
    _pins: PinDir,
}

impl Harness {
    fn new(mode: SliceIdMode) -> Result<Self> {
        let pins = PinDir::new("kprog");
        let mut acc = Accounting::load(pins.options(mode))?;
        acc.set_exempt(&rules())?;
        Ok(Self { acc, _pins: pins })
    }

    /// Runs one frame and returns the priority the program left in the context.
    fn run(&self, frame: &[u8], ctx: SkbCtx) -> Result<u32> {
        let mut out = SkbCtx::default();
        let opts = TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(&ctx.0),
            ctx_out: Some(&mut out.0),
            ..TestRunOptions::default()
        };
        let result = self
            .acc
            .program()?
            .test_run(opts)
            .context("BPF_PROG_TEST_RUN")?;
        // TC_ACT_UNSPEC: the packet goes on to the next program untouched.
        assert_eq!(result.return_value as i32, -1);
        Ok(out.priority())
    }

    fn counters(&self) -> Result<Vec<Counters>> {
        Ok(self.acc.read_counters(self.acc.max_slots())?)
    }
}

/// Runs `frame` once and asserts that exactly `slot`/`class` grew by the frame and one packet.
fn assert_counted(h: &Harness, frame: &[u8], ctx: SkbCtx, slot: u32, class: usize) -> Result<u32> {
    let before = h.counters()?;
    let priority = h.run(frame, ctx)?;
    let after = h.counters()?;
    for (s, (b, a)) in before.iter().zip(&after).enumerate() {
        for c in [CLASS_NORMAL, CLASS_EXEMPT] {
            let (db, dp) = (a.bytes[c] - b.bytes[c], a.packets[c] - b.packets[c]);
            if s as u32 == slot && c == class {
                assert_eq!(db, frame.len() as u64, "bytes of slot {s} class {c}");
                assert_eq!(dp, 1, "packets of slot {s} class {c}");
            } else {
                assert_eq!((db, dp), (0, 0), "slot {s} class {c} must not change");
            }
        }
    }
    Ok(priority)
}

#[test]
fn uid_zero_is_root_and_every_ip_protocol_is_classified() -> Result<()> {
    let h = Harness::new(SliceIdMode::Uid)?;
    let ctx = SkbCtx::default;
    for frame in [
        frames::udp4(V4, 100),
        frames::tcp4(V4, 1400),
        frames::icmp4(V4, 56),
    ] {
        assert_counted(&h, &frame, ctx(), SLOT_ROOT, CLASS_NORMAL)?;
    }
    for frame in [
        frames::udp4(V4_EXEMPT, 100),
        frames::tcp4(V4_EXEMPT, 1),
        frames::icmp4(V4_EXEMPT, 0),
    ] {
        assert_counted(&h, &frame, ctx(), SLOT_ROOT, CLASS_EXEMPT)?;
    }
    let (dst6, exempt6) = (v6("fd00:b3::2"), v6("fd00:b3:1::2"));
    for frame in [
        frames::udp6(dst6, 10),
        frames::tcp6(dst6, 1000),
        frames::icmp6(dst6, 56),
    ] {
        assert_counted(&h, &frame, ctx(), SLOT_ROOT, CLASS_NORMAL)?;
    }
    for frame in [
        frames::udp6(exempt6, 10),
        frames::tcp6(exempt6, 1000),
        frames::icmp6(exempt6, 8),
    ] {
        assert_counted(&h, &frame, ctx(), SLOT_ROOT, CLASS_EXEMPT)?;
    }
    // Not IP: never exempt.
    assert_counted(&h, &frames::arp(), ctx(), SLOT_ROOT, CLASS_NORMAL)?;
    Ok(())
}

#[test]
fn longest_prefix_wins() -> Result<()> {
    let h = Harness::new(SliceIdMode::Uid)?;
    // 198.18.1.200 is inside the exempt /24 but also inside the carved-out /26.
    assert_counted(
        &h,
        &frames::udp4(V4_CARVED, 64),
        SkbCtx::default(),
        SLOT_ROOT,
        CLASS_NORMAL,
    )?;
    assert_counted(
        &h,
        &frames::udp4(Ipv4Addr::new(198, 18, 1, 191), 64),
        SkbCtx::default(),
        SLOT_ROOT,
        CLASS_EXEMPT,
    )?;
    // Rules of /16 and shorter are answered by the /16 summary, longer ones by the trie.
    for (dst, class) in [
        (Ipv4Addr::new(100, 64, 0, 1), CLASS_EXEMPT),
        (Ipv4Addr::new(100, 127, 255, 1), CLASS_EXEMPT),
        (Ipv4Addr::new(100, 128, 0, 1), CLASS_NORMAL),
        (Ipv4Addr::new(100, 66, 7, 7), CLASS_NORMAL),
        (Ipv4Addr::new(100, 65, 5, 1), CLASS_NORMAL),
        (Ipv4Addr::new(100, 65, 6, 1), CLASS_EXEMPT),
    ] {
        assert_counted(
            &h,
            &frames::udp4(dst, 64),
            SkbCtx::default(),
            SLOT_ROOT,
            class,
        )?;
    }
    let carved6 = v6("fd00:b3:1:ff::9");
    assert_counted(
        &h,
        &frames::udp6(carved6, 64),
        SkbCtx::default(),
        SLOT_ROOT,
        CLASS_NORMAL,
    )?;
    assert_counted(
        &h,
        &frames::udp6(v6("fd00:b3:1:fe::9"), 64),
        SkbCtx::default(),
        SLOT_ROOT,
        CLASS_EXEMPT,
    )?;
    Ok(())
}

#[test]
fn mark_mode_finds_the_slice_and_unknown_goes_to_default() -> Result<()> {
    let mut h = Harness::new(SliceIdMode::Mark)?;
    h.acc.set_xid_slot(1001, 5)?;
    // An xid beyond the dense array goes through the sparse hash.
    h.acc.set_xid_slot(3_000_000_000, 6)?;
    let frame = frames::udp4(V4, 200);
    assert_counted(
        &h,
        &frame,
        SkbCtx::default().with_mark(1001),
        5,
        CLASS_NORMAL,
    )?;
    assert_counted(
        &h,
        &frame,
        SkbCtx::default().with_mark(3_000_000_000),
        6,
        CLASS_NORMAL,
    )?;
    assert_counted(
        &h,
        &frames::udp4(V4_EXEMPT, 1),
        SkbCtx::default().with_mark(1001),
        5,
        CLASS_EXEMPT,
    )?;
    // Unknown xid (dense range and sparse range) and unmarked packets: `default`.
    for mark in [777, 4_000_000_000, 0] {
        assert_counted(
            &h,
            &frame,
            SkbCtx::default().with_mark(mark),
            SLOT_DEFAULT,
            CLASS_NORMAL,
        )?;
    }
    // Forgetting a slice sends its packets to `default` again.
    h.acc.clear_xid(1001)?;
    h.acc.clear_xid(3_000_000_000)?;
    for mark in [1001, 3_000_000_000] {
        assert_counted(
            &h,
            &frame,
            SkbCtx::default().with_mark(mark),
            SLOT_DEFAULT,
            CLASS_NORMAL,
        )?;
    }
    Ok(())
}

#[test]
fn bytes_are_what_the_shaper_charges() -> Result<()> {
    // A GSO packet: wire_len (every segment's headers) exceeds the frame length.
    let h = Harness::new(SliceIdMode::Uid)?;
    let frame = frames::tcp4(V4, 1000);
    let before = h.counters()?[SLOT_ROOT as usize];
    h.run(&frame, SkbCtx::default().with_wire_len(3 * 1054))?;
    let after = h.counters()?[SLOT_ROOT as usize];
    assert_eq!(
        after.bytes[CLASS_NORMAL] - before.bytes[CLASS_NORMAL],
        3 * 1054
    );
    assert_eq!(
        after.packets[CLASS_NORMAL] - before.packets[CLASS_NORMAL],
        1
    );
    Ok(())
}

#[test]
fn steers_into_the_slot_class_and_leaves_priority_alone_without_one() -> Result<()> {
    let mut h = Harness::new(SliceIdMode::Mark)?;
    h.acc.set_xid_slot(42, 7)?;
    h.acc.set_slot_class(
        7,
        SlotClass {
            classid: [0x0001_0010, 0x0001_0011],
        },
    )?;
    let ctx = || SkbCtx::default().with_mark(42).with_priority(6);
    assert_eq!(h.run(&frames::udp4(V4, 10), ctx())?, 0x0001_0010);
    assert_eq!(h.run(&frames::udp4(V4_EXEMPT, 10), ctx())?, 0x0001_0011);
    // `default` has no class here: the socket's own priority stays.
    assert_eq!(
        h.run(
            &frames::udp4(V4, 10),
            SkbCtx::default().with_mark(9).with_priority(6)
        )?,
        6
    );
    Ok(())
}

#[test]
fn cgroup_mode_maps_the_sockets_cgroup() -> Result<()> {
    let mut h = Harness::new(SliceIdMode::Cgroup)?;
    let frame = frames::udp4(V4, 300);
    // Before the cgroup is mapped: `default`.
    assert_counted(&h, &frame, SkbCtx::default(), SLOT_DEFAULT, CLASS_NORMAL)?;
    let id = own_cgroup_id()?;
    h.acc.set_cgroup(id, 2001)?;
    h.acc.set_xid_slot(2001, 9)?;
    assert_counted(&h, &frame, SkbCtx::default(), 9, CLASS_NORMAL)?;
    h.acc.remove_cgroup(id)?;
    assert_counted(&h, &frame, SkbCtx::default(), SLOT_DEFAULT, CLASS_NORMAL)?;
    Ok(())
}

/// The cgroup v2 id (inode number) of this process's cgroup.
fn own_cgroup_id() -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let text = std::fs::read_to_string("/proc/self/cgroup")?;
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .context("no cgroup v2 line")?;
    let root = bwmon_tests::cgroup::v2_root()?;
    Ok(std::fs::metadata(root.join(rel.trim_start_matches('/')))?.ino())
}
