//! racelab: a deterministic concurrency simulator.
//!
//! Write a concurrent program against racelab's threads and Python-faithful primitives, hand it
//! to [`check`], and racelab runs it many times under a seeded scheduler on a virtual clock.
//! Every failure comes back as a value in the [`Report`]: what went wrong (a deadlock naming
//! threads and locks, a panic, a misuse with Python's exception name, a step limit), the
//! [`Schedule`] that replays it exactly with [`replay`], and a readable trace.
//!
//! ```
//! use racelab::{check, Config, Shared, thread};
//!
//! let report = check(Config::dfs(), || {
//!     let counter = Shared::named("counter", 0u64);
//!     let workers: Vec<_> = (0..2)
//!         .map(|_| thread::spawn(move || {
//!             let v = counter.load();   // one step
//!             counter.store(v + 1);     // another: an update can be lost in between
//!         }))
//!         .collect();
//!     for w in workers {
//!         w.join();
//!     }
//!     assert_eq!(counter.load(), 2, "lost update");
//! });
//! let failure = report.failure.expect("dfs finds the lost update");
//! assert_eq!(failure.kind.name(), "panic");
//! // The schedule replays the failing run exactly.
//! let again = racelab::replay(&failure.schedule, || { /* the same program */ });
//! # let _ = again;
//! ```
//!
//! The crate re-exports the engine (`racelab-sim`) and the primitives (`racelab-primitives`);
//! the `racelab` binary runs the built-in scenario catalog (`racelab-scenarios`).

pub use racelab_primitives::{
    AnyLock, AsyncResult, Barrier, BarrierBuilder, BoundedSemaphore, Condition, Event, Lock, LockGuard,
    Process, ProcessQueue, PutError, Queue, QueueError, QueueKind, RLock, Semaphore, SemaphoreGuard, Shared,
    ThreadPool, Timer, WakeOrder,
};
pub use racelab_sim::{
    check, check_with_progress, diagnose, replay, BlockedThread, Choice, ChoiceKind, Config, ConfigError,
    DataRace, Deadlock, Diagnosis, DiagnosisKind, Failure, FailureKind, ObjectId, ObjectRef,
    ParseScheduleError, RaceAccess, ReleasePoints, Report, Schedule, Semantics, ShrunkFrom, StopFlag,
    StrategyConfig, TeardownPanic, ThreadId, ThreadPanics, ThreadRef, Trace, TracedRun, VirtualTime,
};

/// std's `thread` on simulated threads (`use racelab::thread;` in place of `use std::thread;`),
/// with Python's extras: daemons, `join_timeout`, `is_alive`, `wait`, thread-locals, `choose`.
pub use racelab_std::thread;

/// std's `sync` on simulated threads (`use racelab::sync::{Arc, Mutex, Condvar};` in place of
/// `std::sync`): `Mutex`, `RwLock`, `Condvar`, `Barrier`, `Once`, `OnceLock`, `mpsc`, `atomic`
/// (sequentially consistent), std's `Arc`/`Weak`.
pub use racelab_std::sync;

/// std's `time::{Instant, Duration}` on the virtual clock.
pub use racelab_std::time;

/// std's `hint`, whose `spin_loop` is a yield inside a run (as loom's is).
pub use racelab_std::hint;

/// `UnsafeCell` shaped like loom's, whose accesses are checked for data races.
pub use racelab_std::cell;

/// Record a concurrent object's operations and check the history against a sequential model.
pub use racelab_std::linearizability;

/// A proptest `Strategy` over interleavings, so a `proptest!` test varies inputs and schedules
/// together and shrinks toward fewer preemptions (cargo feature `proptest`, on by default).
#[cfg(feature = "proptest")]
pub use racelab_std::proptest;

/// One call for a `#[test]`: DPOR when it can finish, PCT sampling otherwise; panics with the
/// report and the lines that replay it.
pub use racelab_std::{model, Model};

pub use racelab_sim::rt::Misuse;
pub use racelab_sim::thread::choose;
/// One line of a [`Trace`] (named so it does not clash with the [`Event`] primitive).
pub use racelab_sim::Event as TraceEvent;

/// The README's Rust examples, compiled and run as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The engine's lower layers, for writing your own primitives: the runtime API, strategies,
/// the clock.
pub mod engine {
    pub use racelab_sim::{clock, rt, strategy};
}
