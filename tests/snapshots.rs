//! Snapshots of what `racelab check` prints for a few scenarios, so changes to the report and
//! the trace format are deliberate. To accept a change: `UPDATE_SNAPSHOTS=1 cargo test --test
//! snapshots`, then review the diff of `tests/snapshots/`. Under CI (`CI` set, as CI services
//! and `.ci/run`'s environment do) `UPDATE_SNAPSHOTS` makes every snapshot test fail instead of
//! writing: a CI that set it would otherwise pass whatever racelab prints.

use std::path::PathBuf;
use std::process::Command;

fn snapshot(name: &str, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_racelab")).args(args).output().expect("racelab runs");
    let text = String::from_utf8_lossy(&out.stdout).replace(env!("CARGO_MANIFEST_DIR"), "<root>");
    let text = without_timing(&text);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        assert!(
            !under_ci(),
            "UPDATE_SNAPSHOTS is set under CI: snapshots are accepted by hand (run it locally and review \
             the diff of tests/snapshots/), never by CI"
        );
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

/// True under a CI service: `CI` set to anything but empty, `0` or `false`.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
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

#[test]
fn ci_refuses_to_update_snapshots() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/lock-order-buggy.txt");
    let before = std::fs::read(&path).expect("the snapshot exists");
    // This test binary, running one snapshot test as CI would with UPDATE_SNAPSHOTS set.
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "lock_order_deadlock", "--test-threads", "1"])
        .env("CI", "true")
        .env("UPDATE_SNAPSHOTS", "1")
        .output()
        .expect("the test binary runs");
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the snapshot test passed under CI with UPDATE_SNAPSHOTS:\n{printed}");
    assert!(printed.contains("UPDATE_SNAPSHOTS is set under CI"), "{printed}");
    assert_eq!(std::fs::read(&path).expect("the snapshot exists"), before, "the snapshot was not written");
}

#[test]
fn explain_a_stolen_wakeup() {
    snapshot(
        "condition-buffer-if-explain",
        &[
            "replay",
            "condition-buffer/if",
            "--schedule",
            "v1 spurious-wakeups=0 t0 t2 t1*2 t3 t2 #668c5404",
            "--explain",
        ],
    );
}

#[test]
fn explain_a_misdirected_wakeup() {
    snapshot("notify-one-notify-explain", &["check", "notify-one/notify", "--explain"]);
}

#[test]
fn explain_a_lost_wakeup_and_a_lock_cycle() {
    snapshot("event-pulse-late-explain", &["check", "event-pulse/late", "--explain"]);
    snapshot(
        "lock-order-buggy-explain",
        &["replay", "lock-order/buggy", "--schedule", "v1 t0 t1 t2 #4882045d", "--explain"],
    );
}
