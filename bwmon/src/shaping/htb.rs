//! HTB, leaf-qdisc and cls_bpf messages: encoders for what bwmon sends, decoders for the kernel's
//! dumps. Layouts follow linux/pkt_sched.h and iproute2's q_htb.c; the fixture tests in
//! `fixture_tests` compare every encoder with the bytes `tc` sent for the same command.
//!
//! bwmon sends no rate tables (`TCA_HTB_RTAB`/`CTAB`): with `linklayer ethernet` in the rate
//! specs the kernel computes rates itself and ignores them (sch_htb.c only reads them for
//! `TC_LINKLAYER_UNAWARE`; checked on this kernel by the privileged tests, which add every class
//! without them). That keeps a class message at 100 bytes instead of 2.1 KB.
use super::handle::{Handle, xmit_ticks};
use super::nl::{self, MsgWriter, TcMsg};

const TCA_HTB_PARMS: u16 = 1;
const TCA_HTB_INIT: u16 = 2;
const TCA_HTB_DIRECT_QLEN: u16 = 5;
const TCA_HTB_RATE64: u16 = 6;
const TCA_HTB_CEIL64: u16 = 7;
const TCA_BPF_CLASSID: u16 = 3;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
/// `TC_LINKLAYER_ETHERNET`.
const LINKLAYER_ETHERNET: u8 = 1;
/// `TC_HTB_PROTOVER`.
const HTB_VERSION: u32 = 3;
/// `ETH_P_ALL` in network byte order, as a filter's protocol.
const ETH_P_ALL_BE: u16 = 0x0003u16.to_be();
/// The `cell_log` tc derives from its default MTU (1600 bytes, 8-byte cells); kept for identical
/// bytes, ignored by the kernel without rate tables.
const CELL_LOG: u8 = 3;
const RATESPEC_LEN: usize = 12;
const HTB_OPT_LEN: usize = 2 * RATESPEC_LEN + 20;

/// An HTB qdisc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtbQdisc {
    pub handle: Handle,
    /// `Handle::ROOT` or the class it is the leaf qdisc of.
    pub parent: Handle,
    /// Minor of the class that gets unclassified packets (0: none, they go out unshaped).
    pub default_minor: u32,
    /// Rate-to-quantum divisor; bwmon always sets quanta, so it only serves as a marker.
    pub r2q: u32,
    /// Length of the direct queue; `None` leaves the kernel's default (the device's txqueuelen).
    pub direct_qlen: Option<u32>,
}

/// One HTB class with its parameters as the kernel stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HtbClass {
    pub classid: Handle,
    /// The parent class, or the qdisc handle (`major:0`) for a top-level class.
    pub parent: Handle,
    /// Guaranteed rate, bytes/s (> 0).
    pub rate: u64,
    /// Ceiling, bytes/s (> 0).
    pub ceil: u64,
    /// Burst at `rate`, in psched ticks (see `handle::xmit_ticks`).
    pub buffer: u32,
    /// Burst at `ceil`, in psched ticks.
    pub cbuffer: u32,
    /// DRR quantum, bytes.
    pub quantum: u32,
    /// Priority 0..7 (lower is served first when borrowing).
    pub prio: u32,
}

impl HtbClass {
    /// A class from rates in bit/s and bursts in bytes (the units of `tc`).
    #[allow(clippy::too_many_arguments)]
    pub fn from_bits(
        classid: Handle,
        parent: Handle,
        rate_bps: u64,
        ceil_bps: u64,
        burst: u64,
        cburst: u64,
        quantum: u32,
        prio: u32,
    ) -> Self {
        let (rate, ceil) = ((rate_bps / 8).max(1), (ceil_bps / 8).max(1));
        HtbClass {
            classid,
            parent,
            rate,
            ceil,
            buffer: xmit_ticks(rate, burst),
            cbuffer: xmit_ticks(ceil, cburst),
            quantum,
            prio,
        }
    }
}

/// The qdisc under a leaf class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeafQdisc {
    /// A packet FIFO holding at most `limit` packets.
    Pfifo { limit: u32 },
    /// Any other kind by name, with the kernel's default options (e.g. `fq_codel`). If the kernel
    /// lacks it, the executor falls back to `Pfifo` (see `executor`).
    Other { kind: String },
}

impl LeafQdisc {
    pub fn kind(&self) -> &str {
        match self {
            LeafQdisc::Pfifo { .. } => "pfifo",
            LeafQdisc::Other { kind } => kind,
        }
    }
}

/// A stateless direct-action cls_bpf filter: the program returns the class in `tc_classid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfFilter {
    /// The qdisc it classifies for (e.g. `1:`).
    pub parent: Handle,
    pub prio: u16,
    pub handle: u32,
    /// Its major is combined with the minor the program writes (`TC_H_MAJ(classid) | tc_classid`).
    pub classid: Handle,
    pub name: String,
}

/// Creation semantics of a qdisc or class message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `tc ... add`: fail if it exists.
    Add,
    /// `tc class change`: modify in place (keeps queue and counters), fail if missing.
    Change,
    /// `tc ... replace`: create or replace.
    Replace,
}

impl Mode {
    fn flags(self) -> u16 {
        let base = nl::NLM_F_REQUEST | nl::NLM_F_ACK;
        match self {
            Mode::Add => base | nl::NLM_F_EXCL | nl::NLM_F_CREATE,
            Mode::Change => base,
            Mode::Replace => base | nl::NLM_F_CREATE | nl::NLM_F_REPLACE,
        }
    }
}

fn ratespec(out: &mut Vec<u8>, rate: u64) {
    out.extend_from_slice(&[CELL_LOG, LINKLAYER_ETHERNET]);
    out.extend_from_slice(&0u16.to_ne_bytes()); // overhead
    out.extend_from_slice(&(-1i16).to_ne_bytes()); // cell_align
    out.extend_from_slice(&0u16.to_ne_bytes()); // mpu
    out.extend_from_slice(&(rate.min(u32::MAX as u64) as u32).to_ne_bytes());
}

/// RTM_NEWQDISC for an HTB qdisc.
pub fn qdisc_htb(buf: Vec<u8>, seq: u32, ifindex: u32, q: &HtbQdisc, mode: Mode) -> Vec<u8> {
    let tc = TcMsg {
        ifindex,
        handle: q.handle.0,
        parent: q.parent.0,
        info: 0,
    };
    let mut w = MsgWriter::begin(buf, nl::RTM_NEWQDISC, mode.flags(), seq, tc);
    w.attr(nl::TCA_KIND, b"htb\0");
    let opts = w.begin_nest(nl::TCA_OPTIONS);
    let mut glob = Vec::with_capacity(20);
    for v in [HTB_VERSION, q.r2q, q.default_minor, 0, 0] {
        glob.extend_from_slice(&v.to_ne_bytes());
    }
    w.attr(TCA_HTB_INIT, &glob);
    if let Some(qlen) = q.direct_qlen {
        w.attr(TCA_HTB_DIRECT_QLEN, &qlen.to_ne_bytes());
    }
    w.end_nest(opts);
    w.finish()
}

/// Where a leaf qdisc goes and with which semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafPlace {
    pub parent: Handle,
    /// 0: the kernel picks one.
    pub handle: Handle,
    /// `Mode::Replace` creates, changes a qdisc of the same kind in place, or swaps another kind.
    pub mode: Mode,
}

/// RTM_NEWQDISC for a leaf qdisc.
pub fn qdisc_leaf(
    buf: Vec<u8>,
    seq: u32,
    ifindex: u32,
    at: LeafPlace,
    leaf: &LeafQdisc,
) -> Vec<u8> {
    let tc = TcMsg {
        ifindex,
        handle: at.handle.0,
        parent: at.parent.0,
        info: 0,
    };
    let mut w = MsgWriter::begin(buf, nl::RTM_NEWQDISC, at.mode.flags(), seq, tc);
    let mut kind = leaf.kind().as_bytes().to_vec();
    kind.push(0);
    w.attr(nl::TCA_KIND, &kind);
    if let LeafQdisc::Pfifo { limit } = leaf {
        w.attr(nl::TCA_OPTIONS, &limit.to_ne_bytes()); // struct tc_fifo_qopt
    }
    w.finish()
}

/// RTM_DELQDISC: `tc qdisc del dev X root` is parent `Handle::ROOT`, handle 0.
pub fn qdisc_del(buf: Vec<u8>, seq: u32, ifindex: u32, parent: Handle, handle: Handle) -> Vec<u8> {
    let tc = TcMsg {
        ifindex,
        handle: handle.0,
        parent: parent.0,
        info: 0,
    };
    MsgWriter::begin(buf, nl::RTM_DELQDISC, Mode::Change.flags(), seq, tc).finish()
}

/// RTM_NEWTCLASS for an HTB class (`Mode::Add` or `Mode::Change`).
pub fn class_htb(buf: Vec<u8>, seq: u32, ifindex: u32, c: &HtbClass, mode: Mode) -> Vec<u8> {
    let tc = TcMsg {
        ifindex,
        handle: c.classid.0,
        parent: c.parent.0,
        info: 0,
    };
    let mut w = MsgWriter::begin(buf, nl::RTM_NEWTCLASS, mode.flags(), seq, tc);
    w.attr(nl::TCA_KIND, b"htb\0");
    let opts = w.begin_nest(nl::TCA_OPTIONS);
    if c.rate >= 1 << 32 {
        w.attr(TCA_HTB_RATE64, &c.rate.to_ne_bytes());
    }
    if c.ceil >= 1 << 32 {
        w.attr(TCA_HTB_CEIL64, &c.ceil.to_ne_bytes());
    }
    let mut opt = Vec::with_capacity(HTB_OPT_LEN);
    ratespec(&mut opt, c.rate);
    ratespec(&mut opt, c.ceil);
    for v in [c.buffer, c.cbuffer, c.quantum, 0, c.prio] {
        opt.extend_from_slice(&v.to_ne_bytes());
    }
    w.attr(TCA_HTB_PARMS, &opt);
    w.end_nest(opts);
    w.finish()
}

/// RTM_DELTCLASS.
pub fn class_del(buf: Vec<u8>, seq: u32, ifindex: u32, classid: Handle) -> Vec<u8> {
    let tc = TcMsg {
        ifindex,
        handle: classid.0,
        parent: 0,
        info: 0,
    };
    MsgWriter::begin(buf, nl::RTM_DELTCLASS, Mode::Change.flags(), seq, tc).finish()
}

/// RTM_NEWTFILTER creating or replacing a direct-action cls_bpf filter running program `fd`.
pub fn filter_bpf(buf: Vec<u8>, seq: u32, ifindex: u32, f: &BpfFilter, fd: i32) -> Vec<u8> {
    let info = ((f.prio as u32) << 16) | ETH_P_ALL_BE as u32;
    let tc = TcMsg {
        ifindex,
        handle: f.handle,
        parent: f.parent.0,
        info,
    };
    let mut w = MsgWriter::begin(buf, nl::RTM_NEWTFILTER, Mode::Replace.flags(), seq, tc);
    w.attr(nl::TCA_KIND, b"bpf\0");
    let opts = w.begin_nest(nl::TCA_OPTIONS);
    w.attr(TCA_BPF_FD, &fd.to_ne_bytes());
    let mut name = f.name.as_bytes().to_vec();
    name.push(0);
    w.attr(TCA_BPF_NAME, &name);
    w.attr(TCA_BPF_FLAGS, &TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes());
    w.attr(TCA_BPF_CLASSID, &f.classid.0.to_ne_bytes());
    w.end_nest(opts);
    w.finish()
}

/// A dump request (`RTM_GETQDISC` or `RTM_GETTCLASS`) for one interface; for classes,
/// `parent` = a qdisc's handle limits the dump to that qdisc's classes (`Handle(0)`: all).
pub fn dump_request(
    buf: Vec<u8>,
    seq: u32,
    msg_type: u16,
    ifindex: u32,
    parent: Handle,
) -> Vec<u8> {
    let tc = TcMsg {
        ifindex,
        parent: parent.0,
        ..TcMsg::default()
    };
    let flags = nl::NLM_F_REQUEST | nl::NLM_F_DUMP;
    MsgWriter::begin(buf, msg_type, flags, seq, tc).finish()
}

/// Byte and packet counters (`TCA_STATS2`/`TCA_STATS_BASIC`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes: u64,
    pub packets: u32,
}

/// A qdisc as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QdiscInfo {
    pub ifindex: u32,
    pub handle: Handle,
    pub parent: Handle,
    pub kind: String,
    /// Set for `htb`.
    pub htb: Option<HtbQdisc>,
    /// Set for `pfifo`/`bfifo`.
    pub fifo_limit: Option<u32>,
    pub stats: Stats,
}

impl QdiscInfo {
    /// How the kernel reports HTB qdisc `q` on interface `ifindex` (counters zero).
    pub fn of_htb(q: &HtbQdisc, ifindex: u32) -> QdiscInfo {
        QdiscInfo {
            ifindex,
            handle: q.handle,
            parent: q.parent,
            kind: "htb".into(),
            htb: Some(q.clone()),
            fifo_limit: None,
            stats: Stats::default(),
        }
    }
}

/// A class as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassInfo {
    pub ifindex: u32,
    pub classid: Handle,
    /// Normalised like `HtbClass::parent`: the qdisc handle for a top-level class.
    pub parent: Handle,
    pub kind: String,
    /// Set for `htb` classes.
    pub htb: Option<HtbClass>,
    /// HTB level: 0 for a leaf.
    pub level: u32,
    /// The handle of the qdisc under a leaf class (`tcm_info`), if any.
    pub leaf_qdisc: Option<Handle>,
    pub stats: Stats,
}

fn stats(attrs: &[u8]) -> Stats {
    nl::find(attrs, nl::TCA_STATS2)
        .and_then(|s| nl::find(s, nl::TCA_STATS_BASIC))
        .and_then(|b| {
            Some(Stats {
                bytes: nl::u64_at(b, 0)?,
                packets: nl::u32_at(b, 8)?,
            })
        })
        .unwrap_or_default()
}

/// Decodes an RTM_NEWQDISC message payload (from a dump).
pub fn decode_qdisc(payload: &[u8]) -> Option<QdiscInfo> {
    let (tc, attrs) = nl::tcmsg(payload)?;
    let kind = nl::string(nl::find(attrs, nl::TCA_KIND)?);
    let opts = nl::find(attrs, nl::TCA_OPTIONS).unwrap_or_default();
    let (handle, parent) = (Handle(tc.handle), Handle(tc.parent));
    let htb = match kind.as_str() {
        "htb" => nl::find(opts, TCA_HTB_INIT).and_then(|g| {
            Some(HtbQdisc {
                handle,
                parent,
                r2q: nl::u32_at(g, 4)?,
                default_minor: nl::u32_at(g, 8)?,
                direct_qlen: nl::find(opts, TCA_HTB_DIRECT_QLEN).and_then(|q| nl::u32_at(q, 0)),
            })
        }),
        _ => None,
    };
    let fifo_limit = match kind.as_str() {
        "pfifo" | "bfifo" => nl::u32_at(opts, 0),
        _ => None,
    };
    let stats = stats(attrs);
    Some(QdiscInfo {
        ifindex: tc.ifindex,
        handle,
        parent,
        kind,
        htb,
        fifo_limit,
        stats,
    })
}

/// Decodes an RTM_NEWTCLASS message payload (from a dump).
pub fn decode_class(payload: &[u8]) -> Option<ClassInfo> {
    let (tc, attrs) = nl::tcmsg(payload)?;
    let kind = nl::string(nl::find(attrs, nl::TCA_KIND)?);
    let classid = Handle(tc.handle);
    let parent = match Handle(tc.parent) {
        Handle::ROOT => classid.qdisc(),
        p => p,
    };
    let opts = nl::find(attrs, nl::TCA_OPTIONS).unwrap_or_default();
    let (mut level, mut htb) = (0, None);
    let parms = nl::find(opts, TCA_HTB_PARMS).filter(|p| kind == "htb" && p.len() >= HTB_OPT_LEN);
    if let Some(p) = parms {
        let word = |i: usize| nl::u32_at(p, 2 * RATESPEC_LEN + 4 * i).unwrap_or(0);
        let rate64 = |ty, spec: usize| {
            nl::find(opts, ty)
                .and_then(|r| nl::u64_at(r, 0))
                .unwrap_or(nl::u32_at(p, spec + 8).unwrap_or(0) as u64)
        };
        level = word(3);
        htb = Some(HtbClass {
            classid,
            parent,
            rate: rate64(TCA_HTB_RATE64, 0),
            ceil: rate64(TCA_HTB_CEIL64, RATESPEC_LEN),
            buffer: word(0),
            cbuffer: word(1),
            quantum: word(2),
            prio: word(4),
        });
    }
    let leaf_qdisc = (tc.info != 0).then_some(Handle(tc.info));
    let stats = stats(attrs);
    Some(ClassInfo {
        ifindex: tc.ifindex,
        classid,
        parent,
        kind,
        htb,
        level,
        leaf_qdisc,
        stats,
    })
}

impl ClassInfo {
    /// How the kernel reports HTB class `c` on interface `ifindex` (counters zero; `level` and
    /// `leaf_qdisc`, which `diff` does not compare, left unset).
    pub fn of_htb(c: &HtbClass, ifindex: u32) -> ClassInfo {
        ClassInfo {
            ifindex,
            classid: c.classid,
            parent: c.parent,
            kind: "htb".into(),
            htb: Some(*c),
            level: 0,
            leaf_qdisc: None,
            stats: Stats::default(),
        }
    }
}
