//! One file of std code (`tests/same_code/std_names.rs`), compiled twice: against `std::sync` and
//! `std::thread`, and against `racelab_std::sync` and a `thread` shim over racelab's threads.
//! The file itself is not touched: only the `use` lines of the two including modules
//! (`on_std.rs`, `on_racelab.rs`) differ.

// The point of this test: one file loaded twice, under two meanings of its `use` lines.
#![allow(clippy::duplicate_mod)]

mod on_racelab;
mod on_std;

use racelab_sim::{check, Config, FailureKind};

#[test]
fn the_std_program_runs_on_std() {
    assert_eq!(on_std::program::bounded_queue(), (36, 6));
    assert!((1..=2).contains(&on_std::program::racy_counter()));
}

#[test]
fn the_same_program_passes_under_racelab_over_many_schedules() {
    let report = check(Config::random(7).runs(2_000), || {
        assert_eq!(on_racelab::program::bounded_queue(), (36, 6));
    });
    report.assert_passed();
    assert_eq!(report.runs, 2_000);
}

#[test]
fn racelab_finds_the_lost_update_the_std_run_rarely_shows() {
    let report = check(Config::dfs(), || {
        let n = on_racelab::program::racy_counter();
        assert_eq!(n, 2, "lost update");
    });
    let failure = report.failure.expect("racelab must find the interleaving that loses an update");
    match &failure.kind {
        FailureKind::Panic { message, .. } => assert!(message.contains("lost update"), "{message}"),
        other => panic!("expected the program's assertion, got {other:?}"),
    }
}
