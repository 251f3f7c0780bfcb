//! std's `sync`, shaped as `std::sync` and run by racelab: switch `use std::sync` for
//! `use racelab::sync` and the same code runs under the simulator.
//!
//! Every operation another thread can observe is a step: a scheduling point, then one access to
//! the object's state through `rt::read` (loads, `is_poisoned`) or `rt::write` (everything that
//! changes it), so partial-order reduction sees exactly what each step touched. Data a lock
//! guards lives in the lock, reached through the guard without a step, as in std.
//!
//! What std leaves open is the scheduler's (recorded in the schedule): who takes a lock after a
//! release, which waiter `notify_one` wakes, spurious condition wake-ups (within
//! `Config::spurious_wakeups`), whether a timeout or a notify came first. Atomics are
//! sequentially consistent whatever `Ordering` the program passes (see [`atomic`]).
//!
//! `Arc` and `Weak` are racelab's: the search sees their counts, so it explores which thread
//! drops a value last and what `strong_count`, `try_unwrap` or `Weak::upgrade` can return; their
//! clones and drops take no step of their own until something depends on the counts (see
//! [`Arc`]). The error and result types are std's own
//! (`PoisonError`, `TryLockError`, `LockResult`, `TryLockResult`, and `mpsc`'s errors), so code
//! matching on them compiles unchanged; the few std types with private constructors
//! (`WaitTimeoutResult`, `BarrierWaitResult`, `OnceState`) have look-alikes here.

mod arc;
pub mod atomic;
mod barrier;
mod condvar;
pub mod mpsc;
mod mutex;
mod once;
mod once_lock;
mod raw;
mod rwlock;

pub use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

pub use arc::{Arc, Weak};

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceState};
pub use once_lock::OnceLock;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
