//! `RwLock<T>`: std's reader-writer lock, with poisoning by panicking writers.
//!
//! A read unlock is always a scheduling point (a write unlock joins the step before it, as a
//! `Mutex`'s does): see `read_unlock`.
//!
//! Writers use the [`raw`](super::raw)-style protocol: a writer contends until the lock has no
//! holder at all (readers are holders too), runnable exactly while it is free. Readers share:
//! one arriving while a writer holds the lock blocks on the lock and is woken when that writer
//! releases it (then retries, since another writer may have come first). A reader arriving
//! while a writer *waits* may go first or wait for that writer: std leaves the policy to the
//! platform ("might or might not block"; Linux's lets the writer go first, others do not), so
//! this is a decision racelab explores (a `Waiter` choice, `w0`: the reader goes first, `w1`:
//! the writer does). Hence a recursive read behind a queued writer, a deadlock on Linux, is
//! found. `try_read` takes the same decision, and fails with `WouldBlock` when the writer goes
//! first (Linux's fails while a writer waits). A reader asking for the write lock deadlocks, as
//! in std.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use racelab_sim::rt::{self, ObjectHandle, Wakeup};
use racelab_sim::{ChoiceKind, ThreadId};

use super::raw;
use super::{LockResult, PoisonError, TryLockError, TryLockResult};

#[derive(Debug, Default)]
struct RwState {
    writer: Option<ThreadId>,
    readers: Vec<ThreadId>,
    /// Readers blocked behind the writer, woken when it releases.
    blocked_readers: Vec<ThreadId>,
    /// Writers that found the lock held and wait for it (see the module doc).
    waiting_writers: Vec<ThreadId>,
    poisoned: bool,
}

/// A reader-writer lock protecting a `T`, as `std::sync::RwLock`.
pub struct RwLock<T: ?Sized> {
    obj: ObjectHandle,
    data: UnsafeCell<T>,
}

// SAFETY: as std's RwLock: `&mut T` only to the one writer, `&T` to readers while no writer
// holds it; the lock's state lives in the run, whose green threads share one OS thread.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: see above; readers share `&T`, so `T: Sync` too.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
// As std's: a panicking writer poisons the lock, which is how unwind safety is kept.
impl<T: ?Sized> std::panic::UnwindSafe for RwLock<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for RwLock<T> {}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`, registered with the current run as `RwLock-<n>`.
    pub fn new(value: T) -> Self {
        RwLock { obj: rt::register("RwLock", None, RwState::default()), data: UnsafeCell::new(value) }
    }

    /// Consumes the lock and returns its data; `Err` holding it when poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = rt::read(self.obj, |s: &RwState| s.poisoned);
        let value = self.data.into_inner();
        if poisoned {
            Err(PoisonError::new(value))
        } else {
            Ok(value)
        }
    }
}

enum Take {
    Taken { poisoned: bool },
    HeldBy(ThreadId),
}

impl<T: ?Sized> RwLock<T> {
    /// Blocks until shared access is granted.
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        rt::schedule_point();
        let me = rt::current();
        loop {
            if let Some(writer) = self.writer_goes_first(me) {
                rt::event("read", Some(self.obj), || {
                    format!("blocked ({} waits to write, and goes first)", rt::thread_name(writer))
                });
                rt::block(Some(self.obj), None);
                if rt::tearing_down() {
                    raw::held_while_unwinding(self.obj, "read");
                }
                continue;
            }
            match self.take_read(me, true) {
                Take::Taken { poisoned } => return self.read_guard(me, poisoned),
                Take::HeldBy(writer) => {
                    rt::event("read", Some(self.obj), || {
                        format!("blocked (written by {})", rt::thread_name(writer))
                    });
                    let woken = rt::block(Some(self.obj), None);
                    if rt::tearing_down() {
                        raw::held_while_unwinding(self.obj, "read");
                    }
                    debug_assert_eq!(
                        woken,
                        Wakeup::Woken,
                        "racelab invariant: a wait without deadline timed out"
                    );
                }
            }
        }
    }

    /// Shared access if no writer holds the lock now: `WouldBlock` otherwise.
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        rt::schedule_point();
        rt::observe_lock(self.obj, "try_read");
        let me = rt::current();
        if let Some(writer) = self.waiting_writer_goes_first(me) {
            // The writer-first policy refuses a reader while a writer waits (Linux's
            // `try_read` fails then), as a blocking read would wait.
            rt::event("try_read", Some(self.obj), || {
                format!("would block ({} waits to write, and goes first)", rt::thread_name(writer))
            });
            return Err(TryLockError::WouldBlock);
        }
        match self.take_read(me, false) {
            Take::Taken { poisoned } => self.read_guard(me, poisoned).map_err(TryLockError::Poisoned),
            Take::HeldBy(writer) => {
                rt::event("try_read", Some(self.obj), || {
                    format!("would block (written by {})", rt::thread_name(writer))
                });
                Err(TryLockError::WouldBlock)
            }
        }
    }

    /// Blocks until exclusive access is granted.
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        // Before the scheduling point: from there on a reader that finds the lock held by other
        // readers may let this writer go first (see `writer_goes_first`).
        self.wait_to_write();
        let contended = match rt::held_by_another(self.obj) {
            None => rt::schedule_point_contending(self.obj, None),
            Some(holder) => {
                rt::event("write", Some(self.obj), || {
                    format!("blocked (held by {})", rt::thread_name(holder))
                });
                Some(rt::block_until_free(self.obj, None))
            }
        };
        if contended == Some(Wakeup::TimedOut) && rt::tearing_down() {
            raw::held_while_unwinding(self.obj, "write");
        }
        debug_assert_ne!(
            contended,
            Some(Wakeup::TimedOut),
            "racelab invariant: a wait without deadline timed out"
        );
        let me = rt::current();
        loop {
            match self.take_write(me) {
                Take::Taken { poisoned } => return self.write_guard(poisoned),
                Take::HeldBy(holder) => {
                    rt::event("write", Some(self.obj), || {
                        format!("blocked (held by {})", rt::thread_name(holder))
                    });
                    rt::block_until_free(self.obj, None);
                    if rt::tearing_down() {
                        raw::held_while_unwinding(self.obj, "write");
                    }
                }
            }
        }
    }

    /// Exclusive access if nobody holds the lock now: `WouldBlock` otherwise.
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        rt::schedule_point();
        rt::observe_lock(self.obj, "try_write");
        let me = rt::current();
        match self.take_write(me) {
            Take::Taken { poisoned } => self.write_guard(poisoned).map_err(TryLockError::Poisoned),
            Take::HeldBy(holder) => {
                rt::event("try_write", Some(self.obj), || {
                    format!("would block (held by {})", rt::thread_name(holder))
                });
                Err(TryLockError::WouldBlock)
            }
        }
    }

    /// True when a writer panicked holding the lock: one step.
    pub fn is_poisoned(&self) -> bool {
        rt::schedule_point();
        rt::read(self.obj, |s: &RwState| s.poisoned)
    }

    /// Clears the poison flag: one step.
    pub fn clear_poison(&self) {
        rt::schedule_point();
        rt::write(self.obj, |s: &mut RwState| s.poisoned = false);
    }

    /// The data, through the exclusive borrow (no step).
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = rt::read(self.obj, |s: &RwState| s.poisoned);
        let data = self.data.get_mut();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }

    /// For a blocking read while readers hold the lock and a writer waits for it: whether that
    /// writer goes first (the decision the module doc describes), and then this reader waits
    /// behind it, woken when it releases. `None`: the reader may take the lock now.
    fn writer_goes_first(&self, me: ThreadId) -> Option<ThreadId> {
        let waiting = self.waiting_writer_goes_first(me)?;
        rt::write(self.obj, |s: &mut RwState| s.blocked_readers.push(me));
        Some(waiting)
    }

    /// For a reader (`read` or `try_read`) arriving while readers hold the lock and a writer
    /// waits for it: whether that writer goes first, a decision unless a reader already waits
    /// behind it (the policy is then writer-first). `None`: the reader may take the lock now.
    fn waiting_writer_goes_first(&self, me: ThreadId) -> Option<ThreadId> {
        if rt::unwinding() {
            // No decision while unwinding (a destructor's operations take none, as they take no
            // scheduling point): read as before.
            return None;
        }
        let (waiting, queued) = rt::read(self.obj, |s: &RwState| {
            if s.writer.is_none() && !s.readers.is_empty() {
                (s.waiting_writers.iter().copied().find(|&w| w != me), !s.blocked_readers.is_empty())
            } else {
                (None, false)
            }
        });
        let waiting = waiting?;
        // A reader already waits behind that writer: the policy is writer-first, so this one
        // waits too (no reader barges in ahead of a queued one).
        if !queued && rt::choose(ChoiceKind::Waiter, 2) == 0 {
            return None;
        }
        Some(waiting)
    }

    fn take_read(&self, me: ThreadId, queue: bool) -> Take {
        let taken = rt::write(self.obj, |s: &mut RwState| match s.writer {
            None => {
                s.readers.push(me);
                Take::Taken { poisoned: s.poisoned }
            }
            Some(w) => {
                if queue {
                    s.blocked_readers.push(me);
                }
                Take::HeldBy(w)
            }
        });
        if let Take::Taken { poisoned } = taken {
            rt::event("read", Some(self.obj), || "ok".into());
            rt::add_holder(self.obj, me);
            return Take::Taken { poisoned };
        }
        taken
    }

    /// The current thread is about to write, and waits while readers hold the lock: readers
    /// arriving meanwhile may let it go first. It is listed until it takes the lock.
    fn wait_to_write(&self) {
        let me = rt::current();
        rt::write(self.obj, |s: &mut RwState| {
            if !s.waiting_writers.contains(&me) {
                s.waiting_writers.push(me);
            }
        });
    }

    fn take_write(&self, me: ThreadId) -> Take {
        let taken = rt::write(self.obj, |s: &mut RwState| match (s.writer, s.readers.first()) {
            (None, None) => {
                s.writer = Some(me);
                s.waiting_writers.retain(|&t| t != me);
                Take::Taken { poisoned: s.poisoned }
            }
            (Some(h), _) | (None, Some(&h)) => Take::HeldBy(h),
        });
        if let Take::Taken { .. } = taken {
            rt::event("write", Some(self.obj), || "ok".into());
            rt::add_holder(self.obj, me);
        }
        taken
    }

    fn read_guard(&self, me: ThreadId, poisoned: bool) -> LockResult<RwLockReadGuard<'_, T>> {
        let guard = RwLockReadGuard { lock: self, me, _not_send: PhantomData };
        if poisoned {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }

    fn write_guard(&self, poisoned: bool) -> LockResult<RwLockWriteGuard<'_, T>> {
        let guard = RwLockWriteGuard { lock: self, panicking: rt::panicking(), _not_send: PhantomData };
        if poisoned {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }

    fn read_unlock(&self, me: ThreadId) {
        // Always a scheduling point, unlike a write unlock's (`rt::release_point`): joining a
        // release to the step before it is sound only for a lock one thread holds at a time
        // (nobody else can enter meanwhile). Readers share: a second reader may enter while the
        // first still reads, and a read section without a point of its own would otherwise never
        // overlap another, so a write through a read guard racing a read went unreported.
        rt::schedule_point();
        let found = rt::write(self.obj, |s: &mut RwState| {
            let i = s.readers.iter().position(|&r| r == me);
            i.map(|i| s.readers.swap_remove(i)).is_some()
        });
        if !found && rt::unwinding() {
            return;
        }
        assert!(found, "racelab invariant: a read guard released a lock its thread does not read");
        rt::remove_holder(self.obj, me);
        rt::event("read_unlock", Some(self.obj), || "ok".into());
    }

    fn write_unlock(&self, poison: bool) {
        rt::release_point();
        let (writer, readers) = rt::write(self.obj, |s: &mut RwState| {
            s.poisoned |= poison;
            (s.writer.take(), std::mem::take(&mut s.blocked_readers))
        });
        let Some(writer) = writer else {
            assert!(rt::unwinding(), "racelab invariant: a write guard released a lock nobody writes");
            return;
        };
        rt::remove_holder(self.obj, writer);
        rt::event("write_unlock", Some(self.obj), || {
            if poison {
                "ok (poisoned: the writer panicked)".into()
            } else {
                "ok".into()
            }
        });
        if !rt::tearing_down() {
            for r in readers {
                rt::wake(r);
            }
        }
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").field("name", &rt::object_name(self.obj)).finish_non_exhaustive()
    }
}

/// Shared access to an [`RwLock`]'s data, released on drop.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    me: ThreadId,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: as std's: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

/// Exclusive access to an [`RwLock`]'s data, released on drop.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    /// Whether the thread was unwinding when it took the lock: such a guard poisons nothing.
    panicking: bool,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: as std's: sharing the guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this thread reads the lock: no writer exists while the guard lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this thread writes the lock: no other guard exists while this one lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as `deref`, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        if !rt::in_simulation() {
            return; // see `Sender`'s drop
        }
        // A panicking reader does not poison, as in std.
        self.lock.read_unlock(self.me);
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        if !rt::in_simulation() {
            return; // see `Sender`'s drop
        }
        self.lock.write_unlock(!self.panicking && super::raw::poisoning());
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
