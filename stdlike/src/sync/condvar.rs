//! `Condvar`: std's condition variable, created without a mutex and used with any one at a time.
//!
//! `wait(guard)` is two steps, as racelab's native `Condition.wait`: (1) join the waiters,
//! release the guard's mutex and block, in one step (so a notify cannot fall between the
//! release and the block); (2) once woken, re-take the mutex, contending like any `lock`. What
//! std leaves open is left to the scheduler and recorded in the schedule:
//!
//! - `notify_one` wakes *one* waiter, and which one is a recorded choice among them (std
//!   promises no order; a FIFO here would hide the bug below);
//! - a wait may wake spuriously (std's docs allow it), a recorded choice within the run's
//!   spurious wake-up budget (`Config::spurious_wakeups`, default 1, 0 to turn it off), as the
//!   native `Condition` does: it is how a wait guarded by `if` instead of `while` shows up;
//! - notifying without holding the mutex (after unlocking it) is fine, as in std.
//!
//! The bug a single `Condvar` shared by producers and consumers invites with `notify_one`
//! (capacity 1, one item each; `examples/std-programs` has it and racelab's report of it):
//!
//! ```text
//! consumer-1, consumer-2: empty, wait      producer-1: put, notify_one -> wakes consumer-1
//! producer-2: full, wait                   producer-1: done
//! consumer-1: take, notify_one -> wakes consumer-2, not producer-2 (the wrong side)
//! consumer-2: empty, wait                  consumer-1: done
//! -> producer-2 and consumer-2 wait on the Condvar, and nobody is left to notify: deadlock
//! ```

use std::fmt;
use std::time::Duration;

use racelab_sim::rt::{self, ObjectHandle, Wakeup};
use racelab_sim::{ChoiceKind, ThreadId};
use smallvec::SmallVec;

use super::raw;
use super::{LockResult, MutexGuard, PoisonError};

#[derive(Debug, Default)]
struct CondvarState {
    /// Blocked waiters, oldest first, each with the mutex it must take back.
    waiters: Vec<(ThreadId, ObjectHandle)>,
    /// The mutex of the run's first wait, and whether a later wait used another one.
    mutex: Option<ObjectHandle>,
    mixed: bool,
}

/// A condition variable, as `std::sync::Condvar`.
pub struct Condvar {
    obj: ObjectHandle,
}

/// Whether a timed wait ended by its timeout, as std's `WaitTimeoutResult`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True when the wait ended because its timeout passed (on the virtual clock).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").field("name", &rt::object_name(self.obj)).finish_non_exhaustive()
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

impl Condvar {
    /// A new condition variable, registered with the current run as `Condvar-<n>`.
    pub fn new() -> Self {
        Condvar { obj: rt::register("Condvar", None, CondvarState::default()) }
    }

    /// Releases the guard's mutex and waits until notified (or woken spuriously), then takes
    /// the mutex back. `Err` holding the guard when the mutex is poisoned.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_until(guard, None).0
    }

    /// Waits while `condition` holds, re-checking after every wake-up.
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// `wait`, ending after `timeout` of virtual time at most.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (result, timed_out) = self.wait_until(guard, Some(timeout));
        pair(result, WaitTimeoutResult(timed_out))
    }

    /// `wait_while` with one timeout over the whole loop: returns with the condition still true
    /// when the timeout passed first (`timed_out()` then says so).
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = rt::now().after(timeout);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let now = rt::now();
            if now >= deadline {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            let left = deadline.elapsed() - now.elapsed();
            match self.wait_timeout(guard, left) {
                Ok((g, _)) => guard = g,
                Err(e) => {
                    let (g, r) = e.into_inner();
                    return Err(PoisonError::new((g, r)));
                }
            }
        }
    }

    /// Wakes one blocked waiter, if any (which one: a recorded choice).
    pub fn notify_one(&self) {
        self.notify_point();
        let woken = self.wake(false);
        self.after_notify("notify_one", &woken);
    }

    /// Wakes every blocked waiter.
    pub fn notify_all(&self) {
        self.notify_point();
        let woken = self.wake(true);
        self.after_notify("notify_all", &woken);
    }

    /// The scheduling point before a notify. A notify by the holder of the one mutex every wait
    /// on this `Condvar` has used so far has none of its own unless the run has release points
    /// ([`rt::release_point`]): it joins the step before it, as a notify under the lock does
    /// for the native `Condition`, because no step of another thread that could fall in between
    /// fails to commute with it. A wait needs its mutex, which this thread holds, unless it
    /// waits with another mutex, and the first run that does so (mixes mutexes) makes the
    /// exploration start again with points, as a thread that looks at a lock does
    /// ([`rt::observe_lock`]). Another notify wakes the same waiters in either order; a timeout
    /// fires only at a clock jump, which happens only when nothing can run (a waiter whose timeout
    /// fired at this very instant and has not run yet is a recorded choice of the notify either
    /// way, see `rt::wake`, and it then waits for the mutex this thread holds); `terminate` is
    /// itself an observer. Any other notify keeps its point: std allows notifying without the
    /// mutex, and before the first wait nothing says which mutex is the one. Deciding reads the
    /// `Condvar`'s state, an access of the step before the point when the point is kept: a
    /// dependency more than needed, which the reduction handles as any other.
    fn notify_point(&self) {
        let alone = rt::read(self.obj, |s: &CondvarState| s.mutex.filter(|_| !s.mixed));
        if alone.is_some_and(rt::holds)
            && !rt::NOTIFY_POINTS_FOR_TESTS.load(std::sync::atomic::Ordering::Relaxed)
        {
            rt::release_point();
        } else {
            rt::schedule_point();
        }
    }

    /// Wakes one waiter (or all) into contention for its mutex. A waiter whose timeout fired at
    /// this instant and that has not run yet may be picked and found gone (a recorded choice,
    /// see `rt::wake`): it is no longer blocked, so `notify_one` wakes another.
    fn wake(&self, all: bool) -> SmallVec<[ThreadId; 4]> {
        let mut woken = SmallVec::new();
        if all {
            // Every waiter, first to last, taken in one access of the state.
            let waiters: SmallVec<[(ThreadId, ObjectHandle); 4]> =
                rt::write(self.obj, |s: &mut CondvarState| s.waiters.drain(..).collect());
            woken.extend(waiters.into_iter().filter(|&(t, mutex)| rt::wake_into(t, mutex)).map(|(t, _)| t));
            return woken;
        }
        loop {
            let len = rt::write(self.obj, |s: &mut CondvarState| s.waiters.len());
            if len == 0 {
                return woken;
            }
            let i = if all { 0 } else { rt::choose(ChoiceKind::Waiter, len) };
            let (t, mutex) = rt::write(self.obj, |s: &mut CondvarState| s.waiters.remove(i));
            if rt::wake_into(t, mutex) {
                woken.push(t);
                if !all {
                    return woken;
                }
            }
        }
    }

    fn after_notify(&self, op: &'static str, woken: &[ThreadId]) {
        if woken.is_empty() {
            let note = if op == "notify_all" {
                "its last notify_all (step {step}, by {thread}) woke nobody"
            } else {
                "its last notify_one (step {step}, by {thread}) woke nobody"
            };
            rt::set_note(self.obj, note, [0; 3]);
        } else {
            rt::clear_note(self.obj);
        }
        let kind = || racelab_sim::EventKind::Notify {
            all: op == "notify_all",
            woken: woken.iter().map(|&t| rt::thread_name(t)).collect(),
        };
        rt::event_kind(op, Some(self.obj), kind, || {
            if woken.is_empty() {
                "woke nobody".into()
            } else {
                let names: Vec<String> = woken.iter().map(|&t| rt::thread_name(t)).collect();
                format!("woke {}", names.join(", "))
            }
        });
    }

    /// The wait: step (1) joins the waiters, releases the mutex and blocks; step (2) takes the
    /// mutex back. Returns the guard (poisoned or not) and whether the timeout ended it.
    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Option<Duration>,
    ) -> (LockResult<MutexGuard<'a, T>>, bool) {
        let mutex = guard.mutex();
        let lock = mutex.handle();
        // The guard's drop would release with a step of its own: the wait releases instead.
        std::mem::forget(guard);
        rt::schedule_point();
        let me = rt::current();
        let (other, mixed) = rt::write(self.obj, |s: &mut CondvarState| {
            let other = s.waiters.iter().map(|&(_, m)| m).find(|&m| m != lock);
            s.waiters.push((me, lock));
            s.mixed |= s.mutex.is_some_and(|m| m != lock);
            s.mutex.get_or_insert(lock);
            (other, s.mixed)
        });
        if mixed {
            // See `notify_point`: a notify may have skipped its point on the first mutex.
            rt::observe_lock(self.obj, "a wait with a second mutex");
        }
        if let Some(other) = other {
            rt::write(self.obj, |s: &mut CondvarState| s.waiters.retain(|&(t, _)| t != me));
            raw::unlock_now(lock, false, false);
            panic!(
                "racelab: {} was waited on with {} while other threads wait on it with {}: a Condvar is used \
                 with one mutex at a time (std may panic or misbehave)",
                rt::object_name(self.obj),
                rt::object_name(lock),
                rt::object_name(other)
            );
        }
        raw::unlock_now(lock, false, false);
        let begin = || racelab_sim::EventKind::WaitBegin { lock: Some(rt::object_name(lock)) };
        rt::event_kind("wait", Some(self.obj), begin, || match timeout {
            Some(t) => format!("released {}, waiting, timeout {t:?}", rt::object_name(lock)),
            None => format!("released {}, waiting", rt::object_name(lock)),
        });
        if rt::tearing_down() {
            rt::wait_in_teardown(&format!("a wait on {}", rt::object_name(self.obj)));
        }
        let how = if rt::spurious_wakeup() {
            self.leave(me);
            "woken spuriously (no notify)"
        } else {
            let deadline = timeout.map(|t| rt::now().after(t));
            match rt::block(Some(self.obj), deadline) {
                Wakeup::Woken => "notified",
                Wakeup::TimedOut => {
                    self.leave(me);
                    "timed out"
                }
            }
        };
        let poisoned =
            raw::lock_now(lock, None).expect("racelab invariant: a lock without deadline timed out");
        racelab_primitives::trace_wait_end(self.obj, how);
        (mutex.guard(poisoned), how == "timed out")
    }

    /// Leaves the waiters (a timed-out or spurious wake-up leaves by itself).
    fn leave(&self, me: ThreadId) {
        rt::write(self.obj, |s: &mut CondvarState| s.waiters.retain(|&(t, _)| t != me));
    }
}

/// Pairs a wait's guard with its timeout result, keeping the poison error's shape.
fn pair<'a, T: ?Sized>(
    result: LockResult<MutexGuard<'a, T>>,
    timeout: WaitTimeoutResult,
) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
    match result {
        Ok(g) => Ok((g, timeout)),
        Err(e) => Err(PoisonError::new((e.into_inner(), timeout))),
    }
}
