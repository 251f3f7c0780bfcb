//! `Mutex<T>`: std's mutual-exclusion lock around the data it guards, with poisoning.
//!
//! The lock is the [`raw`](super::raw) core, registered with the run; the data lives in the
//! `Mutex` itself, reached only through a guard, so touching it is no scheduling point (as with
//! std, the lock's own steps order the accesses). `lock` is one step (its scheduling point, then
//! the take), and so is the guard's drop. A guard dropped while its thread panics poisons the
//! mutex, as std's does; a thread racelab unwinds at the end of a run poisons nothing.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use racelab_sim::rt::{self, ObjectHandle};

use super::raw;
use super::{LockResult, PoisonError, TryLockError, TryLockResult};

/// A mutual-exclusion lock protecting a `T`, as `std::sync::Mutex`.
pub struct Mutex<T: ?Sized> {
    obj: ObjectHandle,
    data: UnsafeCell<T>,
}

// SAFETY: as std's Mutex: the data is reached only through a guard, and the lock (whose state
// lives in the run) lets one guard exist at a time. racelab runs all green threads of a run on
// one OS thread; an OS thread of the program's own that touches the mutex fails in `rt` before
// reaching the data.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: see above: shared access hands out `&mut T` only to the one guard holder.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// As std's: a panic while holding the lock poisons it, which is how unwind safety is kept.
impl<T: ?Sized> std::panic::UnwindSafe for Mutex<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`, registered with the current run as `Mutex-<n>`.
    pub fn new(value: T) -> Self {
        Mutex { obj: raw::register("Mutex"), data: UnsafeCell::new(value) }
    }

    /// Consumes the mutex and returns its data; `Err` holding it when the mutex is poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = raw::poisoned_now(self.obj);
        let value = self.data.into_inner();
        if poisoned {
            Err(PoisonError::new(value))
        } else {
            Ok(value)
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Blocks until the lock is taken; `Err` holding the guard when the mutex is poisoned.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let poisoned = raw::lock(self.obj, None).unwrap_or_else(|| {
            assert!(rt::unwinding(), "racelab invariant: a lock without deadline timed out");
            raw::held_while_unwinding(self.obj, "lock")
        });
        self.guard(poisoned)
    }

    /// Takes the lock if it is free: `WouldBlock` when another thread holds it.
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        match raw::try_lock(self.obj) {
            None => Err(TryLockError::WouldBlock),
            Some(poisoned) => self.guard(poisoned).map_err(TryLockError::Poisoned),
        }
    }

    /// True when a thread panicked holding the lock (and nobody cleared it since): one step.
    pub fn is_poisoned(&self) -> bool {
        raw::is_poisoned(self.obj)
    }

    /// Clears the poison flag: one step.
    pub fn clear_poison(&self) {
        raw::clear_poison(self.obj)
    }

    /// The data, through the exclusive borrow (no step: nobody else can reach the mutex).
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = raw::poisoned_now(self.obj);
        let data = self.data.get_mut();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    pub(crate) fn handle(&self) -> ObjectHandle {
        self.obj
    }

    /// A guard for a lock just taken by the current thread.
    pub(crate) fn guard(&self, poisoned: bool) -> LockResult<MutexGuard<'_, T>> {
        let guard = MutexGuard { mutex: self, panicking: rt::panicking(), _not_send: PhantomData };
        if poisoned {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    /// The mutex's name only: showing the data would take the lock, a step of the program's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").field("name", &rt::object_name(self.obj)).finish_non_exhaustive()
    }
}

/// The lock held on a [`Mutex`]: the data through `Deref`/`DerefMut`, released on drop.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    mutex: &'a Mutex<T>,
    /// Whether the thread was unwinding when it took the lock: as std's, such a guard (taken by a
    /// destructor during a panic) poisons nothing.
    panicking: bool,
    /// As std's guard, not `Send`: it is released by the thread that took it.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: as std's: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex, for a condition wait, which releases it without dropping the guard.
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard is alive, so its thread holds the lock: no other reference to the
        // data exists outside this guard's borrows.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if !rt::in_simulation() {
            return; // see `Sender`'s drop
        }
        raw::unlock(self.mutex.obj, !self.panicking && raw::poisoning());
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
