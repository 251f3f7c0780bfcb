//! No scheduling point before a lock release, and still every outcome: under the plain search
//! (every interleaving, no reduction), a program explored in the default mode (`auto`: no
//! release points until a run observes a lock, then a restart with them) reaches exactly the
//! outcomes it reaches with a point before every release (`on`, what racelab did before), in
//! fewer runs when nothing observes.
//!
//! The observer programs show why the restart exists: each has an outcome that needs a thread
//! preempted between its last step and its release, which runs without release points (`off`)
//! never reach. If `auto` stopped restarting, it would be `off`, and these tests would fail.

#[path = "support/program_fuzz.rs"]
mod program_fuzz;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use program_fuzz::{compare_release_points, PointsComparison, Program};
use racelab::sync::atomic::{AtomicUsize, Ordering};
use racelab::{check, thread, Condition, Config, Lock, Process, RLock, ReleasePoints, Report, Shared};

/// The outcomes of a complete plain search in `mode`, and its report.
fn explore(mode: ReleasePoints, program: fn() -> String) -> (BTreeSet<String>, Report) {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let sink = Arc::clone(&seen);
    let config = Config::dfs().dpor(false).spurious_wakeups(0).release_points(mode);
    let report = check(config, move || {
        let o = program();
        sink.lock().unwrap().insert(o);
    });
    report.assert_passed();
    assert!(report.exhausted, "the search must complete: {report}");
    let set = seen.lock().unwrap().clone();
    (set, report)
}

/// An observer program: `auto` restarts (naming `observer`) and reaches `on`'s outcomes, among
/// them `needs_point`, which `off` misses.
fn observed(observer: &str, needs_point: &str, program: fn() -> String) {
    let (on, on_report) = explore(ReleasePoints::On, program);
    let (auto, auto_report) = explore(ReleasePoints::Auto, program);
    let (off, _) = explore(ReleasePoints::Off, program);
    assert_eq!(auto, on, "{observer}: auto and on differ");
    assert!(on.contains(needs_point), "{observer}: {needs_point} not reached with release points: {on:?}");
    assert!(!off.contains(needs_point), "{observer}: {needs_point} reached without release points: {off:?}");
    assert!(on_report.settings.ends_with("release-points=on"), "{}", on_report.settings);
    assert!(
        auto_report.settings.contains(&format!("release-points=on restarted=\"run 0: {observer}")),
        "{observer}: {}",
        auto_report.settings
    );
    assert_eq!(
        auto_report.runs, on_report.runs,
        "{observer}: the restarted search is the search with points"
    );
}

/// A program without observers: `auto` never restarts, reaches `on`'s outcomes, in fewer runs.
fn unobserved(name: &str, program: fn() -> String) -> (u64, u64) {
    let (on, on_report) = explore(ReleasePoints::On, program);
    let (auto, auto_report) = explore(ReleasePoints::Auto, program);
    assert_eq!(auto, on, "{name}: auto and on differ");
    assert!(!auto_report.settings.contains("release-points"), "{name}: {}", auto_report.settings);
    assert!(
        auto_report.runs < on_report.runs && auto_report.steps < on_report.steps,
        "{name}: {} runs and {} steps without release points, {} and {} with",
        auto_report.runs,
        auto_report.steps,
        on_report.runs,
        on_report.steps
    );
    (auto_report.runs, on_report.runs)
}

#[test]
fn a_try_acquire_after_a_racy_read_sees_the_lock_held_only_with_release_points() {
    // The example: A writes x under the lock and releases; B reads x, then tries the lock.
    observed("try_acquire on Lock-1", "x=1 try=false", || {
        let (lock, x) = (Lock::new(), Shared::new(0));
        let a = thread::spawn(move || {
            let _g = lock.lock();
            x.store(1);
        });
        let seen = x.load();
        let got = lock.try_acquire();
        if got {
            lock.release();
        }
        a.join().unwrap();
        format!("x={seen} try={got}")
    });
}

#[test]
fn locked_is_an_observer() {
    observed("locked on RLock-1", "x=1 locked=true", || {
        let (lock, x) = (RLock::new(), Shared::new(0));
        let a = thread::spawn(move || {
            let _g = lock.lock();
            x.store(1);
        });
        let seen = x.load();
        let held = lock.locked();
        a.join().unwrap();
        format!("x={seen} locked={held}")
    });
}

#[test]
fn a_release_by_a_thread_that_did_not_acquire_is_an_observer() {
    // Python lets any thread release a Lock: whether it succeeds depends on whether it is held.
    observed("release by a thread that did not acquire it on Lock-1", "x=1 b=ok a=error", || {
        let (lock, x) = (Lock::new(), Shared::new(0));
        let a = thread::spawn(move || {
            lock.acquire();
            x.store(1);
            if lock.try_release().is_ok() {
                "ok"
            } else {
                "error"
            }
        });
        let seen = x.load();
        let b = if lock.try_release().is_ok() { "ok" } else { "error" };
        format!("x={seen} b={b} a={}", a.join().unwrap())
    });
}

#[test]
fn a_condition_check_of_a_lock_held_by_another_thread_is_an_observer() {
    // CPython's Condition over a plain Lock only asks whether it is locked, by anyone.
    observed("locked on Lock-1", "x=1 notify=ok", || {
        let lock = Lock::new();
        let (cond, x) = (Condition::new(lock), Shared::new(0));
        let a = thread::spawn(move || {
            let _g = lock.lock();
            x.store(1);
        });
        let seen = x.load();
        let notified = if cond.try_notify(Some(1)).is_ok() { "ok" } else { "error" };
        a.join().unwrap();
        format!("x={seen} notify={notified}")
    });
}

#[test]
fn terminate_is_an_observer() {
    // Terminated between its store and its release, the process keeps the lock for good: main's
    // timed acquire (no observer itself) then times out.
    observed("terminate of p", "x=1 acquired=false", || {
        let (lock, x) = (Lock::new(), Shared::new(0));
        let p = Process::start("p", move || {
            lock.acquire();
            x.store(1);
            lock.release();
        });
        let seen = x.load();
        p.terminate();
        p.join();
        let got = lock.acquire_timeout(Duration::from_secs(1));
        format!("x={seen} acquired={got}")
    });
}

#[test]
fn std_try_lock_try_read_and_try_write_are_observers() {
    observed("try_lock on Mutex-1", "x=1 try=busy", || {
        let m = racelab::sync::Arc::new(racelab::sync::Mutex::new(()));
        let x = racelab::sync::Arc::new(AtomicUsize::new(0));
        let (m2, x2) = (racelab::sync::Arc::clone(&m), racelab::sync::Arc::clone(&x));
        let a = thread::spawn(move || {
            let _g = m2.lock().unwrap();
            x2.store(1, Ordering::SeqCst);
        });
        let seen = x.load(Ordering::SeqCst);
        let got = if m.try_lock().is_ok() { "ok" } else { "busy" };
        a.join().unwrap();
        format!("x={seen} try={got}")
    });
    for (observer, read) in [("try_read on RwLock-1", true), ("try_write on RwLock-1", false)] {
        let program: fn() -> String = if read { rwlock_program::<true> } else { rwlock_program::<false> };
        observed(observer, "x=1 try=busy", program);
    }
}

#[test]
fn a_std_condvar_waited_on_with_a_second_mutex_is_an_observer() {
    // A notify under the Condvar's one mutex so far skips its point; a wait with another mutex
    // could have fallen between the notifier's last step and its notify, so it restarts.
    observed("a wait with a second mutex on Condvar-1", "seen=1 notified=true", || {
        use racelab::sync::{Arc, Condvar, Mutex};
        let (m1, m2, cv) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())), Arc::new(Condvar::new()));
        let x = Arc::new(AtomicUsize::new(0));
        // The first wait, with m1, times out at once: m1 is the Condvar's mutex from then on.
        drop(cv.wait_timeout(m1.lock().unwrap(), Duration::from_millis(1)).unwrap());
        let (m1b, cvb, xb) = (Arc::clone(&m1), Arc::clone(&cv), Arc::clone(&x));
        let notifier = thread::spawn(move || {
            let _g = m1b.lock().unwrap();
            xb.store(1, Ordering::SeqCst);
            cvb.notify_one();
        });
        let seen = x.load(Ordering::SeqCst);
        let (_g, waited) = cv.wait_timeout(m2.lock().unwrap(), Duration::from_secs(1)).unwrap();
        notifier.join().unwrap();
        format!("seen={seen} notified={}", !waited.timed_out())
    });
}

fn rwlock_program<const READ: bool>() -> String {
    let l = racelab::sync::Arc::new(racelab::sync::RwLock::new(()));
    let x = racelab::sync::Arc::new(AtomicUsize::new(0));
    let (l2, x2) = (racelab::sync::Arc::clone(&l), racelab::sync::Arc::clone(&x));
    let a = thread::spawn(move || {
        let _g = l2.write().unwrap();
        x2.store(1, Ordering::SeqCst);
    });
    let seen = x.load(Ordering::SeqCst);
    let got = if READ { l.try_read().is_ok() } else { l.try_write().is_ok() };
    a.join().unwrap();
    format!("x={seen} try={}", if got { "ok" } else { "busy" })
}

#[test]
fn blocking_and_timed_acquires_rlock_levels_and_condition_waits_need_no_release_points() {
    let mut totals = (0, 0);
    let mut add = |(auto, on): (u64, u64)| {
        totals.0 += auto;
        totals.1 += on;
    };
    add(unobserved("two writers under a lock, a racy reader", || {
        let (lock, x) = (Lock::new(), Shared::new(0));
        let hs: Vec<_> = (1..=2)
            .map(|v| {
                thread::spawn(move || {
                    let _g = lock.lock();
                    x.store(v);
                    x.store(v * 10);
                })
            })
            .collect();
        let seen = x.load();
        for h in hs {
            h.join().unwrap();
        }
        format!("seen={seen} final={}", x.load())
    }));
    add(unobserved("a timed acquire against a holder that sleeps", || {
        let (lock, x) = (Lock::new(), Shared::new(0));
        let a = thread::spawn(move || {
            let _g = lock.lock();
            x.store(1);
            thread::sleep(Duration::from_secs(1));
            x.store(2);
        });
        let got = lock.acquire_timeout(Duration::from_secs(1));
        let seen = x.load();
        if got {
            lock.release();
        }
        a.join().unwrap();
        format!("got={got} x={seen}")
    }));
    add(unobserved("nested RLock levels", || {
        let (lock, x) = (RLock::new(), Shared::new(0));
        let a = thread::spawn(move || {
            let _outer = lock.lock();
            {
                let _inner = lock.lock();
                x.store(1);
            }
            x.store(2);
        });
        let _g = lock.lock();
        let seen = x.load();
        drop(_g);
        a.join().unwrap();
        format!("x={seen}")
    }));
    add(unobserved("a condition wait and a notify under the lock", || {
        let lock = Lock::new();
        let (cond, flag) = (Condition::new(lock), Shared::new(false));
        let waiter = thread::spawn(move || {
            let _g = lock.lock();
            let mut woke = 0;
            while !flag.load() {
                if !cond.wait_timeout(Duration::from_secs(1)) {
                    return "timed out".to_string();
                }
                woke += 1;
            }
            format!("woke {woke}")
        });
        {
            let _g = lock.lock();
            flag.store(true);
            cond.notify();
        }
        waiter.join().unwrap()
    }));
    add(unobserved("a std Condvar wait and a notify under its mutex", || {
        use racelab::sync::{Arc, Condvar, Mutex};
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter_pair = Arc::clone(&pair);
        let waiter = thread::spawn(move || {
            let (m, cv) = &*waiter_pair;
            let mut g = m.lock().unwrap();
            let mut woke = 0;
            while !*g {
                let (again, waited) = cv.wait_timeout(g, Duration::from_secs(1)).unwrap();
                if waited.timed_out() {
                    return "timed out".to_string();
                }
                g = again;
                woke += 1;
            }
            format!("woke {woke}")
        });
        {
            let (m, cv) = &*pair;
            *m.lock().unwrap() = true;
            cv.notify_one();
            let _g = m.lock().unwrap();
            cv.notify_all();
        }
        waiter.join().unwrap()
    }));
    add(unobserved("std Mutex and RwLock", || {
        let m = racelab::sync::Arc::new(racelab::sync::Mutex::new(0));
        let l = racelab::sync::Arc::new(racelab::sync::RwLock::new(0));
        let (m2, l2) = (racelab::sync::Arc::clone(&m), racelab::sync::Arc::clone(&l));
        let a = thread::spawn(move || {
            *m2.lock().unwrap() += 1;
            *l2.write().unwrap() += 1;
        });
        let r = *l.read().unwrap();
        *m.lock().unwrap() += 10;
        a.join().unwrap();
        format!("r={r} m={}", *m.lock().unwrap())
    }));
    eprintln!("programs without observers: {} runs without release points, {} with", totals.0, totals.1);
}

/// Runs per search before a fuzzer program is skipped as too big for this test.
const CAP: u64 = 4_000;

/// The differential fuzzer's programs (every two-party program over a lock, a condition or a
/// std `Condvar`, random ones, some with `try_acquire` or `terminate`, and random ones with std
/// `Condvar`s whose waits may use a second mutex): the default mode reaches the outcomes of
/// the search with release points on every one; the programs that never observe take fewer runs;
/// and some that observe would miss outcomes without the restart.
#[test]
fn the_fuzzers_programs_reach_the_same_outcomes_in_the_default_mode() {
    use program_fuzz::Obj;
    let pairs = Program::pairs()
        .into_iter()
        .filter(|p| matches!(p.objects[0], Obj::Lock | Obj::RLock | Obj::Cond | Obj::StdCond));
    let programs =
        pairs.chain((0..200).map(Program::generate)).chain((0..600).filter_map(Program::generate_std));
    let (mut compared, mut restarted, mut off_misses) = (0, 0, 0);
    let (mut unobserved, mut on_runs, mut auto_runs) = (0, 0, 0);
    for p in programs {
        match compare_release_points(&p, CAP) {
            PointsComparison::Skipped => {}
            PointsComparison::Differ { on, other, mode } => {
                panic!("program {}: on gave {on:?}, {} gave {other:?}\n{}", p.seed, mode.name(), p.to_rust())
            }
            PointsComparison::Agree { on_runs: on, auto_runs: auto, restarted: r, off_misses: m } => {
                compared += 1;
                restarted += u64::from(r);
                off_misses += u64::from(m);
                if !r {
                    assert!(auto <= on, "program {}: {auto} runs without release points, {on} with", p.seed);
                    unobserved += 1;
                    on_runs += on;
                    auto_runs += auto;
                }
            }
        }
    }
    eprintln!(
        "{compared} programs: {restarted} restarted ({off_misses} would miss outcomes without); the {unobserved} \
         others take {auto_runs} runs without release points, {on_runs} with"
    );
    assert!(compared >= 300 && unobserved >= 100, "{compared} compared, {unobserved} without observers");
    assert!(off_misses >= 1, "no program needed the restart: the observers are untested");
    assert!(auto_runs < on_runs, "no program got cheaper: {auto_runs} vs {on_runs}");
}

/// The same exploration gives the same failure and trace bytes; the failure found without
/// release points says so in its schedule and replays exactly; the same decisions read as a
/// schedule with release points (what a schedule without the mode means) are another run.
#[test]
fn a_failure_found_without_release_points_is_deterministic_and_replays_exactly() {
    let program = racelab_scenarios::find("condition-buffer")
        .and_then(|s| s.variant("if"))
        .expect("catalog variant")
        .program;
    let once = || check(Config::dfs().spurious_wakeups(0), program);
    let (a, b) = (once(), once());
    let (fa, fb) = (a.failure.as_ref().expect("the bug"), b.failure.as_ref().expect("the bug"));
    assert_eq!(
        (fa.run, fa.schedule.to_string(), fa.trace.to_json()),
        (fb.run, fb.schedule.to_string(), fb.trace.to_json())
    );
    let text = fa.schedule.to_string();
    assert!(text.starts_with("v1 spurious-wakeups=0 release-points=off "), "{text}");
    assert!(!a.settings.contains("release-points"), "no observer, no restart: {}", a.settings);

    let again = racelab::replay(&text.parse().unwrap(), program);
    let g = again.failure.as_ref().expect("the replay fails");
    assert_eq!((g.kind.name(), g.trace.to_json()), (fa.kind.name(), fa.trace.to_json()));
    assert!(again.replay_differs.is_none(), "{again}");

    // A release is a step of its own with release points: the same decisions go elsewhere.
    let with_points = racelab::replay(&text.replace(" release-points=off", "").parse().unwrap(), program);
    let same = with_points.failure.as_ref().is_some_and(|h| h.trace.to_json() == fa.trace.to_json());
    assert!(!same, "the mode made no difference to the replay");
}

/// With `--jobs` (random, pos and pct), the lowest run that observes a lock acts as the lowest
/// failing run does: the exploration restarts exactly when a single job restarts, and the whole
/// report is the same for any number of jobs.
#[test]
fn jobs_restart_exactly_when_one_job_does() {
    // Run by run, `choose` picks: 0 and 1 pass, 2 panics, 3 observes the lock (try_acquire).
    fn program() {
        let (lock, x) = (Lock::new(), Shared::new(0));
        let a = thread::spawn(move || {
            let _g = lock.lock();
            x.store(1);
        });
        match racelab::choose(4) {
            2 => panic!("a failure"),
            3 if lock.try_acquire() => lock.release(),
            _ => {}
        }
        a.join().unwrap();
    }
    let strip = |mut r: Report| {
        r.elapsed_micros = 0;
        // (random and pos name their jobs always, pct only when there are several)
        r.settings = r.settings.replace(" jobs=3", "").replace(" jobs=1", "");
        r
    };
    let (mut restarts, mut failures) = (0, 0);
    for seed in 0..12 {
        for strategy in [Config::random(seed), Config::pos(seed), Config::pct(seed, 3)] {
            let one = check(strategy.clone().runs(50).jobs(1), program);
            let three = check(strategy.clone().runs(50).jobs(3), program);
            assert_eq!(strip(three), strip(one.clone()), "seed {seed}");
            if one.settings.contains(" restarted=") {
                restarts += 1;
                assert!(one.settings.contains("release-points=on restarted=\"run "), "{}", one.settings);
            } else {
                failures += 1;
                assert!(one.failure.is_some(), "seed {seed}: {one}");
            }
        }
    }
    assert!(restarts > 0 && failures > 0, "{restarts} restarts, {failures} failures first");
}
