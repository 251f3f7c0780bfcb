//! Timeouts too long for the virtual clock (`Duration::MAX`, the usual spelling of "forever"):
//! their deadlines land at `VirtualTime::NEVER`, which the clock never reaches, so a program
//! whose threads all wait that long hangs, as it does under std, and racelab reports the hang
//! instead of timing the wait out 584 years in.

use std::time::Duration;

use racelab::sync::mpsc;
use racelab::sync::{Arc, Condvar, Mutex};
use racelab::{check, thread, Config};

fn failure_kind(config: Config, program: impl Fn() + Send + Sync + 'static) -> Option<String> {
    check(config, program).failure.map(|f| f.diagnosis.kind.name().to_string())
}

#[test]
fn a_lost_wake_up_behind_a_wait_of_duration_max_is_found() {
    // The latch that waits without checking its flag: when the notify comes first, the waiter
    // hangs forever under std. It used to time out at the end of the clock and pass.
    let kind = failure_kind(Config::dfs(), || {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = Arc::clone(&pair);
        let h = thread::spawn(move || {
            let g = waiter.0.lock().unwrap();
            let (_g, r) = waiter.1.wait_timeout(g, Duration::MAX).unwrap();
            assert!(!r.timed_out(), "a wait of Duration::MAX timed out");
        });
        *pair.0.lock().unwrap() = true;
        pair.1.notify_one();
        h.join().unwrap();
    });
    assert_eq!(kind.as_deref(), Some("lost-wakeup"));
}

#[test]
fn a_wait_of_duration_max_with_nobody_to_notify_hangs() {
    for program in [
        (|| thread::sleep(Duration::MAX)) as fn(),
        || thread::park_timeout(Duration::MAX),
        || {
            let (_tx, rx) = mpsc::channel::<()>();
            let _ = rx.recv_timeout(Duration::MAX);
        },
        || {
            let pair = (Mutex::new(()), Condvar::new());
            let g = pair.0.lock().unwrap();
            let _ = pair.1.wait_timeout(g, Duration::MAX).unwrap();
        },
    ] {
        let report = check(Config::dfs(), program);
        let failure = report.failure.expect("a wait that never ends is reported");
        assert_eq!(failure.diagnosis.kind.name(), "deadlock", "{failure:?}");
    }
}

#[test]
fn a_timeout_of_a_few_centuries_still_fires() {
    // Only the end of the clock is "never": 500 years is a deadline like any other.
    let report = check(Config::dfs().spurious_wakeups(0), || {
        let pair = (Mutex::new(()), Condvar::new());
        let g = pair.0.lock().unwrap();
        let (_g, r) = pair.1.wait_timeout(g, Duration::from_secs(500 * 365 * 24 * 3600)).unwrap();
        assert!(r.timed_out(), "the wait of 500 years did not time out");
    });
    assert!(report.failure.is_none() && report.exhausted, "{report}");
}
