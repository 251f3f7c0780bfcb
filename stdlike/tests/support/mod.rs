//! What the std-shaped litmus tests share: the outcomes a program reaches over a complete search.

use std::collections::BTreeSet;

use racelab_sim::{check, Config, Report};

/// Every outcome `program` reaches over a complete search with `config`, and the search's
/// report; every run must pass and the search must finish.
pub fn explore(config: Config, program: fn() -> String) -> (BTreeSet<String>, Report) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let sink = std::sync::Arc::clone(&seen);
    let report = check(config, move || {
        let o = program();
        sink.lock().unwrap().insert(o);
    });
    report.assert_passed();
    assert!(report.exhausted, "the search must complete: {report}");
    let set = seen.lock().unwrap().clone();
    (set, report)
}

/// `items` as a set of outcomes.
pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}
