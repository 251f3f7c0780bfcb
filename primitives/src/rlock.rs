//! `RLock`: Python's `threading.RLock`, a reentrant lock with an owner and a recursion count.
//!
//! The owner may acquire it again (the count goes up, even with `blocking=False`); only the
//! owner may release it, and only the outermost release frees it. A thread that ends while
//! holding it leaves it held forever. Who gets it after a release is a scheduler choice, as for
//! [`Lock`](crate::Lock).

use std::fmt;
use std::time::Duration;

use racelab_sim::rt::{self, Misuse, ObjectHandle};
use racelab_sim::ThreadId;

use crate::exclusive::{self, Exclusive, Patience};
use crate::lock::{AnyLock, LockGuard};

#[derive(Debug, Default)]
struct RLockState {
    owner: Option<ThreadId>,
    count: usize,
}

impl Exclusive for RLockState {
    fn try_take(&mut self, me: ThreadId, levels: usize) -> Result<(), ThreadId> {
        match self.owner {
            None => {
                self.owner = Some(me);
                self.count = levels;
                Ok(())
            }
            Some(o) => Err(o),
        }
    }
}

const NOT_OWNER: &str = "cannot release un-acquired lock";

/// A Python `threading.RLock`. It is a handle: copies refer to the same lock.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RLock {
    obj: ObjectHandle,
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RLock({})", rt::object_name(self.obj))
    }
}

impl RLock {
    /// A new, free reentrant lock, named `RLock-<n>` in traces.
    pub fn new() -> Self {
        RLock { obj: rt::register("RLock", None, RLockState::default()) }
    }

    /// A new reentrant lock with a name for traces and reports.
    pub fn named(name: impl Into<String>) -> Self {
        RLock { obj: rt::register("RLock", Some(name.into()), RLockState::default()) }
    }

    /// Blocks until acquired (at once if the caller owns it). Returns true.
    pub fn acquire(&self) -> bool {
        let patience = Patience::Until(None);
        exclusive::contend(self.obj, patience).unwrap_or_else(|| self.acquire_now(patience, 1))
    }

    /// Waits at most `timeout` of virtual time; false if it timed out.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let patience = Patience::Until(Some(rt::now().after(timeout)));
        exclusive::contend(self.obj, patience).unwrap_or_else(|| self.acquire_now(patience, 1))
    }

    /// `acquire(blocking=False)`.
    pub fn try_acquire(&self) -> bool {
        rt::schedule_point();
        rt::observe_lock(self.obj, "try_acquire");
        self.acquire_now(Patience::NoWait, 1)
    }

    /// Acquires and returns a guard that releases on drop: `with rlock:`.
    pub fn lock(&self) -> LockGuard {
        self.acquire();
        LockGuard { lock: AnyLock::RLock(*self) }
    }

    /// Releases one level. By a thread that does not own it, or when it is free, this is
    /// Python's `RuntimeError: cannot release un-acquired lock`.
    pub fn release(&self) {
        if let Err(m) = self.try_release() {
            rt::raise(m);
        }
    }

    /// Releases one level, or returns Python's error. Its scheduling point is
    /// [`rt::release_point`]: none unless the run has release points (a nested level's release
    /// frees nothing and needs none either).
    pub fn try_release(&self) -> Result<(), Misuse> {
        rt::release_point();
        self.release_levels(false, true).map(|_| ())
    }

    /// True when the current thread owns it (CPython's `_is_owned`).
    pub fn is_owned(&self) -> bool {
        let me = rt::current();
        rt::read(self.obj, |s: &RLockState| s.owner == Some(me))
    }

    /// True when some thread owns it. An observer of the lock (see
    /// [`ReleasePoints`](racelab_sim::ReleasePoints)).
    pub fn locked(&self) -> bool {
        rt::observe_lock(self.obj, "locked");
        rt::read(self.obj, |s: &RLockState| s.owner.is_some())
    }

    pub(crate) fn handle(&self) -> ObjectHandle {
        self.obj
    }

    /// Acquires, after the scheduling point; on success the count becomes `levels` (or goes up
    /// by one for the owner). Used by `Condition` to restore every level after a wait.
    pub(crate) fn acquire_now(&self, patience: Patience, levels: usize) -> bool {
        let me = rt::current();
        let reentered = rt::write(self.obj, |s: &mut RLockState| {
            if s.owner == Some(me) {
                s.count += 1;
                Some(s.count)
            } else {
                None
            }
        });
        if let Some(count) = reentered {
            rt::event("acquire", Some(self.obj), || format!("ok, count {count}"));
            return true;
        }
        exclusive::acquire::<RLockState>(self.obj, patience, levels)
    }

    /// Releases one level, or every level when `all` (a Condition wait); returns the count
    /// released. `traced`: false inside a condition wait, whose own event says it released.
    pub(crate) fn release_levels(&self, all: bool, traced: bool) -> Result<usize, Misuse> {
        let me = rt::current();
        let released = rt::write(self.obj, |s: &mut RLockState| {
            if s.owner != Some(me) {
                return None;
            }
            let released = if all { s.count } else { 1 };
            s.count -= released;
            if s.count == 0 {
                s.owner = None;
            }
            Some((released, s.count))
        });
        let Some((released, left)) = released else {
            rt::event("release", Some(self.obj), || format!("RuntimeError: {NOT_OWNER}"));
            return Err(Misuse::new("RuntimeError", NOT_OWNER));
        };
        if left > 0 {
            if traced {
                rt::event("release", Some(self.obj), || format!("ok, count {left}"));
            }
            return Ok(released);
        }
        exclusive::hand_over(self.obj, me, traced);
        Ok(released)
    }
}

impl Default for RLock {
    fn default() -> Self {
        Self::new()
    }
}
