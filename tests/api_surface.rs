//! Every name the README's API reference promises, used from the `racelab` crate as a user
//! would: this file fails to compile when the README and the exports drift apart.

#![allow(unused_imports, dead_code)]

use racelab::engine::{clock, rt, strategy};
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
