//! `bwmon status` as a plain table.
use std::fmt::Write;

use crate::{
    status::{SliceView, Snapshot},
    units::{UnitSystem, format_bytes, format_rate},
};

fn row(out: &mut String, s: &SliceView, units: UnitSystem, dead: bool) {
    let cap = |c: bool| if c { "CAPPED" } else { "" };
    let pct = |used: u64, limit: u64| {
        if limit == 0 {
            0.0
        } else {
            used as f64 * 100.0 / limit as f64
        }
    };
    let _ = writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>5.1}% {:>12} {:<6} {:>10} {:>5.1}% {:>12} {:<6} {}{}",
        s.name,
        if s.xid == u32::MAX {
            "-".to_owned()
        } else {
            s.xid.to_string()
        },
        format_bytes(s.bytes, units),
        pct(s.bytes, s.byte_limit),
        format_rate(s.ceil_bps, units),
        cap(s.capped),
        format_bytes(s.exempt_bytes, units),
        pct(s.exempt_bytes, s.exempt_byte_limit),
        format_rate(s.exempt_ceil_bps, units),
        cap(s.exempt_capped),
        s.period_end,
        if dead { "  (deleted)" } else { "" },
    );
}

pub fn render(snap: &Snapshot) -> String {
    let units = if snap.node.units == "iec" {
        UnitSystem::Iec
    } else {
        UnitSystem::Si
    };
    let mut out = String::new();
    let a = &snap.agent;
    let _ = writeln!(
        out,
        "{} on {}: node cap {}, last sync {} ({:.1} ms), {} error(s)",
        snap.node.hostname,
        snap.node.interfaces.join(","),
        format_rate(snap.node.node_cap_bps, units),
        a.last_sync.as_deref().unwrap_or("never"),
        a.sync_ms,
        a.errors,
    );
    for problem in [&a.ledger_problem, &a.slice_list_problem, &a.last_error]
        .into_iter()
        .flatten()
    {
        let _ = writeln!(out, "  ! {problem}");
    }
    let _ = writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>6} {:>12} {:<6} {:>10} {:>6} {:>12} {:<6} PERIOD END",
        "SLICE", "XID", "USED", "%", "CEIL", "", "EXEMPT", "%", "EXEMPT CEIL", ""
    );
    for s in &snap.slices {
        row(&mut out, s, units, false);
    }
    for s in &snap.dead {
        row(&mut out, s, units, true);
    }
    out
}
