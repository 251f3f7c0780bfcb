//! std's `thread` module on racelab's green threads, so `use racelab::thread;` in place of
//! `use std::thread;` is the whole switch.
//!
//! Why it exists beside the engine's Python-shaped `racelab_sim::thread` (whose `join` returns
//! `T`, whose threads have daemon flags and `Thread-<n>` names): Rust code is written against
//! std's shape: `join()` returns [`Result`], `scope` lends the enclosing frame to its threads,
//! `park`/`unpark` wait on a per-thread token. This module is a superset of std's: every item of
//! std's `thread` that a test program uses, plus the Python extras ([`Builder::daemon`],
//! [`JoinHandle::join_timeout`], [`JoinHandle::is_alive`], [`JoinHandle::wait`], [`Local`],
//! [`choose`]). It is built on `racelab_sim::thread` and `rt`, so every operation is a step
//! with its footprint, as the engine's own.
//!
//! Differences from std, each forced by simulating threads on one OS thread:
//! - No `Send` bounds: racelab runs every thread on one OS thread, so the bounds would only
//!   refuse programs std refuses anyway. Code that compiles against std compiles here.
//! - A panic in a spawned thread fails the run where it happened by default (as shuttle and
//!   loom do), so the report shows the panic itself; `join` returns `Err(payload)` as std's
//!   does when the check asks for it with `Config::thread_panics(ThreadPanics::Join)` (see
//!   `racelab_sim::config::ThreadPanics` for why it is a setting of the check). A panicked
//!   thread nobody joins then still fails the run, unless `ThreadPanics::JoinOrIgnore`.
//! - [`Builder::stack_size`] is accepted and ignored: every green thread has the stack of the
//!   check's `Config::stack_size`.
//! - [`ThreadId`] is racelab's thread id (`t0` is main), with std's traits (`Copy`, `Eq`,
//!   `Hash`, `Debug`); std's cannot be constructed.
//! - std's `thread_local!` keeps one value per OS thread, and every racelab thread of a run runs
//!   on the same OS thread: such a value is shared by all of them. Use [`Local`] for per-thread
//!   data (Python's `threading.local`).
//! - [`park`] never wakes spuriously (std allows it; a program correct under std's contract is
//!   correct here).
//!
//! # Scoped threads
//!
//! [`scope`] works as std's: scoped threads may borrow non-`'static` data from the enclosing
//! frame, and every one is joined before `scope` returns. The engine's thread bodies are
//! `'static`, so `Scope::spawn` erases the body's lifetime (one `unsafe` block); it is sound
//! because no scoped thread can run, or unwind, after the frame it borrows from is gone:
//! - `scope` returns only after every thread spawned in it has finished (those spawned by the
//!   scoped threads themselves included).
//! - An unwind never leaves `scope` while a scoped thread lives. A panic of the closure fails
//!   the run right there under the default `ThreadPanics::FailRun` (the thread stays suspended
//!   inside `scope`, frame intact, until the teardown); under `ThreadPanics::Join*` it joins
//!   every scoped thread first, as std does.
//! - The teardown at the end of a run (a deadlock, a failure elsewhere, a daemon cut off)
//!   unwinds suspended threads newest first (`racelab_sim`'s executor), and a scoped thread is
//!   always newer than the thread that owns its scope, so it is unwound before the owner's
//!   frame; bodies not started yet are dropped before any thread is unwound. A thread the
//!   engine abandons (watchdog, stack overflow) or leaks is never resumed again.
//! - A scoped thread terminated from outside (`rt::kill`, which std cannot do) never ends its
//!   body: `scope` then fails the run and stays, frame intact, until the teardown.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use racelab_sim::config::ThreadPanics;
use racelab_sim::rt;
use racelab_sim::thread as engine;

pub use racelab_sim::thread::{choose, Local};
/// A thread's id: `t0` is main, then each spawned thread in spawn order.
pub use racelab_sim::ThreadId;
/// std's own: `thread_local!` is std's (see the module documentation for what it keeps).
pub use std::thread::{AccessError, LocalKey};

/// The CPUs a run sees: always 2, on every machine, so that a program that sizes a pool from it
/// makes the same threads everywhere and its schedules replay anywhere (racelab-py's
/// `os.cpu_count()` says the same).
pub const RUN_CPUS: usize = 2;

/// std's `available_parallelism`: [`RUN_CPUS`], whatever the machine has.
pub fn available_parallelism() -> std::io::Result<std::num::NonZeroUsize> {
    Ok(std::num::NonZeroUsize::new(RUN_CPUS).expect("RUN_CPUS is not zero"))
}

/// std's `thread::Result`: `Err` holds a panicked thread's payload.
pub type Result<T> = std::thread::Result<T>;

/// Where a thread's body leaves its return value or its panic's payload.
type Slot<T> = Rc<RefCell<Option<Result<T>>>>;

/// Spawns a thread running `f` and returns a handle to join it (std's `thread::spawn`).
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Builder::new().spawn(f).expect("racelab: spawning a green thread cannot fail")
}

/// Configures a thread before spawning it: std's `name` and `stack_size`, and Python's
/// `daemon` flag.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    name: Option<String>,
    daemon: bool,
}

impl Builder {
    /// A builder for a non-daemon thread without a name.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Names the thread: [`Thread::name`], traces and reports use the name. Takes a `String`, as
    /// std's does, so std's `Builder::new().name("x".into())` compiles unchanged.
    pub fn name(mut self, name: String) -> Self {
        self.name = Some(name);
        self
    }

    /// Accepted for std's sake and ignored: every green thread has the stack the check's
    /// `Config::stack_size` gives (256 KiB by default).
    pub fn stack_size(self, _size: usize) -> Self {
        self
    }

    /// Python's daemon flag (an extra): the run does not wait for a daemon thread, which is cut
    /// off when main and every non-daemon thread have finished.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Spawns the thread. It is runnable at once; the caller goes on. Never `Err` (std's
    /// signature: an OS can refuse a thread; racelab does not).
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let (body, result, _) = body(f);
        let (inner, thread) = self.launch(body);
        Ok(JoinHandle { inner, thread, result })
    }

    /// Spawns a scoped thread in `scope`, as [`Scope::spawn`] does, with this builder's name.
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + 'scope,
        T: 'scope,
    {
        let (body, result, end) = body(f);
        // SAFETY: the body borrows data that lives for 'scope; the module documentation
        // ("Scoped threads") shows that the thread never runs nor unwinds after 'scope ends:
        // `scope` joins it before returning (join_all), no unwind leaves `scope` while it
        // lives, and a teardown unwinds it (or drops its unstarted body) before the owner's
        // frame, since it is newer than the owner.
        let body = unsafe { erase_lifetime(body) };
        let (inner, thread) = self.launch(body);
        let child = Rc::new(Child { inner, end, thread: thread.clone() });
        scope.children.borrow_mut().push(Rc::clone(&child));
        Ok(ScopedJoinHandle { child, result, _scope: PhantomData })
    }

    fn launch(self, body: Box<dyn FnOnce()>) -> (engine::JoinHandle<()>, Thread) {
        let mut builder = engine::Builder::new().daemon(self.daemon);
        if let Some(n) = &self.name {
            builder = builder.name(n.clone());
        }
        let inner = builder.spawn(body);
        let thread = Thread { inner: *inner.thread(), name: self.name.map(Rc::from) };
        (inner, thread)
    }
}

/// How a thread's body ended, for `scope`'s joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Still running (or terminated from outside before it ended).
    Running,
    Returned,
    Panicked,
}

/// A thread body, where it leaves its result, and how it ended.
type Body<'a, T> = (Box<dyn FnOnce() + 'a>, Slot<T>, Rc<Cell<End>>);

/// A thread body that runs `f` under the run's panic policy and leaves its result in the slot.
fn body<'a, F, T>(f: F) -> Body<'a, T>
where
    F: FnOnce() -> T + 'a,
    T: 'a,
{
    let result: Slot<T> = Rc::new(RefCell::new(None));
    let end = Rc::new(Cell::new(End::Running));
    let (out, ended) = (Rc::clone(&result), Rc::clone(&end));
    let body = Box::new(move || {
        let r = rt::catch_thread_panic(f);
        ended.set(if r.is_ok() { End::Returned } else { End::Panicked });
        *out.borrow_mut() = Some(r);
    });
    (body, result, end)
}

/// Makes a scoped thread's body `'static` for the engine.
///
/// # Safety
/// The caller guarantees that the body is neither run nor dropped after `'a` ends.
unsafe fn erase_lifetime<'a>(body: Box<dyn FnOnce() + 'a>) -> Box<dyn FnOnce() + 'static> {
    // SAFETY: the same fat pointer with a longer lifetime bound; the caller upholds the
    // lifetime (see above).
    unsafe { std::mem::transmute::<Box<dyn FnOnce() + 'a>, Box<dyn FnOnce() + 'static>>(body) }
}

/// The result of a thread's body once it finished: the terminated case (`rt::kill`, which
/// std cannot do) is an `Err` that says so.
fn take_result<T>(thread: &Thread, slot: &Slot<T>) -> Result<T> {
    match slot.borrow_mut().take() {
        Some(Ok(v)) => Ok(v),
        Some(Err(p)) => {
            rt::claim_panic(thread.id());
            Err(p)
        }
        None => {
            // In a teardown (a destructor joining a thread already cut off): a result racelab
            // made up, which an `unwrap` turns into the teardown's panic.
            rt::note_cut_short_wait();
            Err(Box::new("racelab: the thread was terminated before it returned"))
        }
    }
}

/// A handle to a spawned thread: join it to get its return value (std's `JoinHandle`).
pub struct JoinHandle<T> {
    inner: engine::JoinHandle<()>,
    thread: Thread,
    result: Slot<T>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("thread", &self.thread).finish()
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish: `Ok` with its return value, or `Err` with its panic's
    /// payload when it panicked and the check catches thread panics
    /// (`Config::thread_panics(ThreadPanics::Join)`; by default the panic fails the run
    /// instead). Joining the current thread panics, as std's does on Linux (`pthread_join`
    /// refuses with `EDEADLK`), at the caller's line.
    #[track_caller]
    pub fn join(self) -> Result<T> {
        if current().id() == self.thread.id() {
            panic!("failed to join thread: Resource deadlock avoided (os error 35)");
        }
        self.inner.wait();
        take_result(&self.thread, &self.result)
    }

    /// True once the thread has finished (returned or panicked).
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// The thread this handle joins.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Python's `join(timeout)` (an extra): waits at most `timeout` of virtual time; true when
    /// the thread has finished. The handle stays usable.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.inner.join_timeout(timeout)
    }

    /// Python's `join()` (an extra): waits for the thread to finish without taking its result;
    /// callable any number of times.
    pub fn wait(&self) {
        self.inner.wait()
    }

    /// Python's `is_alive()` (an extra): the thread has not finished.
    pub fn is_alive(&self) -> bool {
        !self.is_finished()
    }
}

/// A thread's identity: its id, its name, and the token [`park`] waits for (std's `Thread`).
#[derive(Clone, PartialEq, Eq)]
pub struct Thread {
    inner: engine::Thread,
    name: Option<Rc<str>>,
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread").field("id", &self.id()).field("name", &self.name.as_deref()).finish()
    }
}

impl Thread {
    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.inner.id()
    }

    /// The name it was given (`Some("main")` for main; `None` for a thread spawned without one,
    /// as std answers; traces call it `Thread-<n>`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Makes the thread's park token available: its current or next [`park`] returns at once
    /// (std's `unpark`; a second unpark before the park changes nothing). A step: it starts
    /// with a scheduling point.
    pub fn unpark(&self) {
        rt::unpark(self.id());
    }

    /// True for a daemon thread (an extra).
    pub fn is_daemon(&self) -> bool {
        self.inner.is_daemon()
    }

    fn of(inner: engine::Thread) -> Self {
        Thread { inner, name: rt::thread_given_name(inner.id()).map(Rc::from) }
    }
}

/// The thread running now.
pub fn current() -> Thread {
    Thread::of(engine::current())
}

/// True while the current thread unwinds from a panic (std's `thread::panicking`).
pub fn panicking() -> bool {
    rt::panicking()
}

/// Lets other threads run: a scheduling point and nothing else.
pub fn yield_now() {
    engine::yield_now()
}

/// Sleeps for `dur` of virtual time; other threads run meanwhile, and when none can, the
/// clock jumps. A zero sleep is a yield.
pub fn sleep(dur: Duration) {
    engine::sleep(dur)
}

/// Blocks until the current thread's park token is available, then consumes it (std's
/// `park`): returns at once when an [`Thread::unpark`] came first. May return spuriously, as
/// std's may: within the run's spurious wake-up budget (`Config::spurious_wakeups`, 1 by
/// default), a park without a token may return at once, so a `park` outside a loop that
/// re-checks its condition is found.
pub fn park() {
    rt::park(None);
}

/// [`park`], waiting at most `dur` of virtual time.
pub fn park_timeout(dur: Duration) {
    let deadline = rt::now().after(dur);
    rt::park(Some(deadline));
}

/// Runs `f` with a scope in which it may spawn threads that borrow from the enclosing frame;
/// every thread spawned in the scope is joined before `scope` returns (std's `thread::scope`).
/// When a scoped thread that nobody joined panicked (under `ThreadPanics::Join*`), `scope`
/// panics after joining them all, as std's does. See the module documentation for why this is
/// sound on racelab's green threads.
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope { children: RefCell::new(Vec::new()), scope: PhantomData, env: PhantomData };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    if let Err(p) = result {
        if rt::tearing_down() {
            // The teardown unwinds newest first: every scoped thread is gone already.
            panic::resume_unwind(p);
        }
        rt::note_panic_caught();
        if rt::thread_panics() == ThreadPanics::FailRun {
            // The run fails here; the frame stays until the teardown has unwound the threads.
            rt::fail_run_from_panic(p);
        }
        scope.join_all();
        panic::resume_unwind(p);
    }
    if scope.join_all() {
        panic!("a scoped thread panicked");
    }
    result.unwrap_or_else(|_| unreachable!("racelab invariant: handled above"))
}

/// A scope to spawn threads in (std's `thread::Scope`); see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    children: RefCell<Vec<Rc<Child>>>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").field("threads", &self.children.borrow().len()).finish()
    }
}

/// A thread spawned in a scope, as the scope sees it.
struct Child {
    inner: engine::JoinHandle<()>,
    end: Rc<Cell<End>>,
    thread: Thread,
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a thread that may borrow anything that outlives the scope; it is joined when
    /// the scope ends, if not before.
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + 'scope,
        T: 'scope,
    {
        Builder::new().spawn_scoped(self, f).expect("racelab: spawning a green thread cannot fail")
    }

    /// Joins every thread spawned in the scope, those spawned meanwhile included. True when one
    /// that nobody joined panicked (its panic then counts as joined: `scope` panics for it).
    fn join_all(&self) -> bool {
        let mut panicked = false;
        let mut i = 0;
        loop {
            // Not borrowed across the wait: the threads may spawn into the scope meanwhile.
            let Some(child) = self.children.borrow().get(i).cloned() else { return panicked };
            child.inner.wait();
            match child.end.get() {
                End::Returned => {}
                // Nobody took its panic (a `join` turns it back to `Returned`): the scope does.
                End::Panicked => {
                    panicked = true;
                    rt::claim_panic(child.thread.id());
                }
                End::Running => rt::fail_run_from_panic(Box::new(format!(
                    "racelab: scoped thread {} was terminated before it finished; the scope cannot end while its \
                     frames may still borrow the scope's data",
                    rt::thread_name(child.thread.id())
                ))),
            }
            i += 1;
        }
    }
}

/// A handle to a scoped thread (std's `ScopedJoinHandle`).
pub struct ScopedJoinHandle<'scope, T> {
    child: Rc<Child>,
    result: Slot<T>,
    _scope: PhantomData<&'scope ()>,
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle").field("thread", &self.child.thread).finish()
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to finish, as [`JoinHandle::join`].
    pub fn join(self) -> Result<T> {
        self.child.inner.wait();
        let r = take_result(&self.child.thread, &self.result);
        if r.is_err() {
            // Joined: the scope does not panic for it.
            self.child.end.set(End::Returned);
        }
        r
    }

    /// True once the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.child.inner.is_finished()
    }

    /// The thread this handle joins.
    pub fn thread(&self) -> &Thread {
        &self.child.thread
    }

    /// Python's `is_alive()` (an extra): the thread has not finished.
    pub fn is_alive(&self) -> bool {
        !self.is_finished()
    }
}
