//! A thread's destructors run while it unwinds from a panic of its own, and, as with std, they may
//! wait for other threads: a pool's `Drop` that joins its workers after main's assertion failed,
//! a guard that takes a lock another thread holds. racelab suspends the unwinding thread there
//! and runs the others (it used to spin until the watchdog killed the test process). Meanwhile
//! std's `thread::panicking` is true for the whole OS thread, so racelab keeps its own answer
//! per green thread: the others' guards must not poison, nor their points be skipped.

use racelab::sync::atomic::{AtomicBool, Ordering};
use racelab::sync::mpsc;
use racelab::sync::{Arc, Mutex};
use racelab::{check, thread, Config, ThreadPanics};

/// Runs `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// The Rust book's pool, cut down to one worker: dropping it closes the channel and joins.
struct Pool {
    sender: Option<mpsc::Sender<u32>>,
    worker: Option<thread::JoinHandle<()>>,
}

impl Pool {
    fn new() -> Self {
        let (sender, receiver) = mpsc::channel::<u32>();
        let worker = thread::spawn(move || while receiver.recv().is_ok() {});
        Pool { sender: Some(sender), worker: Some(worker) }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        drop(self.sender.take());
        self.worker.take().expect("dropped once").join().unwrap();
    }
}

#[test]
fn a_pool_joined_by_its_drop_after_mains_assertion_failed_reports_the_assertion() {
    for config in [Config::dfs(), Config::random(7).runs(50), Config::pct(7, 3).runs(50)] {
        let report = check(config, || {
            let pool = Pool::new();
            pool.sender.as_ref().unwrap().send(1).unwrap();
            assert_eq!(1 + 1, 3, "main's own assertion");
        });
        let failure = report.failure.as_ref().expect("the assertion fails in every run");
        assert_eq!(failure.run, 0, "{report}");
        assert_eq!(failure.diagnosis.kind.name(), "assertion", "{report}");
        let text = report.to_string();
        assert!(text.contains("main's own assertion"), "{text}");
        assert!(failure.teardown_panic.is_none(), "{text}");
        // The worker ran while main was halfway through its unwinding, and main's join returned.
        assert!(text.contains("Disconnected"), "{text}");
        assert!(
            text.lines().any(|l| l.contains("join") && l.trim_end().ends_with("ok   <-- fails here")),
            "{text}"
        );
    }
}

#[test]
fn a_guard_dropped_while_another_thread_is_suspended_in_its_unwinding_does_not_poison() {
    // The worker panics; its destructor waits for `gate`, which main holds, so the worker stays
    // suspended halfway through its unwinding while main takes and drops `data`'s guard, asks
    // whether it panics, and takes a lock in a destructor of its own. None of that is a panic of
    // main's. The worker's guard of `gate`, taken during its unwinding, poisons nothing either
    // (as std's: a guard poisons only for a panic that began after it was taken).
    let report = check(Config::dfs().thread_panics(ThreadPanics::Join), || {
        let gate = Arc::new(Mutex::new(()));
        let data = Arc::new(Mutex::new(0));
        let held = gate.lock().unwrap();
        let gate2 = Arc::clone(&gate);
        let worker = thread::spawn(move || {
            let _cleanup = OnDrop(move || drop(gate2.lock().unwrap()));
            panic!("the worker fails");
        });
        thread::yield_now();
        {
            let mut d = data.lock().unwrap();
            *d += 1;
        }
        assert!(!thread::panicking(), "main is not panicking");
        assert!(!data.is_poisoned(), "main's guard poisoned the mutex while the worker was unwinding");
        drop(held);
        assert!(worker.join().is_err(), "the worker panicked");
        assert!(!gate.is_poisoned(), "a guard taken during the worker's unwinding poisoned its lock");
        assert_eq!(*data.lock().unwrap(), 1);
    });
    assert!(report.failure.is_none(), "{report}");
    assert!(report.exhausted, "{report}");
    // More than one run: the worker's wait inside its unwinding is a real wait, interleaved.
    assert!(report.runs > 1, "{report}");
}

#[test]
fn a_destructor_that_waits_for_ever_during_a_panic_is_a_deadlock_not_a_watchdog_exit() {
    // A worker panics holding `a`; its destructor waits for `b`, which the other worker may hold
    // while it waits for `a`: std hangs there, and racelab reports the deadlock.
    let report = check(Config::dfs().thread_panics(ThreadPanics::Join), || {
        let a = Arc::new(Mutex::new(0));
        let b = Arc::new(Mutex::new(0));
        let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
        let failing = thread::spawn(move || {
            let _held_a = a.lock().unwrap();
            let _cleanup = OnDrop(move || drop(b.lock().unwrap()));
            panic!("the worker gives up");
        });
        let other = thread::spawn(move || {
            let _b = b2.lock().unwrap();
            let _a = a2.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        });
        assert!(failing.join().is_err());
        other.join().unwrap();
    });
    let failure = report.failure.as_ref().expect("a run deadlocks");
    assert_eq!(failure.diagnosis.kind.name(), "deadlock", "{report}");
    // The worker was left waiting inside its destructor: the teardown ends that wait, and says the
    // panic that follows is its own doing.
    let panic = failure.teardown_panic.as_ref().expect("the cut-short wait is noted");
    assert!(panic.after_cut_short_wait, "{report}");
}

#[test]
fn replays_of_a_run_with_a_wait_inside_an_unwinding_are_byte_identical() {
    let program = || {
        let pool = Pool::new();
        let sender = pool.sender.as_ref().unwrap().clone();
        let other = thread::spawn(move || sender.send(2).unwrap());
        other.join().unwrap();
        assert_eq!(1 + 1, 3, "main's own assertion");
    };
    let traces: Vec<String> =
        (0..3).map(|_| check(Config::random(11).runs(20), program).to_string()).collect();
    assert_eq!(traces[0], traces[1]);
    assert_eq!(traces[1], traces[2]);
}

#[test]
fn a_destructor_that_parks_or_yields_until_a_worker_is_done_waits_for_it_during_a_panic() {
    // Both spun until the watchdog exited the process: park returned at once while unwinding, and
    // a yield was no scheduling point then.
    for parks in [false, true] {
        let report = check(Config::dfs(), move || {
            let done = Arc::new(AtomicBool::new(false));
            let done2 = Arc::clone(&done);
            let main_thread = thread::current();
            let _worker = thread::spawn(move || {
                done2.store(true, Ordering::SeqCst);
                main_thread.unpark();
            });
            let _wait = OnDrop(move || {
                while !done.load(Ordering::SeqCst) {
                    if parks {
                        thread::park();
                    } else {
                        thread::yield_now();
                    }
                }
            });
            panic!("main's own assertion");
        });
        let failure = report.failure.as_ref().expect("the panic fails the run");
        assert_eq!(failure.diagnosis.kind.name(), "assertion", "parks {parks}: {report}");
        assert!(report.to_string().contains("main's own assertion"), "{report}");
    }
}

#[test]
fn a_panic_is_located_in_its_own_thread_while_another_is_suspended_in_its_unwinding() {
    // Locations were kept per OS thread: main, suspended in its unwinding, was reported at the
    // panic a worker raised (and caught) meanwhile.
    let report = check(Config::dfs().runs(1), || {
        let gate = Arc::new(Mutex::new(()));
        let gate2 = Arc::clone(&gate);
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let _worker = thread::spawn(move || {
            let g = gate2.lock().unwrap();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let _ = std::panic::catch_unwind(|| panic!("caught inside the worker"));
            drop(g);
        });
        held_rx.recv().unwrap();
        let _cleanup = OnDrop(move || {
            go_tx.send(()).unwrap();
            drop(gate.lock());
        });
        panic!("main's own assertion");
    });
    let text = report.to_string();
    let line = text.lines().find(|l| l.starts_with("panic in thread main")).expect("main's panic");
    let source = include_str!("unwinding.rs");
    let expected = source
        .lines()
        .collect::<Vec<_>>()
        .iter()
        .rposition(|l| l.trim() == "panic!(\"main's own assertion\");")
        .unwrap()
        + 1;
    assert!(line.contains(&format!("tests/unwinding.rs:{expected}:")), "{text}");
}
