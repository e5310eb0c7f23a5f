//! What `bwmon top` draws, on ratatui's TestBackend, from snapshots built here.
#[path = "top_fixture/mod.rs"]
mod fixture;

use bwmon::status::Snapshot;
use bwmon::top::App;
use bwmon::top::input::Action;
use bwmon::top::view::to_text;
use fixture::{GB, Scripted, T0, slice, snapshot};
use ratatui::{
    Terminal,
    backend::TestBackend,
    buffer::Buffer,
    style::{Color, Modifier},
};
use std::time::Duration;

const MB: u64 = 1_000_000;

/// Two snapshots 10 s apart: web at 40 Mbit/s near its threshold, cdn capped at 10 Mbit/s, idle
/// doing nothing, backup sending exempt traffic only; one dead slice.
fn pair() -> Vec<Snapshot> {
    let at = |t: u64, k: u64| {
        let mut web = slice("pl_web", 510, 7 * GB, k * 50 * MB);
        web.exempt_bytes = 2 * GB;
        let mut cdn = slice("pl_cdn_mirror", 511, 9 * GB, k * 12_500_000);
        cdn.capped = true;
        cdn.notified = true;
        cdn.ceil_bps = 10_000_000;
        let idle = slice("pl_idle", 512, GB, 77);
        let mut backup = slice("pl_backup", 513, 0, 0);
        backup.sent_exempt_bytes = k * 25 * MB;
        backup.exempt_bytes = 4 * GB;
        let mut s = snapshot(t, vec![web, cdn, idle, backup]);
        s.dead = vec![slice("pl_gone", 600, 3 * GB, 0)];
        s
    };
    vec![at(T0 + 3600, 0), at(T0 + 3610, 1)]
}

fn app(snaps: Vec<Snapshot>) -> App<Scripted> {
    let mut app = App::new(Scripted::new(snaps), Duration::from_secs(1));
    while !app.source.snaps.is_empty() {
        app.poll().unwrap();
    }
    app
}

fn draw(app: &mut App<Scripted>, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    app.draw(&mut t).unwrap();
    t.backend().buffer().clone()
}

fn line_with<'a>(text: &'a [String], needle: &str) -> (usize, &'a String) {
    text.iter()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", text.join("\n")))
}

fn row_order(text: &[String], names: &[&str]) -> Vec<usize> {
    names.iter().map(|n| line_with(text, n).0).collect()
}

fn text(app: &mut App<Scripted>, w: u16, h: u16) -> Vec<String> {
    to_text(&draw(app, w, h))
}

/// Column (in cells) of `needle` on line `y`.
fn column_of(line: &str, needle: &str) -> u16 {
    let byte = line.find(needle).unwrap();
    line[..byte].chars().count() as u16
}

#[test]
fn a_large_terminal_shows_every_column_and_the_header() {
    let mut a = app(pair());
    let t = text(&mut a, 200, 50);
    let (_, head) = line_with(&t, "Slice");
    for col in [
        "Xid",
        "Rate▼",
        "Exempt",
        "Used",
        "Budget",
        "Ex used",
        "Ex%",
        "Ceiling",
        "State",
        "Next mark",
        "Left",
        "History",
    ] {
        assert!(head.contains(col), "{col} missing from {head:?}");
    }
    assert!(t[0].contains("planetlab-7.example.org") && t[0].contains("eth0"));
    assert!(t[0].contains("node cap 1.0 Gbit/s"));
    // Totals: 40 + 10 Mbit/s normal, 20 Mbit/s exempt; 4 live, 1 capped, 1 dead.
    assert!(t[1].contains("total 50.0 Mbit/s"), "{}", t[1]);
    assert!(t[1].contains("exempt 20.0 Mbit/s"));
    assert!(t[1].contains("4 live, 1 capped, 1 dead"));
    assert!(t[2].contains("errors 0") && t[2].contains("last sync 0s ago"));
    let (_, web) = line_with(&t, "pl_web");
    for cell in [
        "510",
        "40.0 Mbit/s",
        "7.0 GB",
        "70%",
        "100.0 Mbit/s",
        "ok",
        "22h59m",
    ] {
        assert!(web.contains(cell), "{cell} missing from {web:?}");
    }
    // The whole 50-line screen is used: the footer is on the last line.
    assert!(t[49].contains("? help"));
}

#[test]
fn an_80x24_terminal_drops_the_less_important_columns() {
    let mut a = app(pair());
    let t = text(&mut a, 80, 24);
    assert_eq!(t.len(), 24);
    assert!(t.iter().all(|l| l.chars().count() <= 80));
    let (_, head) = line_with(&t, "Slice");
    for col in ["Rate▼", "Budget", "Ceiling", "State", "Next mark", "Left"] {
        assert!(head.contains(col), "{col} missing from {head:?}");
    }
    for col in ["Xid", "Exempt", "History", "Ex%"] {
        assert!(
            !head.contains(col),
            "{col} should be dropped at 80 columns: {head:?}"
        );
    }
    for name in ["pl_web", "pl_cdn_mirror", "pl_idle", "pl_backup", "pl_gone"] {
        line_with(&t, name);
    }
}

#[test]
fn projections_show_when_the_next_mark_is_reached() {
    let mut a = app(pair());
    let t = text(&mut a, 120, 20);
    // web: 1 GB to its 8 GB threshold at 40 Mbit/s (5 MB/s) = 200 s.
    assert!(line_with(&t, "pl_web").1.contains("thr 3m20s"));
    // cdn: past its threshold, 1 GB to its 10 GB budget at 10 Mbit/s (1.25 MB/s) = 800 s.
    assert!(line_with(&t, "pl_cdn_mirror").1.contains("max 13m20s"));
    // idle sends nothing: no projection.
    assert!(line_with(&t, "pl_idle").1.contains("—"));
}

#[test]
fn sorts_by_rate_then_name_then_reversed() {
    let mut a = app(pair());
    let names = ["pl_web", "pl_cdn_mirror", "pl_backup", "pl_gone", "pl_idle"];
    let by_rate = row_order(&text(&mut a, 120, 20), &names);
    assert!(
        by_rate.windows(2).take(2).all(|w| w[0] < w[1]),
        "{by_rate:?}"
    );
    a.handle(Action::SortBy(bwmon::top::model::SortColumn::Name));
    let t = text(&mut a, 120, 20);
    assert!(line_with(&t, "Slice").1.contains("Slice▲"));
    let sorted = ["pl_backup", "pl_cdn_mirror", "pl_gone", "pl_idle", "pl_web"];
    let rows = row_order(&t, &sorted);
    assert!(
        rows.windows(2).all(|w| w[0] < w[1]),
        "{rows:?}\n{}",
        t.join("\n")
    );
    a.handle(Action::ReverseSort);
    let t = text(&mut a, 120, 20);
    assert!(line_with(&t, "Slice").1.contains("Slice▼"));
    let rows = row_order(&t, &sorted);
    assert!(rows.windows(2).all(|w| w[0] > w[1]), "{rows:?}");
}

#[test]
fn filtering_shows_matching_slices_and_the_prompt() {
    let mut a = app(pair());
    a.handle(Action::StartFilter);
    for c in "CDN".chars() {
        a.handle(Action::FilterChar(c));
    }
    let t = text(&mut a, 120, 20);
    line_with(&t, "pl_cdn_mirror");
    assert!(
        !t.iter()
            .any(|l| l.contains("pl_web") || l.contains("pl_idle"))
    );
    assert!(t[19].starts_with("filter: CDN"), "{}", t[19]);
    a.handle(Action::FilterAccept);
    let t = text(&mut a, 120, 20);
    assert!(t[1].contains("filter \"CDN\" (1 shown)"), "{}", t[1]);
    a.handle(Action::Back);
    line_with(&text(&mut a, 120, 20), "pl_web");
}

#[test]
fn capped_slices_are_highlighted() {
    let mut a = app(pair());
    let buf = draw(&mut a, 120, 20);
    let t = to_text(&buf);
    let (y, line) = line_with(&t, "CAPPED");
    assert!(line.contains("pl_cdn_mirror"));
    let x = column_of(line, "CAPPED");
    for dx in 0..6 {
        let cell = &buf[(x + dx, y as u16)];
        assert_eq!(cell.fg, Color::Red, "{cell:?}");
        assert!(cell.modifier.contains(Modifier::BOLD));
    }
    let (y, line) = line_with(&t, "pl_web");
    let x = column_of(line, " ok ") + 1;
    assert_eq!(buf[(x, y as u16)].fg, Color::Green);
}

#[test]
fn an_unreachable_agent_is_said_plainly_and_retried() {
    let mut src = Scripted::new(pair());
    src.down = true;
    let mut a = App::new(src, Duration::from_secs(1));
    assert!(a.poll().is_err());
    let t = text(&mut a, 80, 24);
    let all = t.join(" "); // the message wraps at word boundaries
    assert!(
        all.contains("agent not reachable at /run/bwmon/control.sock: connection refused"),
        "{all}"
    );
    assert!(all.contains("retrying every 1s"));
    // It comes back: the table replaces the message.
    a.source.down = false;
    a.poll().unwrap();
    let t = text(&mut a, 80, 24);
    assert!(!t.join("\n").contains("not reachable"));
    line_with(&t, "pl_web");
    // It goes away again: the last data stays, marked stale.
    a.source.down = true;
    assert!(a.poll().is_err());
    let t = text(&mut a, 120, 24);
    assert!(line_with(&t, "stale: agent not reachable").0 < line_with(&t, "Slice").0);
    line_with(&t, "pl_web");
}

#[test]
fn the_detail_pane_shows_limits_history_and_the_explanation() {
    let mut a = app(pair());
    a.handle(Action::Home); // pl_web, the fastest
    a.handle(Action::ToggleDetail);
    assert_eq!(a.source.explains, ["pl_web"]);
    let t = text(&mut a, 120, 40);
    let all = t.join("\n");
    line_with(&t, "pl_web xid 510");
    assert!(
        all.contains("normal used 7.0 GB of 10.0 GB (threshold 8.0 GB)"),
        "{all}"
    );
    assert!(all.contains("exempt used 2.0 GB of 20.0 GB (threshold 16.0 GB)"));
    assert!(all.contains("rate 40.0 Mbit/s  next thr 3m20s"));
    assert!(all.contains("rate, last 1") && all.contains("peak 40.0 Mbit/s"));
    assert!(all.contains("pl_web is capped at 10.0 Mbit/s until the period ends"));
    a.handle(Action::ToggleDetail);
    assert!(!text(&mut a, 120, 40).join("\n").contains("pl_web xid 510"));
}

#[test]
fn help_lists_the_keys() {
    let mut a = app(pair());
    a.handle(Action::ToggleHelp);
    let all = text(&mut a, 80, 24).join("\n");
    assert!(all.contains("bwmon top — help"));
    for k in ["q, Ctrl-C", "Enter", "reverse the order", "filter by name"] {
        assert!(all.contains(k), "{k} missing:\n{all}");
    }
    a.handle(Action::Back);
    assert!(!text(&mut a, 80, 24).join("\n").contains("bwmon top — help"));
}

#[test]
fn agent_problems_are_shown_in_the_header() {
    let mut snaps = pair();
    for s in &mut snaps {
        s.agent.errors = 3;
        s.agent.last_error = Some("netlink: No such device (os error 19)".to_owned());
        s.agent.ledger_problem = Some("set aside as ledger.json.broken".to_owned());
        s.node.units = "iec".to_owned();
    }
    let mut a = app(snaps);
    let t = text(&mut a, 120, 24);
    line_with(&t, "last error: netlink: No such device");
    line_with(&t, "ledger problem: set aside as ledger.json.broken");
    assert!(t[2].contains("errors 3"));
    // Binary units on request: 7 GB is 6.5 GiB, 40 Mbit/s is 38.1 Mibit/s.
    let (_, web) = line_with(&t, "pl_web");
    assert!(
        web.contains("6.5 GiB") && web.contains("38.1 Mibit/s"),
        "{web}"
    );
}

#[test]
fn thirty_thousand_slices_scroll_to_the_end() {
    let slices = (0..30_000u32)
        .map(|i| slice(&format!("s{i:05}"), i, u64::from(i) * 1000, 0))
        .collect();
    let mut a = app(vec![snapshot(T0, slices)]);
    a.handle(Action::SortBy(bwmon::top::model::SortColumn::Name));
    a.handle(Action::End);
    let t = text(&mut a, 100, 30);
    assert!(t[28].contains("s29999"), "{}", t.join("\n"));
    assert!(t[29].starts_with("30000/30000"));
    a.handle(Action::PageUp);
    let t = text(&mut a, 100, 30);
    let (y, _) = line_with(&t, "s29974");
    assert_eq!(y, 4, "the selection is at the top row after a page up");
}

#[test]
fn once_takes_two_snapshots_and_prints_plain_text() {
    let src = Scripted::new(pair());
    let t = bwmon::top::app::once(src, Duration::from_millis(10), 120, 40).unwrap();
    assert_eq!(t.len(), 40);
    assert!(t.iter().all(|l| !l.contains('\u{1b}')), "no escape codes");
    assert!(line_with(&t, "pl_web").1.contains("40.0 Mbit/s"));
    let mut down = Scripted::new(pair());
    down.down = true;
    let err = bwmon::top::app::once(down, Duration::from_millis(10), 120, 40).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot reach the agent at /run/bwmon/control.sock")
    );
}
