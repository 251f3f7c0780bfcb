//! Snapshots of what `racelab check` prints for a few scenarios, so changes to the report and
//! the trace format are deliberate. To accept a change: `UPDATE_SNAPSHOTS=1 cargo test --test
//! snapshots`, then review the diff of `tests/snapshots/`.

use std::path::PathBuf;
use std::process::Command;

fn snapshot(name: &str, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_racelab")).args(args).output().expect("racelab runs");
    let text = String::from_utf8_lossy(&out.stdout).replace(env!("CARGO_MANIFEST_DIR"), "<root>");
    let text = without_timing(&text);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &text).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no snapshot {}: run with UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(
        text,
        expected,
        "`racelab {}` changed; if that is deliberate, UPDATE_SNAPSHOTS=1",
        args.join(" ")
    );
}

/// Wall time and throughput on the coverage line differ between runs: they become `<timing>`.
fn without_timing(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| match (l.starts_with("  coverage: "), l.find(';')) {
            (true, Some(i)) => format!("{}; <timing>\n", &l[..i]),
            _ => l.to_string(),
        })
        .collect()
}

#[test]
fn lock_order_deadlock() {
    snapshot("lock-order-buggy", &["check", "lock-order/buggy"]);
}

#[test]
fn stolen_wakeup() {
    snapshot("condition-buffer-if", &["check", "condition-buffer/if"]);
}

#[test]
fn event_pulse_lost_wakeup() {
    snapshot("event-pulse-late", &["check", "event-pulse/late"]);
}

#[test]
fn event_consumers_replay() {
    snapshot(
        "event-consumers-seed-replay",
        &["replay", "event-consumers/seed", "--strategy", "dfs", "--run", "0"],
    );
}
