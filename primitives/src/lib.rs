//! Python-faithful synchronization primitives for racelab's simulated threads.
//!
//! Each primitive follows the semantics of its namesake in Python's `threading` module (see
//! `../shared/python-semantics.md`), errors on misuse included, and stands on one waiting core
//! (`wait_list`). Every place where Python leaves the outcome open is a scheduler choice.
//! Primitives are handles (`Copy`): their state lives inside the run, so a copy moved into
//! another thread refers to the same object, like a Python reference.

mod condition;
mod lock;
mod shared;
mod wait_list;

pub use condition::Condition;
pub use lock::{Lock, LockGuard};
pub use shared::Shared;
pub use wait_list::WakeOrder;
