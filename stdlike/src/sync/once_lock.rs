//! `OnceLock<T>`: std's write-once cell, built on [`Once`](super::Once).
//!
//! The value lives in the cell itself; the `Once`'s state (in the run) orders every access, so
//! `get` is a step that reads it and `set`/`get_or_init` write it.

use std::cell::UnsafeCell;
use std::fmt;

use super::Once;

/// A cell written at most once, as `std::sync::OnceLock`.
pub struct OnceLock<T> {
    once: Once,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: as std's OnceLock: the value is written once, by the thread running the `Once`'s
// initializer, before the `Once` completes; it is read only after. Green threads of a run share
// one OS thread.
unsafe impl<T: Send> Send for OnceLock<T> {}
// SAFETY: see above; `&T` is shared with readers, and any thread may set it.
unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}
// As std's: the value is never seen half-written (an initializer that panics stores nothing).
impl<T: std::panic::UnwindSafe> std::panic::UnwindSafe for OnceLock<T> {}
impl<T: std::panic::RefUnwindSafe + std::panic::UnwindSafe> std::panic::RefUnwindSafe for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell, registered with the current run (its `Once`).
    pub fn new() -> Self {
        OnceLock { once: Once::new(), value: UnsafeCell::new(None) }
    }

    /// The value, if set: one step.
    pub fn get(&self) -> Option<&T> {
        if self.once.is_completed() {
            // SAFETY: completed: the value was written and is never written again.
            unsafe { (*self.value.get()).as_ref() }
        } else {
            None
        }
    }

    /// The value through the exclusive borrow (no step).
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.value.get_mut().as_mut()
    }

    /// Sets the value if empty; `Err(value)` when it was already set.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("racelab invariant: the initializer runs once"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// The value, initializing it with `f` when empty (blocking while another thread does).
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        self.once.call_once_force(|_| {
            let v = f();
            // SAFETY: only the initializer writes, and no reader reads before completion.
            unsafe { *self.value.get() = Some(v) };
        });
        // SAFETY: the Once completed: the value is set and never written again.
        unsafe { (*self.value.get()).as_ref() }
            .expect("racelab invariant: a completed OnceLock holds a value")
    }

    /// Consumes the cell and returns its value, if set.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Takes the value out through the exclusive borrow, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        let v = self.value.get_mut().take();
        if v.is_some() {
            self.once = Once::new();
        }
        v
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    /// Names the cell's `Once` without showing the value: reading it would be a step.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceLock").field("once", &self.once).finish_non_exhaustive()
    }
}
