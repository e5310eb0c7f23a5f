//! The notify protocol against real `AF_UNIX` datagram sockets the tests bind (a path and an
//! abstract name), the watchdog settings, and the unit file through `systemd-analyze verify`.
use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use bwmon::systemd::{
    NotifyState, SystemdError, encode, monotonic_usec, notify_to, watchdog_interval_from,
};

fn receive(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[test]
fn states_are_sent_as_one_datagram_to_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    notify_to(
        path.as_os_str(),
        &[NotifyState::Ready, NotifyState::Status("syncing 3 slices")],
    )
    .unwrap();
    assert_eq!(receive(&socket), "READY=1\nSTATUS=syncing 3 slices\n");
    notify_to(path.as_os_str(), &[NotifyState::Watchdog]).unwrap();
    assert_eq!(receive(&socket), "WATCHDOG=1\n");
    notify_to(path.as_os_str(), &[NotifyState::Stopping]).unwrap();
    assert_eq!(receive(&socket), "STOPPING=1\n");
}

#[test]
fn abstract_names_start_with_an_at_sign() {
    let name = format!("bwmon-test-notify-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).unwrap();
    let target = format!("@{name}");
    let before = monotonic_usec();
    notify_to(
        OsStr::new(&target),
        &[NotifyState::Reloading {
            monotonic_usec: before,
        }],
    )
    .unwrap();
    assert_eq!(
        receive(&socket),
        format!("RELOADING=1\nMONOTONIC_USEC={before}\n")
    );
}

#[test]
fn status_text_cannot_add_assignments() {
    assert_eq!(
        encode(&[NotifyState::Status("ok\nREADY=1\r\tx")]),
        "STATUS=ok READY=1  x\n"
    );
}

#[test]
fn the_monotonic_clock_agrees_with_proc_uptime_order_of_magnitude() {
    let a = monotonic_usec();
    std::thread::sleep(Duration::from_millis(20));
    let b = monotonic_usec();
    assert!(b >= a + 20_000, "{a} {b}");
    // CLOCK_MONOTONIC counts from boot (without suspend): not more than the boot-time clock.
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((b as f64) / 1e6 <= uptime + 1.0, "{b} vs uptime {uptime}");
}

#[test]
fn a_missing_socket_is_an_error_naming_it() {
    let error = notify_to(
        OsStr::new("/nonexistent/bwmon-notify"),
        &[NotifyState::Ready],
    )
    .unwrap_err();
    assert!(matches!(error, SystemdError::Send { .. }), "{error}");
    assert!(error.to_string().contains("/nonexistent/bwmon-notify"));
    let too_long = "x".repeat(200);
    let error = notify_to(OsStr::new(&too_long), &[NotifyState::Ready]).unwrap_err();
    assert!(matches!(error, SystemdError::Address { .. }), "{error}");
}

/// Run by `notify_reads_notify_socket` in a child process with its own environment (setting
/// variables in this process would race with the other tests).
#[test]
fn child_sends_status_to_notify_socket() {
    bwmon::systemd::notify(&[NotifyState::Status("from the child")]).unwrap();
}

fn run_child(socket: Option<&std::path::Path>) -> std::process::Output {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.args([
        "--exact",
        "child_sends_status_to_notify_socket",
        "--test-threads=1",
    ]);
    match socket {
        Some(path) => child.env("NOTIFY_SOCKET", path),
        None => child.env_remove("NOTIFY_SOCKET"),
    };
    child.output().unwrap()
}

#[test]
fn notify_reads_notify_socket_and_is_a_no_op_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    let with = run_child(Some(&path));
    assert!(with.status.success(), "{with:?}");
    assert_eq!(receive(&socket), "STATUS=from the child\n");
    let without = run_child(None);
    assert!(without.status.success(), "{without:?}");
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert!(socket.recv(&mut buf).is_err(), "nothing was sent");
}

#[test]
fn watchdog_interval_follows_the_variables() {
    let me = 4242;
    assert_eq!(
        watchdog_interval_from(Some("30000000"), None, me),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        watchdog_interval_from(Some("30000000"), Some("4242"), me),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        watchdog_interval_from(Some("30000000"), Some("1"), me),
        None
    );
    assert_eq!(watchdog_interval_from(Some("0"), None, me), None);
    assert_eq!(watchdog_interval_from(Some("junk"), None, me), None);
    assert_eq!(watchdog_interval_from(None, Some("4242"), me), None);
    assert_eq!(watchdog_interval_from(Some("1000"), Some("x"), me), None);
}
