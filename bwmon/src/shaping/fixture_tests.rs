//! Byte-for-byte tests of the encoders against iproute2's `tc` and of the decoders against the
//! kernel's dump replies, all captured by `testdata/capture.sh` (veth end with ifindex 2).
//!
//! Only two things differ, both on purpose: the sequence number (bytes 8..12 of the header, tc
//! uses the time) and the rate tables: tc appends `TCA_HTB_RTAB` and `TCA_HTB_CTAB` (2 x 1028
//! bytes) to every class message, bwmon does not (see `htb`), so they are cut out of tc's message
//! (and the two enclosing lengths fixed) before comparing. Nothing else is masked.
use super::handle::Handle;
use super::htb::{self, HtbClass, HtbQdisc, LeafQdisc, Mode, Stats};
use super::nl;

const IFINDEX: u32 = 2;

fn hex(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            (0..l.len() / 2)
                .map(|i| u8::from_str_radix(&l[2 * i..2 * i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

fn one(text: &str) -> Vec<u8> {
    let mut msgs = hex(text);
    assert_eq!(msgs.len(), 1, "one sendmsg per command");
    msgs.remove(0)
}

/// tc's message without the rate tables (attribute types 3 and 4 inside TCA_OPTIONS).
fn without_rate_tables(msg: &[u8]) -> Vec<u8> {
    let mut out = msg[..nl::NLMSG_HDR_LEN + nl::TCMSG_LEN].to_vec();
    for (ty, payload) in nl::attrs(&msg[out.len()..]) {
        let mut body = Vec::new();
        if ty == nl::TCA_OPTIONS {
            for (inner, p) in nl::attrs(payload).filter(|(t, _)| *t != 3 && *t != 4) {
                body.extend_from_slice(&((p.len() + 4) as u16).to_ne_bytes());
                body.extend_from_slice(&inner.to_ne_bytes());
                body.extend_from_slice(p);
                body.resize(body.len().next_multiple_of(4), 0);
            }
        } else {
            body.extend_from_slice(payload);
        }
        out.extend_from_slice(&((body.len() + 4) as u16).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(&body);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    let len = out.len() as u32;
    out[..4].copy_from_slice(&len.to_ne_bytes());
    out
}

/// Asserts equality except for the sequence number.
fn assert_same(ours: Vec<u8>, tc: &[u8]) {
    let mut ours = ours;
    ours[8..12].copy_from_slice(&tc[8..12]);
    assert_eq!(hexs(&ours), hexs(tc));
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn class(
    classid: Handle,
    parent: Handle,
    bits: (u64, u64),
    burst: (u64, u64),
    q: u32,
    p: u32,
) -> HtbClass {
    HtbClass::from_bits(classid, parent, bits.0, bits.1, burst.0, burst.1, q, p)
}

#[test]
fn qdisc_add_root_matches_tc() {
    let q = HtbQdisc {
        handle: Handle::new(1, 0),
        parent: Handle::ROOT,
        default_minor: 4,
        r2q: 10,
        direct_qlen: None,
    };
    let tc = one(include_str!("testdata/qdisc_add_root.hex"));
    assert_same(htb::qdisc_htb(Vec::new(), 1, IFINDEX, &q, Mode::Add), &tc);
}

#[test]
fn qdisc_add_nested_matches_tc() {
    let q = HtbQdisc {
        handle: Handle::new(0x10, 0),
        parent: Handle::new(1, 0x10),
        default_minor: 0,
        r2q: 10,
        direct_qlen: None,
    };
    let tc = one(include_str!("testdata/qdisc_add_nested.hex"));
    assert_same(htb::qdisc_htb(Vec::new(), 1, IFINDEX, &q, Mode::Add), &tc);
}

#[test]
fn class_add_matches_tc() {
    // rate 100mbit ceil 200mbit burst 15k cburst 20k quantum 1514 prio 1
    let c = class(
        Handle::new(1, 1),
        Handle::new(1, 0),
        (100_000_000, 200_000_000),
        (15360, 20480),
        1514,
        1,
    );
    let tc = without_rate_tables(&one(include_str!("testdata/class_add.hex")));
    assert_same(htb::class_htb(Vec::new(), 1, IFINDEX, &c, Mode::Add), &tc);
}

#[test]
fn class_change_with_64bit_ceil_matches_tc() {
    // rate 10gbit ceil 40gbit burst 150k cburst 150k quantum 60000 prio 0
    let c = class(
        Handle::new(1, 1),
        Handle::new(1, 0),
        (10_000_000_000, 40_000_000_000),
        (153_600, 153_600),
        60000,
        0,
    );
    let tc = without_rate_tables(&one(include_str!("testdata/class_change64.hex")));
    assert_same(
        htb::class_htb(Vec::new(), 1, IFINDEX, &c, Mode::Change),
        &tc,
    );
}

#[test]
fn class_add_small_and_leaf_match_tc() {
    let small = class(
        Handle::new(1, 0x10),
        Handle::new(1, 1),
        (8, 5_000_000),
        (200, 1600),
        1000,
        7,
    );
    let tc = without_rate_tables(&one(include_str!("testdata/class_add_small.hex")));
    assert_same(
        htb::class_htb(Vec::new(), 1, IFINDEX, &small, Mode::Add),
        &tc,
    );
    let leaf = class(
        Handle::new(1, 0x20),
        Handle::new(1, 1),
        (1_000_000, 2_000_000),
        (1600, 1600),
        1514,
        0,
    );
    let tc = without_rate_tables(&one(include_str!("testdata/class_add_leaf.hex")));
    assert_same(
        htb::class_htb(Vec::new(), 1, IFINDEX, &leaf, Mode::Add),
        &tc,
    );
}

#[test]
fn pfifo_and_deletes_match_tc() {
    let (parent, handle) = (Handle::new(1, 0x20), Handle::new(0x20, 0));
    let leaf = LeafQdisc::Pfifo { limit: 1000 };
    let tc = one(include_str!("testdata/qdisc_add_pfifo.hex"));
    assert_same(
        htb::qdisc_leaf(
            Vec::new(),
            1,
            IFINDEX,
            htb::LeafPlace {
                parent,
                handle,
                mode: Mode::Add,
            },
            &leaf,
        ),
        &tc,
    );
    let tc = one(include_str!("testdata/class_del.hex"));
    assert_same(
        htb::class_del(Vec::new(), 1, IFINDEX, Handle::new(1, 0x10)),
        &tc,
    );
    let tc = one(include_str!("testdata/qdisc_del_root.hex"));
    assert_same(
        htb::qdisc_del(Vec::new(), 1, IFINDEX, Handle::ROOT, Handle(0)),
        &tc,
    );
}

/// Every message of the given type in the captured receive buffers.
fn received(text: &str, msg_type: u16) -> Vec<Vec<u8>> {
    let bufs = hex(text);
    let mut out = Vec::new();
    for buf in &bufs {
        for m in nl::messages(buf).unwrap() {
            if m.msg_type == msg_type {
                out.push(m.payload.to_vec());
            }
        }
    }
    out
}

#[test]
fn class_dump_request_for_one_qdisc_matches_tc() {
    let tc = one(include_str!("testdata/class_dump_request.hex"));
    let ours = htb::dump_request(Vec::new(), 0, nl::RTM_GETTCLASS, IFINDEX, Handle::new(1, 0));
    assert_same(ours, &tc);
}

#[test]
fn class_dump_decodes_like_tc_prints_it() {
    // testdata/class_dump.txt is tc's own rendering of the same dump.
    let mut classes: Vec<_> = received(include_str!("testdata/class_dump.hex"), nl::RTM_NEWTCLASS)
        .iter()
        .map(|p| htb::decode_class(p).unwrap())
        .collect();
    classes.sort_by_key(|c| c.classid);
    assert_eq!(classes.len(), 3);
    let [top, small, leaf] = [&classes[0], &classes[1], &classes[2]];
    assert!(
        classes
            .iter()
            .all(|c| c.ifindex == IFINDEX && c.kind == "htb")
    );
    // class htb 1:1 root rate 10Gbit ceil 40Gbit burst 151250b cburst 145000b; Sent 420 bytes 6 pkt
    let top_htb = class(
        Handle::new(1, 1),
        Handle::new(1, 0),
        (10_000_000_000, 40_000_000_000),
        (153_600, 153_600),
        60000,
        0,
    );
    assert_eq!(top.htb, Some(top_htb));
    // An inner class sits at HTB's top level (TC_HTB_MAXDEPTH - 1) until it has grandchildren.
    assert_eq!((top.level, top.leaf_qdisc), (7, None));
    assert_eq!(
        top.stats,
        Stats {
            bytes: 420,
            packets: 6
        }
    );
    // class htb 1:10 parent 1:1 leaf 10: prio 7 rate 8bit ceil 5Mbit burst 200b cburst 1600b
    let small_htb = class(
        Handle::new(1, 0x10),
        Handle::new(1, 1),
        (8, 5_000_000),
        (200, 1600),
        1000,
        7,
    );
    assert_eq!(small.htb, Some(small_htb));
    assert_eq!(
        (small.level, small.leaf_qdisc),
        (0, Some(Handle::new(0x10, 0)))
    );
    assert_eq!(small.stats, Stats::default());
    // class htb 1:20 parent 1:1 leaf 20: prio 0 rate 1Mbit ceil 2Mbit burst 1600b cburst 1600b
    assert_eq!(
        leaf.htb.map(|h| (h.rate, h.ceil, h.quantum)),
        Some((125_000, 250_000, 1514))
    );
    assert_eq!(leaf.leaf_qdisc, Some(Handle::new(0x20, 0)));
    assert_eq!(
        leaf.stats,
        Stats {
            bytes: 420,
            packets: 6
        }
    );
}

#[test]
fn qdisc_dump_decodes_like_tc_prints_it() {
    let qdiscs: Vec<_> = received(include_str!("testdata/qdisc_dump.hex"), nl::RTM_NEWQDISC)
        .iter()
        .map(|p| htb::decode_qdisc(p).unwrap())
        .filter(|q| q.ifindex == IFINDEX) // the kernel dumps every interface's qdiscs
        .collect();
    assert_eq!(qdiscs.len(), 3);
    // qdisc htb 1: root r2q 10 default 0x4 direct_packets_stat 9 direct_qlen 1000
    let root = &qdiscs[0];
    assert_eq!(
        (root.handle, root.parent, root.kind.as_str()),
        (Handle::new(1, 0), Handle::ROOT, "htb")
    );
    let glob = root.htb.as_ref().unwrap();
    assert_eq!(
        (glob.r2q, glob.default_minor, glob.direct_qlen),
        (10, 4, Some(1000))
    );
    assert!(root.stats.packets > 0 && root.stats.bytes > 0);
    // qdisc htb 10: parent 1:10 r2q 10 default 0 ...; qdisc pfifo 20: parent 1:20 limit 1000p
    assert_eq!(qdiscs[1].htb.as_ref().map(|h| h.default_minor), Some(0));
    assert_eq!(qdiscs[1].parent, Handle::new(1, 0x10));
    assert_eq!(
        (qdiscs[2].kind.as_str(), qdiscs[2].fifo_limit),
        ("pfifo", Some(1000))
    );
    assert_eq!(
        qdiscs[2].stats,
        Stats {
            bytes: 420,
            packets: 6
        }
    );
}
