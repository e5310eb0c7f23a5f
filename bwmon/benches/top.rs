//! One `bwmon top` frame with 30,000 slices — model update (rates, projections), sort, filter and
//! render into a 200x50 TestBackend — against the same with 100 slices, in the same process.
//! Run: `cargo bench -p bwmon --bench top`.
use std::hint::black_box;
use std::time::{Duration, Instant};

use bwmon::status::{Health, Node, SCHEMA_VERSION, SliceView, Snapshot, rfc3339};
use bwmon::top::model::{Model, Sort, SortColumn};
use bwmon::top::state::UiState;
use bwmon::top::view;
use ratatui::{Terminal, backend::TestBackend};

const T0: u64 = 1_796_169_600;
const RUNS: u64 = 9;

fn slice(i: u64, k: u64) -> SliceView {
    let x = i.wrapping_mul(6_364_136_223_846_793_005).rotate_left(17);
    let sent = (x % 5_000_000) * k;
    let bytes = x % 12_000_000_000 + sent;
    SliceView {
        name: format!("pl_slice{i:06}"),
        xid: 1000 + i as u32,
        bytes,
        exempt_bytes: sent / 4,
        byte_limit: 10_000_000_000,
        exempt_byte_limit: 20_000_000_000,
        threshold: 8_000_000_000,
        exempt_threshold: 16_000_000_000,
        ceil_bps: 100_000_000,
        exempt_ceil_bps: 1_000_000_000,
        capped: bytes >= 8_000_000_000,
        exempt_capped: false,
        period_start: rfc3339(T0),
        period_end: rfc3339(T0 + 86_400),
        period_start_unix: T0,
        period_end_unix: T0 + 86_400,
        notified: false,
        sent_bytes: sent,
        sent_exempt_bytes: sent / 4,
    }
}

fn snapshot(n: u64, k: u64) -> Snapshot {
    let now = T0 + 3600 + k;
    Snapshot {
        schema: SCHEMA_VERSION,
        now: rfc3339(now),
        now_unix: now,
        node: Node {
            hostname: "bench".to_owned(),
            interfaces: vec!["eth0".to_owned()],
            node_cap_bps: 1_000_000_000,
            hardware_max_bps: 10_000_000_000,
            period_secs: 86_400,
            sync_interval_ms: 1000,
            units: "si".to_owned(),
            slice_id: "uid".to_owned(),
        },
        agent: Health {
            version: "0.1.0".to_owned(),
            pid: 1,
            started: rfc3339(T0),
            last_sync: Some(rfc3339(now)),
            last_sync_unix: Some(now),
            sync_ms: 1.0,
            syncs: k,
            errors: 0,
            last_error: None,
            ledger_problem: None,
            slice_list_problem: None,
            mail_queue: 0,
        },
        slices: (0..n).map(|i| slice(i, k)).collect(),
        dead: Vec::new(),
    }
}

/// Median times of (snapshot → model update, sort change, one frame drawn), milliseconds.
fn bench(n: u64) -> [f64; 3] {
    let mut model = Model::new();
    model.update(snapshot(n, 0));
    let mut ui = UiState::default();
    let mut terminal = match Terminal::new(TestBackend::new(200, 50)) {
        Ok(t) => t,
        Err(never) => match never {},
    };
    let mut times: Vec<[Duration; 3]> = (1..=RUNS)
        .map(|k| {
            let snap = snapshot(n, k);
            let start = Instant::now();
            model.update(black_box(snap));
            ui.follow(&model);
            let updated = start.elapsed();
            let start = Instant::now();
            let column = if k % 2 == 0 {
                SortColumn::Name
            } else {
                SortColumn::Rate
            };
            model.set_sort(Sort {
                column,
                reverse: false,
            });
            let sorted = start.elapsed();
            let start = Instant::now();
            if let Err(never) = terminal.draw(|f| view::render(f, &model, &mut ui)) {
                match never {}
            }
            black_box(terminal.backend().buffer());
            [updated, sorted, start.elapsed()]
        })
        .collect();
    std::array::from_fn(|part| {
        times.sort_by_key(|t| t[part]);
        times[RUNS as usize / 2][part].as_secs_f64() * 1e3
    })
}

fn main() {
    let base = bench(100);
    let big = bench(30_000);
    let total = |t: [f64; 3]| t.iter().sum::<f64>();
    println!("top frame, 200x50 TestBackend, median of {RUNS}:");
    for (label, t) in [("100 slices", base), ("30,000 slices", big)] {
        println!(
            "  {label:>14}: update {:8.3} ms  sort {:8.3} ms  render {:7.3} ms  total {:8.3} ms",
            t[0],
            t[1],
            t[2],
            total(t)
        );
    }
    println!(
        "  ratio 30,000 / 100: update {:.0}x  render {:.1}x  total {:.0}x",
        big[0] / base[0],
        big[2] / base[2],
        total(big) / total(base)
    );
}
