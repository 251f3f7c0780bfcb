//! `Lock`: Python's `threading.Lock`, a mutual-exclusion lock with no owner.
//!
//! Any thread may release it, even one that never acquired it (a real bug a scenario must be
//! able to show), and a thread that acquires it twice blocks forever. Who gets it after a
//! release is a scheduler choice, barging included (see `exclusive`).

use std::fmt;
use std::time::Duration;

use racelab_sim::rt::{self, Misuse, ObjectHandle};
use racelab_sim::ThreadId;

pub(crate) use crate::exclusive::Patience;
use crate::exclusive::{self, Exclusive};

#[derive(Debug, Default)]
struct LockState {
    /// The thread that acquired it (for reports: Python's Lock itself has no owner).
    holder: Option<ThreadId>,
}

impl Exclusive for LockState {
    fn try_take(&mut self, me: ThreadId, _levels: usize) -> Result<(), ThreadId> {
        match self.holder {
            None => {
                self.holder = Some(me);
                Ok(())
            }
            Some(h) => Err(h),
        }
    }
}

/// A Python `threading.Lock`. It is a handle: copies refer to the same lock.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    obj: ObjectHandle,
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lock({})", rt::object_name(self.obj))
    }
}

impl Lock {
    /// A new, unlocked lock, named `Lock-<n>` in traces.
    pub fn new() -> Self {
        Lock { obj: rt::register("Lock", None, LockState::default()) }
    }

    /// A new, unlocked lock with a name for traces and reports.
    pub fn named(name: impl Into<String>) -> Self {
        Lock { obj: rt::register("Lock", Some(name.into()), LockState::default()) }
    }

    /// Blocks until the lock is acquired. Returns true, as Python's `acquire()` does.
    pub fn acquire(&self) -> bool {
        let patience = Patience::Until(None);
        exclusive::contend(self.obj, patience).unwrap_or_else(|| self.acquire_now(patience))
    }

    /// `acquire(timeout=...)`: waits at most `timeout` of virtual time; false if it timed out.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let patience = Patience::Until(Some(rt::now().after(timeout)));
        exclusive::contend(self.obj, patience).unwrap_or_else(|| self.acquire_now(patience))
    }

    /// `acquire(blocking=False)`: takes the lock if it is free; false otherwise.
    pub fn try_acquire(&self) -> bool {
        rt::schedule_point();
        rt::observe_lock(self.obj, "try_acquire");
        self.acquire_now(Patience::NoWait)
    }

    /// Acquires and returns a guard that releases on drop: Python's `with lock:`.
    pub fn lock(&self) -> LockGuard {
        self.acquire();
        LockGuard { lock: AnyLock::Lock(*self) }
    }

    /// Releases the lock. Releasing an unlocked lock is Python's
    /// `RuntimeError: release unlocked lock`, reported as a misuse.
    pub fn release(&self) {
        if let Err(m) = self.try_release() {
            rt::raise(m);
        }
    }

    /// Releases the lock, or returns Python's error if it is not locked.
    /// Its scheduling point is [`rt::release_point`]: none unless the run has release points.
    pub fn try_release(&self) -> Result<(), Misuse> {
        rt::release_point();
        self.release_now(true)
    }

    /// True when some thread holds the lock. An observer of the lock (see
    /// [`ReleasePoints`](racelab_sim::ReleasePoints)).
    pub fn locked(&self) -> bool {
        rt::observe_lock(self.obj, "locked");
        rt::read(self.obj, |s: &LockState| s.holder.is_some())
    }

    /// True when the current thread acquired the lock and holds it. Not an observer: only the
    /// current thread takes it from itself (a release by another thread observes, see
    /// [`Lock::release`]).
    pub(crate) fn held_by_me(&self) -> bool {
        rt::holds(self.obj)
    }

    pub(crate) fn handle(&self) -> ObjectHandle {
        self.obj
    }

    /// The acquire itself, after its scheduling point. Used by `Condition` to re-acquire.
    pub(crate) fn acquire_now(&self, patience: Patience) -> bool {
        exclusive::acquire::<LockState>(self.obj, patience, 1)
    }

    /// The release itself, after its scheduling point.
    /// `traced`: false inside a condition wait, whose own event says it released the lock.
    /// A release by a thread that did not acquire it (Python allows it) observes the lock: whether
    /// it succeeds depends on whether the lock is held right now.
    pub(crate) fn release_now(&self, traced: bool) -> Result<(), Misuse> {
        let holder = rt::write(self.obj, |s: &mut LockState| s.holder.take());
        if holder != Some(rt::current()) {
            rt::observe_lock(self.obj, "release by a thread that did not acquire it");
        }
        let Some(holder) = holder else {
            rt::event("release", Some(self.obj), || "RuntimeError: release unlocked lock".into());
            return Err(Misuse::new("RuntimeError", "release unlocked lock"));
        };
        exclusive::hand_over(self.obj, holder, traced);
        Ok(())
    }
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

/// A Lock or an RLock: what a guard releases and what a Condition sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnyLock {
    /// A [`Lock`].
    Lock(Lock),
    /// An [`RLock`](crate::RLock).
    RLock(crate::RLock),
}

impl AnyLock {
    pub(crate) fn try_release(self) -> Result<(), Misuse> {
        match self {
            AnyLock::Lock(l) => l.try_release(),
            AnyLock::RLock(r) => r.try_release(),
        }
    }
}

impl From<Lock> for AnyLock {
    fn from(l: Lock) -> Self {
        AnyLock::Lock(l)
    }
}

impl From<crate::RLock> for AnyLock {
    fn from(r: crate::RLock) -> Self {
        AnyLock::RLock(r)
    }
}

/// Holds a lock until dropped: Python's `with lock:` block.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    pub(crate) lock: AnyLock,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").field("lock", &self.lock).finish()
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !rt::in_simulation() {
            return; // left in a static or thread-local past its run: that run is over
        }
        let result = self.lock.try_release();
        // While unwinding (a panic, or the end of a run) a second panic would abort the
        // process: the error is dropped then, the run's verdict already stands.
        if let Err(m) = result {
            if !rt::unwinding() {
                rt::raise(m);
            }
        }
    }
}
