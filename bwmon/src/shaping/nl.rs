//! Minimal rtnetlink traffic-control message codec: `nlmsghdr` + `tcmsg` + (nested) attributes.
//!
//! netlink-packet-route has no HTB or cls_bpf options and no class add/change/delete, so the few
//! messages bwmon needs are written and read here, byte for byte as iproute2's `tc` writes them
//! (see the fixtures in `testdata/` and the tests in `htb`).

/// Message types (linux/rtnetlink.h).
pub const RTM_NEWQDISC: u16 = 36;
pub const RTM_DELQDISC: u16 = 37;
pub const RTM_GETQDISC: u16 = 38;
pub const RTM_NEWTCLASS: u16 = 40;
pub const RTM_DELTCLASS: u16 = 41;
pub const RTM_GETTCLASS: u16 = 42;
pub const RTM_NEWTFILTER: u16 = 44;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

/// Header flags (linux/netlink.h).
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
/// `NLMSG_ERROR` flag: the ack carries TLVs (extended ack).
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: the extended ack's message string.
pub const NLMSGERR_ATTR_MSG: u16 = 1;

/// `TCA_*` attributes of a tcmsg (linux/rtnetlink.h).
pub const TCA_KIND: u16 = 1;
pub const TCA_OPTIONS: u16 = 2;
pub const TCA_STATS2: u16 = 7;
/// `TCA_STATS_BASIC` inside `TCA_STATS2` (linux/gen_stats.h).
pub const TCA_STATS_BASIC: u16 = 1;
/// `TC_H_ROOT`: the parent of a root qdisc.
pub const TC_H_ROOT: u32 = 0xFFFF_FFFF;

pub const NLMSG_HDR_LEN: usize = 16;
pub const TCMSG_LEN: usize = 20;
const NLA_HDR_LEN: usize = 4;
/// `NLA_F_NESTED | NLA_F_NET_BYTEORDER`: flag bits of `nla_type`.
const NLA_TYPE_MASK: u16 = 0x3FFF;

/// `struct tcmsg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcMsg {
    pub ifindex: u32,
    pub handle: u32,
    pub parent: u32,
    pub info: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Writes one netlink message: header, tcmsg, then attributes; `finish` sets `nlmsg_len`.
pub struct MsgWriter {
    buf: Vec<u8>,
    start: usize,
}

impl MsgWriter {
    /// Starts a message at the end of `buf` (several messages can share one buffer).
    pub fn begin(mut buf: Vec<u8>, msg_type: u16, flags: u16, seq: u32, tc: TcMsg) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel fills it in
        buf.extend_from_slice(&[0u8; 4]); // family AF_UNSPEC + padding
        buf.extend_from_slice(&tc.ifindex.to_ne_bytes());
        buf.extend_from_slice(&tc.handle.to_ne_bytes());
        buf.extend_from_slice(&tc.parent.to_ne_bytes());
        buf.extend_from_slice(&tc.info.to_ne_bytes());
        Self { buf, start }
    }

    /// Appends an attribute (padded to 4 bytes).
    pub fn attr(&mut self, ty: u16, payload: &[u8]) {
        let len = NLA_HDR_LEN + payload.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(self.buf.len() + align4(len) - len, 0);
    }

    /// Opens a nested attribute; close it with `end_nest(start)`.
    pub fn begin_nest(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.attr(ty, &[]);
        at
    }

    pub fn end_nest(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Sets `nlmsg_len` and hands the buffer back.
    pub fn finish(mut self) -> Vec<u8> {
        let len = (self.buf.len() - self.start) as u32;
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// One netlink message read from a buffer.
#[derive(Clone, Copy, Debug)]
pub struct RawMsg<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    /// Everything after the 16-byte header.
    pub payload: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Splits a receive buffer into messages; `None` if a length field is inconsistent.
pub fn messages(mut buf: &[u8]) -> Option<Vec<RawMsg<'_>>> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDR_LEN {
        let len = u32_at(buf, 0)? as usize;
        if len < NLMSG_HDR_LEN || len > buf.len() {
            return None;
        }
        out.push(RawMsg {
            msg_type: u16_at(buf, 4)?,
            flags: u16_at(buf, 6)?,
            seq: u32_at(buf, 8)?,
            payload: &buf[NLMSG_HDR_LEN..len],
        });
        buf = &buf[align4(len).min(buf.len())..];
    }
    Some(out)
}

/// Reads the tcmsg at the start of a message payload; the rest are its attributes.
pub fn tcmsg(payload: &[u8]) -> Option<(TcMsg, &[u8])> {
    let tc = TcMsg {
        ifindex: u32_at(payload, 4)?,
        handle: u32_at(payload, 8)?,
        parent: u32_at(payload, 12)?,
        info: u32_at(payload, 16)?,
    };
    Some((tc, payload.get(TCMSG_LEN..)?))
}

/// Iterates over the attributes of a buffer as `(type, payload)`; stops at the first malformed one.
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u16_at(buf, 0)? as usize;
        let ty = u16_at(buf, 2)? & NLA_TYPE_MASK;
        if len < NLA_HDR_LEN || len > buf.len() {
            return None;
        }
        let payload = &buf[NLA_HDR_LEN..len];
        buf = &buf[align4(len).min(buf.len())..];
        Some((ty, payload))
    })
}

/// The first attribute of type `ty`.
pub fn find(buf: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(buf).find(|(t, _)| *t == ty).map(|(_, p)| p)
}

/// A NUL-terminated string attribute.
pub fn string(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_reader_agree() {
        let tc = TcMsg {
            ifindex: 7,
            handle: 0x10001,
            parent: TC_H_ROOT,
            info: 0,
        };
        let mut w = MsgWriter::begin(Vec::new(), RTM_NEWTCLASS, NLM_F_REQUEST, 9, tc);
        w.attr(TCA_KIND, b"htb\0");
        let nest = w.begin_nest(TCA_OPTIONS);
        w.attr(5, &[1, 2, 3]);
        w.end_nest(nest);
        let buf = w.finish();
        assert_eq!(buf.len(), 16 + 20 + 8 + 4 + 8);
        let msgs = messages(&buf).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!((msgs[0].msg_type, msgs[0].seq), (RTM_NEWTCLASS, 9));
        let (got, rest) = tcmsg(msgs[0].payload).unwrap();
        assert_eq!(got, tc);
        assert_eq!(string(find(rest, TCA_KIND).unwrap()), "htb");
        let opts = find(rest, TCA_OPTIONS).unwrap();
        assert_eq!(find(opts, 5).unwrap(), &[1, 2, 3]);
    }

    #[test]
    fn malformed_lengths_are_rejected() {
        assert!(messages(&[40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert_eq!(attrs(&[2, 0, 1, 0]).count(), 0);
        assert_eq!(attrs(&[200, 0, 1, 0]).count(), 0);
    }
}
