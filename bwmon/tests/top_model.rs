//! The pure part of `bwmon top`: rates from counter deltas, smoothing, resets, projections,
//! sorting, filtering, and the selection following its slice.
#[path = "top_fixture/mod.rs"]
mod fixture;

use bwmon::top::input::Action;
use bwmon::top::model::{Model, Projection, Sort, SortColumn, Target, project};
use bwmon::top::state::{Effect, UiState};
use fixture::{GB, T0, slice, snapshot};

const MBIT_BYTES: u64 = 125_000; // bytes per second at 1 Mbit/s

fn names(m: &Model) -> Vec<String> {
    (0..m.visible_len())
        .map(|i| m.visible(i).unwrap().slice.name.clone())
        .collect()
}

fn rate_of(m: &Model, name: &str) -> Option<f64> {
    m.visible(m.position(name).unwrap()).unwrap().rate
}

#[test]
fn rates_come_from_deltas_and_are_smoothed() {
    let mut m = Model::new();
    m.update(snapshot(T0, vec![slice("a", 10, 0, 0)]));
    assert_eq!(rate_of(&m, "a"), None, "one sample gives no rate");
    // 10 Mbit/s for 2 s: the first rate is the instantaneous one.
    m.update(snapshot(T0 + 2, vec![slice("a", 10, 0, 20 * MBIT_BYTES)]));
    assert_eq!(rate_of(&m, "a"), Some(10_000_000.0));
    // Then 20 Mbit/s for 1 s: smoothed with alpha = 1 - e^(-1/5).
    m.update(snapshot(T0 + 3, vec![slice("a", 10, 0, 40 * MBIT_BYTES)]));
    let alpha = 1.0 - (-1.0f64 / 5.0).exp();
    let expected = 10e6 + alpha * 10e6;
    assert!((rate_of(&m, "a").unwrap() - expected).abs() < 1e-3);
    // The same snapshot again (agent not synced since) changes nothing.
    m.update(snapshot(T0 + 3, vec![slice("a", 10, 0, 40 * MBIT_BYTES)]));
    assert!((rate_of(&m, "a").unwrap() - expected).abs() < 1e-3);
    let row = m.visible(0).unwrap();
    assert_eq!(m.history(row), vec![10_000_000, expected.round() as u64]);
    assert!((m.totals().rate - expected).abs() < 1e-3);
}

#[test]
fn a_counter_going_backwards_or_a_new_xid_resets_history() {
    let mut m = Model::new();
    m.update(snapshot(
        T0,
        vec![slice("a", 10, 0, 1000), slice("b", 11, 0, 0)],
    ));
    m.update(snapshot(
        T0 + 1,
        vec![slice("a", 10, 0, 2000), slice("b", 11, 0, 500)],
    ));
    assert_eq!(rate_of(&m, "a"), Some(8000.0));
    assert_eq!(rate_of(&m, "b"), Some(4000.0));
    // a's counter restarts (slot reassigned); b comes back under a new xid.
    m.update(snapshot(
        T0 + 2,
        vec![slice("a", 10, 0, 100), slice("b", 12, 0, 900)],
    ));
    assert_eq!(rate_of(&m, "a"), None);
    assert_eq!(rate_of(&m, "b"), None);
    assert!(m.history(m.visible(0).unwrap()).is_empty());
    m.update(snapshot(
        T0 + 3,
        vec![slice("a", 10, 0, 200), slice("b", 12, 0, 1000)],
    ));
    assert_eq!(rate_of(&m, "a"), Some(800.0));
    assert_eq!(rate_of(&m, "b"), Some(800.0));
}

#[test]
fn projections_aim_at_the_threshold_then_the_budget() {
    // 7 GB used of a 8 GB threshold at 10 Mbit/s (1.25 MB/s): 1 GB / 1.25 MB/s = 800 s.
    assert_eq!(
        project(7 * GB, 8 * GB, 10 * GB, Some(10e6)),
        Some(Projection {
            target: Target::Threshold,
            secs: 800
        })
    );
    // Past the threshold: 1 GB left of the budget at 1 Mbit/s = 8000 s.
    assert_eq!(
        project(9 * GB, 8 * GB, 10 * GB, Some(1e6)),
        Some(Projection {
            target: Target::Budget,
            secs: 8000
        })
    );
    assert_eq!(project(7 * GB, 8 * GB, 10 * GB, Some(0.0)), None);
    assert_eq!(project(7 * GB, 8 * GB, 10 * GB, None), None);
    assert_eq!(project(10 * GB, 8 * GB, 10 * GB, Some(1e6)), None);
}

fn three() -> Model {
    let mut m = Model::new();
    let at = |t, k: u64| {
        snapshot(
            t,
            vec![
                slice("bravo", 2, 5 * GB, k * MBIT_BYTES),
                slice("alpha", 1, 9 * GB, 3 * k * MBIT_BYTES),
                slice("charlie", 3, GB, 2 * k * MBIT_BYTES),
            ],
        )
    };
    m.update(at(T0, 0));
    m.update(at(T0 + 1, 1));
    m
}

#[test]
fn sorts_by_rate_by_default_and_by_any_column() {
    let mut m = three();
    assert_eq!(names(&m), ["alpha", "charlie", "bravo"]);
    m.set_sort(Sort {
        column: SortColumn::Rate,
        reverse: true,
    });
    assert_eq!(names(&m), ["bravo", "charlie", "alpha"]);
    m.set_sort(Sort {
        column: SortColumn::Name,
        reverse: false,
    });
    assert_eq!(names(&m), ["alpha", "bravo", "charlie"]);
    m.set_sort(Sort {
        column: SortColumn::Name,
        reverse: true,
    });
    assert_eq!(names(&m), ["charlie", "bravo", "alpha"]);
    m.set_sort(Sort {
        column: SortColumn::UsedPct,
        reverse: false,
    });
    assert_eq!(names(&m), ["alpha", "bravo", "charlie"]);
    // Sooner marks first: alpha is past its threshold (1 GB to the budget at 3 Mbit/s = 2667 s),
    // bravo needs 3 GB at 1 Mbit/s, charlie 7 GB at 2 Mbit/s.
    m.set_sort(Sort {
        column: SortColumn::Eta,
        reverse: false,
    });
    assert_eq!(names(&m), ["alpha", "bravo", "charlie"]);
    let alpha = m.visible(0).unwrap();
    assert_eq!(
        alpha.eta,
        Some(Projection {
            target: Target::Budget,
            secs: 2667
        })
    );
}

#[test]
fn filters_by_name_case_insensitively() {
    let mut m = three();
    m.set_filter("AR");
    assert_eq!(names(&m), ["charlie"]);
    m.set_filter("a");
    assert_eq!(names(&m), ["alpha", "charlie", "bravo"]);
    m.set_filter("zulu");
    assert_eq!(m.visible_len(), 0);
}

#[test]
fn actions_move_sort_filter_and_the_selection_follows_its_slice() {
    let mut m = three();
    let mut ui = UiState::default();
    ui.follow(&m);
    assert_eq!(ui.selected_name.as_deref(), Some("alpha"));
    ui.apply(Action::Down, &mut m);
    assert_eq!(ui.selected_name.as_deref(), Some("charlie"));
    ui.apply(Action::SortBy(SortColumn::Name), &mut m);
    assert_eq!(ui.selected, 2, "charlie is last by name and stays selected");
    ui.apply(Action::ReverseSort, &mut m);
    assert_eq!(ui.selected, 0);
    ui.apply(Action::End, &mut m);
    assert_eq!(ui.selected_name.as_deref(), Some("alpha"));
    for c in "brav".chars() {
        ui.apply(Action::FilterChar(c), &mut m);
    }
    assert_eq!(names(&m), ["bravo"]);
    assert_eq!(ui.selected_name.as_deref(), Some("bravo"));
    ui.apply(Action::FilterCancel, &mut m);
    assert_eq!(m.visible_len(), 3);
    assert_eq!(
        ui.apply(Action::ToggleDetail, &mut m),
        Some(Effect::Explain("bravo".to_owned()))
    );
    assert!(ui.detail);
    ui.apply(Action::Back, &mut m);
    assert!(!ui.detail);
    ui.apply(Action::NextSort, &mut m);
    assert_eq!(m.sort().column, SortColumn::Xid);
}

#[test]
fn scrolling_keeps_the_selection_on_screen() {
    let mut m = Model::new();
    let slices = (0..100)
        .map(|i| slice(&format!("s{i:03}"), i, 0, 0))
        .collect();
    m.update(snapshot(T0, slices));
    m.set_sort(Sort {
        column: SortColumn::Name,
        reverse: false,
    });
    let mut ui = UiState::default();
    ui.follow(&m);
    assert_eq!(ui.scroll(10, 100), 0);
    ui.apply(Action::PageDown, &mut m);
    assert_eq!(ui.selected, 10);
    assert_eq!(ui.scroll(10, 100), 1);
    ui.apply(Action::End, &mut m);
    assert_eq!(ui.scroll(10, 100), 90);
    ui.apply(Action::PageUp, &mut m);
    assert_eq!(ui.selected, 89);
    assert_eq!(ui.scroll(10, 100), 89);
    ui.apply(Action::Home, &mut m);
    assert_eq!(ui.scroll(10, 100), 0);
    assert_eq!(ui.selected_name.as_deref(), Some("s000"));
}
