//! `Semaphore` and `BoundedSemaphore`: Python's counting semaphores.
//!
//! The counter is the initial value plus releases minus acquires, never below zero. A release
//! wakes waiters oldest first (CPython's internal Condition; any waiter with adversarial
//! wake-ups), and a woken waiter still contends: a thread arriving later may take the permit
//! first, and the woken one waits again at the back. A `BoundedSemaphore` refuses a release
//! that would raise the counter above its initial value (`ValueError: Semaphore released too
//! many times`, counter unchanged); a plain `Semaphore` silently lets the limit grow, which is
//! the seed document's over-release bug.

use std::fmt;
use std::time::Duration;

use racelab_sim::rt::{self, Misuse, ObjectHandle, Wakeup};

use crate::wait_list::{cpython_fifo, wake_one, WaitList};

#[derive(Debug)]
struct SemaphoreState {
    value: usize,
    /// `Some(initial)` for a bounded semaphore.
    bound: Option<usize>,
    waiters: WaitList,
}

/// A Python `threading.Semaphore` (or `BoundedSemaphore`). It is a handle: copies refer to the
/// same semaphore.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Semaphore {
    obj: ObjectHandle,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Semaphore({})", rt::object_name(self.obj))
    }
}

/// Python's `BoundedSemaphore`: a [`Semaphore`] that refuses to be released above its initial
/// value. Build one with [`Semaphore::bounded`].
pub type BoundedSemaphore = Semaphore;

impl Semaphore {
    fn make(kind: &'static str, name: Option<String>, value: i64, bounded: bool) -> Result<Self, Misuse> {
        let value = usize::try_from(value)
            .map_err(|_| Misuse::new("ValueError", "semaphore initial value must be >= 0"))?;
        let state = SemaphoreState { value, bound: bounded.then_some(value), waiters: WaitList::default() };
        Ok(Semaphore { obj: rt::register(kind, name, state) })
    }

    /// `Semaphore(value)`. A negative value is Python's `ValueError: semaphore initial value
    /// must be >= 0`, raised in the calling thread.
    pub fn new(value: i64) -> Self {
        Self::make("Semaphore", None, value, false).unwrap_or_else(|m| rt::raise(m))
    }

    /// A named `Semaphore(value)`.
    pub fn named(name: impl Into<String>, value: i64) -> Self {
        Self::make("Semaphore", Some(name.into()), value, false).unwrap_or_else(|m| rt::raise(m))
    }

    /// `BoundedSemaphore(value)`.
    pub fn bounded(value: i64) -> Self {
        Self::make("BoundedSemaphore", None, value, true).unwrap_or_else(|m| rt::raise(m))
    }

    /// A named `BoundedSemaphore(value)`.
    pub fn bounded_named(name: impl Into<String>, value: i64) -> Self {
        Self::make("BoundedSemaphore", Some(name.into()), value, true).unwrap_or_else(|m| rt::raise(m))
    }

    /// The counter.
    pub fn value(&self) -> usize {
        rt::read(self.obj, |s: &SemaphoreState| s.value)
    }

    /// Blocks until a permit is available and takes it. Returns true.
    pub fn acquire(&self) -> bool {
        rt::schedule_point();
        self.acquire_now(Some(None))
    }

    /// Waits at most `timeout` of virtual time for a permit; false if it timed out.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        rt::schedule_point();
        self.acquire_now(Some(Some(rt::now().after(timeout))))
    }

    /// `acquire(blocking=False)`: takes a permit if one is free.
    pub fn try_acquire(&self) -> bool {
        rt::schedule_point();
        self.acquire_now(None)
    }

    /// Takes a permit and gives it back when the guard drops: `with sem:`.
    pub fn guard(&self) -> SemaphoreGuard {
        self.acquire();
        SemaphoreGuard { sem: *self }
    }

    /// `release()`: one permit back.
    pub fn release(&self) {
        self.release_n(1)
    }

    /// `release(n)`. `n < 1` is `ValueError: n must be one or more`; over-releasing a bounded
    /// semaphore is `ValueError: Semaphore released too many times`.
    pub fn release_n(&self, n: i64) {
        if let Err(m) = self.try_release_n(n) {
            rt::raise(m)
        }
    }

    /// `release(n)`, returning Python's error instead of raising it.
    pub fn try_release_n(&self, n: i64) -> Result<(), Misuse> {
        rt::schedule_point();
        let n = usize::try_from(n).ok().filter(|&n| n >= 1);
        let Some(n) = n else {
            rt::event("release", Some(self.obj), || "ValueError: n must be one or more".into());
            return Err(Misuse::new("ValueError", "n must be one or more"));
        };
        let over = rt::write(self.obj, |s: &mut SemaphoreState| {
            let over = s.bound.is_some_and(|bound| s.value.saturating_add(n) > bound);
            if !over {
                s.value = s.value.saturating_add(n);
            }
            over
        });
        if over {
            rt::event("release", Some(self.obj), || "ValueError: Semaphore released too many times".into());
            return Err(Misuse::new("ValueError", "Semaphore released too many times"));
        }
        rt::remove_holder(self.obj, rt::current());
        let order = cpython_fifo();
        let mut woken = Vec::new();
        for _ in 0..n {
            match wake_one(self.obj, |s: &mut SemaphoreState| &mut s.waiters, order) {
                Some(t) => woken.push(rt::thread_name(t)),
                None => break,
            }
        }
        let value = rt::read(self.obj, |s: &SemaphoreState| s.value);
        let kind = || racelab_sim::EventKind::Released { woken: woken.clone() };
        rt::event_kind("release", Some(self.obj), kind, || {
            if woken.is_empty() {
                format!("ok, value {value}")
            } else {
                format!("ok, value {value}, woke {}", woken.join(", "))
            }
        });
        Ok(())
    }

    /// The acquire after its scheduling point; `None` patience: no waiting; `Some(deadline)`.
    fn acquire_now(&self, patience: Option<Option<racelab_sim::VirtualTime>>) -> bool {
        let me = rt::current();
        loop {
            let took = rt::write(self.obj, |s: &mut SemaphoreState| {
                if s.value > 0 {
                    s.value -= 1;
                    Some(s.value)
                } else {
                    if patience.is_some() {
                        s.waiters.push(me);
                    }
                    None
                }
            });
            if let Some(value) = took {
                rt::add_holder(self.obj, me);
                rt::event_kind(
                    "acquire",
                    Some(self.obj),
                    || racelab_sim::EventKind::Acquired,
                    || format!("ok, value {value}"),
                );
                return true;
            }
            let Some(deadline) = patience else {
                rt::event_kind(
                    "acquire",
                    Some(self.obj),
                    || racelab_sim::EventKind::GaveUp,
                    || "no permit".into(),
                );
                return false;
            };
            let kind = || racelab_sim::EventKind::AcquireBlocked { holder: None };
            rt::event_kind("acquire", Some(self.obj), kind, || "blocked (value 0)".into());
            if rt::block(Some(self.obj), deadline) == Wakeup::TimedOut {
                rt::write(self.obj, |s: &mut SemaphoreState| s.waiters.remove(me));
                rt::event_kind(
                    "acquire",
                    Some(self.obj),
                    || racelab_sim::EventKind::GaveUp,
                    || "timed out".into(),
                );
                return false;
            }
        }
    }
}

/// A permit of a [`Semaphore`], given back on drop.
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard {
    sem: Semaphore,
}

impl fmt::Debug for SemaphoreGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").field("sem", &self.sem).finish()
    }
}

impl Drop for SemaphoreGuard {
    fn drop(&mut self) {
        if !rt::in_simulation() {
            return; // left in a static or thread-local past its run: that run is over
        }
        if let Err(m) = self.sem.try_release_n(1) {
            if !rt::unwinding() {
                rt::raise(m);
            }
        }
    }
}
