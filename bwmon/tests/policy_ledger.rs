//! The ledger: round trips, atomic replacement, unusable files set aside (never zeroed),
//! migration, and reconciliation with kernel counters after a restart.
use std::fs;
use std::path::Path;

use bwmon::ledger::{
    Ledger, LedgerError, LoadOutcome, SCHEMA_VERSION, SchemaError, SetAsideReason, migrate,
};
use bwmon::policy::{Attributes, PerClass, Policy, PolicyConfig, PolicyState, SliceInput};

const T0: u64 = 1_795_478_400;

fn small() -> Attributes {
    Attributes {
        net_max_kbyte: Some(1_000),
        ..Attributes::default()
    }
}

fn config() -> PolicyConfig {
    PolicyConfig::new(100_000_000, 1_000_000_000)
}

fn inp(a: &Attributes, normal: u64) -> [SliceInput<'_>; 1] {
    [SliceInput {
        name: "alice",
        xid: 1001,
        attributes: a,
        counters: PerClass::new(normal, 0),
    }]
}

/// A state with one slice at 900000 normal bytes used (capped, notified).
fn used_state() -> PolicyState {
    let a = small();
    let mut p = Policy::new(config(), PolicyState::default());
    p.sync(T0, &inp(&a, 0));
    p.sync(T0 + 100, &inp(&a, 900_000));
    p.state().clone()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_missing_ledger_gives_a_fresh_state() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = Ledger::new(dir.path().join("ledger.json"))
        .load(T0)
        .unwrap();
    assert_eq!(loaded.outcome, LoadOutcome::Missing);
    assert_eq!(loaded.state, PolicyState::default());
}

#[test]
fn save_then_load_gives_the_same_state_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("ledger.json"));
    let state = used_state();
    ledger.save(&state).unwrap();
    let loaded = ledger.load(T0).unwrap();
    assert_eq!(
        loaded.outcome,
        LoadOutcome::Read {
            version: SCHEMA_VERSION
        }
    );
    assert_eq!(loaded.state, state);
    assert_eq!(files_in(dir.path()), vec!["ledger.json"]);
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(ledger.path()).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["state"]["live"]["alice"]["used"]["normal"], 900_000);
}

#[test]
fn a_corrupt_ledger_is_set_aside_not_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("ledger.json"));
    fs::write(
        ledger.path(),
        b"{\"schema_version\": 1, \"state\": {\"live\": {\"ali",
    )
    .unwrap();
    let loaded = ledger.load(T0).unwrap();
    let aside = dir.path().join(format!("ledger.json.corrupt-{T0}"));
    match &loaded.outcome {
        LoadOutcome::SetAside {
            moved_to,
            reason: SetAsideReason::NotJson { .. },
        } => {
            assert_eq!(moved_to, &aside)
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(loaded.state, PolicyState::default());
    // The bytes are kept, under the new name; the ledger name is free for a fresh file.
    assert!(
        fs::read(&aside)
            .unwrap()
            .starts_with(b"{\"schema_version\": 1")
    );
    assert!(!ledger.path().exists());
    // A second bad file in the same second does not overwrite the first one set aside.
    fs::write(ledger.path(), b"garbage").unwrap();
    let loaded = ledger.load(T0).unwrap();
    let second = dir.path().join(format!("ledger.json.corrupt-{T0}-1"));
    assert!(
        matches!(&loaded.outcome, LoadOutcome::SetAside { moved_to, .. } if *moved_to == second)
    );
    assert_eq!(fs::read(&second).unwrap(), b"garbage");
}

#[test]
fn a_future_version_is_set_aside_not_zeroed() {
    // Seed regression: a data file of another version was silently replaced by empty tables.
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("ledger.json"));
    let doc = serde_json::json!({"schema_version": 99, "state": {"whatever": true}});
    fs::write(ledger.path(), doc.to_string()).unwrap();
    let loaded = ledger.load(T0).unwrap();
    let reason = SetAsideReason::Schema(SchemaError::FutureVersion {
        found: 99,
        supported: 1,
    });
    assert_eq!(
        loaded.outcome,
        LoadOutcome::SetAside {
            moved_to: dir.path().join(format!("ledger.json.corrupt-{T0}")),
            reason: reason.clone(),
        }
    );
    assert_eq!(
        reason.to_string(),
        "schema version 99 is newer than the newest this bwmon knows (1)"
    );
}

#[test]
fn invalid_content_and_bad_versions_are_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("ledger.json"));
    let cases = [
        (
            serde_json::json!({"schema_version": 1, "state": {"live": 5}}),
            "invalid",
        ),
        (
            serde_json::json!({"schema_version": -1, "state": {}}),
            "version",
        ),
        (serde_json::json!({"schema_version": 1}), "invalid"),
        (serde_json::json!([1, 2, 3]), "object"),
    ];
    for (i, (doc, kind)) in cases.iter().enumerate() {
        fs::write(ledger.path(), doc.to_string()).unwrap();
        let loaded = ledger.load(T0 + i as u64).unwrap();
        let LoadOutcome::SetAside { reason, .. } = &loaded.outcome else {
            panic!("{doc} was not set aside: {:?}", loaded.outcome);
        };
        let ok = match *kind {
            "invalid" => matches!(reason, SetAsideReason::Invalid { version: 1, .. }),
            "version" => *reason == SetAsideReason::Schema(SchemaError::BadVersion),
            _ => *reason == SetAsideReason::Schema(SchemaError::NotAnObject { version: 0 }),
        };
        assert!(ok, "{doc}: {reason:?}");
    }
    assert_eq!(files_in(dir.path()).len(), 4);
}

#[test]
fn an_unreadable_ledger_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("ledger.json"));
    fs::create_dir(ledger.path()).unwrap(); // reading a directory fails with EISDIR
    let loaded = ledger.load(T0).unwrap();
    assert!(matches!(
        loaded.outcome,
        LoadOutcome::SetAside {
            reason: SetAsideReason::Unreadable { .. },
            ..
        }
    ));
    assert!(
        dir.path()
            .join(format!("ledger.json.corrupt-{T0}"))
            .is_dir()
    );
}

#[test]
fn a_version_0_fixture_is_migrated() {
    // Version 0: the bare state, no envelope.
    let v0 = serde_json::json!({
        "last_sync": T0 + 100,
        "live": {"alice": {
            "xid": 1001, "period_start": T0,
            "used": {"normal": 900000, "exempt": 0},
            "last_counter": {"normal": 900000, "exempt": 0},
            "notified": true,
            "capped": {"normal": true, "exempt": false},
            "ceil_bps": {"normal": 1, "exempt": 1000000000},
            "limits": {
                "normal": {"min_rate_bps": 0, "max_rate_bps": 100000000, "max_bytes": 1024000,
                           "threshold_bytes": 819200, "share": 1},
                "exempt": {"min_rate_bps": 0, "max_rate_bps": 1000000000,
                           "max_bytes": 17609365504u64, "threshold_bytes": 14087492403u64,
                           "share": 1}}}},
        "dead": {}
    });
    let v1 = migrate(0, v0.clone()).unwrap();
    assert_eq!(v1, serde_json::json!({"schema_version": 1, "state": v0}));
    assert_eq!(migrate(1, v1.clone()).unwrap(), v1);

    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("ledger.json"));
    fs::write(ledger.path(), v0.to_string()).unwrap();
    let loaded = ledger.load(T0).unwrap();
    assert_eq!(loaded.outcome, LoadOutcome::Read { version: 0 });
    let r = &loaded.state.live["alice"];
    assert_eq!(
        (r.used.normal, r.notified, r.period_start),
        (900_000, true, T0)
    );
}

#[test]
fn save_into_a_missing_directory_fails_with_the_temporary_path() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("nope/ledger.json"));
    match ledger.save(&PolicyState::default()) {
        Err(LedgerError::Write { path, .. }) => {
            assert_eq!(path, dir.path().join("nope/.ledger.json.tmp"))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_crash_before_the_rename_leaves_the_old_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("ledger.json"));
    let old = used_state();
    ledger.save(&old).unwrap();
    // What a crash mid-write leaves: a torn temporary file next to the intact ledger.
    fs::write(
        dir.path().join(".ledger.json.tmp"),
        b"{\"schema_version\": 1, \"sta",
    )
    .unwrap();
    assert_eq!(ledger.load(T0).unwrap().state, old);
    // The next save replaces the leftover.
    ledger.save(&PolicyState::default()).unwrap();
    assert_eq!(files_in(dir.path()), vec!["ledger.json"]);
    assert_eq!(ledger.load(T0).unwrap().state, PolicyState::default());
}

#[test]
fn a_reader_never_sees_a_torn_ledger_while_it_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.json");
    let ledger = Ledger::new(&path);
    let big = used_state();
    ledger.save(&big).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let bytes = fs::read(&path).expect("the ledger always exists");
                serde_json::from_slice::<serde_json::Value>(&bytes).expect("never torn");
                reads += 1;
            }
            reads
        })
    };
    for i in 0..100 {
        let state = if i % 2 == 0 {
            PolicyState::default()
        } else {
            big.clone()
        };
        ledger.save(&state).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

/// Restart through the ledger file, then a sync with kernel counters at `counter`.
fn restart_with_counter(counter: u64) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::new(dir.path().join("ledger.json"));
    ledger.save(&used_state()).unwrap(); // last counter 900000, used 900000
    let mut p = Policy::new(config(), ledger.load(T0 + 200).unwrap().state);
    let a = small();
    p.sync(T0 + 200, &inp(&a, counter));
    p.state().live["alice"].used.normal
}

#[test]
fn after_a_restart_adopted_maps_with_larger_counters_add_the_difference() {
    // The agent restarted and re-adopted the pinned maps, which kept counting: 900000 + 50000.
    assert_eq!(restart_with_counter(950_000), 950_000);
}

#[test]
fn after_a_reboot_fresh_maps_with_smaller_counters_add_their_value() {
    // Fresh maps after a reboot read 3000: the budget is not reset, 900000 + 3000.
    assert_eq!(restart_with_counter(3_000), 903_000);
}
