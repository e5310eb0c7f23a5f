//! One `bwmon top` frame with 30,000 slices — model update (rates, projections), sort, filter and
//! render into a 200x50 TestBackend — against the same with 100 slices, in the same process.
//! Run: `cargo bench -p bwmon --bench top`.
use std::hint::black_box;
use std::time::{Duration, Instant};

use bwmon::status::{SliceView, Snapshot};
use bwmon::top::model::{Model, Sort, SortColumn};
use bwmon::top::state::UiState;
use bwmon::top::view;
use ratatui::{Terminal, backend::TestBackend};

#[path = "../tests/top_fixture/mod.rs"]
mod top_fixture;
use top_fixture::T0;

const RUNS: u64 = 9;

/// Slice `i` after `k` seconds: a pseudo-random usage, some past the threshold.
fn slice(i: u64, k: u64) -> SliceView {
    let x = i.wrapping_mul(6_364_136_223_846_793_005).rotate_left(17);
    let sent = (x % 5_000_000) * k;
    let bytes = x % 12_000_000_000 + sent;
    SliceView {
        exempt_bytes: sent / 4,
        capped: bytes >= 8_000_000_000,
        sent_exempt_bytes: sent / 4,
        ..top_fixture::slice(&format!("pl_slice{i:06}"), 1000 + i as u32, bytes, sent)
    }
}

fn snapshot(n: u64, k: u64) -> Snapshot {
    let mut s = top_fixture::snapshot(T0 + 3600 + k, (0..n).map(|i| slice(i, k)).collect());
    s.agent.syncs = k;
    s
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
