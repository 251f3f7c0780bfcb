//! `Condition`: Python's `threading.Condition` over a [`Lock`](crate::Lock) or an [`RLock`].
//!
//! `wait` is two steps, as in CPython: (1) join the tail of the waiter list, release the lock
//! (every level of an RLock) and block, in one atomic step; (2) once notified or timed out,
//! re-acquire the lock, which contends like any acquire. Between (1) and (2) anything can
//! happen, which is how a stolen wake-up arises:
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
//! `notify(n)` wakes the `n` oldest waiters (CPython is FIFO; with adversarial wake-ups on, any
//! `n`). The notification is not remembered when nobody waits: the condition notes it, so a
//! deadlock report can say "last notify at step 41 woke nobody". A wait may also wake
//! spuriously (a recorded choice, within the run's budget): the docs allow it, and it is how
//! racelab catches a wait guarded by `if` with a single consumer. The ownership check is
//! CPython's: exact for an RLock, merely "is it locked" for a plain Lock.

use std::fmt;
use std::time::Duration;

use racelab_sim::rt::{self, Misuse, ObjectHandle, Wakeup};
use racelab_sim::ThreadId;
use smallvec::SmallVec;

use crate::lock::{AnyLock, LockGuard, Patience};
use crate::rlock::RLock;
use crate::wait_list::{cpython_fifo, WaitList};

#[derive(Debug, Default)]
struct ConditionState {
    waiters: WaitList,
    /// Set by [`Condition::never_wake_spuriously`]: this condition's waits return only when
    /// notified or timed out.
    never_spurious: bool,
}

/// A Python `threading.Condition`. It is a handle: copies refer to the same condition.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    obj: ObjectHandle,
    lock: AnyLock,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Condition({})", rt::object_name(self.obj))
    }
}

impl Default for Condition {
    /// `Condition()`: over a new RLock, as in Python.
    fn default() -> Self {
        Condition::new(RLock::new())
    }
}

/// The trace event of a condition wait on `obj` that returned `how` (`notified`, `timed out`, or
/// how it woke spuriously) with its lock taken back: shared with racelab-std's `Condvar`.
pub fn trace_wait_end(obj: ObjectHandle, how: &str) {
    let wake = match how {
        "notified" => racelab_sim::Wake::Notified,
        "timed out" => racelab_sim::Wake::TimedOut,
        _ => racelab_sim::Wake::Spurious,
    };
    let end = move || racelab_sim::EventKind::WaitEnd { wake, reacquired: true };
    rt::event_kind("wait", Some(obj), end, || format!("{how}, re-acquired"));
}

impl Condition {
    /// A condition over `lock`, a [`Lock`](crate::Lock) or an [`RLock`] (several conditions may share one
    /// lock, as `queue.Queue` does).
    pub fn new(lock: impl Into<AnyLock>) -> Self {
        Condition { obj: rt::register("Condition", None, ConditionState::default()), lock: lock.into() }
    }

    /// A named condition over `lock`.
    pub fn named(name: impl Into<String>, lock: impl Into<AnyLock>) -> Self {
        Condition {
            obj: rt::register("Condition", Some(name.into()), ConditionState::default()),
            lock: lock.into(),
        }
    }

    /// Makes this condition's waits (every copy's) return only when notified or timed out,
    /// whatever the run's spurious wake-up budget. For conditions of code written against
    /// CPython's implementation rather than the documentation: CPython's `Condition` never wakes
    /// spuriously, and its own standard library relies on it (`concurrent.futures.Future.result`
    /// waits once, then reports a timeout).
    pub fn never_wake_spuriously(&self) {
        rt::write(self.obj, |s: &mut ConditionState| s.never_spurious = true);
    }

    /// The underlying lock.
    pub fn lock_object(&self) -> AnyLock {
        self.lock
    }

    /// Acquires the underlying lock and returns its guard: Python's `with cond:`.
    pub fn lock(&self) -> LockGuard {
        match self.lock {
            AnyLock::Lock(l) => l.lock(),
            AnyLock::RLock(r) => r.lock(),
        }
    }

    /// Acquires the underlying lock.
    pub fn acquire(&self) -> bool {
        match self.lock {
            AnyLock::Lock(l) => l.acquire(),
            AnyLock::RLock(r) => r.acquire(),
        }
    }

    /// Releases the underlying lock.
    pub fn release(&self) {
        match self.lock {
            AnyLock::Lock(l) => l.release(),
            AnyLock::RLock(r) => r.release(),
        }
    }

    /// Waits until notified (or woken spuriously). Returns true. Waiting without holding the
    /// lock is Python's `RuntimeError: cannot wait on un-acquired lock`.
    pub fn wait(&self) -> bool {
        self.raise(self.try_wait_until(None))
    }

    /// Waits until notified or until `timeout` of virtual time has passed; false on timeout.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.raise(self.try_wait_until(Some(timeout)))
    }

    /// `wait`, returning Python's error instead of raising it.
    pub fn try_wait(&self, timeout: Option<Duration>) -> Result<bool, Misuse> {
        self.try_wait_until(timeout)
    }

    /// Waits until `predicate` holds, re-checking after every wake-up: Python's `wait_for`.
    /// Returns the predicate's last value. (The predicate is checked first, without the
    /// ownership check, as in CPython.)
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

    /// Wakes up to `n` waiters, oldest first. Notifying without holding the lock is Python's
    /// `RuntimeError: cannot notify on un-acquired lock`.
    pub fn notify_n(&self, n: usize) {
        let r = self.try_notify(Some(n));
        self.raise(r)
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        let r = self.try_notify(None);
        self.raise(r)
    }

    /// `notify(n)` (`None`: all), returning Python's error instead of raising it.
    pub fn try_notify(&self, n: Option<usize>) -> Result<(), Misuse> {
        let lock = match self.lock {
            AnyLock::Lock(l) => l.handle(),
            AnyLock::RLock(r) => r.handle(),
        };
        // A notify by the thread that holds the lock is no scheduling point of its own: it
        // joins the step before it. No other thread can do anything in between that a notify
        // does not commute with: waiting (or notifying) needs the lock this thread holds, a
        // waiter's timeout needs the clock to jump, which happens only when nothing can run,
        // and killing needs a process (Conditions are threading objects). So every outcome is
        // still reached, in fewer steps and runs. A notify without the lock keeps its point.
        if !rt::holds(lock) || rt::NOTIFY_POINTS_FOR_TESTS.load(std::sync::atomic::Ordering::Relaxed) {
            rt::schedule_point();
        }
        self.check_owned("cannot notify on un-acquired lock")?;
        let mut woken: SmallVec<[(ThreadId, bool); 4]> = SmallVec::new();
        match n {
            // Every waiter, first to last, in one access of the state.
            None => rt::write(self.obj, |s: &mut ConditionState| {
                while !s.waiters.is_empty() {
                    woken.push(s.waiters.wake_into_at(0, lock));
                }
            }),
            Some(n) => {
                let order = cpython_fifo();
                while woken.len() < n {
                    let len = rt::write(self.obj, |s: &mut ConditionState| s.waiters.len());
                    if len == 0 {
                        break;
                    }
                    let i = WaitList::pick(len, order);
                    woken.push(rt::write(self.obj, |s: &mut ConditionState| s.waiters.wake_into_at(i, lock)));
                }
            }
        }
        let op = if n.is_none() { "notify_all" } else { "notify" };
        if woken.is_empty() {
            let note = if n.is_none() {
                "its last notify_all (step {step}, by {thread}) woke nobody"
            } else {
                "its last notify (step {step}, by {thread}) woke nobody"
            };
            rt::set_note(self.obj, note, [0; 3]);
        } else {
            rt::clear_note(self.obj);
        }
        rt::event_kind(op, Some(self.obj), || woken_kind(n.is_none(), &woken), || describe_woken(&woken));
        Ok(())
    }

    fn raise<T>(&self, r: Result<T, Misuse>) -> T {
        match r {
            Ok(v) => v,
            Err(m) => rt::raise(m),
        }
    }

    fn check_owned(&self, message: &'static str) -> Result<(), Misuse> {
        // CPython's `_is_owned` of a plain Lock is "locked by anyone". The thread that holds it
        // knows without looking (no observer then); any other thread looks.
        let owned = match self.lock {
            AnyLock::Lock(l) => l.held_by_me() || l.locked(),
            AnyLock::RLock(r) => r.is_owned(),
        };
        if owned {
            return Ok(());
        }
        rt::event("misuse", Some(self.obj), || format!("RuntimeError: {message}"));
        Err(Misuse::new("RuntimeError", message))
    }

    fn try_wait_until(&self, timeout: Option<Duration>) -> Result<bool, Misuse> {
        rt::schedule_point();
        self.check_owned("cannot wait on un-acquired lock")?;
        let me = rt::current();
        rt::write(self.obj, |s: &mut ConditionState| s.waiters.push(me));
        // Step (1): join the waiters, release the lock (every level), block: one step.
        let levels = match self.lock {
            AnyLock::Lock(l) => l.release_now(false).map(|()| 1)?,
            AnyLock::RLock(r) => r.release_levels(true, false)?,
        };
        let lock = self.lock;
        let lock_name_of = move || match lock {
            AnyLock::Lock(l) => rt::object_name(l.handle()),
            AnyLock::RLock(r) => rt::object_name(r.handle()),
        };
        let begin = move || racelab_sim::EventKind::WaitBegin { lock: Some(lock_name_of()) };
        rt::event_kind("wait", Some(self.obj), begin, || {
            let lock_name = match lock {
                AnyLock::Lock(l) => rt::object_name(l.handle()),
                AnyLock::RLock(r) => rt::object_name(r.handle()),
            };
            match timeout {
                Some(t) => format!("released {lock_name}, waiting, timeout {t:?}"),
                None => format!("released {lock_name}, waiting"),
            }
        });
        let may_wake_spuriously = rt::read(self.obj, |s: &ConditionState| !s.never_spurious);
        let how = if may_wake_spuriously && rt::spurious_wakeup() {
            // Woken without a notify: the thread leaves the waiter list at once and runs
            // whenever the scheduler lets it.
            rt::write(self.obj, |s: &mut ConditionState| s.waiters.remove(me));
            "woken spuriously (no notify)"
        } else {
            let deadline = timeout.map(|t| rt::now().after(t));
            match rt::block(Some(self.obj), deadline) {
                Wakeup::Woken => "notified",
                Wakeup::TimedOut => {
                    rt::write(self.obj, |s: &mut ConditionState| s.waiters.remove(me));
                    "timed out"
                }
            }
        };
        // Step (2): re-acquire, contending like any acquire.
        match self.lock {
            AnyLock::Lock(l) => {
                l.acquire_now(Patience::Until(None));
            }
            AnyLock::RLock(r) => {
                r.acquire_now(Patience::Until(None), levels);
            }
        }
        trace_wait_end(self.obj, how);
        Ok(how != "timed out")
    }
}

/// The typed form of a notify: the threads it woke (a waiter whose timeout had fired too: the
/// notify is spent on it).
fn woken_kind(all: bool, woken: &[(ThreadId, bool)]) -> racelab_sim::EventKind {
    racelab_sim::EventKind::Notify { all, woken: woken.iter().map(|&(t, _)| rt::thread_name(t)).collect() }
}

fn describe_woken(woken: &[(ThreadId, bool)]) -> String {
    if woken.is_empty() {
        return "woke nobody".into();
    }
    let names: Vec<String> = woken
        .iter()
        .map(|&(t, really)| {
            if really {
                rt::thread_name(t)
            } else {
                format!("{} (already timed out: the notify is spent on it)", rt::thread_name(t))
            }
        })
        .collect();
    format!("woke {}", names.join(", "))
}
