//! The metrics text, parsed by the Prometheus project's own OpenMetrics parser (Python's
//! `prometheus_client`, installed by `cargo xtask setup`), and the live HTTP endpoint.
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use bwmon::metrics::{CONTENT_TYPE, bind, render, serve};
use bwmon::status::{Health, Node, SCHEMA_VERSION, SliceView, Snapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Parses OpenMetrics text strictly and prints families and samples as JSON (shared with the
/// agent's end-to-end test).
const PARSER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/support/openmetrics_parse.py"
);

#[derive(Debug, serde::Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    unit: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

fn parse(text: &str) -> Vec<Family> {
    let mut child = Command::new("python3")
        .arg(PARSER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the text:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn slice(name: &str, xid: u32) -> SliceView {
    SliceView {
        name: name.into(),
        xid,
        bytes: 6_000_000_000,
        exempt_bytes: 1_000,
        byte_limit: 5_000_000_000,
        exempt_byte_limit: 16_000_000_000,
        threshold: 4_000_000_000,
        exempt_threshold: 12_000_000_000,
        ceil_bps: 1_500_000,
        exempt_ceil_bps: 1_000_000_000,
        capped: true,
        exempt_capped: false,
        period_start: "2023-11-14T00:00:00Z".into(),
        period_end: "2023-11-15T00:00:00Z".into(),
        period_start_unix: 1_699_920_000,
        period_end_unix: 1_700_006_400,
        notified: true,
        sent_bytes: 7_000_000_000,
        sent_exempt_bytes: 2_000,
    }
}

fn snapshot() -> Snapshot {
    let mut nasty = slice("we\"b\\x\ny", 1002);
    nasty.capped = false;
    nasty.bytes = 10;
    Snapshot {
        schema: SCHEMA_VERSION,
        now: "2023-11-14T22:13:20Z".into(),
        now_unix: 1_700_000_000,
        node: Node {
            hostname: "node1".into(),
            interfaces: vec!["eth0".into()],
            node_cap_bps: 100_000_000,
            hardware_max_bps: 1_000_000_000,
            period_secs: 86_400,
            sync_interval_ms: 5000,
            units: "si".into(),
            slice_id: "uid".into(),
        },
        agent: Health {
            version: "0.1.0".into(),
            pid: 42,
            started: "2023-11-14T00:00:00Z".into(),
            last_sync: Some("2023-11-14T22:13:20Z".into()),
            last_sync_unix: Some(1_700_000_000),
            sync_ms: 12.5,
            syncs: 1234,
            errors: 3,
            last_error: Some("x".into()),
            ledger_problem: None,
            slice_list_problem: Some("broken".into()),
            mail_queue: 2,
        },
        slices: vec![slice("web", 1001), nasty],
        dead: vec![slice("old", 7)],
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn value(families: &[Family], sample: &str, l: &[(&str, &str)]) -> f64 {
    let want = labels(l);
    let found: Vec<f64> = families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|(n, ls, _)| n == sample && *ls == want)
        .map(|s| s.2)
        .collect();
    assert_eq!(found.len(), 1, "{sample} {want:?}: {found:?}");
    found[0]
}

fn family<'a>(families: &'a [Family], name: &str) -> &'a Family {
    families.iter().find(|f| f.name == name).expect(name)
}

#[test]
fn rendered_snapshot_parses_with_the_reference_parser() {
    let text = render(&snapshot()).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let f = parse(&text);
    let web = |class| [("slice", "web"), ("xid", "1001"), ("class", class)];
    assert_eq!(value(&f, "bwmon_slice_usage_bytes", &web("normal")), 6e9);
    assert_eq!(value(&f, "bwmon_slice_usage_bytes", &web("exempt")), 1e3);
    assert_eq!(value(&f, "bwmon_slice_limit_bytes", &web("normal")), 5e9);
    assert_eq!(
        value(&f, "bwmon_slice_remaining_bytes", &web("normal")),
        0.0
    );
    assert_eq!(
        value(&f, "bwmon_slice_remaining_bytes", &web("exempt")),
        16e9 - 1e3
    );
    assert_eq!(
        value(&f, "bwmon_slice_threshold_bytes", &web("exempt")),
        12e9
    );
    assert_eq!(
        value(&f, "bwmon_slice_ceiling_bits_per_second", &web("normal")),
        1.5e6
    );
    assert_eq!(value(&f, "bwmon_slice_capped", &web("normal")), 1.0);
    assert_eq!(value(&f, "bwmon_slice_capped", &web("exempt")), 0.0);
    assert_eq!(
        value(
            &f,
            "bwmon_slice_period_end_timestamp_seconds",
            &[("slice", "web"), ("xid", "1001")]
        ),
        1_700_006_400.0
    );
    assert_eq!(
        value(&f, "bwmon_slice_sent_bytes_total", &web("normal")),
        7e9
    );
    // Label values with quotes, backslashes and newlines come back unchanged.
    let nasty = [
        ("slice", "we\"b\\x\ny"),
        ("xid", "1002"),
        ("class", "normal"),
    ];
    assert_eq!(value(&f, "bwmon_slice_usage_bytes", &nasty), 10.0);
    assert_eq!(value(&f, "bwmon_slice_capped", &nasty), 0.0);

    assert_eq!(value(&f, "bwmon_dead_slices", &[]), 1.0);
    assert_eq!(value(&f, "bwmon_sync_duration_seconds", &[]), 0.0125);
    assert_eq!(
        value(&f, "bwmon_last_sync_timestamp_seconds", &[]),
        1_700_000_000.0
    );
    assert_eq!(value(&f, "bwmon_syncs_total", &[]), 1234.0);
    assert_eq!(value(&f, "bwmon_errors_total", &[]), 3.0);
    assert_eq!(value(&f, "bwmon_mail_queue", &[]), 2.0);
    assert_eq!(value(&f, "bwmon_ledger_problem", &[]), 0.0);
    assert_eq!(value(&f, "bwmon_slice_list_problem", &[]), 1.0);
    assert_eq!(value(&f, "bwmon_node_cap_bits_per_second", &[]), 1e8);
    assert_eq!(
        value(
            &f,
            "bwmon_build",
            &[("version", "0.1.0"), ("hostname", "node1")]
        ),
        1.0
    );

    let usage = family(&f, "bwmon_slice_usage_bytes");
    assert_eq!(
        (usage.kind.as_str(), usage.unit.as_str()),
        ("gauge", "bytes")
    );
    assert_eq!(usage.samples.len(), 4, "two slices × two classes");
    assert_eq!(family(&f, "bwmon_syncs").kind, "counter");
    assert_eq!(family(&f, "bwmon_slice_sent_bytes").kind, "counter");
}

#[test]
fn before_the_first_sync_there_is_no_last_sync_time() {
    let mut s = snapshot();
    s.agent.last_sync = None;
    s.agent.last_sync_unix = None;
    s.slices.clear();
    let f = parse(&render(&s).unwrap());
    assert!(
        f.iter()
            .all(|f| f.name != "bwmon_last_sync_timestamp_seconds")
    );
    assert!(family(&f, "bwmon_slice_usage_bytes").samples.is_empty());
    assert_eq!(value(&f, "bwmon_syncs_total", &[]), 1234.0);
}

async fn http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn the_endpoint_serves_the_latest_snapshot() {
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(snapshot()));
    let server = tokio::spawn(serve(listener, rx));

    let response = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("Content-Type: {CONTENT_TYPE}")));
    assert!(head.contains(&format!("Content-Length: {}", body.len())));
    let f = parse(body);
    assert_eq!(value(&f, "bwmon_syncs_total", &[]), 1234.0);

    let mut next = snapshot();
    next.agent.syncs = 1235;
    next.agent.mail_queue = 0;
    tx.send(Arc::new(next)).unwrap();
    let response = http(addr, "GET /metrics?x=1 HTTP/1.0\r\n\r\n").await;
    let f = parse(response.split_once("\r\n\r\n").unwrap().1);
    assert_eq!(value(&f, "bwmon_syncs_total", &[]), 1235.0);
    assert_eq!(value(&f, "bwmon_mail_queue", &[]), 0.0);

    let missing = http(addr, "GET / HTTP/1.1\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
    let post = http(addr, "POST /metrics HTTP/1.1\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    let head = http(addr, "HEAD /metrics HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 ") && head.ends_with("\r\n\r\n"));
    server.abort();
}

#[tokio::test]
async fn binding_a_used_address_fails_with_the_address() {
    let first = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = first.local_addr().unwrap();
    let error = bind(addr).await.unwrap_err();
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}
