//! Model + UI state → widgets, drawn into any ratatui backend. Only the rows on screen are built.
use std::time::Duration;

use ratatui::{
    Frame,
    buffer::Buffer,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Cell, Clear, Paragraph, Row as TableRow, Table, Wrap},
};

use super::detail;
use super::input::Mode;
use super::model::{Model, Projection, Row, SortColumn, Target};
use super::state::UiState;
use crate::units::{UnitSystem, format_bytes, format_duration, format_rate};

/// A table column: what it shows, how wide, how it sorts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    Name,
    Xid,
    Rate,
    ExemptRate,
    Used,
    Budget,
    ExemptUsed,
    ExemptPct,
    Ceiling,
    State,
    Eta,
    Left,
    History,
}

/// Left to right.
const ORDER: [Col; 13] = [
    Col::Name,
    Col::Xid,
    Col::Rate,
    Col::ExemptRate,
    Col::Used,
    Col::Budget,
    Col::ExemptUsed,
    Col::ExemptPct,
    Col::Ceiling,
    Col::State,
    Col::Eta,
    Col::Left,
    Col::History,
];

/// Most important first: columns are dropped from the end as the terminal narrows.
const PRIORITY: [Col; 13] = [
    Col::Name,
    Col::Rate,
    Col::Budget,
    Col::State,
    Col::Eta,
    Col::Ceiling,
    Col::Left,
    Col::ExemptRate,
    Col::Used,
    Col::Xid,
    Col::ExemptPct,
    Col::ExemptUsed,
    Col::History,
];

const NAME_MIN: u16 = 14;
const BAR: usize = 6;
const HISTORY_COLS: usize = 10;

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::Name => "Slice",
            Col::Xid => "Xid",
            Col::Rate => "Rate",
            Col::ExemptRate => "Exempt",
            Col::Used => "Used",
            Col::Budget => "Budget",
            Col::ExemptUsed => "Ex used",
            Col::ExemptPct => "Ex%",
            Col::Ceiling => "Ceiling",
            Col::State => "State",
            Col::Eta => "Next mark",
            Col::Left => "Left",
            Col::History => "History",
        }
    }

    fn sort(self) -> Option<SortColumn> {
        Some(match self {
            Col::Name => SortColumn::Name,
            Col::Xid => SortColumn::Xid,
            Col::Rate => SortColumn::Rate,
            Col::ExemptRate => SortColumn::ExemptRate,
            Col::Used => SortColumn::Used,
            Col::Budget => SortColumn::UsedPct,
            Col::ExemptUsed => SortColumn::ExemptUsed,
            Col::ExemptPct => SortColumn::ExemptPct,
            Col::Ceiling => SortColumn::Ceiling,
            Col::State => SortColumn::State,
            Col::Eta => SortColumn::Eta,
            Col::Left => SortColumn::PeriodLeft,
            Col::History => return None,
        })
    }

    fn right_aligned(self) -> bool {
        matches!(
            self,
            Col::Xid
                | Col::Rate
                | Col::ExemptRate
                | Col::Used
                | Col::ExemptUsed
                | Col::ExemptPct
                | Col::Ceiling
                | Col::Left
        )
    }

    fn width(self, units: UnitSystem) -> u16 {
        let iec = units == UnitSystem::Iec;
        match self {
            Col::Name => NAME_MIN,
            Col::Xid => 6,
            Col::Rate | Col::ExemptRate | Col::Ceiling => 12 + 2 * u16::from(iec),
            Col::Used | Col::ExemptUsed => 8 + 2 * u16::from(iec),
            Col::Budget => BAR as u16 + 5,
            Col::ExemptPct => 5,
            Col::State => 6,
            Col::Eta => 10,
            Col::Left => 7,
            Col::History => HISTORY_COLS as u16,
        }
    }
}

/// The columns that fit in `width`, left to right.
fn columns(width: u16, units: UnitSystem) -> Vec<Col> {
    let mut used = 0u16;
    let mut keep = Vec::new();
    for col in PRIORITY {
        let w = col.width(units) + u16::from(!keep.is_empty());
        if used + w <= width {
            used += w;
            keep.push(col);
        }
    }
    ORDER.into_iter().filter(|c| keep.contains(c)).collect()
}

/// A rate, or "-" before two samples exist.
pub(super) fn rate(r: Option<f64>, units: UnitSystem) -> String {
    r.map_or_else(|| "-".to_owned(), |r| format_rate(r.round() as u64, units))
}

/// A span of seconds, at most two units: `2d3h`, `5h12m`, `4m30s`.
pub(super) fn span(secs: u64) -> String {
    // Beyond 99 days the exact figure is noise (and would not fit its column).
    if secs >= 100 * 86_400 {
        return ">99d".to_owned();
    }
    let rounded = match secs {
        s if s >= 86_400 => s / 3600 * 3600,
        s if s >= 3600 => s / 60 * 60,
        s => s,
    };
    format_duration(Duration::from_secs(rounded))
}

pub(super) fn eta(p: Option<Projection>) -> String {
    match p {
        Some(Projection { target, secs }) => {
            let what = match target {
                Target::Threshold => "thr",
                Target::Budget => "max",
            };
            format!("{what} {}", span(secs))
        }
        None => "—".to_owned(),
    }
}

fn state(row: &Row) -> (&'static str, Style) {
    let s = &row.slice;
    if row.dead {
        ("dead", Style::new().fg(Color::DarkGray))
    } else if s.capped {
        (
            "CAPPED",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )
    } else if s.exempt_capped {
        (
            "CAP-X",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )
    } else if s.notified {
        ("warned", Style::new().fg(Color::Yellow))
    } else {
        ("ok", Style::new().fg(Color::Green))
    }
}

/// `███░░░  50%`, coloured by how close the slice is to its threshold.
fn gauge(row: &Row) -> Line<'static> {
    let s = &row.slice;
    let filled = ((row.used_pct / 100.0 * BAR as f64).round() as usize).min(BAR);
    let color = if s.capped {
        Color::Red
    } else if s.bytes >= s.threshold && s.threshold > 0 {
        Color::Yellow
    } else {
        Color::Green
    };
    Line::from(vec![
        Span::styled("█".repeat(filled), Style::new().fg(color)),
        Span::styled("░".repeat(BAR - filled), Style::new().fg(Color::DarkGray)),
        Span::raw(format!("{:>4.0}%", row.used_pct.min(999.0))),
    ])
}

/// The last few rates as block characters, scaled to their maximum.
pub(super) fn sparkline_text(history: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &history[history.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    tail.iter()
        .map(|&v| BARS[((v as u128 * 7 + max as u128 / 2) / max as u128) as usize])
        .collect()
}

fn cell(col: Col, row: &Row, model: &Model, units: UnitSystem) -> Cell<'static> {
    let s = &row.slice;
    match col {
        Col::Name => Cell::from(s.name.clone()),
        // The built-in `default` slice has no xid of its own (the agent uses u32::MAX).
        Col::Xid if s.xid == u32::MAX => Cell::from(Line::from("-").right_aligned()),
        Col::Xid => Cell::from(Line::from(s.xid.to_string()).right_aligned()),
        Col::Rate => Cell::from(Line::from(rate(row.rate, units)).right_aligned()),
        Col::ExemptRate => Cell::from(Line::from(rate(row.exempt_rate, units)).right_aligned()),
        Col::Used => Cell::from(Line::from(format_bytes(s.bytes, units)).right_aligned()),
        Col::Budget => Cell::from(gauge(row)),
        Col::ExemptUsed => {
            Cell::from(Line::from(format_bytes(s.exempt_bytes, units)).right_aligned())
        }
        Col::ExemptPct => {
            Cell::from(Line::from(format!("{:.0}%", row.exempt_pct.min(999.0))).right_aligned())
        }
        Col::Ceiling => Cell::from(Line::from(format_rate(s.ceil_bps, units)).right_aligned()),
        Col::State => {
            let (text, style) = state(row);
            Cell::from(text).style(style)
        }
        // A mark the period's end comes before is dimmed: it will not be reached.
        Col::Eta => match row.eta {
            Some(p) if p.secs > row.period_left => {
                Cell::from(eta(row.eta)).style(Style::new().fg(Color::DarkGray))
            }
            p => Cell::from(eta(p)),
        },
        Col::Left => Cell::from(Line::from(span(row.period_left)).right_aligned()),
        Col::History => Cell::from(sparkline_text(&model.history(row), HISTORY_COLS))
            .style(Style::new().fg(Color::Cyan)),
    }
}

/// Draws the whole screen. Updates the scroll offset so the selection stays visible.
pub fn render(frame: &mut Frame, model: &Model, ui: &mut UiState) {
    let area = frame.area();
    let header = super::header::lines(model, ui, area.width);
    let [top, body, footer] = Layout::vertical([
        Constraint::Length(header.len() as u16),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(header), top);
    frame.render_widget(footer_line(model, ui), footer);
    if model.snapshot().is_none() {
        let text = ui
            .error
            .clone()
            .unwrap_or_else(|| "waiting for the agent…".to_owned());
        let msg = Paragraph::new(text)
            .style(Style::new().fg(Color::Red).bold())
            .wrap(Wrap { trim: true })
            .block(Block::new().borders(Borders::TOP));
        frame.render_widget(msg, body);
    } else if ui.detail && body.height >= 12 {
        let detail_h = (body.height / 2).max(10);
        let [table, pane] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(detail_h)]).areas(body);
        render_table(frame, table, model, ui);
        detail::render(frame, pane, model, ui);
    } else if ui.detail {
        detail::render(frame, body, model, ui);
    } else {
        render_table(frame, body, model, ui);
    }
    if ui.help {
        render_help(frame, area);
    }
}

fn render_table(frame: &mut Frame, area: Rect, model: &Model, ui: &mut UiState) {
    let units = model.units();
    let cols = columns(area.width, units);
    let sort = model.sort();
    let arrow = if sort.column.descending() != sort.reverse {
        "▼"
    } else {
        "▲"
    };
    let header = TableRow::new(cols.iter().map(|c| {
        let sorted = c.sort() == Some(sort.column);
        let title = if sorted {
            format!("{}{arrow}", c.title())
        } else {
            c.title().to_owned()
        };
        let style = Style::new().bold().add_modifier(if sorted {
            Modifier::UNDERLINED
        } else {
            Modifier::empty()
        });
        let title = if c.right_aligned() {
            Line::from(title).right_aligned()
        } else {
            Line::from(title)
        };
        Cell::from(title).style(style)
    }))
    .style(Style::new().bg(Color::DarkGray).fg(Color::White));
    let rows_on_screen = area.height.saturating_sub(1) as usize;
    let len = model.visible_len();
    let offset = ui.scroll(rows_on_screen, len);
    let rows = (offset..(offset + rows_on_screen).min(len)).filter_map(|i| {
        let row = model.visible(i)?;
        let mut style = Style::new();
        if row.dead {
            style = style.fg(Color::DarkGray);
        }
        if i == ui.selected {
            style = style.add_modifier(Modifier::REVERSED);
        }
        Some(TableRow::new(cols.iter().map(|&c| cell(c, row, model, units))).style(style))
    });
    let widths = cols.iter().map(|&c| match c {
        Col::Name => Constraint::Fill(1),
        c => Constraint::Length(c.width(units)),
    });
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    frame.render_widget(table, area);
}

fn footer_line(model: &Model, ui: &UiState) -> Paragraph<'static> {
    let line = if ui.mode == Mode::Filter {
        Line::from(vec![
            Span::styled("filter: ", Style::new().bold()),
            Span::raw(ui.filter_input.clone()),
            Span::styled("█", Style::new().fg(Color::Gray)),
            Span::raw("   Enter keep · Esc clear"),
        ])
    } else {
        let pos = if model.visible_len() == 0 {
            "0/0".to_owned()
        } else {
            format!("{}/{}", ui.selected + 1, model.visible_len())
        };
        Line::from(format!(
            "{pos}  q quit · ↑↓ PgUp/PgDn Home/End move · Enter detail · / filter · s/S sort · ? help"
        ))
    };
    Paragraph::new(line).style(Style::new().fg(Color::Gray))
}

const HELP: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit"),
    ("↑ ↓ j k", "move the selection"),
    ("PgUp PgDn Space", "move a page"),
    ("Home End g G", "first / last slice"),
    ("Enter", "detail pane: limits, history, why capped"),
    ("Esc", "close help / detail, clear the filter"),
    ("/", "filter by name (Enter keeps it, Esc clears it)"),
    ("s", "sort by the next column"),
    ("S", "reverse the order"),
    ("1 2 3 4 5", "sort by rate, name, xid, exempt rate, used"),
    (
        "6 7 8 9 0",
        "sort by budget %, exempt %, ceiling, state, next mark",
    ),
    ("?", "this help"),
];

fn render_help(frame: &mut Frame, area: Rect) {
    let w = area.width.min(76);
    let h = (HELP.len() as u16 + 6).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:>15}  "), Style::new().bold()),
                Span::raw(*v),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "Rates are smoothed over a few seconds; \"Next mark\" is when the slice reaches its \
         threshold (thr) or budget (max) at its current rate.",
    ));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" bwmon top — help (Esc or ? to close) ")),
        popup,
    );
}

/// The buffer as plain text, one string per line, trailing spaces trimmed.
pub fn to_text(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (area.top()..area.bottom())
        .map(|y| {
            let line: String = (area.left()..area.right())
                .map(|x| buf[(x, y)].symbol())
                .collect();
            line.trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn spans_are_rounded_and_capped() {
        assert_eq!(span(59), "59s");
        assert_eq!(span(3 * 3600 + 125), "3h2m");
        assert_eq!(span(86_400 + 3600 + 59), "1d1h");
        assert_eq!(span(99 * 86_400), "99d");
        assert_eq!(span(100 * 86_400), ">99d");
        assert_eq!(span(u64::MAX), ">99d");
    }
}
