//! Simulated threads: spawn, join with a return value, names, daemons, sleep, thread-locals.
//!
//! The API follows `std::thread` where it can and Python's `threading` where Python's meaning
//! differs: a thread has a name and a daemon flag; the run ends, as a Python program does, when
//! main has returned and every non-daemon thread has finished, and daemon threads are then cut
//! off where they stand. `join` hands back the thread's return value (the seed document's first
//! topic), and `sleep` waits on the virtual clock.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

use crate::clock::VirtualTime;
use crate::ids::{ObjectId, ThreadId};
use crate::rt::{self, Misuse, ObjectHandle, Wakeup};

/// Spawns a non-daemon thread running `f`, named `Thread-<n>`.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Builder::new().spawn(f)
}

/// Configures a thread before spawning it: its name and daemon flag.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    name: Option<String>,
    daemon: bool,
}

impl Builder {
    /// A builder for a non-daemon thread with the default name.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Names the thread; traces and reports use the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Makes the thread a daemon: the run does not wait for it, and it is cut off when main and
    /// every non-daemon thread have finished.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Spawns the thread. It becomes runnable at once; the caller goes on.
    pub fn spawn<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let result: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
        let slot = Rc::clone(&result);
        let body: Box<dyn FnOnce()> = Box::new(move || {
            let value = f();
            *slot.borrow_mut() = Some(value);
        });
        let daemon = self.daemon;
        let (id, object) = rt::with(|m| {
            let id = m.add_thread(self.name, daemon, body);
            (id, m.threads[id.index()].object)
        });
        let object = ObjectHandle::from_parts(object);
        rt::event("spawn", Some(object), || if daemon { "daemon".to_string() } else { "ok".to_string() });
        JoinHandle { thread: Thread { id }, object, result }
    }
}

/// A handle to a spawned thread: join it to get its return value.
pub struct JoinHandle<T> {
    thread: Thread,
    object: ObjectHandle,
    result: Rc<RefCell<Option<T>>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("thread", &self.thread.id).finish()
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish and returns its return value. Joining the current thread
    /// is Python's `RuntimeError: cannot join current thread`.
    pub fn join(self) -> T {
        self.wait();
        let result = self.result.borrow_mut().take();
        match result {
            Some(v) => v,
            None if rt::tearing_down() => {
                rt::note_cut_short_wait();
                panic!(
                    "racelab: joined {} while the end-of-run teardown unwinds this thread: it was cut off, and \
                     has no result",
                    rt::thread_name(self.thread.id)
                )
            }
            None => panic!("racelab invariant: a finished thread without its result"),
        }
    }

    /// Waits for the thread to finish without taking its return value: Python's `join()`,
    /// callable any number of times.
    pub fn wait(&self) {
        rt::schedule_point();
        self.check_not_self();
        while !self.finished_now() {
            rt::event("join", Some(self.object), || "blocked".into());
            rt::block(Some(self.object), None);
            if rt::tearing_down() {
                // A destructor joining during the teardown: the thread will not finish in this run.
                return;
            }
        }
        rt::event("join", Some(self.object), || "ok".into());
    }

    /// Waits at most `timeout` of virtual time for the thread to finish. Returns true when it
    /// has finished (Python's `join(timeout)` followed by `not is_alive()`).
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        rt::schedule_point();
        self.check_not_self();
        let deadline = rt::now().after(timeout);
        while !self.finished_now() {
            rt::event("join", Some(self.object), || {
                format!("blocked, timeout {}", VirtualTime::ZERO.after(timeout))
            });
            if rt::block(Some(self.object), Some(deadline)) == Wakeup::TimedOut && !self.finished_now() {
                rt::event("join", Some(self.object), || "timed out".into());
                return false;
            }
        }
        rt::event("join", Some(self.object), || "ok".into());
        true
    }

    /// True once the thread has returned. A scheduling point: whether the other thread has
    /// returned yet depends on the interleaving, as any read of another thread's state.
    pub fn is_finished(&self) -> bool {
        rt::schedule_point();
        self.finished_now()
    }

    /// `is_finished` without the scheduling point, for a front-end that places its points itself
    /// (racelab-py's `is_alive`, at its lines).
    pub fn finished_now(&self) -> bool {
        rt::with(|m| m.observe_finished(self.thread.id))
    }

    /// Python's `is_alive()`: the thread has not finished.
    pub fn is_alive(&self) -> bool {
        !self.is_finished()
    }

    /// The thread this handle joins.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    fn check_not_self(&self) {
        if rt::current() == self.thread.id {
            rt::raise(Misuse::new("RuntimeError", "cannot join current thread"));
        }
    }
}

/// A simulated thread's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread {
    id: ThreadId,
}

impl Thread {
    /// The thread's id (`t0` is main).
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// The thread's name.
    pub fn name(&self) -> String {
        rt::thread_name(self.id)
    }

    /// True for a daemon thread.
    pub fn is_daemon(&self) -> bool {
        rt::with(|m| m.threads[self.id.index()].daemon)
    }
}

/// The thread running now.
pub fn current() -> Thread {
    Thread { id: rt::current() }
}

/// Lets other threads run: a scheduling point and nothing else.
pub fn yield_now() {
    rt::yield_point();
    rt::event("yield", None, || "ok".into());
}

/// Sleeps for `d` of virtual time. Other threads run meanwhile; when none can, the clock jumps.
/// A zero sleep is a yield.
pub fn sleep(d: Duration) {
    if d.is_zero() {
        return yield_now();
    }
    rt::schedule_point();
    let deadline = rt::now().after(d);
    rt::event("sleep", None, || format!("until {deadline}"));
    while rt::now() < deadline {
        rt::block(None, Some(deadline));
        if rt::tearing_down() {
            // A destructor sleeping during the teardown: the clock stands still for it.
            return;
        }
    }
    rt::event("wake", None, || "ok".into());
}

/// Per-thread values, Python's `threading.local`: each thread sees only what it set itself.
/// Reading or writing one is not a scheduling point; no other thread can see it. A `Local` is a
/// handle: copy it into every thread that uses it.
pub struct Local<T> {
    obj: ObjectHandle,
    _values: PhantomData<fn() -> T>,
}

impl<T> Clone for Local<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Local<T> {}

impl<T> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local").field("object", &self.obj.id()).finish()
    }
}

/// A `Local`'s values, by thread index. Values their threads did not drop when they ended (the
/// thread panicked, or was cut off at the end of the run) are dropped with the run's objects,
/// outside any thread, where a `Drop` that uses racelab (locks a `Mutex`, sends) cannot run: those
/// are leaked instead, as std never runs the thread-local destructors of a thread that does not
/// end normally either.
struct Values<T>(Vec<Option<T>>);

impl<T> Drop for Values<T> {
    fn drop(&mut self) {
        if !rt::in_simulation() {
            for value in self.0.drain(..) {
                std::mem::forget(value);
            }
        }
    }
}

impl<T: 'static> Local<T> {
    /// A thread-local with no value in any thread.
    pub fn new() -> Self {
        let values: Values<T> = Values(Vec::new());
        let obj = rt::register("Local", None, values);
        rt::on_thread_exit(obj, Self::drop_value_of);
        Local { obj, _values: PhantomData }
    }

    /// Drops the value `t` set, in `t` as it ends (see [`rt::on_thread_exit`]).
    fn drop_value_of(obj: ObjectId, t: ThreadId) {
        let obj = ObjectHandle::from_parts(obj);
        let i = t.index();
        // A read first: a thread that never set a value takes nothing, and its end commutes
        // with the other ends (a write of every `Local` at every thread's end made them race).
        if !rt::read(obj, |values: &Values<T>| values.0.get(i).is_some_and(Option::is_some)) {
            return;
        }
        let value = rt::write(obj, |values: &mut Values<T>| values.0.get_mut(i).and_then(Option::take));
        drop(value);
    }

    /// Calls `f` with the current thread's value (`None` until it sets one). `f` may use racelab
    /// primitives: the value is taken out while it runs and put back after.
    pub fn with<R>(&self, f: impl FnOnce(&mut Option<T>) -> R) -> R {
        let i = rt::current().index();
        let slot = |values: &mut Values<T>| {
            if values.0.len() <= i {
                values.0.resize_with(i + 1, || None);
            }
            values.0[i].take()
        };
        let mut value = rt::write(self.obj, slot);
        let r = f(&mut value);
        rt::write(self.obj, |values: &mut Values<T>| values.0[i] = value);
        r
    }

    /// Sets the current thread's value.
    pub fn set(&self, value: T) {
        self.with(|v| *v = Some(value));
    }

    /// Takes the current thread's value out, leaving none.
    pub fn take(&self) -> Option<T> {
        self.with(Option::take)
    }

    /// The current thread's value, cloned; `None` where Python raises `AttributeError`.
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|v| v.clone())
    }
}

impl<T: 'static> Default for Local<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Asks the scheduler for a number in `0..n`: a random value the program needs, decided and
/// recorded like every other choice, so replays and exhaustive search cover it. `n` must be from
/// 1 to [`rt::MAX_OPTIONS`] (`u32::MAX`); another `n` fails the run as a misuse (`ValueError`).
pub fn choose(n: usize) -> usize {
    let v = rt::choose(crate::schedule::ChoiceKind::Random, n);
    rt::event("choose", None, || format!("{v} of 0..{}", n - 1));
    v
}
