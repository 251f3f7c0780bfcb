//! The acquire/release core shared by [`Lock`](crate::Lock) and [`RLock`](crate::RLock): one
//! holder at a time, and contenders who are runnable whenever it is free.
//!
//! Who gets the lock after a release is open in CPython: any waiter, or a thread arriving
//! later that barges in first. Here every contender becomes runnable when the lock is freed and
//! the scheduler picks who goes first, which covers every one of those orders; a contender that
//! is not picked waits again without ever running. So no step is spent finding the lock taken,
//! and no recorded choice picks a waiter: exhaustive search sees only the orders that differ.

use racelab_sim::rt::{self, ObjectHandle, Wakeup};
use racelab_sim::{EventKind, ThreadId, VirtualTime};

/// How long an acquire may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Patience {
    /// `blocking=False`: one attempt.
    NoWait,
    /// Until the deadline, or forever.
    Until(Option<VirtualTime>),
}

/// The state of a lock with one holder.
pub(crate) trait Exclusive: 'static {
    /// Takes the lock for `me` (with `levels` recursion levels, for an RLock) if it is free;
    /// otherwise says who holds it.
    fn try_take(&mut self, me: ThreadId, levels: usize) -> Result<(), ThreadId>;
}

/// The scheduling point of an acquire. When another thread holds the lock, the caller becomes
/// a contender right here, without taking a step to find it taken: it is runnable again once
/// the lock is free, and then takes it. Returns the acquire's result when it is already
/// decided (`Some(false)`: timed out while contending); `None`: go on with [`acquire`].
pub(crate) fn contend(obj: ObjectHandle, patience: Patience) -> Option<bool> {
    let Patience::Until(deadline) = patience else {
        rt::schedule_point();
        return None;
    };
    let Some(holder) = rt::held_by_another(obj) else {
        return match rt::schedule_point_contending(obj, deadline) {
            Some(Wakeup::TimedOut) => {
                rt::event_kind("acquire", Some(obj), || EventKind::GaveUp, || "timed out".into());
                Some(false)
            }
            None | Some(Wakeup::Woken) => None,
        };
    };
    rt::event_kind(
        "acquire",
        Some(obj),
        || blocked_by(holder),
        || format!("blocked (held by {})", rt::thread_name(holder)),
    );
    match rt::block_until_free(obj, deadline) {
        Wakeup::Woken => None,
        Wakeup::TimedOut => {
            rt::event_kind("acquire", Some(obj), || EventKind::GaveUp, || "timed out".into());
            Some(false)
        }
    }
}

/// The acquire after its scheduling point: take it, or wait by `patience` until it is free.
/// Returns false on refusal or timeout.
pub(crate) fn acquire<S: Exclusive>(obj: ObjectHandle, patience: Patience, levels: usize) -> bool {
    let me = rt::current();
    loop {
        let taken = rt::write(obj, |s: &mut S| s.try_take(me, levels));
        let holder = match taken {
            Ok(()) => {
                rt::event_kind("acquire", Some(obj), || EventKind::Acquired, || "ok".into());
                // After the event: contenders this makes wait say so next in the trace.
                rt::add_holder(obj, me);
                return true;
            }
            Err(holder) => holder,
        };
        let Patience::Until(deadline) = patience else {
            rt::event_kind(
                "acquire",
                Some(obj),
                || EventKind::GaveUp,
                || format!("busy (held by {})", rt::thread_name(holder)),
            );
            return false;
        };
        rt::event_kind(
            "acquire",
            Some(obj),
            || blocked_by(holder),
            || format!("blocked (held by {})", rt::thread_name(holder)),
        );
        if rt::block_until_free(obj, deadline) == Wakeup::TimedOut {
            rt::event_kind("acquire", Some(obj), || EventKind::GaveUp, || "timed out".into());
            return false;
        }
        // Runnable again only while the lock is free: the next attempt takes it.
    }
}

/// After `holder` freed the lock: it no longer holds it, and every contender may take it.
/// `traced`: false inside a condition wait, whose own event says it released the lock.
pub(crate) fn hand_over(obj: ObjectHandle, holder: ThreadId, traced: bool) {
    rt::remove_holder(obj, holder);
    if traced {
        rt::event_kind("release", Some(obj), || EventKind::Released { woken: vec![] }, || "ok".into());
    }
}

/// The typed form of "blocked (held by X)".
fn blocked_by(holder: ThreadId) -> EventKind {
    EventKind::AcquireBlocked { holder: Some(rt::thread_name(holder)) }
}
