//! The bwmon tc egress program.
//!
//! Per packet: find the slice (uid, cgroup or mark, chosen at load time), classify the destination
//! as exempt or not (LPM tries), add the bytes HTB will charge to the slice's per-CPU counters and
//! steer the packet into the slice's HTB class through `skb->priority`. Constant work: a helper
//! call for the slice id, array lookups (a hash lookup only for xids beyond the dense array), one
//! trie lookup for IP packets. It never drops or changes a packet and returns `TC_ACT_UNSPEC`
//! (tcx: "next"), so programs attached after it still run.
#![no_std]
#![no_main]

use aya_ebpf::{
    Global,
    bindings::{__sk_buff, TC_ACT_OK, TC_ACT_UNSPEC, bpf_hdr_start_off::BPF_HDR_START_NET},
    helpers::generated::{
        bpf_get_socket_uid, bpf_sk_fullsock, bpf_skb_cgroup_id, bpf_skb_load_bytes_relative,
    },
    macros::{classifier, map},
    maps::{Array, HashMap, LpmTrie, PerCpuArray, lpm_trie::Key},
    programs::TcContext,
};
use aya_log_ebpf::debug;
use bwmon_common::{
    CLASS_EXEMPT, CLASS_NORMAL, Counters, MODE_BENCH, MODE_CGROUP, MODE_MARK, MODE_UID,
    NORMAL_SHARD_BASE, OVERFLOW_UID, SHARD_MAJOR_END, SLOT_DEFAULT, SUMMARY_EXEMPT,
    SUMMARY_NOT_EXEMPT, SlotClass,
};

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
/// Offset of the destination address in the IPv4 and IPv6 headers.
const IPV4_DST: u32 = 16;
const IPV6_DST: u32 = 24;

/// Slice-id mode, set by the loader (`bwmon_common::GLOBAL_MODE`). Read-only: the verifier
/// prunes the modes not chosen.
#[unsafe(no_mangle)]
static BWMON_MODE: Global<u32> = Global::new(MODE_UID);

/// `MODE_BENCH` only: how many xids the benchmark rotates over.
#[unsafe(no_mangle)]
static BWMON_BENCH_KEYS: Global<u32> = Global::new(1);

#[map(name = "BW_BENCH_SEQ")]
static BW_BENCH_SEQ: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

// Sizes here are defaults; the loader sets the real ones (`max_slices`, `dense_xids`).
#[map(name = "BW_XID_SLOT")]
static BW_XID_SLOT: Array<u32> = Array::pinned(65_536, 0);

#[map(name = "BW_XID_SPARSE")]
static BW_XID_SPARSE: HashMap<u32, u32> = HashMap::pinned(65_536, 0);

#[map(name = "BW_CG_XID")]
static BW_CG_XID: HashMap<u64, u32> = HashMap::pinned(65_536, 0);

#[map(name = "BW_SLOT_CLASS")]
static BW_SLOT_CLASS: Array<SlotClass> = Array::pinned(16_384, 0);

#[map(name = "BW_COUNTERS")]
static BW_COUNTERS: PerCpuArray<Counters> = PerCpuArray::pinned(16_384, 0);

#[map(name = "BW_EXEMPT_V4")]
static BW_EXEMPT_V4: LpmTrie<[u8; 4], u8> = LpmTrie::pinned(16_384, 0);

#[map(name = "BW_EXEMPT_V4S")]
static BW_EXEMPT_V4S: Array<u8> = Array::pinned(65_536, 0);

#[map(name = "BW_EXEMPT_V6")]
static BW_EXEMPT_V6: LpmTrie<[u8; 16], u8> = LpmTrie::pinned(16_384, 0);

#[classifier]
pub fn bwmon_egress(ctx: TcContext) -> i32 {
    let skb = ctx.skb.skb;
    let slot = slot_of(&ctx, skb);
    let class = if is_exempt(skb) {
        CLASS_EXEMPT
    } else {
        CLASS_NORMAL
    };
    // SAFETY: `skb` is the context pointer the kernel passed in; these fields are readable and
    // `priority` writable in a SCHED_CLS program.
    let (wire_len, len) = unsafe { ((*skb).wire_len, (*skb).len) };
    // `wire_len` is what HTB charges (every GSO segment's headers included); 0 only when the
    // qdisc layer has not computed it, then the plain length is the same thing.
    let bytes = u64::from(if wire_len != 0 { wire_len } else { len });
    if let Some(counters) = BW_COUNTERS.get_ptr_mut(slot) {
        // SAFETY: a per-CPU array value of this CPU; no other context writes it concurrently
        // (tc programs run with preemption/migration disabled).
        unsafe {
            (*counters).bytes[class] += bytes;
            (*counters).packets[class] += 1;
        }
    }
    if let Some(steer) = BW_SLOT_CLASS.get(slot) {
        let classid = steer.classid[class];
        if classid != 0 {
            // SAFETY: see above.
            unsafe { (*skb).priority = classid };
        }
    }
    TC_ACT_UNSPEC
}

/// The packet's slot: its slice's counters and class. Unknown slices get `SLOT_DEFAULT`.
#[inline(always)]
fn slot_of(ctx: &TcContext, skb: *mut __sk_buff) -> u32 {
    let xid = match BWMON_MODE.load() {
        MODE_BENCH => bench_xid(),
        MODE_MARK => {
            // SAFETY: readable context field.
            unsafe { (*skb).mark }
        }
        MODE_CGROUP => {
            // SAFETY: helper allowed for SCHED_CLS; returns 0 when the packet has no socket.
            let cgroup = unsafe { bpf_skb_cgroup_id(skb) };
            match BW_CG_XID.get_ptr(cgroup) {
                // SAFETY: a valid pointer into the map's value.
                Some(xid) => unsafe { *xid },
                None => {
                    debug!(ctx, "bwmon: cgroup {} has no slice", cgroup);
                    return SLOT_DEFAULT;
                }
            }
        }
        _ => {
            // SAFETY: helper allowed for SCHED_CLS.
            let uid = unsafe { bpf_get_socket_uid(skb) };
            // The overflow uid is also what packets without a full socket get (ARP, RSTs,
            // timewait): only a real socket makes it the user `nobody`.
            if uid == OVERFLOW_UID && !has_full_socket(skb) {
                return SLOT_DEFAULT;
            }
            uid
        }
    };
    match BW_XID_SLOT.get(xid) {
        Some(slot) => *slot,
        // SAFETY: a valid pointer into the map's value.
        None => BW_XID_SPARSE
            .get_ptr(xid)
            .map_or(SLOT_DEFAULT, |slot| unsafe { *slot }),
    }
}

/// The next xid of the benchmark's rotation.
#[inline(always)]
fn bench_xid() -> u32 {
    match BW_BENCH_SEQ.get_ptr_mut(0) {
        // SAFETY: this CPU's value of a per-CPU array.
        Some(seq) => unsafe {
            *seq = (*seq).wrapping_add(1);
            *seq % BWMON_BENCH_KEYS.load().max(1)
        },
        None => 0,
    }
}

#[inline(always)]
fn has_full_socket(skb: *mut __sk_buff) -> bool {
    // SAFETY: `sk` is a readable context field (PTR_TO_SOCK_COMMON_OR_NULL), checked for null
    // before the helper sees it.
    unsafe {
        let sk = (*skb).__bindgen_anon_2.sk;
        !sk.is_null() && !bpf_sk_fullsock(sk).is_null()
    }
}

/// Whether the destination is exempt: the longest matching prefix says (1 = exempt, 0 = an
/// exception inside a shorter exempt prefix). Non-IP packets are not exempt.
#[inline(always)]
fn is_exempt(skb: *mut __sk_buff) -> bool {
    // SAFETY: readable context field; network byte order in the low 16 bits.
    let proto = u16::from_be(unsafe { (*skb).protocol } as u16);
    if proto == ETH_P_IP {
        let mut dst = [0u8; 4];
        if load_net(skb, IPV4_DST, &mut dst) {
            let block = u32::from(u16::from_be_bytes([dst[0], dst[1]]));
            return match BW_EXEMPT_V4S.get(block).copied() {
                None | Some(SUMMARY_NOT_EXEMPT) => false,
                Some(SUMMARY_EXEMPT) => true,
                Some(_) => BW_EXEMPT_V4.get(Key::new(32, dst)).is_some_and(|v| *v != 0),
            };
        }
    } else if proto == ETH_P_IPV6 {
        let mut dst = [0u8; 16];
        if load_net(skb, IPV6_DST, &mut dst) {
            return BW_EXEMPT_V6
                .get(Key::new(128, dst))
                .is_some_and(|v| *v != 0);
        }
    }
    false
}

/// Copies bytes at `offset` from the network header, whatever the link layer.
#[inline(always)]
fn load_net<const N: usize>(skb: *mut __sk_buff, offset: u32, dst: &mut [u8; N]) -> bool {
    // SAFETY: the helper writes at most `N` bytes into `dst`, which is `N` bytes long.
    unsafe {
        bpf_skb_load_bytes_relative(
            skb.cast(),
            offset,
            dst.as_mut_ptr().cast(),
            N as u32,
            BPF_HDR_START_NET,
        ) == 0
    }
}

/// Classifier for the root HTB qdisc when slices are sharded over nested HTB qdiscs. A leaf's
/// class id is `S:L`, where `S:` is the handle of the nested qdisc and `1:S` the root class that
/// holds it: the root HTB cannot find `S:L` among its own classes, runs this direct-action
/// filter, and gets minor `S` (the filter's class id gives major `1:`). The nested qdisc then
/// finds `S:L` from `skb->priority` by itself. No per-slice filter rules, no map lookup.
#[classifier]
pub fn bwmon_shard(ctx: TcContext) -> i32 {
    let skb = ctx.skb.skb;
    // SAFETY: readable `priority`, writable `tc_classid` in a SCHED_CLS program.
    unsafe {
        let shard = (*skb).priority >> 16;
        // Anything else (socket priorities 0..6, root classes 1:x, foreign values) is left to
        // HTB: returning a class id of 0 would make it `1:0`, the qdisc itself — sent unshaped.
        if shard < u32::from(NORMAL_SHARD_BASE) || shard >= u32::from(SHARD_MAJOR_END) {
            return TC_ACT_UNSPEC;
        }
        (*skb).tc_classid = shard;
    }
    TC_ACT_OK
}

/// Does nothing: the benchmark's baseline.
#[classifier]
pub fn bwmon_noop(_ctx: TcContext) -> i32 {
    TC_ACT_UNSPEC
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
