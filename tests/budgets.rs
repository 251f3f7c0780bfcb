//! Limits on what an exploration may spend and print: wall time (`max_time`), the stop flag,
//! shrinking's budgets, long traces cut in reports, and a `dfs` that stopped before it was done
//! saying so.
#![allow(
    clippy::disallowed_methods,
    reason = "the tests time the explorations from outside, on the wall clock"
)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use racelab::{check, thread, Config, Lock, Report, Shared, StopFlag};

/// Two threads adding to a counter under a lock: correct, with a few interleavings.
fn locked_counter() {
    let lock = Lock::named("lock");
    let counter = Shared::named("counter", 0u32);
    let ws: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(move || {
                let _g = lock.lock();
                let v = counter.load();
                counter.store(v + 1);
            })
        })
        .collect();
    for w in ws {
        w.join().unwrap();
    }
    assert_eq!(counter.load(), 2);
}

/// `n` threads each loading then storing a shared counter: the lost update.
fn lost_update(n: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        let counter = Shared::named("counter", 0usize);
        let ws: Vec<_> = (0..n)
            .map(|_| {
                thread::spawn(move || {
                    let v = counter.load();
                    counter.store(v + 1);
                })
            })
            .collect();
        for w in ws {
            w.join().unwrap();
        }
        assert_eq!(counter.load(), n, "lost update");
    }
}

/// Six threads adding to a counter without a lock, with no check at the end: it passes, and
/// has more interleavings than any test can wait for.
fn unlocked_counter_without_check() {
    let counter = Shared::named("counter", 0usize);
    let ws: Vec<_> = (0..6).map(|_| thread::spawn(move || counter.store(counter.load() + 1))).collect();
    for w in ws {
        w.join().unwrap();
    }
}

/// The panic message of `assert_passed`, or `None` when it passed.
fn assert_passed_message(report: &Report) -> Option<String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| report.assert_passed()));
    outcome.err().map(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn a_long_failing_trace_is_cut_in_the_report_and_kept_whole_in_the_failure() {
    let report = check(Config::random(0).runs(1).max_steps(20_000), || {
        let flag = Shared::named("flag", false);
        while !flag.load() {}
    });
    let failure = report.failure.as_ref().expect("the spin loop hits the step limit");
    assert_eq!(failure.kind.name(), "step-limit");
    assert!(
        failure.trace.events.len() >= 20_000,
        "the failure keeps every event: {}",
        failure.trace.events.len()
    );
    let text = report.to_string();
    assert!(text.lines().count() < 130, "{} lines", text.lines().count());
    let left_out = failure.trace.events.len() - 100;
    assert!(
        text.contains(&format!("  ... {left_out} events left out (steps 41 to ")),
        "the cut says how much is left out:\n{text}"
    );
    assert!(text.contains("the whole trace is in `report.failure.trace`"), "{text}");
    // The last events, where the run failed, are shown.
    let last = failure.trace.events.last().expect("events").to_string();
    assert!(text.contains(last.trim_end()), "{text}");
    // `assert_passed` prints the same cut report.
    let message = assert_passed_message(&report).expect("a failure fails");
    assert!(message.lines().count() < 130 && message.contains("events left out"), "{message}");
}

#[test]
fn a_short_trace_is_shown_whole() {
    let report = check(Config::random(0).runs(1).max_steps(30), || {
        let flag = Shared::named("flag", false);
        while !flag.load() {}
    });
    let failure = report.failure.as_ref().expect("step limit");
    let text = report.to_string();
    assert!(!text.contains("left out"), "{text}");
    // The whole trace, its failing event marked.
    let marked = failure.trace.excerpt_marked("", failure.failing_event()).whole().to_string();
    assert!(marked.contains("<-- fails here"), "{marked}");
    assert!(text.ends_with(&marked), "{text}");
}

#[test]
fn a_dfs_stopped_at_its_run_limit_says_so_and_can_be_required_to_finish() {
    let report = check(Config::dfs().runs(2), locked_counter);
    assert!(report.passed() && !report.exhausted && report.exhaustive_search);
    assert_eq!(report.incomplete(), Some("stopped at its run limit"));
    let text = report.to_string();
    assert!(text.contains("passed (not exhaustive: the exploration stopped at its run limit)"), "{text}");
    // Passes with a warning by default...
    assert_eq!(assert_passed_message(&report), None);
    // ...and fails when asked to.
    let strict = check(Config::dfs().runs(2).require_exhaustive(true), locked_counter);
    let message = assert_passed_message(&strict).expect("an unfinished search fails");
    assert!(
        message.contains("stopped at its run limit after 2 runs")
            && message.contains("require_exhaustive(true)"),
        "{message}"
    );
    // A search that finished passes under the same flag.
    let done = check(Config::dfs().require_exhaustive(true), locked_counter);
    assert!(done.exhausted && done.incomplete().is_none());
    assert_eq!(assert_passed_message(&done), None);
    // Sampling is never exhaustive and never claims to be.
    let sampled = check(Config::random(1).runs(5).require_exhaustive(true), locked_counter);
    assert!(!sampled.exhaustive_search && sampled.incomplete().is_none());
    assert_eq!(assert_passed_message(&sampled), None);
}

#[test]
fn max_time_stops_an_exploration_between_runs_and_the_report_says_so() {
    for config in [
        Config::random(0).runs(u64::MAX),
        Config::random(0).runs(u64::MAX).jobs(2),
        Config::dfs().dpor(false).runs(u64::MAX),
    ] {
        let start = Instant::now();
        let report = check(config.max_time(Duration::from_millis(300)), unlocked_counter_without_check);
        let took = start.elapsed();
        assert!(report.out_of_time && !report.interrupted && !report.exhausted, "{report}");
        assert!(report.runs > 0 && report.passed(), "{report}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
        assert!(report.settings.contains("max-time=0.3s"), "{}", report.settings);
        assert!(report.to_string().contains("stopped at its time limit"), "{report}");
    }
}

#[test]
fn a_raised_stop_flag_stops_the_exploration_after_the_current_run() {
    let flag = StopFlag::new();
    let raised = flag.clone();
    let runs = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&runs);
    let report = check(Config::random(0).runs(1_000).stop_flag(flag), move || {
        // The tenth run raises the flag, as a Ctrl-C handler would from another thread.
        if counted.fetch_add(1, Ordering::SeqCst) == 9 {
            raised.stop();
        }
        locked_counter();
    });
    assert!(report.interrupted && !report.out_of_time && report.passed(), "{report}");
    assert_eq!(report.runs, 10);
    assert_eq!(runs.load(Ordering::SeqCst), 10, "no run starts after the flag is raised");
    assert!(report.to_string().contains("not exhaustive: the exploration was interrupted"), "{report}");
    assert!(report.to_json().contains("\"interrupted\": true"), "{}", report.to_json());
}

#[test]
fn shrinking_many_threads_stops_at_its_time_budget() {
    // 200 threads: the first random run that loses an update has many preemptions, and the
    // bounded searches below it take far longer than the budget.
    let start = Instant::now();
    let report = check(Config::random(0).runs(10).max_time(Duration::from_secs(1)), lost_update(200));
    let took = start.elapsed();
    let failure = report.failure.as_ref().expect("the lost update is found");
    // Three quarters of the second for the bounded search, the rest for the greedy pass (which
    // took the 200-odd preemptions down to 1 here; how far it gets in its quarter second depends
    // on the machine, and is tested on counted budgets in tests/engine.rs).
    let cut = failure.shrink_cut_short.as_deref().expect("cut short");
    assert!(cut.starts_with("its time budget (0.75 s)"), "{report}");
    assert!(report.to_string().contains("shrinking stopped at its time budget (0.75 s)"), "{report}");
    // One second of shrinking, plus finding, tracing and the last run in flight.
    assert!(took < Duration::from_secs(8), "took {took:?}");
}
