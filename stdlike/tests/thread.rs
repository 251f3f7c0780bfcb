//! std's `thread` on racelab: join's `Result`, panics as std has them (when the check asks),
//! park/unpark, scoped threads borrowing the enclosing frame, names and ids.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use racelab_primitives::Shared;
use racelab_sim::{check, Config, FailureKind, Report, ThreadPanics};
use racelab_std::thread;
use racelab_std::time::Instant;

fn panic_message(report: &Report) -> String {
    match &report.failure.as_ref().expect("a failure").kind {
        FailureKind::Panic { message, .. } => message.clone(),
        other => panic!("expected a panic, got {other}"),
    }
}

#[test]
fn join_returns_the_value_and_handles_know_their_thread() {
    check(Config::dfs(), || {
        let h = thread::Builder::new()
            .name("worker".into())
            .stack_size(1 << 20)
            .spawn(|| (thread::current().id(), thread::current().name().map(String::from)))
            .unwrap();
        let id = h.thread().id();
        assert_eq!(h.thread().name(), Some("worker"));
        let (inside, name) = h.join().unwrap();
        assert_eq!((inside, name.as_deref()), (id, Some("worker")));
        let unnamed = thread::spawn(|| thread::current().name().map(String::from));
        assert_eq!(unnamed.join().unwrap(), None, "std: a thread spawned without a name has none");
        assert_eq!(thread::current().name(), Some("main"));
        assert!(!thread::panicking());
        let d = thread::Builder::new().daemon(true).spawn(|| ()).unwrap();
        assert!(d.thread().is_daemon() && !thread::current().is_daemon());
    })
    .assert_passed();
}

#[test]
fn a_panicked_thread_joins_as_err_with_its_payload_when_the_check_asks() {
    let report = check(Config::dfs().thread_panics(ThreadPanics::Join), || {
        let h = thread::spawn(|| -> u32 { panic!("boom") });
        let other = thread::spawn(|| 7);
        let err = h.join().unwrap_err();
        assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(other.join().unwrap(), 7);
    });
    report.assert_passed();
    assert!(report.exhausted && report.settings.contains("thread-panics=join"), "{report}");
}

#[test]
fn by_default_a_thread_panic_fails_the_run_where_it_happened() {
    let report = check(Config::dfs(), || {
        let h = thread::Builder::new().name("crasher".into()).spawn(|| panic!("boom")).unwrap();
        // Under std this would be Err; racelab's default reports the panic itself.
        let _ = h.join();
    });
    assert_eq!(panic_message(&report), "boom");
    let FailureKind::Panic { thread, location, .. } = &report.failure.as_ref().unwrap().kind else {
        unreachable!()
    };
    assert_eq!(thread.name, "crasher");
    assert!(location.as_deref().is_some_and(|l| l.contains("tests/thread.rs")), "{location:?}");
}

#[test]
fn a_panic_nobody_joins_fails_the_run_unless_configured_otherwise() {
    let program = || {
        let h = thread::spawn(|| panic!("lost"));
        drop(h);
        thread::sleep(Duration::from_secs(1));
    };
    let report = check(Config::dfs().thread_panics(ThreadPanics::Join), program);
    let message = panic_message(&report);
    assert!(message.starts_with("lost (") && message.contains("nobody joined it"), "{message}");
    // Detached, as std's: ignored.
    check(Config::dfs().thread_panics(ThreadPanics::JoinOrIgnore), program).assert_passed();
    // The default fails at the panic.
    assert_eq!(panic_message(&check(Config::dfs(), program)), "lost");
}

#[test]
fn main_panics_and_misuses_always_fail_the_run() {
    let report = check(Config::dfs().thread_panics(ThreadPanics::JoinOrIgnore), || panic!("main"));
    assert_eq!(panic_message(&report), "main");
    let report = check(Config::dfs().thread_panics(ThreadPanics::Join), || {
        let lock = racelab_primitives::Lock::new();
        thread::spawn(move || lock.release()).join().unwrap_err();
    });
    assert_eq!(report.failure.unwrap().kind.name(), "misuse");
}

#[test]
fn unpark_before_park_makes_park_return_at_once() {
    // Without spurious returns, which would end the timed park at once.
    let report = check(Config::dfs().spurious_wakeups(0), || {
        let me = thread::current();
        me.unpark();
        me.unpark(); // a second token is not kept
        thread::park(); // returns: the token was there
        let start = Instant::now();
        thread::park_timeout(Duration::from_secs(3)); // no token now: waits it out
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    });
    report.assert_passed();
}

#[test]
fn park_waits_for_unpark_in_every_interleaving() {
    let report = check(Config::dfs(), || {
        let ready = Shared::new(false);
        let parked = thread::spawn(move || {
            while !ready.load() {
                thread::park();
            }
            "done"
        });
        ready.store(true);
        parked.thread().unpark();
        assert_eq!(parked.join().unwrap(), "done");
    });
    report.assert_passed();
    assert!(report.exhausted && report.runs > 1, "{report}");
}

#[test]
fn a_park_outside_a_loop_is_found_by_its_spurious_return() {
    // std: park "may also return spuriously". An outside trial's `park(); assert!(flag)` was
    // proven correct ("every interleaving explored"): racelab's park never returned without an
    // unpark, where a Condvar's wait may.
    let program = || {
        let flag = Shared::new(false);
        let parked = thread::spawn(move || {
            thread::park();
            assert!(flag.load(), "park returned before the flag was set");
        });
        flag.store(true);
        parked.thread().unpark();
        parked.join().unwrap();
    };
    let failure = check(Config::dfs(), program).failure.expect("a spurious return before the store");
    assert!(failure.kind.to_string().contains("park returned before the flag was set"), "{}", failure.kind);
    assert!(failure.trace.to_string().contains("spurious: returned without an unpark"), "{}", failure.trace);
    check(Config::dfs().spurious_wakeups(0), program).assert_passed();
}

#[test]
fn a_park_nobody_unparks_is_a_deadlock_on_the_parker() {
    let report = check(Config::dfs(), || {
        let h = thread::Builder::new().name("sleeper".into()).spawn(thread::park).unwrap();
        h.join().unwrap();
    });
    let failure = report.failure.expect("deadlock");
    let FailureKind::Deadlock(d) = &failure.kind else { panic!("{}", failure.kind) };
    let waits: Vec<_> =
        d.blocked.iter().map(|b| (b.thread.name.as_str(), b.waits_on.name.as_str())).collect();
    assert!(waits.contains(&("sleeper", "park sleeper")), "{waits:?}");
}

#[test]
fn scoped_threads_borrow_the_enclosing_frame_and_are_joined_at_its_end() {
    let report = check(Config::dfs(), || {
        let data = vec![1u64, 2, 3];
        let mut results = [0u64; 3];
        let total = Shared::new(0u64);
        let names = thread::scope(|s| {
            let handles: Vec<_> = results
                .iter_mut()
                .zip(&data)
                .map(|(slot, x)| {
                    s.spawn(move || {
                        thread::yield_now();
                        *slot = x * 10;
                        total.update(|t| *t += x);
                    })
                })
                .collect();
            let first = handles.into_iter().next().unwrap();
            first.join().unwrap();
            // The other two are joined by the scope.
            "scoped"
        });
        assert_eq!((names, results, total.load()), ("scoped", [10, 20, 30], 6));
    });
    report.assert_passed();
    assert!(report.exhausted && report.runs > 1, "{report}");
}

#[test]
fn a_scope_panics_for_a_scoped_thread_nobody_joined_that_panicked() {
    let report = check(Config::dfs().thread_panics(ThreadPanics::Join), || {
        let caught = std::panic::catch_unwind(|| {
            thread::scope(|s| {
                s.spawn(|| panic!("scoped boom"));
            })
        });
        let payload = caught.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"a scoped thread panicked"));
        // Joined by hand: its Err, and the scope does not panic.
        let r = thread::scope(|s| s.spawn(|| panic!("mine")).join().is_err());
        assert!(r);
    });
    report.assert_passed();
}

/// A value whose drop reads data borrowed from the scope's frame and logs it.
struct Reader<'a> {
    data: &'a Vec<u64>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(format!("scoped thread dropped its borrow of {} values", self.data.len()));
    }
}

/// Data owned by the scope's frame that logs its own drop.
struct Owned {
    data: Vec<u64>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.log.lock().unwrap().push("frame dropped its data".into());
    }
}

#[test]
fn a_scope_whose_owner_fails_unwinds_the_scoped_threads_before_the_borrowed_frame() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let program_log = Arc::clone(&log);
    let report = check(Config::dfs().shrink(false), move || {
        let owned = Owned { data: vec![1, 2, 3], log: Arc::clone(&program_log) };
        thread::scope(|s| {
            let log = Arc::clone(&program_log);
            let data = &owned.data;
            s.spawn(move || {
                let _reader = Reader { data, log };
                thread::park(); // never unparked: still here when the run ends
            });
            thread::yield_now();
            panic!("owner fails inside the scope");
        });
    });
    assert_eq!(panic_message(&report), "owner fails inside the scope");
    let log = log.lock().unwrap();
    assert!(!log.is_empty() && log.len() % 2 == 0, "{log:?}");
    for pair in log.chunks(2) {
        assert_eq!(
            pair,
            ["scoped thread dropped its borrow of 3 values", "frame dropped its data"],
            "the scoped thread must be unwound before the frame it borrows: {log:?}"
        );
    }
}

#[test]
fn a_deadlock_inside_a_scope_unwinds_the_scoped_threads_first() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let program_log = Arc::clone(&log);
    let report = check(Config::dfs().shrink(false), move || {
        let owned = Owned { data: vec![4, 5], log: Arc::clone(&program_log) };
        thread::scope(|s| {
            let (log, data) = (Arc::clone(&program_log), &owned.data);
            s.spawn(move || {
                let _reader = Reader { data, log };
                thread::park();
            });
        });
    });
    assert_eq!(report.failure.as_ref().map(|f| f.kind.name()), Some("deadlock"), "{report}");
    let log = log.lock().unwrap();
    assert!(!log.is_empty(), "{log:?}");
    for pair in log.chunks(2) {
        assert_eq!(
            pair,
            ["scoped thread dropped its borrow of 2 values", "frame dropped its data"],
            "{log:?}"
        );
    }
}

#[test]
fn python_extras_stay() {
    check(Config::dfs(), || {
        let h = thread::spawn(|| thread::sleep(Duration::from_secs(5)));
        assert!(!h.join_timeout(Duration::from_secs(1)));
        assert!(h.is_alive() && !h.is_finished());
        h.wait();
        assert!(h.is_finished());
        h.join().unwrap();
        let local = thread::Local::<u32>::new();
        local.set(1);
        assert_eq!(thread::spawn(move || local.get()).join().unwrap(), None);
        assert!(thread::choose(3) < 3);
    })
    .assert_passed();
}

/// Every value `is_finished` gives, for a thread that does nothing but return, spawned or
/// scoped, read at once or after a yield, under `config`.
fn is_finished_outcomes(config: Config, scoped: bool, yield_first: bool) -> Vec<bool> {
    let seen = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let sink = Arc::clone(&seen);
    let report = check(config, move || {
        let finished = if scoped {
            thread::scope(|s| {
                let h = s.spawn(|| 5);
                if yield_first {
                    thread::yield_now();
                }
                let finished = h.is_finished();
                assert_eq!(h.join().unwrap(), 5);
                finished
            })
        } else {
            let h = thread::spawn(|| 5);
            if yield_first {
                thread::yield_now();
            }
            let finished = h.is_finished();
            assert_eq!(h.join().unwrap(), 5);
            finished
        };
        sink.lock().unwrap().insert(finished);
    });
    report.assert_passed();
    assert!(report.exhausted, "{report}");
    let values = seen.lock().unwrap().iter().copied().collect();
    values
}

#[test]
fn is_finished_sees_a_thread_without_operations_both_running_and_finished() {
    // A thread that only returns used to finish while it was started (no step, no decision), so
    // `is_finished` was false at once and true after any yield, in every run: a check asserting
    // either passed, "every interleaving explored". Its end is now a step of its own, and
    // `is_finished` a scheduling point.
    for config in [Config::dfs(), Config::dfs().dpor(false)] {
        for scoped in [false, true] {
            for yield_first in [false, true] {
                assert_eq!(
                    is_finished_outcomes(config.clone(), scoped, yield_first),
                    vec![false, true],
                    "scoped {scoped}, yield first {yield_first}, {config:?}"
                );
            }
        }
    }
}

#[test]
fn a_thread_joining_itself_panics_as_std_does() {
    // An outside trial's `Drop` joined the thread that ran it: the report said "where Python
    // raises RuntimeError". std's `join` panics there (`pthread_join` refuses with EDEADLK).
    let report = check(Config::dfs(), || {
        // Green threads share one OS thread: an `Rc` may hand the handle over.
        let slot: std::rc::Rc<std::cell::RefCell<Option<thread::JoinHandle<()>>>> = Default::default();
        let inner = std::rc::Rc::clone(&slot);
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_secs(1));
            let me = inner.borrow_mut().take().unwrap();
            let _ = me.join();
        });
        *slot.borrow_mut() = Some(h);
        thread::sleep(Duration::from_secs(2));
    });
    assert_eq!(panic_message(&report), "failed to join thread: Resource deadlock avoided (os error 35)");
}

fn try_recv_loop(yields: bool) {
    let (tx, rx) = racelab_std::sync::mpsc::channel::<u32>();
    let p = thread::spawn(move || tx.send(1).unwrap());
    while rx.try_recv().is_err() {
        if yields {
            thread::yield_now();
        }
    }
    p.join().unwrap();
}

#[test]
fn a_yield_loop_is_explored_to_the_end_under_a_bound() {
    // An outside trial: a correct `try_recv` + `yield_now` loop failed a preemption-bounded
    // search with `step-limit`, because switching away from the yielding thread cost a
    // preemption and the search kept it going. A yield now makes the switch free and keeping the
    // yielder going the preemption, so a bound ends the loop: every bound proves it, with DPOR
    // and without.
    for bound in 0..4 {
        for dpor in [true, false] {
            let report = check(Config::dfs().dpor(dpor).preemption_bound(bound).max_steps(5_000), || {
                try_recv_loop(true)
            });
            report.assert_passed();
            assert!(report.exhausted, "bound {bound}, dpor {dpor}: {report}");
        }
    }
}

#[test]
fn hint_spin_loop_is_a_yield_in_a_run_and_std_s_hint_outside() {
    // A flag spin loop written with std's names waits with `hint::spin_loop()`: under racelab it
    // yields, so a bound ends the loop as it ends a `yield_now` loop.
    use racelab_std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use racelab_std::sync::Arc;
    fn flag_loop() {
        let ready = Arc::new(AtomicBool::new(false));
        let setter = Arc::clone(&ready);
        let t = thread::spawn(move || setter.store(true, SeqCst));
        while !ready.load(SeqCst) {
            racelab_std::hint::spin_loop();
        }
        t.join().unwrap();
    }
    for bound in 0..3 {
        let report = check(Config::dfs().preemption_bound(bound).max_steps(5_000), flag_loop);
        report.assert_passed();
        assert!(report.exhausted, "bound {bound}: {report}");
    }
    let traced =
        check(Config::dfs().preemption_bound(1).trace_run(0), flag_loop).traced.expect("run 0 traced");
    assert!(traced.trace.events.iter().any(|e| e.operation == "yield"), "spin_loop yields: {}", traced.trace);
    // Outside a run it is std's hint, and returns.
    racelab_std::hint::spin_loop();
}

#[test]
fn a_spin_loop_kept_going_under_a_bound_is_told_as_an_unfair_schedule() {
    // The same loop without the yield: switching away from main costs a preemption, so the
    // bounded search keeps it going round to the step limit. The diagnosis says that no fair
    // scheduler makes the run and what to do instead.
    let report = check(Config::dfs().preemption_bound(2).max_steps(5_000), || try_recv_loop(false));
    let failure = report.failure.expect("the bounded search keeps main going round its loop");
    assert!(matches!(failure.kind, FailureKind::StepLimit { .. }), "{}", failure.kind);
    let diagnosis = racelab_sim::diagnose(&failure.kind, &failure.trace).explanation;
    assert!(diagnosis.contains("main went round a loop for the last 1000 events while Thread-1 could run and was never scheduled"), "{diagnosis}");
    assert!(diagnosis.contains("yield in such loops (yield_now(), a zero sleep), which makes a bound end a loop one thread waits in, or sample them (--strategy pos, Config::pos, model())"), "{diagnosis}");
    // Sampling ends it: the loop is correct.
    check(Config::pos(1).runs(200), || try_recv_loop(false)).assert_passed();
}
