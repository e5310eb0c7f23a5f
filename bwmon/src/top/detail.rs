//! The detail pane of one slice: its limits per class, its rate history, and the agent's
//! explanation of its ceiling.
use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Style, Stylize},
    text::{Line, Span},
    widgets::{Block, Paragraph, Sparkline, Wrap},
};

use super::model::{Model, Projection, Row};
use super::state::{Explain, UiState};
use super::view::{eta, rate, span};
use crate::units::{UnitSystem, format_bytes, format_rate};

/// `figures`: bytes used, threshold, budget, ceiling.
fn class_line(
    label: &str,
    [bytes, threshold, limit, ceil]: [u64; 4],
    r: Option<f64>,
    next: Option<Projection>,
    capped: bool,
    units: UnitSystem,
) -> Line<'static> {
    let mut spans = vec![
        Span::styled(format!("{label:<7}"), Style::new().bold()),
        Span::raw(format!(
            "used {} of {} (threshold {})  ceiling {}  rate {}  next {}",
            format_bytes(bytes, units),
            format_bytes(limit, units),
            format_bytes(threshold, units),
            format_rate(ceil, units),
            rate(r, units),
            eta(next),
        )),
    ];
    if capped {
        spans.push(Span::styled("  CAPPED", Style::new().fg(Color::Red).bold()));
    }
    Line::from(spans)
}

fn facts(row: &Row, units: UnitSystem) -> Vec<Line<'static>> {
    let s = &row.slice;
    vec![
        class_line(
            "normal",
            [s.bytes, s.threshold, s.byte_limit, s.ceil_bps],
            row.rate,
            row.eta,
            s.capped,
            units,
        ),
        class_line(
            "exempt",
            [
                s.exempt_bytes,
                s.exempt_threshold,
                s.exempt_byte_limit,
                s.exempt_ceil_bps,
            ],
            row.exempt_rate,
            row.exempt_eta,
            s.exempt_capped,
            units,
        ),
        Line::from(format!(
            "period  {} → {} ({} left)  notified {}{}",
            s.period_start,
            s.period_end,
            span(row.period_left),
            if s.notified { "yes" } else { "no" },
            if row.dead { "  (deleted slice)" } else { "" },
        )),
    ]
}

/// Draws the pane for the selected slice.
pub fn render(frame: &mut Frame, area: Rect, model: &Model, ui: &UiState) {
    let row = ui
        .selected_name
        .as_deref()
        .and_then(|n| model.position(n))
        .and_then(|i| model.visible(i));
    let Some(row) = row else {
        frame.render_widget(
            Paragraph::new("no slice selected").block(Block::bordered().title(" detail ")),
            area,
        );
        return;
    };
    let units = model.units();
    let block = Block::bordered().title(Line::from(vec![
        Span::styled(format!(" {} ", row.slice.name), Style::new().bold()),
        Span::raw(match row.slice.xid {
            u32::MAX => "built-in ".to_owned(),
            xid => format!("xid {xid} "),
        }),
        Span::styled("(Enter/Esc closes) ", Style::new().fg(Color::Gray)),
    ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [top, spark, explain] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Fill(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(facts(row, units)), top);
    let history = model.history(row);
    let peak = history.iter().copied().max().unwrap_or(0);
    let [label, bars] =
        Layout::horizontal([Constraint::Length(22), Constraint::Fill(1)]).areas(spark);
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(format!("rate, last {}", history.len())),
            Line::from(format!("peak {}", format_rate(peak, units))),
        ])
        .style(Style::new().fg(Color::Gray)),
        label,
    );
    let tail = &history[history.len().saturating_sub(bars.width as usize)..];
    frame.render_widget(
        Sparkline::default()
            .data(tail)
            .style(Style::new().fg(Color::Cyan)),
        bars,
    );
    let text = match &ui.explain {
        Some((name, Explain::Text(t))) if *name == row.slice.name => Paragraph::new(t.clone()),
        Some((name, Explain::Failed(e))) if *name == row.slice.name => {
            Paragraph::new(format!("explain unavailable: {e}")).fg(Color::Red)
        }
        _ => Paragraph::new("asking the agent why…").fg(Color::Gray),
    };
    frame.render_widget(text.wrap(Wrap { trim: true }), explain);
}
