//! The real `TcBackend`: a blocking NETLINK_ROUTE socket. Requests are pipelined: up to
//! `WINDOW` messages go out in one `sendmsg` (the kernel handles them in order and acks each),
//! then their acks are read. Blocking on purpose: a sync is a burst of syscalls that completes in
//! milliseconds; the agent runs it on a blocking thread.
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::ShapingError;
use super::diff::Op;
use super::executor::TcBackend;
use super::handle::Handle;
use super::htb::{self, BpfFilter, ClassInfo, HtbQdisc, LeafPlace, Mode, QdiscInfo};
use super::nl;

/// Requests in flight: their acks (~600 bytes of socket buffer each) must fit the default
/// receive buffer (208 KiB).
const WINDOW: usize = 128;
const RECV_BUF: usize = 1 << 18;
/// `NLM_F_CAPPED` in an ack: the request is not echoed, only its header.
const NLM_F_CAPPED: u16 = 0x100;

pub struct NetlinkBackend {
    sock: Socket,
    seq: u32,
    rx: Vec<u8>,
    progress: Option<Box<dyn Fn() + Send>>,
}

impl NetlinkBackend {
    /// Opens a socket in the calling thread's network namespace.
    pub fn new() -> Result<Self, ShapingError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(ShapingError::Socket)?;
        sock.bind_auto().map_err(ShapingError::Socket)?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(ShapingError::Socket)?;
        sock.set_ext_ack(true).map_err(ShapingError::Socket)?;
        sock.set_cap_ack(true).map_err(ShapingError::Socket)?;
        Ok(NetlinkBackend {
            sock,
            seq: 1,
            rx: Vec::with_capacity(RECV_BUF),
            progress: None,
        })
    }

    /// Calls `f` each time the kernel answers (a window of acks, a dump buffer): a long sync,
    /// such as building a tree of 100,000 classes, shows it is moving (the agent's watchdog).
    pub fn on_progress(&mut self, f: impl Fn() + Send + 'static) {
        self.progress = Some(Box::new(f));
    }

    fn progressed(&self) {
        if let Some(f) = &self.progress {
            f();
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn recv(&mut self) -> Result<(), ShapingError> {
        self.rx.clear();
        self.sock
            .recv(&mut self.rx, 0)
            .map_err(ShapingError::Socket)?;
        self.progressed();
        Ok(())
    }

    /// Sends a dump request and decodes every reply message with `decode`.
    fn dump<T>(
        &mut self,
        msg_type: u16,
        ifindex: u32,
        parent: Handle,
        decode: impl Fn(u16, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>, ShapingError> {
        let seq = self.next_seq();
        let req = htb::dump_request(Vec::new(), seq, msg_type, ifindex, parent);
        self.sock.send(&req, 0).map_err(ShapingError::Socket)?;
        let mut out = Vec::new();
        loop {
            self.recv()?;
            let msgs = nl::messages(&self.rx).ok_or(ShapingError::Malformed("dump reply"))?;
            for m in msgs.iter().filter(|m| m.seq == seq) {
                match m.msg_type {
                    nl::NLMSG_DONE => return Ok(out),
                    nl::NLMSG_ERROR => return ack_result(m).map(|_| out),
                    t => out.extend(decode(t, m.payload)),
                }
            }
        }
    }

    /// Sends pre-encoded requests `WINDOW` at a time and checks every ack. `describe(i)` names
    /// request `i` in an error.
    fn exchange(
        &mut self,
        count: usize,
        mut encode: impl FnMut(usize, Vec<u8>, u32) -> Vec<u8>,
        describe: impl Fn(usize) -> String,
    ) -> Result<(), ShapingError> {
        let mut first_err: Option<ShapingError> = None;
        let mut failed = 0;
        let mut start = 0;
        while start < count {
            let end = (start + WINDOW).min(count);
            let base = self.seq.wrapping_add(1);
            let mut buf = Vec::new();
            for i in start..end {
                let seq = self.next_seq();
                buf = encode(i, buf, seq);
            }
            self.sock.send(&buf, 0).map_err(ShapingError::Socket)?;
            let mut pending = end - start;
            while pending > 0 {
                self.recv()?;
                let msgs = nl::messages(&self.rx).ok_or(ShapingError::Malformed("ack"))?;
                for m in msgs.iter().filter(|m| m.msg_type == nl::NLMSG_ERROR) {
                    let index = start + m.seq.wrapping_sub(base) as usize;
                    if index >= end {
                        continue; // a stale ack from an earlier, failed exchange
                    }
                    pending -= 1;
                    if let Err((errno, message)) = ack_result(m).map_err(kernel_parts) {
                        failed += 1;
                        first_err.get_or_insert(ShapingError::Kernel {
                            index,
                            op: describe(index),
                            errno,
                            message,
                            failed: 0,
                        });
                    }
                }
            }
            start = end;
        }
        first_err.map_or(Ok(()), |e| Err(e.batch_failed(failed)))
    }
}

fn kernel_parts(e: ShapingError) -> (i32, String) {
    match e {
        ShapingError::Kernel { errno, message, .. } => (errno, message),
        other => (libc::EIO, other.to_string()),
    }
}

/// An ack's outcome: `Ok` for error 0, else the errno and the extended ack message (or the
/// errno's description).
fn ack_result(m: &nl::RawMsg<'_>) -> Result<(), ShapingError> {
    let code = nl::u32_at(m.payload, 0).ok_or(ShapingError::Malformed("ack"))? as i32;
    if code == 0 {
        return Ok(());
    }
    let errno = -code;
    let orig_len = nl::u32_at(m.payload, 4).unwrap_or(0) as usize;
    let skip = if m.flags & NLM_F_CAPPED != 0 {
        4 + nl::NLMSG_HDR_LEN
    } else {
        4 + orig_len
    };
    let ext = if m.flags & nl::NLM_F_ACK_TLVS != 0 {
        m.payload
            .get(skip.next_multiple_of(4)..)
            .and_then(|t| nl::find(t, nl::NLMSGERR_ATTR_MSG))
    } else {
        None
    };
    let message = match ext {
        Some(msg) => nl::string(msg),
        None => std::io::Error::from_raw_os_error(errno).to_string(),
    };
    Err(ShapingError::Kernel {
        index: 0,
        op: String::new(),
        errno,
        message,
        failed: 1,
    })
}

fn encode_op(op: &Op, buf: Vec<u8>, seq: u32, ifindex: u32) -> Vec<u8> {
    match op {
        Op::AddQdisc(qdisc) => htb::qdisc_htb(buf, seq, ifindex, qdisc, Mode::Add),
        Op::SetLeaf { parent, leaf } => {
            let at = LeafPlace {
                parent: *parent,
                handle: Handle(0),
                mode: Mode::Replace,
            };
            htb::qdisc_leaf(buf, seq, ifindex, at, leaf)
        }
        Op::DelQdisc { parent, handle } => htb::qdisc_del(buf, seq, ifindex, *parent, *handle),
        Op::AddClass(c) => htb::class_htb(buf, seq, ifindex, c, Mode::Add),
        Op::ChangeClass(c) => htb::class_htb(buf, seq, ifindex, c, Mode::Change),
        Op::DelClass(id) => htb::class_del(buf, seq, ifindex, *id),
    }
}

/// How an op is named in errors: its variant and the ids involved (and the leaf kind).
pub(crate) fn describe(op: &Op) -> String {
    match op {
        Op::AddQdisc(HtbQdisc { handle, parent, .. }) => {
            format!("add htb qdisc {handle} at {parent}")
        }
        Op::SetLeaf { parent, leaf } => format!("set leaf qdisc {} under {parent}", leaf.kind()),
        Op::DelQdisc { parent, handle } => format!("delete qdisc {handle} at {parent}"),
        Op::AddClass(c) => format!("add class {} under {}", c.classid, c.parent),
        Op::ChangeClass(c) => format!("change class {}", c.classid),
        Op::DelClass(id) => format!("delete class {id}"),
    }
}

impl TcBackend for NetlinkBackend {
    fn read_qdiscs(&mut self, ifindex: u32) -> Result<Vec<QdiscInfo>, ShapingError> {
        let qdiscs = self.dump(nl::RTM_GETQDISC, ifindex, Handle(0), |t, p| {
            (t == nl::RTM_NEWQDISC)
                .then(|| htb::decode_qdisc(p))
                .flatten()
        })?;
        // The kernel dumps every interface's qdiscs.
        Ok(qdiscs
            .into_iter()
            .filter(|q| q.ifindex == ifindex)
            .collect())
    }

    fn read_classes(
        &mut self,
        ifindex: u32,
        parent: Handle,
    ) -> Result<Vec<ClassInfo>, ShapingError> {
        let classes = self.dump(nl::RTM_GETTCLASS, ifindex, parent, |t, p| {
            (t == nl::RTM_NEWTCLASS)
                .then(|| htb::decode_class(p))
                .flatten()
        })?;
        Ok(classes
            .into_iter()
            .filter(|c| c.ifindex == ifindex)
            .filter(|c| parent.0 == 0 || c.classid.qdisc() == parent)
            .collect())
    }

    fn apply(&mut self, ifindex: u32, ops: &[Op]) -> Result<(), ShapingError> {
        self.exchange(
            ops.len(),
            |i, buf, seq| encode_op(&ops[i], buf, seq, ifindex),
            |i| describe(&ops[i]),
        )
    }

    fn attach_filter(
        &mut self,
        ifindex: u32,
        filter: &BpfFilter,
        prog: BorrowedFd<'_>,
    ) -> Result<(), ShapingError> {
        let fd = prog.as_raw_fd();
        self.exchange(
            1,
            |_, buf, seq| htb::filter_bpf(buf, seq, ifindex, filter, fd),
            |_| format!("attach cls_bpf filter {} at {}", filter.name, filter.parent),
        )
    }
}
