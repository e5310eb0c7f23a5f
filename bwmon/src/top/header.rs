//! The header: the node, totals, slice counts, the agent's health and any problem it reports.
use ratatui::{
    style::{Color, Style, Stylize},
    text::{Line, Span},
};

use super::model::{Model, SortColumn};
use super::state::UiState;
use super::view::{rate, span};
use crate::units::{format_duration, format_rate};

fn sort_name(c: SortColumn) -> &'static str {
    match c {
        SortColumn::Name => "name",
        SortColumn::Xid => "xid",
        SortColumn::Rate => "rate",
        SortColumn::ExemptRate => "exempt rate",
        SortColumn::Used => "used",
        SortColumn::UsedPct => "budget %",
        SortColumn::ExemptUsed => "exempt used",
        SortColumn::ExemptPct => "exempt %",
        SortColumn::Ceiling => "ceiling",
        SortColumn::State => "state",
        SortColumn::Eta => "next mark",
        SortColumn::PeriodLeft => "period left",
    }
}

fn problem(label: &str, text: &str, width: u16) -> Line<'static> {
    let mut s = format!("{label}: {text}");
    if s.chars().count() > width as usize {
        s = s.chars().take(width.saturating_sub(1) as usize).collect();
        s.push('…');
    }
    Line::from(Span::styled(s, Style::new().fg(Color::Red).bold()))
}

/// Header lines for a screen `width` wide.
pub fn lines(model: &Model, ui: &UiState, width: u16) -> Vec<Line<'static>> {
    let Some(snap) = model.snapshot() else {
        return vec![Line::from("bwmon top").bold()];
    };
    let units = model.units();
    let node = &snap.node;
    let t = model.totals();
    let label = |s: &str| Span::styled(s.to_owned(), Style::new().fg(Color::Gray));
    let value = |s: String| Span::styled(s, Style::new().bold());
    let mut out = vec![Line::from(vec![
        Span::styled(node.hostname.clone(), Style::new().bold().fg(Color::Cyan)),
        label("  on "),
        value(node.interfaces.join(",")),
        label("  node cap "),
        value(format_rate(node.node_cap_bps, units)),
        label("  period "),
        value(format_duration(std::time::Duration::from_secs(
            node.period_secs,
        ))),
        label("  at "),
        Span::raw(snap.now.clone()),
    ])];
    let sort = model.sort();
    let dir = if sort.column.descending() != sort.reverse {
        "▼"
    } else {
        "▲"
    };
    let mut second = vec![
        label("total "),
        value(rate(Some(t.rate), units)),
        label("  exempt "),
        value(rate(Some(t.exempt_rate), units)),
        label("  slices "),
        value(t.live.to_string()),
        label(" live, "),
        Span::styled(
            t.capped.to_string(),
            if t.capped > 0 {
                Style::new().fg(Color::Red).bold()
            } else {
                Style::new().bold()
            },
        ),
        label(" capped, "),
        value(t.dead.to_string()),
        label(" dead"),
        label("  sort "),
        Span::raw(format!("{}{dir}", sort_name(sort.column))),
    ];
    if !model.filter().is_empty() {
        second.push(label("  filter "));
        second.push(Span::styled(
            format!("\"{}\" ({} shown)", model.filter(), model.visible_len()),
            Style::new().fg(Color::Yellow),
        ));
    }
    out.push(Line::from(second));
    let a = &snap.agent;
    let clock = ui.clock.unwrap_or(snap.now_unix);
    let sync = match a.last_sync_unix {
        Some(at) => format!(
            "{} ago ({:.1} ms)",
            span(clock.saturating_sub(at)),
            a.sync_ms
        ),
        None => "never".to_owned(),
    };
    out.push(Line::from(vec![
        label("agent "),
        Span::raw(format!("{} pid {}", a.version, a.pid)),
        label("  last sync "),
        value(sync),
        label("  syncs "),
        Span::raw(a.syncs.to_string()),
        label("  errors "),
        Span::styled(
            a.errors.to_string(),
            if a.errors > 0 {
                Style::new().fg(Color::Red).bold()
            } else {
                Style::new()
            },
        ),
        label("  mail queue "),
        Span::raw(a.mail_queue.to_string()),
    ]));
    if let Some(e) = &ui.error {
        out.push(problem("stale", e, width));
    }
    if let Some(e) = &a.last_error {
        out.push(problem("last error", e, width));
    }
    if let Some(e) = &a.ledger_problem {
        out.push(problem("ledger problem", e, width));
    }
    if let Some(e) = &a.slice_list_problem {
        out.push(problem("slice list problem", e, width));
    }
    out
}
