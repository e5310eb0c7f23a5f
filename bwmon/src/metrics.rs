//! The optional Prometheus endpoint: `GET /metrics` on `metrics.listen`, in the OpenMetrics text
//! format, rendered from the agent's latest [`Snapshot`] at each scrape.
//!
//! Per slice (labels `slice`, `xid`, and `class` = `normal`/`exempt` where it applies): usage,
//! limit, remaining bytes, threshold, ceiling, capped (0/1), period end and the kernel's
//! cumulative byte counter. Agent health: last sync duration and time, syncs, errors, mail queue,
//! ledger and slice-list problems. Encoding (names, `_total` suffixes, label escaping) is
//! `prometheus-client`'s.
//!
//! The HTTP server is deliberately tiny: one request per connection, `Connection: close`, head
//! capped at 8 KiB and 10 s.
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::status::{SliceView, Snapshot};

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const MAX_HEAD: usize = 8192;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot listen on {addr} for metrics: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("accepting a metrics connection: {0}")]
    Accept(#[source] std::io::Error),
    #[error("encoding metrics: {0}")]
    Encode(#[from] std::fmt::Error),
}

/// Binds the endpoint's listener (done at start, so a bad address fails early).
pub async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, MetricsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })
}

/// Serves `GET /metrics` from the latest snapshot until accepting fails.
pub async fn serve(
    listener: TcpListener,
    snapshot: watch::Receiver<Arc<Snapshot>>,
) -> Result<(), MetricsError> {
    loop {
        let (stream, peer) = listener.accept().await.map_err(MetricsError::Accept)?;
        let snapshot = snapshot.borrow().clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &snapshot).await {
                tracing::debug!(%peer, error = %e, "metrics request failed");
            }
        });
    }
}

async fn answer(mut stream: TcpStream, snapshot: &Snapshot) -> std::io::Result<()> {
    let head = tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => match render(snapshot) {
            Ok(text) => ("200 OK", CONTENT_TYPE, text),
            Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
        },
        (_, "/metrics") => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
        _ => ("404 Not Found", "text/plain", "try /metrics\n".into()),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Reads up to the blank line ending the request head.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_HEAD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The snapshot in the OpenMetrics text format (ending in `# EOF`).
pub fn render(snapshot: &Snapshot) -> Result<String, MetricsError> {
    let mut registry = Registry::with_prefix("bwmon");
    registry.register_collector(Box::new(SnapshotCollector(Arc::new(snapshot.clone()))));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

#[derive(Debug)]
struct SnapshotCollector(Arc<Snapshot>);

type Labels = Vec<(&'static str, String)>;

fn slice_labels(s: &SliceView) -> Labels {
    vec![("slice", s.name.clone()), ("xid", s.xid.to_string())]
}

fn class_labels(s: &SliceView, class: &str) -> Labels {
    let mut labels = slice_labels(s);
    labels.push(("class", class.to_owned()));
    labels
}

/// One metric family: a descriptor and one sample per label set.
fn family<V: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    (name, help, unit): (&str, &str, Option<Unit>),
    samples: impl IntoIterator<Item = (Labels, V)>,
    metric_type: MetricType,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, unit.as_ref(), metric_type)?;
    for (labels, value) in samples {
        value.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauges<N>(
    encoder: &mut DescriptorEncoder,
    descriptor: (&str, &str, Option<Unit>),
    samples: impl IntoIterator<Item = (Labels, N)>,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<N>: EncodeMetric,
{
    let samples = samples.into_iter().map(|(l, v)| (l, ConstGauge::new(v)));
    family(encoder, descriptor, samples, MetricType::Gauge)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    descriptor: (&str, &str, Option<Unit>),
    value: u64,
) -> Result<(), std::fmt::Error> {
    let samples = [(Labels::new(), ConstCounter::new(value))];
    family(encoder, descriptor, samples, MetricType::Counter)
}

/// A descriptor without a unit.
fn one<'a>(name: &'a str, help: &'a str) -> (&'a str, &'a str, Option<Unit>) {
    (name, help, None)
}

/// Per-class values of every slice: (normal, exempt).
fn per_class<'a>(
    slices: &'a [SliceView],
    value: impl Fn(&SliceView) -> (u64, u64) + 'a,
) -> impl Iterator<Item = (Labels, u64)> + 'a {
    slices.iter().flat_map(move |s| {
        let (normal, exempt) = value(s);
        [
            (class_labels(s, "normal"), normal),
            (class_labels(s, "exempt"), exempt),
        ]
    })
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = &self.0;
        let slices = snap.slices.as_slice();
        let bytes = Some(Unit::Bytes);
        let bps = Some(Unit::Other("bits_per_second".into()));
        let seconds = Some(Unit::Seconds);

        gauges(
            &mut e,
            (
                "slice_usage",
                "Bytes sent in the current period.",
                bytes.clone(),
            ),
            per_class(slices, |s| (s.bytes, s.exempt_bytes)),
        )?;
        gauges(
            &mut e,
            ("slice_limit", "Bytes allowed per period.", bytes.clone()),
            per_class(slices, |s| (s.byte_limit, s.exempt_byte_limit)),
        )?;
        gauges(
            &mut e,
            (
                "slice_remaining",
                "Bytes left in the period (limit - usage, at least 0).",
                bytes.clone(),
            ),
            per_class(slices, |s| {
                (
                    s.byte_limit.saturating_sub(s.bytes),
                    s.exempt_byte_limit.saturating_sub(s.exempt_bytes),
                )
            }),
        )?;
        gauges(
            &mut e,
            (
                "slice_threshold",
                "Usage at which the slice is capped.",
                bytes.clone(),
            ),
            per_class(slices, |s| (s.threshold, s.exempt_threshold)),
        )?;
        gauges(
            &mut e,
            ("slice_ceiling", "Current HTB ceiling.", bps.clone()),
            per_class(slices, |s| (s.ceil_bps, s.exempt_ceil_bps)),
        )?;
        gauges(
            &mut e,
            one(
                "slice_capped",
                "1 while the class is capped for passing its threshold.",
            ),
            per_class(slices, |s| {
                (u64::from(s.capped), u64::from(s.exempt_capped))
            }),
        )?;
        gauges(
            &mut e,
            (
                "slice_period_end_timestamp",
                "When the slice's period ends (Unix time).",
                seconds.clone(),
            ),
            slices.iter().map(|s| (slice_labels(s), s.period_end_unix)),
        )?;
        // Cumulative since the slice's slot was assigned: use rate() for throughput.
        family(
            &mut e,
            (
                "slice_sent",
                "Bytes the kernel counted since the slice's slot was assigned.",
                bytes.clone(),
            ),
            per_class(slices, |s| (s.sent_bytes, s.sent_exempt_bytes))
                .map(|(l, v)| (l, ConstCounter::new(v))),
            MetricType::Counter,
        )?;
        gauges(
            &mut e,
            one(
                "dead_slices",
                "Deleted slices whose usage is kept until their period ends.",
            ),
            [(Labels::new(), snap.dead.len() as u64)],
        )?;

        let agent = &snap.agent;
        gauges(
            &mut e,
            (
                "sync_duration",
                "Duration of the last sync.",
                seconds.clone(),
            ),
            [(Labels::new(), agent.sync_ms / 1000.0)],
        )?;
        if let Some(last) = agent.last_sync_unix {
            gauges(
                &mut e,
                (
                    "last_sync_timestamp",
                    "When the last sync completed (Unix time).",
                    seconds,
                ),
                [(Labels::new(), last)],
            )?;
        }
        counter(
            &mut e,
            one("syncs", "Syncs completed since start."),
            agent.syncs,
        )?;
        counter(
            &mut e,
            one("errors", "Errors since start, any subsystem."),
            agent.errors,
        )?;
        gauges(
            &mut e,
            one("mail_queue", "E-mails waiting to be (re)sent."),
            [(Labels::new(), agent.mail_queue)],
        )?;
        gauges(
            &mut e,
            one(
                "ledger_problem",
                "1 if the ledger was unusable at start and set aside.",
            ),
            [(Labels::new(), u64::from(agent.ledger_problem.is_some()))],
        )?;
        gauges(
            &mut e,
            one(
                "slice_list_problem",
                "1 while the agent runs on its last good slice list.",
            ),
            [(Labels::new(), u64::from(agent.slice_list_problem.is_some()))],
        )?;
        gauges(
            &mut e,
            (
                "node_cap",
                "Ceiling of all normal-class traffic together.",
                bps,
            ),
            [(Labels::new(), snap.node.node_cap_bps)],
        )?;
        family(
            &mut e,
            one("build", "The agent's version and host."),
            [(
                vec![
                    ("version", agent.version.clone()),
                    ("hostname", snap.node.hostname.clone()),
                ],
                ConstGauge::new(1u64),
            )],
            MetricType::Gauge,
        )
    }
}
