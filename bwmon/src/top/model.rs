//! Snapshot history → table rows: smoothed rates from counter deltas, budget use, projections,
//! sorting and filtering. Pure: no terminal, no socket, no clock (time comes from the snapshots).
use std::{
    cmp::Ordering,
    collections::{HashMap, VecDeque},
};

use crate::status::{SliceView, Snapshot};
use crate::units::UnitSystem;

/// Samples of rate history kept per slice (one per snapshot).
pub const HISTORY: usize = 60;
/// Time constant of the exponential smoothing of rates, seconds.
pub const SMOOTHING_SECS: f64 = 5.0;

/// A sortable column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortColumn {
    Name,
    Xid,
    Rate,
    ExemptRate,
    Used,
    UsedPct,
    ExemptUsed,
    ExemptPct,
    Ceiling,
    State,
    Eta,
    PeriodLeft,
}

impl SortColumn {
    /// All columns, in the order `s` cycles through them (and number keys 1–9, 0 pick them).
    pub const ALL: [SortColumn; 12] = [
        SortColumn::Rate,
        SortColumn::Name,
        SortColumn::Xid,
        SortColumn::ExemptRate,
        SortColumn::Used,
        SortColumn::UsedPct,
        SortColumn::ExemptPct,
        SortColumn::Ceiling,
        SortColumn::State,
        SortColumn::Eta,
        SortColumn::PeriodLeft,
        SortColumn::ExemptUsed,
    ];

    /// The next column in `ALL`.
    pub fn next(self) -> SortColumn {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// Whether the natural order is largest first (rates, usage) rather than A→Z / soonest first.
    pub fn descending(self) -> bool {
        !matches!(
            self,
            SortColumn::Name | SortColumn::Xid | SortColumn::Eta | SortColumn::PeriodLeft
        )
    }
}

/// How the table is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub column: SortColumn,
    /// Flips the column's natural order.
    pub reverse: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            column: SortColumn::Rate,
            reverse: false,
        }
    }
}

/// What a slice's projection aims at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The threshold after which the slice is capped.
    Threshold,
    /// The whole period's budget.
    Budget,
}

/// When a class of a slice reaches its next mark at the current rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Projection {
    pub target: Target,
    pub secs: u64,
}

/// One table row, with everything the view shows and sorts by worked out once per snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub slice: SliceView,
    pub dead: bool,
    /// Smoothed send rates, bit/s; `None` until two samples of the same counter exist.
    pub rate: Option<f64>,
    pub exempt_rate: Option<f64>,
    /// Share of the budget used, percent (may exceed 100).
    pub used_pct: f64,
    pub exempt_pct: f64,
    pub eta: Option<Projection>,
    pub exempt_eta: Option<Projection>,
    /// Seconds until the period ends.
    pub period_left: u64,
    name_lower: String,
}

impl Row {
    /// 0 ok, 1 warned (notified), 2 exempt class capped, 3 capped.
    fn state_rank(&self) -> u8 {
        if self.slice.capped {
            3
        } else if self.slice.exempt_capped {
            2
        } else {
            u8::from(self.slice.notified)
        }
    }
}

/// Node-wide figures for the header.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub rate: f64,
    pub exempt_rate: f64,
    pub live: usize,
    pub capped: usize,
    pub dead: usize,
}

/// Per-slice counter history between snapshots.
#[derive(Clone, Debug)]
struct Track {
    xid: u32,
    at: u64,
    sent: [u64; 2],
    rate: [Option<f64>; 2],
    history: VecDeque<u64>,
}

/// The model: the last snapshot, per-slice history, rows in sort order and the filtered view.
#[derive(Debug, Default)]
pub struct Model {
    snapshot: Option<Snapshot>,
    /// Counter history of live (0) and dead (1) slices by name.
    tracks: [HashMap<String, Track>; 2],
    /// Rows in snapshot order; `order` sorts them.
    rows: Vec<Row>,
    order: Vec<usize>,
    totals: Totals,
    sort: Sort,
    filter: String,
    /// Indices into `rows` that pass the filter, in sort order.
    visible: Vec<usize>,
}

/// The next mark of a class: the threshold if not yet reached, else the budget.
pub fn project(
    bytes: u64,
    threshold: u64,
    limit: u64,
    rate_bps: Option<f64>,
) -> Option<Projection> {
    let bytes_per_sec = rate_bps? / 8.0;
    if bytes_per_sec <= 0.0 {
        return None;
    }
    let (target, mark) = if bytes < threshold {
        (Target::Threshold, threshold)
    } else if bytes < limit {
        (Target::Budget, limit)
    } else {
        return None;
    };
    let secs = ((mark - bytes) as f64 / bytes_per_sec).ceil();
    Some(Projection {
        target,
        secs: secs as u64,
    })
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl Track {
    fn new(s: &SliceView, at: u64) -> Self {
        Track {
            xid: s.xid,
            at,
            sent: [s.sent_bytes, s.sent_exempt_bytes],
            rate: [None, None],
            history: VecDeque::new(),
        }
    }

    /// Folds in a new sample; a new xid or a counter going backwards starts over.
    fn update(&mut self, s: &SliceView, at: u64) {
        let sent = [s.sent_bytes, s.sent_exempt_bytes];
        if s.xid != self.xid || sent[0] < self.sent[0] || sent[1] < self.sent[1] || at < self.at {
            *self = Track::new(s, at);
            return;
        }
        if at == self.at {
            return; // the agent has not synced since: nothing new
        }
        let dt = (at - self.at) as f64;
        let alpha = 1.0 - (-dt / SMOOTHING_SECS).exp();
        for ((rate, now), before) in self.rate.iter_mut().zip(sent).zip(self.sent) {
            let instant = (now - before) as f64 * 8.0 / dt;
            *rate = Some(match *rate {
                Some(prev) => prev + alpha * (instant - prev),
                None => instant,
            });
        }
        self.sent = sent;
        self.at = at;
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history
            .push_back(self.rate[0].unwrap_or(0.0).round() as u64);
    }
}

impl Model {
    pub fn new() -> Self {
        Self::default()
    }

    /// Recent smoothed send rates of a row's slice, oldest first, bit/s (one per snapshot).
    pub fn history(&self, row: &Row) -> Vec<u64> {
        self.tracks[usize::from(row.dead)]
            .get(&row.slice.name)
            .map(|t| t.history.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The last snapshot's node and agent health (its slices are in the rows).
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    pub fn units(&self) -> UnitSystem {
        match self.snapshot.as_ref().map(|s| s.node.units.as_str()) {
            Some("iec") => UnitSystem::Iec,
            _ => UnitSystem::Si,
        }
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    pub fn sort(&self) -> Sort {
        self.sort
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Rows passing the filter, in sort order.
    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    /// The `i`th visible row.
    pub fn visible(&self, i: usize) -> Option<&Row> {
        self.visible.get(i).map(|&r| &self.rows[r])
    }

    /// Position among visible rows of the slice named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.visible
            .iter()
            .position(|&r| self.rows[r].slice.name == name)
    }

    /// Takes a new snapshot: updates rates and history, rebuilds, sorts and filters the rows.
    /// The slices move into the rows; the snapshot kept for the header has none.
    pub fn update(&mut self, mut snap: Snapshot) {
        let now = snap.now_unix;
        let live = std::mem::take(&mut snap.slices);
        let dead = std::mem::take(&mut snap.dead);
        let mut seen = [
            HashMap::with_capacity(live.len()),
            HashMap::with_capacity(dead.len()),
        ];
        let mut rows = Vec::with_capacity(live.len() + dead.len());
        let mut totals = Totals::default();
        let all = live.into_iter().map(|s| (false, s));
        for (dead, s) in all.chain(dead.into_iter().map(|s| (true, s))) {
            let (name, track) = match self.tracks[usize::from(dead)].remove_entry(s.name.as_str()) {
                Some((name, mut t)) => {
                    t.update(&s, now);
                    (name, t)
                }
                None => (s.name.clone(), Track::new(&s, now)),
            };
            let [rate, exempt_rate] = track.rate;
            totals.rate += rate.unwrap_or(0.0);
            totals.exempt_rate += exempt_rate.unwrap_or(0.0);
            if dead {
                totals.dead += 1;
            } else {
                totals.live += 1;
                totals.capped += usize::from(s.capped || s.exempt_capped);
            }
            rows.push(Row {
                dead,
                rate,
                exempt_rate,
                used_pct: pct(s.bytes, s.byte_limit),
                exempt_pct: pct(s.exempt_bytes, s.exempt_byte_limit),
                eta: project(s.bytes, s.threshold, s.byte_limit, rate),
                exempt_eta: project(
                    s.exempt_bytes,
                    s.exempt_threshold,
                    s.exempt_byte_limit,
                    exempt_rate,
                ),
                period_left: s.period_end_unix.saturating_sub(now),
                name_lower: s.name.to_lowercase(),
                slice: s,
            });
            seen[usize::from(dead)].insert(name, track);
        }
        self.tracks = seen;
        self.rows = rows;
        self.totals = totals;
        self.snapshot = Some(snap);
        self.resort();
    }

    pub fn set_sort(&mut self, sort: Sort) {
        if sort != self.sort {
            self.sort = sort;
            self.resort();
        }
    }

    /// Shows only slices whose name contains `filter` (case-insensitive).
    pub fn set_filter(&mut self, filter: &str) {
        if filter != self.filter {
            self.filter = filter.to_owned();
            self.refilter();
        }
    }

    fn resort(&mut self) {
        let Sort { column, reverse } = self.sort;
        let flip = column.descending() != reverse;
        // Ties always fall back to the name so the order is stable between snapshots.
        let rows = &self.rows;
        self.order = (0..rows.len()).collect();
        self.order.sort_unstable_by(|&a, &b| {
            let (a, b) = (&rows[a], &rows[b]);
            let primary = compare(column, a, b);
            let primary = if flip { primary.reverse() } else { primary };
            primary
                .then_with(|| a.slice.name.cmp(&b.slice.name))
                .then(a.dead.cmp(&b.dead))
        });
        self.refilter();
    }

    fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        let rows = &self.rows;
        self.visible = self
            .order
            .iter()
            .copied()
            .filter(|&i| needle.is_empty() || rows[i].name_lower.contains(&needle))
            .collect();
    }
}

/// Ascending order of a column; "no value" (no rate, no projection) sorts after any value.
fn compare(column: SortColumn, a: &Row, b: &Row) -> Ordering {
    let f = |x: f64, y: f64| x.total_cmp(&y);
    match column {
        SortColumn::Name => a.slice.name.cmp(&b.slice.name),
        SortColumn::Xid => a.slice.xid.cmp(&b.slice.xid),
        SortColumn::Rate => f(a.rate.unwrap_or(-1.0), b.rate.unwrap_or(-1.0)),
        SortColumn::ExemptRate => f(a.exempt_rate.unwrap_or(-1.0), b.exempt_rate.unwrap_or(-1.0)),
        SortColumn::Used => a.slice.bytes.cmp(&b.slice.bytes),
        SortColumn::UsedPct => f(a.used_pct, b.used_pct),
        SortColumn::ExemptUsed => a.slice.exempt_bytes.cmp(&b.slice.exempt_bytes),
        SortColumn::ExemptPct => f(a.exempt_pct, b.exempt_pct),
        SortColumn::Ceiling => a.slice.ceil_bps.cmp(&b.slice.ceil_bps),
        SortColumn::State => a.state_rank().cmp(&b.state_rank()),
        SortColumn::Eta => a
            .eta
            .map_or(u64::MAX, |p| p.secs)
            .cmp(&b.eta.map_or(u64::MAX, |p| p.secs)),
        SortColumn::PeriodLeft => a.period_left.cmp(&b.period_left),
    }
}
