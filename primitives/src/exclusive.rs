//! The acquire/release core shared by [`Lock`](crate::Lock) and [`RLock`](crate::RLock): one
//! holder at a time, waiters who contend again after every release.
//!
//! Who gets the lock after a release is open in CPython: the release wakes any one waiter (a
//! scheduler choice), and that waiter still contends with every other thread, so one arriving
//! later may barge in first; the woken waiter then waits again at the back.

use racelab_sim::rt::{self, ObjectHandle, Wakeup};
use racelab_sim::{ThreadId, VirtualTime};

use crate::wait_list::{wake_one, WaitList, WakeOrder};

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
    /// The threads waiting for it.
    fn waiters(&mut self) -> &mut WaitList;
}

/// The acquire after its scheduling point: take it, or wait by `patience` and contend again
/// after every wake-up. Returns false on refusal or timeout.
pub(crate) fn acquire<S: Exclusive>(obj: ObjectHandle, patience: Patience, levels: usize) -> bool {
    let me = rt::current();
    let state = rt::state::<S>(obj);
    loop {
        let taken = {
            let mut s = state.borrow_mut();
            let taken = s.try_take(me, levels);
            if taken.is_err() && matches!(patience, Patience::Until(_)) {
                s.waiters().push(me);
            }
            taken
        };
        let holder = match taken {
            Ok(()) => {
                rt::add_holder(obj, me);
                rt::event("acquire", Some(obj), || "ok".into());
                return true;
            }
            Err(holder) => holder,
        };
        let Patience::Until(deadline) = patience else {
            rt::event("acquire", Some(obj), || format!("busy (held by {})", rt::thread_name(holder)));
            return false;
        };
        rt::event("acquire", Some(obj), || format!("blocked (held by {})", rt::thread_name(holder)));
        if rt::block(Some(obj), deadline) == Wakeup::TimedOut {
            state.borrow_mut().waiters().remove(me);
            rt::event("acquire", Some(obj), || "timed out".into());
            return false;
        }
        // Woken by a release: contend again; another thread may have barged in first.
    }
}

/// After `holder` freed the lock: it no longer holds it, and one waiter that is really asleep
/// is woken to contend. `traced`: false inside a condition wait, whose own event says it
/// released the lock.
pub(crate) fn hand_over<S: Exclusive>(obj: ObjectHandle, holder: ThreadId, traced: bool) {
    rt::remove_holder(obj, holder);
    let state = rt::state::<S>(obj);
    let woke = wake_one(&state, |s| s.waiters(), WakeOrder::Any);
    if traced {
        rt::event("release", Some(obj), || match woke {
            Some(t) => format!("ok, woke {}", rt::thread_name(t)),
            None => "ok".into(),
        });
    }
}
