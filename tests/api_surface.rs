//! Every name the README's API reference promises, used from the `racelab` crate as a user
//! would: this file fails to compile when the README and the exports drift apart.

#![allow(unused_imports, dead_code)]

use racelab::engine::{clock, rt, strategy};
use racelab::hint::{assert_unchecked, black_box, spin_loop, unreachable_unchecked};
use racelab::thread::{choose, current, sleep, spawn, yield_now, Builder, JoinHandle, Local, Thread};
use racelab::{
    check, check_with_progress, diagnose, replay, AnyLock, AsyncResult, Barrier, BarrierBuilder,
    BlockedThread, BoundedSemaphore, Choice, ChoiceKind, Condition, Config, Deadlock, Diagnosis,
    DiagnosisKind, Event, Failure, FailureKind, Lock, LockGuard, Misuse, ObjectId, ObjectRef,
    ParseScheduleError, Process, ProcessQueue, PutError, Queue, QueueError, QueueKind, RLock, Report,
    Schedule, Semantics, Semaphore, SemaphoreGuard, Shared, StrategyConfig, ThreadId, ThreadPool, ThreadRef,
    Timer, Trace, TraceEvent, TracedRun, VirtualTime, WakeOrder,
};

#[test]
fn the_documented_names_exist() {
    let report = check_with_progress(Config::dfs().runs(10), || {}, &mut |_| {});
    assert!(report.passed());
    // Coverage figures and the reduction switch.
    let config = Config::dfs().dpor(false);
    assert!(!config.uses_dpor() && Config::dfs().uses_dpor());
    let (_, _, _): (u64, Option<u64>, u64) =
        (report.redundant_runs, report.distinct_runs, report.elapsed_micros);
    assert!(report.coverage().starts_with("1 run"));
    // The runtime API a primitive of your own uses.
    let _ = (
        rt::schedule_point,
        rt::block,
        rt::wake,
        rt::held_by_another,
        rt::schedule_point_contending,
        rt::block_until_free,
        rt::add_holder,
        rt::remove_holder,
        rt::wake_into,
    );
    let _: fn(&FailureKind, &Trace) -> Diagnosis = diagnose;
    // A primitive's state is reached only through closures that record each access.
    let report = check(Config::dfs(), || {
        let obj = rt::register("Mine", None, 1u8);
        let v = rt::read(obj, |s: &u8| *s);
        rt::write(obj, |s: &mut u8| *s += v);
        assert_eq!(rt::read(obj, |s: &u8| *s), 2);
    });
    report.assert_passed();
}

/// The std-shaped names of "Test your own Rust code" and the API reference, used as a user would.
#[test]
fn the_std_shaped_names_exist() {
    use racelab::cell::UnsafeCell;
    use racelab::linearizability::{History, NotLinearizable};
    use racelab::proptest::{interleavings, interleavings_up_to, Interleaving};
    use racelab::sync::atomic::{
        fence, AtomicBool, AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicPtr, AtomicU16,
        AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    use racelab::sync::mpsc::{
        self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError, TrySendError,
    };
    use racelab::sync::{
        Arc, Barrier, BarrierWaitResult, Condvar, LockResult, Mutex, MutexGuard, Once, OnceLock, PoisonError,
        RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError, TryLockResult, WaitTimeoutResult, Weak,
    };
    use racelab::time::{Duration, Instant};
    use racelab::{model, DataRace, Model, RaceAccess, ThreadPanics};

    let _ = (interleavings(), interleavings_up_to(8), Interleaving::new(vec![0, 1]));
    let _: Option<(DataRace, RaceAccess, NotLinearizable, ThreadPanics)> = None;
    let _ = Model::new().runs(10).max_time(Duration::from_secs(1));
    model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let weak: Weak<Mutex<u32>> = Arc::downgrade(&m);
        let c = Arc::new(Condvar::new());
        let start = Instant::now();
        let h = racelab::thread::spawn({
            let (m, c) = (Arc::clone(&m), Arc::clone(&c));
            move || {
                let mut g: MutexGuard<u32> = m.lock().unwrap();
                *g += 1;
                c.notify_one();
            }
        });
        let g = m.lock().unwrap();
        let (g, timed_out): (MutexGuard<u32>, WaitTimeoutResult) =
            c.wait_timeout_while(g, Duration::from_secs(1), |v| *v == 0).unwrap();
        assert!(*g == 1 || timed_out.timed_out());
        drop(g);
        h.join().unwrap();
        assert!(start.elapsed() <= Duration::from_secs(1) && weak.upgrade().is_some());
        let _: LockResult<()> = Ok(());
        let _: TryLockResult<()> = Ok(());
        let _: Option<(PoisonError<()>, TryLockError<()>)> = None;
        let rw = RwLock::new(1);
        let _: RwLockReadGuard<i32> = rw.read().unwrap();
        let _w: Option<RwLockWriteGuard<i32>> = None;
        let _: BarrierWaitResult = Barrier::new(1).wait();
        let once = Once::new();
        once.call_once(|| ());
        let cell = OnceLock::new();
        assert_eq!(*cell.get_or_init(|| 5), 5);
        let (tx, rx): (Sender<u8>, Receiver<u8>) = mpsc::channel();
        tx.send(1).unwrap();
        assert_eq!(rx.recv(), Ok(1));
        let (stx, srx): (SyncSender<u8>, Receiver<u8>) = mpsc::sync_channel(1);
        assert!(matches!(stx.try_send(2), Ok(()) | Err(TrySendError::Full(_))));
        assert!(matches!(srx.try_recv(), Ok(2) | Err(TryRecvError::Empty)));
        let _: Result<u8, RecvTimeoutError> = srx.recv_timeout(Duration::from_millis(1));
        let a = AtomicUsize::new(0);
        a.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let _ = (
            AtomicBool::new(false),
            AtomicIsize::new(0),
            AtomicU8::new(0),
            AtomicU16::new(0),
            AtomicU32::new(0),
            AtomicU64::new(0),
            AtomicI8::new(0),
            AtomicI16::new(0),
            AtomicI32::new(0),
            AtomicI64::new(0),
            AtomicPtr::<u8>::new(std::ptr::null_mut()),
        );
        let uc = UnsafeCell::new(3);
        // SAFETY: one thread, no other access.
        assert_eq!(uc.with(|p| unsafe { *p }), 3);
        let history: History<&str, u32> = History::new();
        history.call("get", || 0);
        history.assert_linearizable(0u32, |s, _op| *s);
    });
}
