//! The systemd notify protocol (`sd_notify(3)`) and the watchdog settings, for `Type=notify`.
//!
//! Written here rather than taken from the `sd-notify` crate because that crate only sends to
//! `$NOTIFY_SOCKET`: tests (which run in parallel and must not set process-wide environment
//! variables) need to give the socket explicitly, which [`notify_to`] does. The protocol is one
//! datagram of `KEY=VALUE` lines to an `AF_UNIX` socket, a path or an abstract name written with
//! a leading `@`.
use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// One assignment sent to the service manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyState<'a> {
    /// `READY=1`: start-up finished (or a reload did).
    Ready,
    /// `RELOADING=1` with `MONOTONIC_USEC`, the `CLOCK_MONOTONIC` time the reload started (see
    /// [`monotonic_usec`]).
    Reloading { monotonic_usec: u64 },
    /// `STOPPING=1`.
    Stopping,
    /// `STATUS=…`, one line shown by `systemctl status`; line breaks become spaces.
    Status(&'a str),
    /// `WATCHDOG=1`: keep-alive ping.
    Watchdog,
}

impl NotifyState<'_> {
    fn write(&self, out: &mut String) {
        match self {
            NotifyState::Ready => out.push_str("READY=1"),
            NotifyState::Reloading { monotonic_usec } => {
                out.push_str(&format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}"));
            }
            NotifyState::Stopping => out.push_str("STOPPING=1"),
            NotifyState::Status(text) => {
                out.push_str("STATUS=");
                out.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
            }
            NotifyState::Watchdog => out.push_str("WATCHDOG=1"),
        }
    }
}

/// The datagram for `states`: one assignment per line.
pub fn encode(states: &[NotifyState]) -> String {
    let mut out = String::new();
    for state in states {
        state.write(&mut out);
        out.push('\n');
    }
    out
}

/// Errors of the notify protocol.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("NOTIFY_SOCKET {socket:?} is not a usable socket address: {source}")]
    Address {
        socket: String,
        #[source]
        source: std::io::Error,
    },
    #[error("notifying systemd at {socket:?}: {source}")]
    Send {
        socket: String,
        #[source]
        source: std::io::Error,
    },
}

/// Sends `states` to `$NOTIFY_SOCKET`; does nothing without it (not started by systemd).
pub fn notify(states: &[NotifyState]) -> Result<(), SystemdError> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) => notify_to(&socket, states),
        None => Ok(()),
    }
}

/// Sends `states` to the socket `socket`: a path, or an abstract name starting with `@`.
pub fn notify_to(socket: &OsStr, states: &[NotifyState]) -> Result<(), SystemdError> {
    let name = || socket.to_string_lossy().into_owned();
    let address = |source| SystemdError::Address {
        socket: name(),
        source,
    };
    let bytes = socket.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name),
        None => SocketAddr::from_pathname(socket),
    }
    .map_err(address)?;
    let send = |source| SystemdError::Send {
        socket: name(),
        source,
    };
    let datagram = encode(states);
    let sender = UnixDatagram::unbound().map_err(send)?;
    let sent = sender
        .send_to_addr(datagram.as_bytes(), &addr)
        .map_err(send)?;
    if sent == datagram.len() {
        Ok(())
    } else {
        Err(send(std::io::Error::other("datagram truncated")))
    }
}

/// How often systemd expects `WATCHDOG=1` (`WatchdogSec=`), from `$WATCHDOG_USEC` and
/// `$WATCHDOG_PID`; `None` when the watchdog is off or meant for another process. Ping at
/// half this interval.
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// [`watchdog_interval`] from the variables' values and this process's id.
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Option<Duration> {
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok()? != own_pid
    {
        return None;
    }
    match usec?.trim().parse::<u64>().ok()? {
        0 => None,
        usec => Some(Duration::from_micros(usec)),
    }
}

/// `CLOCK_MONOTONIC` now, in microseconds: the `MONOTONIC_USEC` of [`NotifyState::Reloading`].
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(nanos / 1_000)
}
