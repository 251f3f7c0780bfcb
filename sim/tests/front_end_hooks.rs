//! The runtime functions a front-end running foreign code on green threads relies on (the
//! Python package): the switch hook around every suspension, failing a run in the front-end's
//! own terms, and letting a teardown's unwind go on after foreign code stopped it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use racelab_sim::{check, rt, thread, Config, FailureKind, ThreadRef};

static BEFORE: AtomicUsize = AtomicUsize::new(0);
static AFTER: AtomicUsize = AtomicUsize::new(0);

fn counting_hook(switch: &mut dyn FnMut()) {
    BEFORE.fetch_add(1, Ordering::SeqCst);
    switch();
    AFTER.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn the_switch_hook_wraps_every_suspension_of_its_os_thread() {
    let report = check(Config::dfs().runs(50), || {
        rt::set_switch_hook(Some(counting_hook));
        let t = thread::spawn(|| {
            for _ in 0..3 {
                thread::yield_now();
            }
        });
        thread::yield_now();
        t.join();
    });
    assert!(report.failure.is_none(), "{report}");
    let (before, after) = (BEFORE.load(Ordering::SeqCst), AFTER.load(Ordering::SeqCst));
    assert!(before > 0, "the hook never ran");
    // Every suspension that was resumed came back through the hook; threads that ended do not
    // leave a suspension pending.
    assert_eq!(before, after);
}

#[test]
fn fail_run_reports_the_front_ends_failure() {
    let report = check(Config::random(1).runs(3), || {
        let t = thread::spawn(|| {
            rt::fail_run(FailureKind::Panic {
                thread: rt::thread_ref(rt::current()),
                message: "ValueError: boom".into(),
                location: Some("prog.py:3".into()),
            })
        });
        t.join();
    });
    let failure = report.failure.expect("the run fails");
    match failure.kind {
        FailureKind::Panic { thread: ThreadRef { name, .. }, message, location } => {
            assert_eq!(message, "ValueError: boom");
            assert_eq!(location.as_deref(), Some("prog.py:3"));
            assert_ne!(name, "main");
        }
        other => panic!("expected the front-end's panic, got {other:?}"),
    }
}

#[test]
fn resume_teardown_lets_a_cut_off_thread_finish_unwinding() {
    let caught = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&caught);
    let report = check(Config::dfs(), move || {
        let caught = Arc::clone(&seen);
        thread::Builder::new().daemon(true).spawn(move || {
            // Foreign code between the scheduling point and the thread's root catches the
            // unwind (as Python turns it into an exception), then lets it go on.
            let r = catch_unwind(AssertUnwindSafe(|| {
                for _ in 0..3 {
                    thread::yield_now();
                }
            }));
            if r.is_err() && rt::torn_down() {
                caught.fetch_add(1, Ordering::SeqCst);
                rt::resume_teardown();
            }
        });
        thread::yield_now();
    });
    assert!(report.failure.is_none(), "a teardown resumed this way is no failure: {report}");
    assert!(report.exhausted);
    assert!(caught.load(Ordering::SeqCst) > 0, "the daemon was never cut off mid-loop");
}
