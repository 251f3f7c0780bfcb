//! A schedule carries the settings a replay needs: a run found with spurious wake-ups off and
//! adversarial wake-ups on replays from the schedule's text alone.

use std::time::Duration;

use racelab_primitives::{Condition, Lock, Shared};
use racelab_sim::{check, replay, Config, Schedule, ThreadPanics};
use racelab_std::thread;

/// The first waiter must be the first woken: true under FIFO wake-ups, false when a notify may
/// pick any waiter.
fn first_waiter_first() {
    let cond = Condition::named("cond", Lock::new());
    let waiting = Shared::new(Vec::<u32>::new());
    let woken = Shared::new(Vec::<u32>::new());
    let ws: Vec<_> = (0..2u32)
        .map(|i| {
            thread::spawn(move || {
                let _g = cond.lock();
                waiting.update(|v| v.push(i));
                cond.wait();
                woken.update(|v| v.push(i));
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(1));
    for _ in 0..2 {
        {
            let _g = cond.lock();
            cond.notify();
        }
        thread::sleep(Duration::from_secs(1));
    }
    for w in ws {
        w.join().unwrap();
    }
    assert_eq!(woken.load()[0], waiting.load()[0], "the second waiter was woken first");
}

#[test]
fn a_run_found_with_any_config_replays_from_its_schedule_alone() {
    check(Config::dfs().spurious_wakeups(0), first_waiter_first).assert_passed();
    let report = check(Config::dfs().spurious_wakeups(0).adversarial_wakeups(true), first_waiter_first);
    let failure = report.failure.expect("adversarial wake-ups find it");
    let text = failure.schedule.to_string();
    assert!(text.starts_with("v1 spurious-wakeups=0 adversarial-wakeups=on "), "{text}");
    let schedule: Schedule = text.parse().unwrap();
    let again = replay(&schedule, first_waiter_first);
    let again_failure = again.failure.expect("the replay fails the same way");
    assert_eq!((again_failure.trace, again.replay_differs), (failure.trace, None));
    // Without its settings the same decisions do not fit the program: they were needed.
    let bare = text.replace("spurious-wakeups=0 adversarial-wakeups=on ", "");
    let without = replay(&bare.parse().unwrap(), first_waiter_first);
    assert_eq!(without.failure.map(|f| f.kind.name()), Some("divergence"));
}

#[test]
fn the_thread_panic_policy_travels_with_the_schedule() {
    let program = || {
        let h = thread::spawn(|| {
            thread::yield_now();
            panic!("boom")
        });
        thread::yield_now();
        assert!(h.join().is_ok(), "the thread panicked");
    };
    let report = check(Config::dfs().thread_panics(ThreadPanics::Join), program);
    let failure = report.failure.expect("found");
    assert!(failure.schedule.to_string().starts_with("v1 thread-panics=join "), "{}", failure.schedule);
    let again = replay(&failure.schedule.to_string().parse().unwrap(), program);
    assert_eq!(again.failure.unwrap().trace, failure.trace);
}
