//! What an outside Rust user's trial (session 13) found, each fixed: a `Local`'s values dropped
//! in their thread, racelab values left in a `thread_local!`, instants before the run's start,
//! pointers in traces, a sleep that never ends, and std's thread items that were missing.

use std::cell::RefCell;
use std::time::Duration;

use racelab_sim::{check, replay, Config, FailureKind};
use racelab_std::sync::atomic::{AtomicPtr, Ordering};
use racelab_std::sync::mpsc;
use racelab_std::thread::{self, Local};
use racelab_std::time::Instant;

#[test]
fn a_locals_value_is_dropped_in_its_thread_when_the_thread_ends() {
    // std drops a thread's thread-locals when it exits: a `Sender` kept there disconnects the
    // channel by the time `join` returns. It was dropped with the run's objects instead, outside
    // every thread, where its `Drop` panicked and replaced the program's own verdict.
    let report = check(Config::dfs(), || {
        let (tx, rx) = mpsc::channel::<i32>();
        let local: Local<mpsc::Sender<i32>> = Local::new();
        thread::spawn(move || local.set(tx)).join().unwrap();
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    });
    report.assert_passed();
    assert!(report.exhausted);
}

#[test]
fn a_failure_with_a_local_holding_a_sender_is_the_programs_own() {
    let report = check(Config::dfs(), || {
        let (tx, _rx) = mpsc::channel::<i32>();
        let local: Local<mpsc::Sender<i32>> = Local::new();
        local.set(tx);
        assert_eq!(1 + 1, 3, "the program's own assertion");
    });
    let failure = report.failure.expect("the assertion fails the run");
    assert!(failure.kind.to_string().contains("the program's own assertion"), "{}", failure.kind);
}

thread_local! {
    static LEFT: RefCell<Option<mpsc::Sender<i32>>> = const { RefCell::new(None) };
}

#[test]
fn a_sender_left_in_a_thread_local_does_not_abort_the_process() {
    // The value outlives its run in the explorer's OS thread, and is dropped when that thread
    // exits: its `Drop` used to panic there, which aborts the process ("thread local panicked
    // on drop", and every other test of the binary died with it). Outside a run every racelab
    // value's drop now does nothing. (A second run that replaces the value drops the first run's
    // `Sender` inside itself: that is reported, as any object kept from another run.)
    let report = check(Config::dfs(), || {
        let (tx, _rx) = mpsc::channel::<i32>();
        LEFT.with(|c| *c.borrow_mut() = Some(tx));
    });
    report.assert_passed();
    assert_eq!(report.runs, 1);
}

#[test]
fn an_instant_before_the_runs_start_exists_as_in_std() {
    check(Config::dfs(), || {
        let now = Instant::now();
        let earlier = now - Duration::from_secs(5);
        assert_eq!(now.checked_sub(Duration::from_secs(5)), Some(earlier));
        assert!(earlier < now);
        assert_eq!(now.duration_since(earlier), Duration::from_secs(5));
        assert_eq!(earlier.duration_since(now), Duration::ZERO);
        assert_eq!(earlier.elapsed(), Duration::from_secs(5));
        assert_eq!(format!("{earlier:?}"), "Instant(-5s)");
        assert_eq!(earlier + Duration::from_secs(5), now);
        assert!(now.checked_sub(Duration::MAX).is_none());
        // Farther apart than a u64 of nanoseconds (584 years): still exact.
        let late = now + Duration::from_secs(400 * 365 * 86_400);
        let early = now - Duration::from_secs(200 * 365 * 86_400);
        assert_eq!(late.duration_since(early), Duration::from_secs(600 * 365 * 86_400));
    })
    .assert_passed();
}

#[test]
fn pointers_in_a_trace_are_numbered_so_a_replay_has_the_same_bytes() {
    let program = || {
        let a = Box::into_raw(Box::new(1u32));
        let b = Box::into_raw(Box::new(2u32));
        let p = AtomicPtr::new(std::ptr::null_mut());
        p.store(a, Ordering::SeqCst);
        let _ = p.compare_exchange(a, b, Ordering::SeqCst, Ordering::SeqCst);
        let seen = p.swap(a, Ordering::SeqCst);
        // SAFETY: both came from `Box::into_raw` above and are freed once.
        unsafe {
            drop(Box::from_raw(a));
            drop(Box::from_raw(b));
        }
        assert!(seen.is_null(), "fails, to get a trace");
    };
    let report = check(Config::dfs(), program);
    let failure = report.failure.expect("the assertion fails");
    let text = failure.trace.to_string();
    assert!(text.contains("store       AtomicPtr-1     ptr#1") || text.contains("ptr#1\n"), "{text}");
    assert!(text.contains("ptr#1 -> ptr#2") && text.contains("ptr#2 -> ptr#1"), "{text}");
    assert!(!text.contains("0x"), "an address in the trace: {text}");
    let again = replay(&failure.schedule, program);
    let traced = again.traced.expect("a replay traces its run");
    assert_eq!(traced.trace.to_string(), text, "the replay's trace has other bytes");
}

#[test]
fn a_sleep_past_the_end_of_the_clock_is_a_deadlock_that_names_the_sleeper() {
    let report = check(Config::dfs(), || {
        let h = thread::spawn(|| thread::sleep(Duration::MAX));
        h.join().unwrap();
    });
    let failure = report.failure.expect("nothing ends the sleep");
    let FailureKind::Deadlock(deadlock) = &failure.kind else {
        panic!("expected a deadlock, got {}", failure.kind)
    };
    let sleeper =
        deadlock.blocked.iter().find(|b| b.thread.name == "Thread-1").expect("the sleeper is named");
    assert!(
        sleeper.note.as_deref().unwrap_or("").contains("past the end of the virtual clock"),
        "{sleeper:?}"
    );
    assert!(!failure.kind.to_string().contains(": ."), "{}", failure.kind);
}

#[test]
fn std_thread_items_a_port_uses_exist() {
    check(Config::dfs(), || {
        assert_eq!(thread::available_parallelism().unwrap().get(), thread::RUN_CPUS);
        thread_local!(static K: u32 = const { 7 });
        let key: &'static thread::LocalKey<u32> = &K;
        assert_eq!(key.with(|k| *k), 7);
    })
    .assert_passed();
}

struct LocksOnDrop(racelab_std::sync::Arc<racelab_std::sync::Mutex<u32>>);

impl Drop for LocksOnDrop {
    fn drop(&mut self) {
        *self.0.lock().unwrap() += 1;
    }
}

#[test]
fn a_local_left_by_a_failing_thread_does_not_hide_the_verdict() {
    // Main fails with a value in a `Local` whose `Drop` locks a racelab `Mutex`: it is never
    // dropped in its thread, and dropping it with the run's objects, outside every thread,
    // replaced the program's failure by racelab's "an OS thread used a racelab primitive".
    let report = check(Config::dfs(), || {
        let local: Local<LocksOnDrop> = Local::new();
        local.set(LocksOnDrop(racelab_std::sync::Arc::new(racelab_std::sync::Mutex::new(0))));
        assert_eq!(1 + 1, 3, "the program's own assertion");
    });
    let failure = report.failure.expect("the assertion fails the run");
    assert!(failure.kind.to_string().contains("the program's own assertion"), "{}", failure.kind);
}
