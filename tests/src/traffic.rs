//! Traffic generators that run inside a test namespace as a chosen uid.
//!
//! A socket belongs to the fsuid of the thread that creates it (`sock_alloc` records
//! `current_fsuid()`, which becomes `sk_uid`). Each generator runs on its own thread that enters
//! the namespace and sets its fsuid, a per-thread credential, so the test process stays root.
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    time::Duration,
};

use anyhow::{Context, Result};

use crate::netns::NetNs;

/// Creates a socket with `make` as `uid`, then restores the thread's fsuid.
fn as_uid<T>(uid: u32, make: impl FnOnce() -> std::io::Result<T>) -> Result<T> {
    // SAFETY: setfsuid only changes this thread's filesystem uid; it cannot fail in a way that
    // leaves memory unsafe, and the previous value is restored below.
    let previous = unsafe { libc::setfsuid(uid) };
    let made = make();
    // SAFETY: as above.
    unsafe { libc::setfsuid(previous as u32) };
    Ok(made?)
}

/// Sends `count` UDP datagrams of `payload` bytes from `ns` to `dst` as `uid`.
pub fn udp_as(ns: &NetNs, uid: u32, dst: SocketAddr, payload: usize, count: usize) -> Result<()> {
    ns.run_in(move || {
        let bind: SocketAddr = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
        let socket = as_uid(uid, || UdpSocket::bind(bind))?;
        let data = vec![0x5a; payload];
        for _ in 0..count {
            socket.send_to(&data, dst).context("send_to")?;
        }
        Ok(())
    })
}

/// Like `udp_as`, paced: `count` datagrams spread over about `over`.
pub fn udp_paced_as(
    ns: &NetNs,
    uid: u32,
    dst: SocketAddr,
    payload: usize,
    count: usize,
    over: Duration,
) -> Result<()> {
    paced(ns, uid, dst, payload, count, over, false).map(drop)
}

/// Like `udp_paced_as`, but never blocks: a datagram the socket has no room for (because the
/// slice's class is shaped and its queue is full) is skipped. Returns how many were sent, so a
/// test can stop as soon as a volume is reached and does not hang behind a low ceiling.
pub fn udp_paced_lossy_as(
    ns: &NetNs,
    uid: u32,
    dst: SocketAddr,
    payload: usize,
    count: usize,
    over: Duration,
) -> Result<usize> {
    paced(ns, uid, dst, payload, count, over, true)
}

fn paced(
    ns: &NetNs,
    uid: u32,
    dst: SocketAddr,
    payload: usize,
    count: usize,
    over: Duration,
    lossy: bool,
) -> Result<usize> {
    ns.run_in(move || {
        let socket = as_uid(uid, || UdpSocket::bind("0.0.0.0:0"))?;
        socket.set_nonblocking(lossy)?;
        let data = vec![0x5a; payload];
        let start = std::time::Instant::now();
        let mut sent = 0;
        for i in 0..count {
            let due = over.mul_f64(i as f64 / count as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            match socket.send_to(&data, dst) {
                Ok(_) => sent += 1,
                Err(e) if lossy && e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).context("send_to"),
            }
        }
        Ok(sent)
    })
}

/// A TCP sink in `ns` on `addr`: accepts one connection and returns how many bytes it read.
pub fn tcp_sink(ns: &NetNs, addr: SocketAddr) -> Result<std::thread::JoinHandle<Result<u64>>> {
    let listener = ns.run_in(move || Ok(TcpListener::bind(addr)?))?;
    Ok(std::thread::spawn(move || {
        let (mut conn, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            match conn.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    }))
}

/// Sends `bytes` over one TCP connection from `ns` to `dst` as `uid`.
pub fn tcp_as(ns: &NetNs, uid: u32, dst: SocketAddr, bytes: u64) -> Result<()> {
    ns.run_in(move || {
        let mut stream = as_uid(uid, || {
            TcpStream::connect_timeout(&dst, Duration::from_secs(5))
        })?;
        let chunk = vec![0x42u8; 1 << 16];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            stream.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        stream.shutdown(std::net::Shutdown::Write)?;
        // Wait for the sink to close, so every segment has left before we count.
        let mut rest = [0u8; 1];
        let _ = stream.read(&mut rest);
        Ok(())
    })
}
