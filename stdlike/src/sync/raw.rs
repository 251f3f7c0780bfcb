//! The lock core under [`Mutex`](super::Mutex), [`RwLock`](super::RwLock)'s writers and
//! [`Condvar`](super::Condvar)'s re-acquire: one holder at a time, contenders runnable exactly
//! while it is free, and std's poison flag beside the holder.
//!
//! It is the same protocol as racelab's native `Lock` (`racelab_primitives`' `exclusive`
//! module), written against `rt` directly because std's mutex differs from Python's where it
//! matters here: it has an owner (only the guard releases it), it carries a poison flag, and a
//! condition variable's wait must release it and block in one step, which the native `Lock`'s
//! public API (a release of its own, a scheduling point in runs with release points) cannot do. Who gets the lock after a release is
//! the scheduler's pick among the contenders (barging included), as in the native lock, so no
//! step is ever spent finding it taken and no recorded choice picks a waiter.

use racelab_sim::rt::{self, ObjectHandle, Wakeup};
use racelab_sim::{EventKind, ThreadId, VirtualTime};

/// The state a std-shaped lock registers with the run.
#[derive(Debug, Default)]
pub(crate) struct RawState {
    /// The thread whose guard is alive.
    pub holder: Option<ThreadId>,
    /// Set when a guard was dropped by a panicking thread, as std's poison flag.
    pub poisoned: bool,
}

/// Registers a new lock of `kind` (`"Mutex"`, `"RwLock"`).
pub(crate) fn register(kind: &'static str) -> ObjectHandle {
    rt::register(kind, None, RawState::default())
}

/// The scheduling point of an acquire, then the acquire: waits until the lock is taken (true) or
/// `deadline` passes (false). Returns whether it was poisoned when taken.
pub(crate) fn lock(obj: ObjectHandle, deadline: Option<VirtualTime>) -> Option<bool> {
    let contended = match rt::held_by_another(obj) {
        None => rt::schedule_point_contending(obj, deadline),
        Some(holder) => {
            rt::event_kind(
                "lock",
                Some(obj),
                || blocked_by(holder),
                || format!("blocked (held by {})", rt::thread_name(holder)),
            );
            Some(rt::block_until_free(obj, deadline))
        }
    };
    if contended == Some(Wakeup::TimedOut) {
        rt::event_kind("lock", Some(obj), || EventKind::GaveUp, || "timed out".into());
        return None;
    }
    lock_now(obj, deadline)
}

/// The acquire after its scheduling point (a condition wait's re-acquire uses it directly).
pub(crate) fn lock_now(obj: ObjectHandle, deadline: Option<VirtualTime>) -> Option<bool> {
    let me = rt::current();
    loop {
        let taken = rt::write(obj, |s: &mut RawState| match s.holder {
            None => {
                s.holder = Some(me);
                Ok(s.poisoned)
            }
            Some(h) => Err(h),
        });
        match taken {
            Ok(poisoned) => {
                let ok = || if poisoned { "ok (poisoned)".into() } else { "ok".into() };
                rt::event_kind("lock", Some(obj), || EventKind::Acquired, ok);
                rt::add_holder(obj, me);
                return Some(poisoned);
            }
            Err(holder) => {
                rt::event_kind(
                    "lock",
                    Some(obj),
                    || blocked_by(holder),
                    || format!("blocked (held by {})", rt::thread_name(holder)),
                );
                if rt::block_until_free(obj, deadline) == Wakeup::TimedOut {
                    rt::event_kind("lock", Some(obj), || EventKind::GaveUp, || "timed out".into());
                    return None;
                }
                // Runnable again only while the lock is free: the next attempt takes it.
            }
        }
    }
}

/// The end of a wait without deadline that nothing can end: a destructor during the teardown at
/// the end of a run (see `rt::block`) waits for `obj`, which another thread held (the teardown may
/// have released it since, unwinding that thread), and no thread runs any more. There is no guard
/// to return, so this panics with why; racelab then abandons the thread (`Executor::tear_down`).
pub(crate) fn held_while_unwinding(obj: ObjectHandle, operation: &str) -> ! {
    let name = rt::object_name(obj);
    if rt::holds(obj) {
        // The program's own bug, teardown or not: under std this deadlocks or panics.
        panic!("racelab: {operation} on {name}, which this thread already holds (std deadlocks or panics)")
    }
    rt::note_cut_short_wait();
    panic!(
        "racelab: {operation} on {name} has to wait while the end-of-run teardown unwinds its thread, and \
         no other thread runs to release it"
    )
}

/// `try_lock`: one step. `Some(poisoned)` when taken, `None` when another thread holds it.
pub(crate) fn try_lock(obj: ObjectHandle) -> Option<bool> {
    rt::schedule_point();
    rt::observe_lock(obj, "try_lock");
    let me = rt::current();
    let taken = rt::write(obj, |s: &mut RawState| match s.holder {
        None => {
            s.holder = Some(me);
            Ok(s.poisoned)
        }
        Some(h) => Err(h),
    });
    match taken {
        Ok(poisoned) => {
            rt::event_kind("try_lock", Some(obj), || EventKind::Acquired, || "ok".into());
            rt::add_holder(obj, me);
            Some(poisoned)
        }
        Err(holder) => {
            let refused = || format!("would block (held by {})", rt::thread_name(holder));
            rt::event_kind("try_lock", Some(obj), || EventKind::GaveUp, refused);
            None
        }
    }
}

/// True when a guard being dropped now should poison its lock: the thread is panicking in the
/// program's own code, not being unwound by racelab at the end of a run (a teardown is no
/// panic of the program's, and must leave no trace in its objects).
pub(crate) fn poisoning() -> bool {
    rt::panicking() && !rt::tearing_down()
}

/// The guard's release, poisoning when `poison`: a step of its own only in runs with release
/// points (`rt::release_point`; never while unwinding, as every `rt` scheduling point).
pub(crate) fn unlock(obj: ObjectHandle, poison: bool) {
    rt::release_point();
    unlock_now(obj, poison, true);
}

/// The release after its scheduling point. `traced`: false inside a condition wait, whose own
/// event says it released the lock.
pub(crate) fn unlock_now(obj: ObjectHandle, poison: bool, traced: bool) {
    let holder = rt::write(obj, |s: &mut RawState| {
        s.poisoned |= poison;
        s.holder.take()
    });
    match holder {
        Some(holder) => rt::remove_holder(obj, holder),
        // A guard is the lock's only releaser, so this is racelab's bug; while unwinding, a
        // second panic would abort the explorer, and the run's verdict already stands.
        None if rt::unwinding() => return,
        None => panic!("racelab invariant: a std-shaped lock released with no holder"),
    }
    if traced {
        rt::event_kind(
            "unlock",
            Some(obj),
            || EventKind::Released { woken: vec![] },
            || {
                if poison {
                    "ok (poisoned: the holder panicked)".into()
                } else {
                    "ok".into()
                }
            },
        );
    }
}

/// Reads the poison flag: one step.
pub(crate) fn is_poisoned(obj: ObjectHandle) -> bool {
    rt::schedule_point();
    rt::read(obj, |s: &RawState| s.poisoned)
}

/// Clears the poison flag: one step.
pub(crate) fn clear_poison(obj: ObjectHandle) {
    rt::schedule_point();
    rt::write(obj, |s: &mut RawState| s.poisoned = false);
    rt::event("clear_poison", Some(obj), || "ok".into());
}

/// The poison flag, read without a scheduling point (for `get_mut`/`into_inner`, which own the
/// lock: no other thread can take a step on it).
pub(crate) fn poisoned_now(obj: ObjectHandle) -> bool {
    rt::read(obj, |s: &RawState| s.poisoned)
}

/// The typed form of "blocked (held by X)".
fn blocked_by(holder: ThreadId) -> EventKind {
    EventKind::AcquireBlocked { holder: Some(rt::thread_name(holder)) }
}
