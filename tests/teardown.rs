//! The end of a failing run: racelab unwinds every thread still alive, and their destructors
//! run. A destructor that waits (a pool's `Drop` joining its workers, a sleep, a send on a full
//! channel) can never be woken then, since no other thread runs. Such waits used to spin for
//! ever, and the watchdog killed the process with the report unwritten. Now they end at once,
//! and the failure is reported as found.

use std::time::Duration;

use racelab::sync::{mpsc, Arc, Mutex};
use racelab::{check, thread, Config, Report};

/// Runs `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// What a destructor of main does as the teardown unwinds it: given the lock main holds and the
/// handle of the other thread.
type Cleanup = fn(&Arc<Mutex<i32>>, thread::JoinHandle<()>);

/// A lock-order deadlock in which main holds `held` and, in a destructor that runs as the
/// teardown unwinds it, calls `cleanup` with `held` and the handle of the other thread.
fn deadlock_with_cleanup<C>(cleanup: C) -> Report
where
    C: Fn(&Arc<Mutex<i32>>, thread::JoinHandle<()>) + Send + Sync + 'static,
{
    let cleanup = Arc::new(cleanup);
    check(Config::dfs(), move || {
        let a = Arc::new(Mutex::new(0));
        let b = Arc::new(Mutex::new(0));
        let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
        let mut other = Some(thread::spawn(move || {
            let _b = b2.lock().unwrap();
            let _a = a2.lock().unwrap();
        }));
        let held = Arc::new(Mutex::new(0));
        let _held = held.lock().unwrap();
        let (cleanup, held_too) = (Arc::clone(&cleanup), Arc::clone(&held));
        let _cleanup = OnDrop(move || cleanup(&held_too, other.take().expect("dropped once")));
        let _a = a.lock().unwrap();
        let _b = b.lock().unwrap();
    })
}

fn kind(report: &Report) -> &'static str {
    report.failure.as_ref().expect("the deadlock is found").diagnosis.kind.name()
}

#[test]
fn destructors_that_wait_during_the_teardown_end_and_the_failure_is_reported() {
    let cleanups: [(&str, Cleanup); 3] = [
        ("join", |_, h| {
            assert!(h.join().is_err(), "the other thread was cut off before it returned");
        }),
        ("sleep", |_, _| thread::sleep(Duration::from_secs(1))),
        ("rendezvous send", |_, _| {
            let (tx, _rx) = mpsc::sync_channel(0);
            tx.send(1).expect("the item stays queued");
        }),
    ];
    for (what, cleanup) in cleanups {
        let report = deadlock_with_cleanup(cleanup);
        assert_eq!(kind(&report), "deadlock", "{what}");
        let failure = report.failure.as_ref().unwrap();
        assert!(failure.teardown_panic.is_none(), "{what}: {:?}", failure.teardown_panic);
    }
}

#[test]
fn a_destructor_that_panics_after_a_cut_short_wait_is_blamed_on_the_teardown() {
    // The Rust book's thread pool joins its workers in `Drop` with `join().unwrap()`; in a
    // teardown the join gives Err, and the unwrap's panic is racelab's doing.
    let joined = deadlock_with_cleanup(|_, h| h.join().unwrap());
    let panic = joined.failure.as_ref().unwrap().teardown_panic.as_ref().expect("the panic is noted");
    assert!(panic.after_cut_short_wait, "{panic}");
    assert!(panic.message.contains("called `Result::unwrap()`"), "{panic}");
    assert!(panic.to_string().contains("not a bug of your program"), "{panic}");
    // Waits whose loops would spin (a wait-group in `Drop`, a park loop) end in a panic that
    // says why, and the teardown abandons the thread.
    let waited = deadlock_with_cleanup(|_, _| {
        let pair = Arc::new((Mutex::new(false), racelab::sync::Condvar::new()));
        let mut done = pair.0.lock().unwrap();
        while !*done {
            done = pair.1.wait(done).unwrap();
        }
    });
    let parked = deadlock_with_cleanup(|_, _| loop {
        thread::park();
    });
    for report in [&waited, &parked] {
        assert_eq!(kind(report), "deadlock");
        let panic = report.failure.as_ref().unwrap().teardown_panic.as_ref().expect("the panic is noted");
        assert!(panic.after_cut_short_wait, "{panic}");
        assert!(panic.message.contains("would wait while the end-of-run teardown unwinds"), "{panic}");
    }
}

#[test]
fn a_destructor_that_panics_on_its_own_is_still_blamed_on_the_program() {
    let report = deadlock_with_cleanup(|_, _| panic!("cleanup failed"));
    let panic = report.failure.as_ref().unwrap().teardown_panic.as_ref().expect("the panic is noted");
    assert!(!panic.after_cut_short_wait, "{panic}");
    assert!(panic.to_string().contains("A destructor must not panic"), "{panic}");
    // Also after a wait racelab could end truthfully (a sleep), and for a lock the thread
    // itself holds (a self-deadlock under std).
    let slept = deadlock_with_cleanup(|_, _| {
        thread::sleep(Duration::from_secs(1));
        panic!("cleanup failed");
    });
    let relocked = deadlock_with_cleanup(|held, _| drop(held.lock()));
    for (report, message) in [(&slept, "cleanup failed"), (&relocked, "which this thread already holds")] {
        let panic = report.failure.as_ref().unwrap().teardown_panic.as_ref().expect("the panic is noted");
        assert!(!panic.after_cut_short_wait, "{panic}");
        assert!(panic.message.contains(message), "{panic}");
    }
}
