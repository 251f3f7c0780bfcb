//! Python-faithful synchronization primitives for racelab's simulated threads.
//!
//! Each primitive follows the semantics of its namesake in Python's `threading` module (see the
//! README's "Semantics" section), errors on misuse included, and stands on one waiting core
//! (`wait_list`). Every place where Python leaves the outcome open is a scheduler choice.
//! Primitives are handles (`Copy`): their state lives inside the run, so a copy moved into
//! another thread refers to the same object, like a Python reference.

mod barrier;
mod condition;
mod event;
mod exclusive;
mod lock;
mod pool;
mod process;
mod queue;
mod rlock;
mod semaphore;
mod shared;
mod timer;
mod wait_list;
mod watched;

pub use barrier::{Barrier, BarrierBuilder};
#[doc(hidden)] // for racelab-std's Condvar, not an API of its own
pub use condition::trace_wait_end;
pub use condition::Condition;
pub use event::Event;
pub use lock::{AnyLock, Lock, LockGuard};
pub use pool::{AsyncResult, ThreadPool};
pub use process::{Process, ProcessQueue};
pub use queue::{PutError, Queue, QueueError, QueueKind};
pub use rlock::RLock;
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
pub use shared::Shared;
pub use timer::Timer;
pub use wait_list::WakeOrder;
pub use watched::Watched;
