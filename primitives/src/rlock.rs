//! `RLock`: Python's `threading.RLock`, a reentrant lock with an owner and a recursion count.
//!
//! The owner may acquire it again (the count goes up, even with `blocking=False`); only the
//! owner may release it, and only the outermost release frees it. A thread that ends while
//! holding it leaves it held forever. Who gets it after a release is a scheduler choice, as for
//! [`Lock`](crate::Lock).

use std::fmt;
use std::time::Duration;

use racelab_sim::rt::{self, Misuse, ObjectHandle, Wakeup};
use racelab_sim::ThreadId;

use crate::lock::{AnyLock, LockGuard, Patience};
use crate::wait_list::{wake_one, WaitList, WakeOrder};

#[derive(Debug, Default)]
struct RLockState {
    owner: Option<ThreadId>,
    count: usize,
    waiters: WaitList,
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
        rt::schedule_point();
        self.acquire_now(Patience::Until(None), 1)
    }

    /// Waits at most `timeout` of virtual time; false if it timed out.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        rt::schedule_point();
        self.acquire_now(Patience::Until(Some(rt::now().after(timeout))), 1)
    }

    /// `acquire(blocking=False)`.
    pub fn try_acquire(&self) -> bool {
        rt::schedule_point();
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

    /// Releases one level, or returns Python's error.
    pub fn try_release(&self) -> Result<(), Misuse> {
        rt::schedule_point();
        self.release_levels(false, true).map(|_| ())
    }

    /// True when the current thread owns it (CPython's `_is_owned`).
    pub fn is_owned(&self) -> bool {
        rt::state::<RLockState>(self.obj).borrow().owner == Some(rt::current())
    }

    /// True when some thread owns it.
    pub fn locked(&self) -> bool {
        rt::state::<RLockState>(self.obj).borrow().owner.is_some()
    }

    pub(crate) fn handle(&self) -> ObjectHandle {
        self.obj
    }

    /// Acquires, after the scheduling point; on success the count becomes `levels` (or goes up
    /// by one for the owner). Used by `Condition` to restore every level after a wait.
    pub(crate) fn acquire_now(&self, patience: Patience, levels: usize) -> bool {
        let me = rt::current();
        let state = rt::state::<RLockState>(self.obj);
        loop {
            let holder = {
                let mut s = state.borrow_mut();
                match s.owner {
                    Some(o) if o == me => {
                        s.count += 1;
                        let count = s.count;
                        drop(s);
                        rt::event("acquire", Some(self.obj), || format!("ok, count {count}"));
                        return true;
                    }
                    None => {
                        s.owner = Some(me);
                        s.count = levels;
                        None
                    }
                    Some(h) => {
                        if let Patience::Until(_) = patience {
                            s.waiters.push(me);
                        }
                        Some(h)
                    }
                }
            };
            let Some(holder) = holder else {
                rt::add_holder(self.obj, me);
                rt::event("acquire", Some(self.obj), || "ok".into());
                return true;
            };
            let deadline = match patience {
                Patience::NoWait => {
                    rt::event("acquire", Some(self.obj), || {
                        format!("busy (held by {})", rt::thread_name(holder))
                    });
                    return false;
                }
                Patience::Until(d) => d,
            };
            rt::event("acquire", Some(self.obj), || format!("blocked (held by {})", rt::thread_name(holder)));
            if rt::block(Some(self.obj), deadline) == Wakeup::TimedOut {
                state.borrow_mut().waiters.remove(me);
                rt::event("acquire", Some(self.obj), || "timed out".into());
                return false;
            }
        }
    }

    /// Releases one level, or every level when `all` (a Condition wait); returns the count
    /// released.
    /// `traced`: false inside a condition wait, whose own event says it released the lock.
    pub(crate) fn release_levels(&self, all: bool, traced: bool) -> Result<usize, Misuse> {
        let me = rt::current();
        let state = rt::state::<RLockState>(self.obj);
        let (released, freed, waiters) = {
            let mut s = state.borrow_mut();
            if s.owner != Some(me) {
                drop(s);
                rt::event("release", Some(self.obj), || format!("RuntimeError: {NOT_OWNER}"));
                return Err(Misuse::new("RuntimeError", NOT_OWNER));
            }
            let released = if all { s.count } else { 1 };
            s.count -= released;
            let freed = s.count == 0;
            if freed {
                s.owner = None;
            }
            (released, freed, s.waiters.len())
        };
        if !freed {
            let left = state.borrow().count;
            rt::event("release", Some(self.obj), || format!("ok, count {left}"));
            return Ok(released);
        }
        rt::remove_holder(self.obj, me);
        // Who gets the lock next is open in CPython: any waiter, and a newcomer may barge in.
        let woke = if waiters > 0 { wake_one(&state, |s| &mut s.waiters, WakeOrder::Any) } else { None };
        if traced {
            rt::event("release", Some(self.obj), || match woke {
                Some(t) => format!("ok, woke {}", rt::thread_name(t)),
                None => "ok".into(),
            });
        }
        Ok(released)
    }
}

impl Default for RLock {
    fn default() -> Self {
        Self::new()
    }
}
