//! `Condition`: Python's `threading.Condition` over a [`Lock`].
//!
//! `wait` is two steps, as in CPython: (1) join the tail of the waiter list, release the lock
//! and block, in one atomic step; (2) once notified or timed out, re-acquire the lock, which
//! contends like any acquire. Between (1) and (2) anything can happen, which is how a stolen
//! wake-up arises:
//!
//! ```text
//! consumer-1            consumer-2            producer
//! with cond:
//!   if not items:
//!     cond.wait()  ──(1) releases, blocks
//!                                             with cond:
//!                                               items.append(x)
//!                                               cond.notify()   wakes consumer-1
//!                                             (releases)
//!                       with cond:            <- barges in before consumer-1 re-acquires
//!                         items.pop()         takes x
//!   (2) re-acquires
//!   items.pop()   <- IndexError: the `if` should have been a `while`
//! ```
//!
//! `notify(n)` wakes the `n` oldest waiters (CPython is FIFO); the notification is not
//! remembered when nobody waits. The ownership check is CPython's weak one for a plain Lock: it
//! asks only whether the lock is locked, not who holds it.

use std::fmt;
use std::time::Duration;

use racelab_sim::rt::{self, Misuse, ObjectHandle, Wakeup};

use crate::lock::{Lock, LockGuard, Patience};
use crate::wait_list::{WaitList, WakeOrder};

#[derive(Debug, Default)]
struct ConditionState {
    waiters: WaitList,
}

/// A Python `threading.Condition` over a [`Lock`]. It is a handle: copies refer to the same
/// condition.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    obj: ObjectHandle,
    lock: Lock,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Condition({})", rt::object_name(self.obj))
    }
}

impl Condition {
    /// A condition over `lock` (several conditions may share one lock, as `queue.Queue` does).
    pub fn new(lock: Lock) -> Self {
        Condition { obj: rt::register("Condition", None, ConditionState::default()), lock }
    }

    /// A named condition over `lock`.
    pub fn named(name: impl Into<String>, lock: Lock) -> Self {
        Condition { obj: rt::register("Condition", Some(name.into()), ConditionState::default()), lock }
    }

    /// The underlying lock.
    pub fn lock_object(&self) -> Lock {
        self.lock
    }

    /// Acquires the underlying lock and returns its guard: Python's `with cond:`.
    pub fn lock(&self) -> LockGuard {
        self.lock.lock()
    }

    /// Acquires the underlying lock.
    pub fn acquire(&self) -> bool {
        self.lock.acquire()
    }

    /// Releases the underlying lock.
    pub fn release(&self) {
        self.lock.release()
    }

    /// Waits until notified. Returns true. Waiting without holding the lock is Python's
    /// `RuntimeError: cannot wait on un-acquired lock`.
    pub fn wait(&self) -> bool {
        self.wait_until(None)
    }

    /// Waits until notified or until `timeout` of virtual time has passed; false on timeout.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(timeout))
    }

    /// Waits until `predicate` holds, re-checking after every wake-up: Python's `wait_for`.
    /// Returns the predicate's last value.
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> bool {
        let mut result = predicate();
        while !result {
            self.wait();
            result = predicate();
        }
        result
    }

    /// `wait_for` with one deadline over the whole loop; returns the predicate's last value
    /// (false when it timed out still false).
    pub fn wait_for_timeout(&self, mut predicate: impl FnMut() -> bool, timeout: Duration) -> bool {
        let deadline = rt::now().after(timeout);
        let mut result = predicate();
        while !result {
            let now = rt::now();
            if now >= deadline {
                break;
            }
            self.wait_timeout(deadline.elapsed() - now.elapsed());
            result = predicate();
        }
        result
    }

    /// Wakes the oldest waiter, if any.
    pub fn notify(&self) {
        self.notify_n(1)
    }

    /// Wakes up to `n` of the oldest waiters. Notifying without holding the lock is Python's
    /// `RuntimeError: cannot notify on un-acquired lock`.
    pub fn notify_n(&self, n: usize) {
        rt::schedule_point();
        self.check_locked("cannot notify on un-acquired lock");
        let state = rt::state::<ConditionState>(self.obj);
        let mut woken = Vec::new();
        for _ in 0..n {
            let mut s = state.borrow_mut();
            if s.waiters.is_empty() {
                break;
            }
            let i = WaitList::pick(s.waiters.len(), WakeOrder::Fifo);
            woken.push(s.waiters.wake_at(i));
        }
        rt::event("notify", Some(self.obj), || describe_woken(&woken));
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        rt::schedule_point();
        self.check_locked("cannot notify on un-acquired lock");
        let state = rt::state::<ConditionState>(self.obj);
        let mut woken = Vec::new();
        loop {
            let mut s = state.borrow_mut();
            if s.waiters.is_empty() {
                break;
            }
            woken.push(s.waiters.wake_at(0));
        }
        rt::event("notify_all", Some(self.obj), || describe_woken(&woken));
    }

    fn check_locked(&self, message: &'static str) {
        if !self.lock.locked() {
            rt::event("misuse", Some(self.obj), || format!("RuntimeError: {message}"));
            rt::raise(Misuse::new("RuntimeError", message));
        }
    }

    fn wait_until(&self, timeout: Option<Duration>) -> bool {
        rt::schedule_point();
        self.check_locked("cannot wait on un-acquired lock");
        let me = rt::current();
        let state = rt::state::<ConditionState>(self.obj);
        state.borrow_mut().waiters.push(me);
        // Step (1): join the waiters, release the lock, block, all in this one step.
        if let Err(m) = self.lock.release_now() {
            rt::raise(m);
        }
        rt::event("wait", Some(self.obj), || match timeout {
            Some(t) => format!("released {}, waiting, timeout {:?}", rt::object_name(self.lock.handle()), t),
            None => format!("released {}, waiting", rt::object_name(self.lock.handle())),
        });
        let deadline = timeout.map(|t| rt::now().after(t));
        let notified = match rt::block(Some(self.obj), deadline) {
            Wakeup::Woken => true,
            Wakeup::TimedOut => {
                state.borrow_mut().waiters.remove(me);
                false
            }
        };
        // Step (2): re-acquire, contending like any acquire.
        self.lock.acquire_now(Patience::Until(None));
        rt::event("wait", Some(self.obj), || {
            if notified {
                "notified, re-acquired".into()
            } else {
                "timed out, re-acquired".into()
            }
        });
        notified
    }
}

fn describe_woken(woken: &[(racelab_sim::ThreadId, bool)]) -> String {
    if woken.is_empty() {
        return "woke nobody".into();
    }
    let names: Vec<String> =
        woken
            .iter()
            .map(|&(t, really)| {
                if really {
                    rt::thread_name(t)
                } else {
                    format!("{} (already timed out)", rt::thread_name(t))
                }
            })
            .collect();
    format!("woke {}", names.join(", "))
}
