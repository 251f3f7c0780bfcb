//! The waiting core every blocking primitive stands on.
//!
//! A `WaitList` is the FIFO of threads blocked on one object. It decides nothing by itself:
//! which waiter a release picks is the scheduler's choice (recorded, explored by `dfs`), unless
//! the primitive follows CPython's documented FIFO order (Condition). Waking goes through the
//! runtime, which refuses to wake a thread that is not blocked.

use std::collections::VecDeque;

use racelab_sim::rt;
use racelab_sim::{ChoiceKind, ThreadId};

/// How a primitive picks among its waiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeOrder {
    /// The oldest waiter first: CPython's Condition.
    Fifo,
    /// Any waiter: a recorded scheduler choice.
    Any,
}

/// The threads blocked on one object, oldest first.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    threads: VecDeque<ThreadId>,
}

impl WaitList {
    pub fn push(&mut self, t: ThreadId) {
        debug_assert!(!self.threads.contains(&t), "racelab invariant: {t} waits twice on one object");
        self.threads.push_back(t);
    }

    /// Removes `t` if it is still waiting (a waiter that timed out leaves the list itself).
    pub fn remove(&mut self, t: ThreadId) -> bool {
        match self.threads.iter().position(|&w| w == t) {
            Some(i) => {
                self.threads.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// The index of the waiter to wake, among `len` waiters.
    pub fn pick(len: usize, order: WakeOrder) -> usize {
        match order {
            WakeOrder::Fifo => 0,
            WakeOrder::Any => rt::choose(ChoiceKind::Waiter, len),
        }
    }

    /// Removes the waiter at `index` and wakes it into contention for `lock` (a condition's
    /// waiter, who must take the lock back). Returns as [`WaitList::wake_at`].
    pub fn wake_into_at(&mut self, index: usize, lock: rt::ObjectHandle) -> (ThreadId, bool) {
        let t = self.threads.remove(index).expect("racelab invariant: waking a waiter that is not there");
        (t, rt::wake_into(t, lock))
    }

    /// Removes the waiter at `index` and wakes it. Returns it and whether it was really woken
    /// (false: it had already timed out, and the wake-up is spent on it).
    pub fn wake_at(&mut self, index: usize) -> (ThreadId, bool) {
        let t = self.threads.remove(index).expect("racelab invariant: waking a waiter that is not there");
        (t, rt::wake(t))
    }
}

/// Wakes one waiter of `list` in `obj`'s state that is really asleep, picking by `order`; waiters whose
/// timeout already fired are dropped from the list on the way (they are leaving anyway).
/// Returns the thread woken, if any.
pub(crate) fn wake_one<S: 'static>(
    obj: rt::ObjectHandle,
    list: impl Fn(&mut S) -> &mut WaitList,
    order: WakeOrder,
) -> Option<ThreadId> {
    loop {
        let len = rt::write(obj, |s: &mut S| list(s).len());
        if len == 0 {
            return None;
        }
        let i = WaitList::pick(len, order);
        let (t, woken) = rt::write(obj, |s: &mut S| list(s).wake_at(i));
        if woken {
            return Some(t);
        }
    }
}

/// The order for wake-ups that CPython makes FIFO: FIFO, or any waiter in adversarial mode.
pub(crate) fn cpython_fifo() -> WakeOrder {
    if rt::adversarial_wakeups() {
        WakeOrder::Any
    } else {
        WakeOrder::Fifo
    }
}
