//! `time::Instant` reads the virtual clock: exact, and the same in every replay.

use std::time::Duration;

use racelab_sim::{check, replay, Config};
use racelab_std::thread;
use racelab_std::time::Instant;

#[test]
fn instants_follow_virtual_time_exactly() {
    let report = check(Config::dfs(), || {
        let start = Instant::now();
        assert_eq!(start.elapsed(), Duration::ZERO);
        let sleeper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(1500));
            Instant::now()
        });
        thread::sleep(Duration::from_secs(1));
        let mid = Instant::now();
        let woke = sleeper.join().unwrap();
        assert_eq!(mid.duration_since(start), Duration::from_secs(1));
        assert_eq!(woke - start, Duration::from_millis(1500));
        assert_eq!(start.duration_since(woke), Duration::ZERO, "saturates as std's does");
        assert_eq!(start.checked_duration_since(woke), None);
        assert!(start < mid && mid < woke);
        assert_eq!(start + Duration::from_millis(1500), woke);
        assert_eq!(woke - Duration::from_millis(500), mid);
        let mut t = start;
        t += Duration::from_secs(1);
        assert_eq!(t, mid);
        t -= Duration::from_secs(1);
        assert_eq!(t, start);
        // Before the run's start, as std's reaches back to the machine's boot.
        assert_eq!(format!("{:?}", start.checked_sub(Duration::from_nanos(1)).unwrap()), "Instant(-1ns)");
        assert_eq!(start.checked_sub(Duration::MAX), None);
        assert_eq!(start.checked_add(Duration::MAX), None);
        assert_eq!(format!("{mid:?}"), "Instant(1.000s)");
    });
    report.assert_passed();
    assert!(report.exhausted, "{report}");
}

#[test]
fn a_replay_sees_the_same_instants() {
    let program = || {
        let h = thread::spawn(|| {
            thread::sleep(Duration::from_millis(250));
            Instant::now()
        });
        let at = h.join().unwrap();
        assert_eq!(at.elapsed(), Duration::ZERO);
        assert!(at.virtual_time().as_nanos() < 250_000_000, "fails: the sleeper woke at 250 ms");
    };
    let report = check(Config::random(1).runs(10), program);
    let failure = report.failure.expect("the assertion fails in every run");
    let again = replay(&failure.schedule, program);
    assert_eq!(again.failure.unwrap().trace, failure.trace);
}
