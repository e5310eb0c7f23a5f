//! The agent's live state as served on its control socket: the schema `bwmon status --json`
//! prints and `bwmon top` reads. The schema is versioned and kept stable (see the README).
//!
//! Protocol: a client connects to the Unix socket, writes one JSON request on one line, and reads
//! one JSON response on one line; then the server closes the connection.
use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::policy::SliceStatus;

/// Version of the snapshot schema; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// A request on the control socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The whole snapshot.
    Status,
    /// Why a slice has its ceiling and when it lifts, in words.
    Explain { slice: String },
}

/// A response on the control socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    Status(Box<Snapshot>),
    Explain { slice: String, text: String },
    Error { message: String },
}

/// Everything the agent knows, as of its last sync.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema: u32,
    /// When the snapshot was taken (RFC 3339, UTC) and as Unix seconds.
    pub now: String,
    pub now_unix: u64,
    pub node: Node,
    pub agent: Health,
    /// Slices in the slice list (plus `root` and `default`).
    pub slices: Vec<SliceView>,
    /// Deleted slices whose usage is kept until their period ends.
    pub dead: Vec<SliceView>,
}

/// The node's shaping parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub hostname: String,
    pub interfaces: Vec<String>,
    pub node_cap_bps: u64,
    pub hardware_max_bps: u64,
    pub period_secs: u64,
    pub sync_interval_ms: u64,
    /// "si" or "iec": how volumes are shown.
    pub units: String,
    pub slice_id: String,
}

/// The agent's own health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub version: String,
    pub pid: u32,
    pub started: String,
    /// RFC 3339 of the last completed sync; `None` before the first.
    pub last_sync: Option<String>,
    pub last_sync_unix: Option<u64>,
    /// Duration of the last sync, milliseconds.
    pub sync_ms: f64,
    pub syncs: u64,
    /// Errors since start (any subsystem), and the last one.
    pub errors: u64,
    pub last_error: Option<String>,
    /// Set when the ledger could not be used at start (it was set aside under this name).
    pub ledger_problem: Option<String>,
    /// Set when the slice list on disk is broken and the agent runs on its last good one.
    pub slice_list_problem: Option<String>,
    /// E-mails waiting to be (re)sent.
    pub mail_queue: u64,
}

/// One slice. Volumes in bytes, rates in bit/s, times RFC 3339 UTC (and Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceView {
    pub name: String,
    pub xid: u32,
    pub bytes: u64,
    pub exempt_bytes: u64,
    pub byte_limit: u64,
    pub exempt_byte_limit: u64,
    pub threshold: u64,
    pub exempt_threshold: u64,
    pub ceil_bps: u64,
    pub exempt_ceil_bps: u64,
    pub capped: bool,
    pub exempt_capped: bool,
    pub period_start: String,
    pub period_end: String,
    pub period_start_unix: u64,
    pub period_end_unix: u64,
    pub notified: bool,
    /// Cumulative bytes the kernel counted for this slice since its slot was assigned: rates
    /// come from differences of these between two snapshots.
    pub sent_bytes: u64,
    pub sent_exempt_bytes: u64,
}

/// RFC 3339 (UTC, seconds) of a Unix time.
pub fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| format!("@{unix}"), |t| t.to_string())
}

impl SliceView {
    /// The view of a policy status, with the kernel's cumulative counters.
    pub fn new(s: &SliceStatus, sent: [u64; 2]) -> Self {
        Self {
            name: s.name.clone(),
            xid: s.xid,
            bytes: s.bytes,
            exempt_bytes: s.exempt_bytes,
            byte_limit: s.byte_limit,
            exempt_byte_limit: s.exempt_byte_limit,
            threshold: s.threshold,
            exempt_threshold: s.exempt_threshold,
            ceil_bps: s.ceil_bps,
            exempt_ceil_bps: s.exempt_ceil_bps,
            capped: s.capped,
            exempt_capped: s.exempt_capped,
            period_start: rfc3339(s.period_start),
            period_end: rfc3339(s.period_end),
            period_start_unix: s.period_start,
            period_end_unix: s.period_end,
            notified: s.notified,
            sent_bytes: sent[0],
            sent_exempt_bytes: sent[1],
        }
    }
}

/// Errors of a control-socket client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the agent at {path}: {source} (is `bwmon run` running?)")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to the agent at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the agent at {path} answered something unreadable: {source}")]
    Decode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the agent says: {0}")]
    Agent(String),
    #[error(
        "the agent at {path} speaks snapshot schema {found}; this client reads {SCHEMA_VERSION}"
    )]
    Schema { path: PathBuf, found: u32 },
}

/// Sends one request and reads the response.
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let connect = |source| ClientError::Connect {
        path: path.to_owned(),
        source,
    };
    let io = |source| ClientError::Io {
        path: path.to_owned(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(connect)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_vec(req).map_err(|source| ClientError::Decode {
        path: path.to_owned(),
        source,
    })?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(io)?;
    let response: Response =
        serde_json::from_str(&answer).map_err(|source| ClientError::Decode {
            path: path.to_owned(),
            source,
        })?;
    match response {
        Response::Error { message } => Err(ClientError::Agent(message)),
        Response::Status(s) if s.schema != SCHEMA_VERSION => Err(ClientError::Schema {
            path: path.to_owned(),
            found: s.schema,
        }),
        other => Ok(other),
    }
}

/// The agent's snapshot.
pub fn fetch(path: &Path, timeout: Duration) -> Result<Snapshot, ClientError> {
    match request(path, &Request::Status, timeout)? {
        Response::Status(s) => Ok(*s),
        _ => Err(ClientError::Agent("unexpected answer to status".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_lines() {
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        let e = Request::Explain { slice: "a".into() };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"cmd":"explain","slice":"a"}"#
        );
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_231_265), "2026-12-02T17:07:45Z");
        assert_eq!(rfc3339(u64::MAX), format!("@{}", u64::MAX));
    }
}
