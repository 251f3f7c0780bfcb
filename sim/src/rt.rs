//! The runtime's narrow API: the only door from simulated code into the run.
//!
//! Primitives (and racelab's own thread API) reach the run through these functions and nothing
//! else: a scheduling point, block, wake, a recorded choice, the virtual clock, who holds what,
//! and trace events. The run's state lives in one thread-local of the OS thread that explores;
//! this module is its only accessor, and it never holds a borrow across a thread switch.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{compiler_fence, AtomicU64, AtomicUsize, Ordering};

use corosensei::Yielder;

use crate::clock::VirtualTime;
use crate::ids::{ObjectId, ThreadId};
use crate::note::Note;
use crate::schedule::ChoiceKind;
pub use crate::state::Wakeup;
use crate::state::{RawEvent, RunModel};

/// The run installed on this OS thread: its model, owned from [`install`] to [`uninstall`], and
/// whether racelab's code is changing it right now (a `RefCell`'s flag, kept by hand). Nothing
/// here has a destructor, so reaching it is a plain thread-local access: the step loop reaches it
/// about ten times a step, and a `RefCell<Option<RunModel>>` (a thread-local with a destructor)
/// cost a tenth of the loop. A model still installed when its OS thread ends (a thread a panic
/// ended mid-run) is leaked, not dropped.
struct Installed {
    model: Cell<*mut RunModel>,
    borrowed: Cell<bool>,
}

thread_local! {
    static RUN: Installed = const { Installed { model: Cell::new(std::ptr::null_mut()), borrowed: Cell::new(false) } };
    /// True while a green thread runs on this OS thread (the panic hook stays quiet then).
    static IN_GREEN_THREAD: Cell<bool> = const { Cell::new(false) };
    static TRACING: Cell<bool> = const { Cell::new(false) };
    /// How many `read`/`write` closures are running (see [`OpenState`]).
    static OPEN_STATE: Cell<u32> = const { Cell::new(0) };
    /// Set while the executor tears a suspended thread down: its pending scheduling point then
    /// unwinds with [`TearDown`] instead of returning.
    static UNWIND_REQUESTED: Cell<bool> = const { Cell::new(false) };
    /// Set when a wait of the thread being torn down ended at once, unwaited (see
    /// `note_cut_short_wait`): a panic of its destructors after that may be racelab's doing.
    static WAIT_CUT_SHORT: Cell<bool> = const { Cell::new(false) };
    /// How many green threads of the run are suspended in the middle of unwinding from a panic of
    /// their own (a destructor waiting for another thread): see [`panicking`].
    static SUSPENDED_UNWINDING: Cell<u32> = const { Cell::new(0) };
    /// Whether the running green thread unwinds from a panic of its own, as its last switch and
    /// the panic hook tell; read only while [`SUSPENDED_UNWINDING`] is not zero.
    static OWN_PANIC: Cell<bool> = const { Cell::new(false) };
    /// Yields made by the thread the teardown is unwinding (see [`yield_point`]).
    static TEARDOWN_YIELDS: Cell<u32> = const { Cell::new(0) };
    /// True while the executor runs a new thread to its first scheduling point.
    static STARTING: Cell<bool> = const { Cell::new(false) };
    /// Wraps every suspension of a green thread on this OS thread (see [`set_switch_hook`]).
    static SWITCH_HOOK: Cell<Option<SwitchHook>> = const { Cell::new(None) };
}

/// A function every green thread of this OS thread runs its suspensions through: it gets the
/// suspension to call (it must call it exactly once) and may do work on either side of it, on the
/// suspending thread's stack. A front-end whose green threads run an interpreter uses it to hand
/// the interpreter's per-thread state over: save it before the switch, restore it after.
pub type SwitchHook = fn(&mut dyn FnMut());

/// Installs (or, with `None`, removes) the [`SwitchHook`] of the green threads of the calling OS
/// thread. Set it from inside a run (the program's main thread): explorations run on an OS thread
/// of their own, and the hook stays there.
pub fn set_switch_hook(hook: Option<SwitchHook>) {
    SWITCH_HOOK.with(|h| h.set(hook));
}

/// The private payload a torn-down thread unwinds with; its coroutine's root catches it.
pub(crate) struct TearDown;

/// Asks the green thread about to be resumed to unwind from its pending scheduling point, or
/// stops asking.
pub(crate) fn request_unwind(on: bool) {
    UNWIND_REQUESTED.with(|c| c.set(on));
    WAIT_CUT_SHORT.with(|c| c.set(false));
    TEARDOWN_YIELDS.with(|c| c.set(0));
}

/// How many times a thread the teardown unwinds may yield before its yield is taken for a loop
/// waiting for another thread, which will never run again.
const TEARDOWN_YIELD_LIMIT: u32 = 10_000;

/// True when, since the teardown began unwinding the current thread, one of its waits ended at
/// once because nothing could end it (see `block_while_unwinding`).
pub(crate) fn wait_cut_short() -> bool {
    WAIT_CUT_SHORT.with(|c| c.get())
}

/// True while the current green thread is being torn down.
pub(crate) fn unwind_requested() -> bool {
    UNWIND_REQUESTED.with(|c| c.get())
}

/// A simulated object registered with the current run. Primitives keep one and pass it to the
/// functions of this module; using it in another run is caught and reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectHandle {
    id: ObjectId,
    nonce: u64,
}

impl ObjectHandle {
    pub(crate) fn from_parts(id: ObjectId) -> Self {
        ObjectHandle { id, nonce: with(|m| m.nonce) }
    }

    /// The object's id within its run.
    pub fn id(self) -> ObjectId {
        self.id
    }
}

/// A primitive used against Python's rules: carries Python's exception class and message.
/// Primitives raise it with [`raise`] when the program does not handle the error itself; the
/// runtime reports it as a misuse failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misuse {
    /// Python's exception class, e.g. `RuntimeError`, `ValueError`.
    pub exception: &'static str,
    /// Python's message, e.g. `release unlocked lock`.
    pub message: String,
}

impl Misuse {
    /// A misuse that Python reports as `exception(message)`.
    pub fn new(exception: &'static str, message: impl Into<String>) -> Self {
        Misuse { exception, message: message.into() }
    }
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.exception, self.message)
    }
}

impl std::error::Error for Misuse {}

/// Raises `m` in the current green thread, as Python raises an exception nobody catches: the
/// run ends and reports the misuse.
pub fn raise(m: Misuse) -> ! {
    std::panic::panic_any(m)
}

// ----- access to the run's state (crate-internal) -----

pub(crate) fn install(model: Box<RunModel>) {
    RUN.with(|r| {
        assert!(
            r.model.get().is_null() && !r.borrowed.get(),
            "racelab: check/replay cannot be nested, nor called from inside a simulated thread"
        );
        set_tracing(model.trace.is_some());
        // A run cut off inside a state access (a divergence) leaves nothing open for the next,
        // and no thread suspended in its unwinding (a tainted run leaks such threads).
        OPEN_STATE.with(|c| c.set(0));
        SUSPENDED_UNWINDING.with(|c| c.set(0));
        OWN_PANIC.with(|c| c.set(false));
        r.model.set(Box::into_raw(model));
    });
}

pub(crate) fn uninstall() -> Box<RunModel> {
    set_tracing(false);
    RUN.with(|r| {
        assert!(!r.borrowed.get(), "racelab invariant: the run uninstalled while its state is borrowed");
        let model = r.model.replace(std::ptr::null_mut());
        assert!(!model.is_null(), "racelab invariant: no run installed");
        // SAFETY: a non-null pointer here is the box `install` leaked, not borrowed (checked
        // above) and no longer reachable from `RUN`.
        unsafe { Box::from_raw(model) }
    })
}

pub(crate) fn with<R>(f: impl FnOnce(&mut RunModel) -> R) -> R {
    RUN.with(|r| {
        let model = r.model.get();
        if model.is_null() {
            outside_simulation();
        }
        if r.borrowed.replace(true) {
            borrowed_twice();
        }
        // The trap's signal handler reads the flag on this thread (`run_state_borrowed`): keep
        // the compiler from moving the model's accesses across its changes.
        compiler_fence(Ordering::SeqCst);
        let _release = Release(&r.borrowed);
        // SAFETY: `model` is the box `install` leaked, which only `uninstall` frees, and never
        // while `borrowed` is set; `borrowed` makes this the only reference to it until
        // `_release` drops (on return or unwind).
        f(unsafe { &mut *model })
    })
}

/// Clears the borrow flag of [`with`] when its closure returns or unwinds.
struct Release<'a>(&'a Cell<bool>);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        self.0.set(false);
    }
}

#[cold]
fn borrowed_twice() -> ! {
    panic!("racelab invariant: the run state was borrowed while already borrowed")
}

#[cold]
fn outside_simulation() -> ! {
    if EXPLORING.load(Ordering::Relaxed) > 0 {
        // Most likely an OS thread the program spawned: tell every running exploration, whose
        // executor fails its current run (see `os_thread_since`).
        FOREIGN_ACCESSES.fetch_add(1, Ordering::Relaxed);
        panic!("{OS_THREAD_MESSAGE}");
    }
    panic!(
        "racelab: a simulated operation ran outside a simulation. racelab threads and primitives work only \
         inside the closure given to racelab::model, racelab::check or racelab::replay; create them there."
    )
}

/// What an OS thread that touches racelab is told, and what the failing run reports.
pub(crate) const OS_THREAD_MESSAGE: &str = "racelab: an OS thread (std::thread::spawn?) used a racelab primitive while \
    a check ran. racelab simulates only its own green threads, so that operation was no part of any run: spawn \
    threads with racelab::thread::spawn instead. (When several checks run at once in one process, racelab cannot \
    tell whose program started the OS thread: each of them reports it.)";

/// Explorations running in the process now (checks, replays, parallel jobs).
static EXPLORING: AtomicUsize = AtomicUsize::new(0);
/// How many times an OS thread touched racelab while an exploration ran.
static FOREIGN_ACCESSES: AtomicU64 = AtomicU64::new(0);

/// Counts one running exploration while it lives.
pub(crate) struct Exploring(());

impl Exploring {
    pub(crate) fn start() -> Self {
        EXPLORING.fetch_add(1, Ordering::Relaxed);
        Exploring(())
    }
}

impl Drop for Exploring {
    fn drop(&mut self) {
        EXPLORING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The count of OS-thread accesses so far: a run remembers it when it starts.
pub(crate) fn os_thread_accesses() -> u64 {
    FOREIGN_ACCESSES.load(Ordering::Relaxed)
}

/// True while the run state is borrowed (racelab's own code is changing it). Async-signal-safe:
/// the trap handler asks it before abandoning a green thread, which would leave it borrowed.
pub(crate) fn run_state_borrowed() -> bool {
    RUN.with(|r| r.borrowed.get())
}

pub(crate) fn set_in_green_thread(v: bool) {
    IN_GREEN_THREAD.with(|c| c.set(v));
}

pub(crate) fn in_green_thread() -> bool {
    IN_GREEN_THREAD.with(|c| c.get())
}

pub(crate) fn set_yielder(y: &Yielder<(), ()>) {
    with(|m| {
        let cur = m.current.index();
        m.threads[cur].yielder = y as *const _;
    });
}

fn object_id(m: &RunModel, h: ObjectHandle) -> ObjectId {
    if h.nonce != m.nonce {
        panic!(
            "racelab: an object created in another run was used in this one (kept in a static, or in a module's \
             state that outlives the run). Create racelab primitives inside the program given to check, so that \
             each run gets fresh ones."
        );
    }
    h.id
}

/// True when the caller runs inside a simulation, on a green thread or not.
pub fn in_simulation() -> bool {
    RUN.with(|r| r.borrowed.get() || !r.model.get().is_null())
}

/// True while the run is being torn down or the current thread unwinds from a panic: code then
/// runs only destructors, which must not raise (a second panic would abort the process).
pub fn unwinding() -> bool {
    panicking() || with(|m| m.tearing_down)
}

/// True while the current green thread unwinds from a panic of its own: racelab's
/// `std::thread::panicking`. std's cannot tell the green threads of one OS thread apart: its panic
/// count is the OS thread's, and a green thread may be suspended halfway through its unwinding (a
/// destructor that joins another thread, or waits for a lock it holds), while the others run on
/// with that count raised. So racelab keeps, besides std's answer, how many threads are suspended
/// so, and whether the running one is one of them.
pub fn panicking() -> bool {
    std::thread::panicking() && (SUSPENDED_UNWINDING.with(|c| c.get()) == 0 || OWN_PANIC.with(|c| c.get()))
}

/// Whether the executor is running a new thread to its first scheduling point (its start, not a
/// step), or stops doing so.
pub(crate) fn set_starting(on: bool) {
    STARTING.with(|c| c.set(on));
}

/// True while the running thread is being started: it has reached no scheduling point yet.
pub(crate) fn starting() -> bool {
    STARTING.with(|c| c.get())
}

/// Notes that a panic begins in the running green thread (the panic hook's call).
pub(crate) fn note_panic_begins() {
    OWN_PANIC.with(|c| c.set(true));
}

/// Notes that the running green thread caught its panic (racelab's own catches: a thread's
/// panic kept for its join, a pool's task): it no longer unwinds. A program's own
/// `catch_unwind` is not seen; while no other thread is suspended in its unwinding std's answer
/// is exact anyway (see [`panicking`]).
pub fn note_panic_caught() {
    OWN_PANIC.with(|c| c.set(false));
}

/// A new green thread begins: it does not unwind (the thread that ran before it may have).
pub(crate) fn thread_begins() {
    OWN_PANIC.with(|c| c.set(false));
}

/// Unwinds the running thread for the end-of-run teardown: an unwind of its own, as far as
/// [`panicking`] goes (no panic hook sees a `resume_unwind`).
fn unwind_for_teardown() -> ! {
    OWN_PANIC.with(|c| c.set(true));
    std::panic::resume_unwind(Box::new(TearDown))
}

/// True while a primitive's state is open (`rt::read`/`rt::write`): a thread that panicked
/// there must not switch while unwinding, or another would find the state half-changed.
fn state_open() -> bool {
    OPEN_STATE.with(|c| c.get()) != 0
}

/// True while the executor unwinds the threads of a finished run. Code that catches panics
/// (a thread pool running tasks) must let those unwinds through: resume them.
pub fn tearing_down() -> bool {
    with(|m| m.tearing_down)
}

// ----- the API for primitives -----

/// Registers a new object of `kind` (`"Lock"`, `"Condition"`...) with the current run, holding
/// the primitive's `state`. Without a name it is called after its kind and creation number:
/// `Lock-1`, `Lock-2`. The state lives as long as the run; [`read`] and [`write()`] reach it.
pub fn register<S: 'static>(kind: &'static str, name: Option<String>, state: S) -> ObjectHandle {
    let state: Rc<dyn Any> = Rc::new(RefCell::new(state));
    with(|m| ObjectHandle { id: m.add_object_with_state(kind, name, Some(state)), nonce: m.nonce })
}

/// Reads the state registered with `obj` through `f`: the current step reads `obj`, as far as
/// partial-order reduction goes (steps that only read an object commute).
///
/// Every call records its access in the step it runs in, so a primitive cannot forget to: there
/// is no handle to the state that outlives the call (one kept across a `block` would let the
/// step after the wake-up touch the object unseen, and exhaustive search miss orders). `f` must
/// not switch threads (no scheduling point, no `block`): that is checked.
pub fn read<S: 'static, R>(obj: ObjectHandle, f: impl FnOnce(&S) -> R) -> R {
    let cell = state_cell(obj, false);
    let _open = OpenState::enter();
    let state = typed::<S>(&cell).try_borrow().unwrap_or_else(|_| nested_access(obj));
    f(&state)
}

/// Reads and changes the state registered with `obj` through `f`: the current step writes
/// `obj`. See [`read`]: the access is recorded on every call, and `f` must not switch threads.
pub fn write<S: 'static, R>(obj: ObjectHandle, f: impl FnOnce(&mut S) -> R) -> R {
    let cell = state_cell(obj, true);
    let _open = OpenState::enter();
    let mut state = typed::<S>(&cell).try_borrow_mut().unwrap_or_else(|_| nested_access(obj));
    f(&mut state)
}

fn state_cell(obj: ObjectHandle, write: bool) -> Rc<dyn Any> {
    with(|m| {
        let id = object_id(m, obj);
        m.access(id, write);
        m.objects[id.index()].state.clone()
    })
    .expect("racelab invariant: rt::read/rt::write on an object registered without state")
}

fn typed<S: 'static>(cell: &Rc<dyn Any>) -> &RefCell<S> {
    cell.downcast_ref::<RefCell<S>>()
        .expect("racelab invariant: an object's state has the type it was registered with")
}

#[cold]
fn nested_access(obj: ObjectHandle) -> ! {
    panic!(
        "racelab: the state of {} was accessed again while an rt::read/rt::write of it was still running; \
         finish one access before starting the next",
        object_name(obj)
    )
}

/// Counts the `read`/`write` closures running on this OS thread, so a thread switch inside one
/// (which would let another thread find the state borrowed) is caught where it happens.
struct OpenState;

impl OpenState {
    fn enter() -> Self {
        OPEN_STATE.with(|c| c.set(c.get() + 1));
        OpenState
    }
}

impl Drop for OpenState {
    fn drop(&mut self) {
        OPEN_STATE.with(|c| c.set(c.get() - 1));
    }
}

/// Checks that the current thread may switch: no primitive state is open in an `rt::read` or
/// `rt::write` closure.
fn check_may_switch(operation: &str) {
    if OPEN_STATE.with(|c| c.get()) != 0 && !panicking() {
        panic!(
            "racelab: {operation} inside rt::read/rt::write: a thread must not switch while a primitive's \
             state is open; return from the closure first"
        );
    }
}

/// The name of an object, as traces and reports show it.
pub fn object_name(obj: ObjectHandle) -> String {
    with(|m| {
        let id = object_id(m, obj);
        m.object_name(id)
    })
}

/// A scheduling point: the current thread offers the scheduler to run another thread before
/// its next operation. Every operation that other threads can observe starts with one.
pub fn schedule_point() {
    // The thread being started has reached a point: what it does from here on is steps, even
    // when the decision made here lets it go on without a switch.
    STARTING.with(|c| c.set(false));
    if panicking() {
        return;
    }
    point();
}

/// The scheduling point itself, whether or not the thread unwinds.
fn point() {
    check_may_switch("a scheduling point");
    // The decision is made here, on the green thread: when the strategy lets the current
    // thread go on, it does so without the two switches through the executor.
    // The yielder is read before deciding: when another thread is picked, `current` already
    // names it, but this thread must suspend through its own yielder.
    let y = with(|m| {
        let mine = m.threads[m.current.index()].yielder;
        if m.tearing_down || m.decide_in_place() {
            std::ptr::null()
        } else {
            mine
        }
    });
    if !y.is_null() {
        suspend_on(y);
    }
}

/// The scheduling point before a lock release: one only in runs with release points
/// ([`Config::release_points`](crate::Config::release_points)); without them the release joins
/// the step before it (its event keeps that step's number). Locks call it first thing in a release
/// that frees the lock for others; a condition wait's release is part of the wait and has the
/// wait's point.
pub fn release_point() {
    if panicking() {
        return;
    }
    let point = with(|m| {
        m.release_point_skipped |= !m.release_points;
        m.release_points
    });
    if point {
        schedule_point();
    }
}

/// The current thread learns whether `obj`, a lock, is held, without waiting for it to be free
/// (`try_acquire`, `locked`, `try_lock`...), or does something else that a step joined to the one
/// before it could hide (a `Condvar` waited on with a second mutex): see
/// [`ReleasePoints`](crate::ReleasePoints). In a
/// run without release points the first such operation is remembered as `operation on <obj>`;
/// an exploration in the default mode then starts again with release points. Not an access and
/// not a scheduling point: the caller does those.
pub fn observe_lock(obj: ObjectHandle, operation: &'static str) {
    with(|m| {
        if m.release_points || m.lock_observed.is_some() || m.tearing_down {
            return;
        }
        let id = object_id(m, obj);
        m.lock_observed = Some(format!("{operation} on {}", m.object_name(id)));
    })
}

/// A scheduling point at which the current thread asks to let the others run (`yield_now`):
/// a sampling strategy then lowers its priority. The set of runs is the same as for
/// [`schedule_point`].
///
/// Unlike other points, a yield is one while the thread unwinds from its own panic too: a
/// destructor that yields in a loop until another thread has done something waits for it.
pub fn yield_point() {
    if tearing_down() && unwind_requested() {
        // A destructor that yields in a loop while the teardown unwinds its thread waits for a
        // thread that will never run again: after a while, end it as other such waits end.
        let spun = TEARDOWN_YIELDS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        if spun > TEARDOWN_YIELD_LIMIT {
            wait_in_teardown("a yield_now loop");
        }
    }
    if panicking() && (tearing_down() || state_open()) {
        return;
    }
    // A thread being started reaches its first point without taking a step: its yield is no
    // request to switch away from the thread that took the last one (which may have yielded).
    if in_simulation() && !starting() {
        with(|m| m.yielding = Some(m.current));
    }
    STARTING.with(|c| c.set(false));
    point();
}

fn suspend() {
    let y = with(|m| m.threads[m.current.index()].yielder);
    suspend_on(y);
}

fn suspend_on(y: *const Yielder<(), ()>) {
    assert!(!y.is_null(), "racelab invariant: a green thread without a yielder");
    // A thread suspended halfway through its own unwinding leaves the OS thread's panic count
    // raised for the threads that run meanwhile: counted, so that `panicking` can tell them apart.
    let unwinding_own = panicking();
    if unwinding_own {
        SUSPENDED_UNWINDING.with(|c| c.set(c.get() + 1));
    }
    OWN_PANIC.with(|c| c.set(false));
    STARTING.with(|c| c.set(false));
    // SAFETY: `y` was stored by the current thread's coroutine when it started (set_yielder) and
    // points at the Yielder on that coroutine's stack. We are running on that stack right now, so
    // the coroutine is alive and its Yielder valid; no borrow of the run state is held here.
    let switch = || unsafe { (*y).suspend(()) };
    match SWITCH_HOOK.with(|h| h.get()) {
        Some(hook) => {
            let mut called = false;
            hook(&mut || {
                called = true;
                switch()
            });
            assert!(called, "racelab: a switch hook returned without switching");
        }
        None => switch(),
    }
    if unwinding_own {
        SUSPENDED_UNWINDING.with(|c| {
            assert!(
                c.get() > 0,
                "racelab invariant: more threads resumed from unwinding than suspended in it"
            );
            c.set(c.get() - 1)
        });
    }
    OWN_PANIC.with(|c| c.set(unwinding_own));
    if unwind_requested() && !unwinding_own {
        unwind_for_teardown();
    }
}

/// A number that tells the current run from every other run of this process (the one that tells
/// an object handle from another run's): what per-run caches outside the run's state key on.
pub fn run_nonce() -> u64 {
    with(|m| m.nonce)
}

/// Registers `hook` to run in every thread of this run that ends (returns from its body), with
/// `obj`'s id and the thread: per-thread values kept in `obj` are dropped there, in the thread
/// itself, as std drops a thread's thread-locals when it exits. Without it they were dropped
/// with the run's objects, outside any thread, where a value whose `Drop` uses racelab (a
/// channel's `Sender`) could not run.
pub fn on_thread_exit(obj: ObjectHandle, hook: crate::state::ThreadExitHook) {
    with(|m| {
        let id = object_id(m, obj);
        m.thread_exit_hooks.push((id, hook));
    })
}

/// Runs the current thread's exit hooks (see [`on_thread_exit`]), the newest first, as a thread's
/// end runs its thread-local destructors: each may use racelab (a dropped `Sender` wakes a
/// receiver).
pub(crate) fn thread_exits() {
    let me = current();
    let mut i = with(|m| m.thread_exit_hooks.len());
    while i > 0 {
        i -= 1;
        let (obj, hook) = with(|m| m.thread_exit_hooks[i]);
        hook(obj, me);
    }
}

/// Blocks the current thread on `on` (none: a plain sleep) until another thread wakes it or the
/// virtual clock reaches `deadline`. This is a scheduling point.
pub fn block(on: Option<ObjectHandle>, deadline: Option<VirtualTime>) -> Wakeup {
    block_with("rt::block", |m| {
        let on = on.map(|h| object_id(m, h));
        m.block_current(on, deadline);
    })
}

/// What every blocking wait shares around `enter`, which records the wait in the run's state:
/// the teardown's and an open state's waits end at once, the trace notes a wait begun while
/// unwinding, the thread is suspended, and its wake-up is taken when it resumes.
fn block_with(what: &str, enter: impl FnOnce(&mut RunModel)) -> Wakeup {
    if tearing_down() || (panicking() && state_open()) {
        return block_while_unwinding();
    }
    note_waiting_while_unwinding();
    check_may_switch(what);
    let y = with(|m| {
        enter(m);
        m.threads[m.current.index()].yielder
    });
    suspend_on(y);
    if unwind_requested() {
        // A destructor of a panicking thread, waiting when the run ended: the teardown resumed
        // it without ending its wait.
        return block_while_unwinding();
    }
    with(|m| m.take_wakeup())
}

/// Marks, in the trace, a wait that a thread begins while it unwinds from its own panic (a
/// destructor): a deadlock report then shows that the waiting thread had panicked, and where.
fn note_waiting_while_unwinding() {
    if panicking() && tracing() {
        let at = crate::executor::panic_location(current());
        event("unwinding", None, || match at {
            Some(at) => format!("from its panic at {at}: a destructor waits"),
            None => "from its panic: a destructor waits".into(),
        });
    }
}

/// A wait during the end-of-run teardown, which nobody will ever end: the run is over. A thread
/// the teardown asked to unwind that caught the unwind and waits again (Python code in a `finally`
/// or `__exit__`, a pool that catches its tasks' panics) goes on unwinding from here. A
/// destructor running during the unwind cannot (a second panic would abort), so its wait returns
/// at once, timed out; a wait without deadline must then stop (its loop checks [`tearing_down`])
/// or panic (the teardown abandons the thread) instead of blocking again, which would spin for
/// ever. During a program's own panic (no teardown) a wait is a wait like any other: the thread
/// is suspended halfway through its unwinding, and the others run (see [`panicking`]).
fn block_while_unwinding() -> Wakeup {
    if unwind_requested() && !panicking() {
        unwind_for_teardown();
    }
    Wakeup::TimedOut
}

/// Ends, with a panic that says why, a wait that a destructor begins while the end-of-run teardown
/// unwinds its thread (see `block_while_unwinding`), where returning would make a loop around it
/// spin for ever (a `Condvar` wait on a predicate, a `park` loop, a `Once` another thread was
/// initializing): nothing can end it, since no other thread runs. The teardown then abandons the
/// thread, and the report says the panic was the teardown's doing.
pub fn wait_in_teardown(what: &str) -> ! {
    if unwind_requested() && !panicking() {
        // Not a destructor: a thread that caught the teardown's unwind goes on unwinding.
        unwind_for_teardown();
    }
    note_cut_short_wait();
    panic!(
        "racelab: {what} would wait while the end-of-run teardown unwinds this thread, and no other thread \
         runs to end the wait"
    )
}

/// Notes that the thread being torn down got a result racelab made up because a wait of its could
/// not happen (a join's `Err` for a thread already cut off, a lock that cannot be taken): a panic
/// of its destructors after this one is then reported as the teardown's doing
/// ([`TeardownPanic::after_cut_short_wait`](crate::TeardownPanic)).
pub fn note_cut_short_wait() {
    if unwind_requested() {
        WAIT_CUT_SHORT.with(|c| c.set(true));
    }
}

/// Blocks the current thread until `lock` has no holder (see [`add_holder`]) or the virtual
/// clock reaches `deadline`. The thread is runnable exactly while the lock is free, so when it
/// resumes with [`Wakeup::Woken`] the lock is free: it never wakes only to find it taken, and
/// the scheduler, not a waker, decides which contender takes it. This is a scheduling point.
pub fn block_until_free(lock: ObjectHandle, deadline: Option<VirtualTime>) -> Wakeup {
    block_with("rt::block_until_free", |m| {
        let lock = object_id(m, lock);
        m.block_until_free(lock, deadline);
    })
}

/// The scheduling point of an acquire of `lock`, which is free now: until the current thread
/// runs again, another thread taking `lock` makes it wait (without a step) until the lock is
/// free again. Returns `None` when it never had to wait, else how its wait ended (woken: the
/// lock is free; timed out at `deadline`).
pub fn schedule_point_contending(lock: ObjectHandle, deadline: Option<VirtualTime>) -> Option<Wakeup> {
    if panicking() {
        return None;
    }
    with(|m| {
        let id = object_id(m, lock);
        m.contend(id, deadline);
    });
    schedule_point();
    with(|m| m.end_contention())
}

/// [`wake`] for a thread blocked in a condition wait that must take `lock` back: it becomes a
/// contender for the lock, runnable once the lock is free (the notifier usually holds it).
pub fn wake_into(t: ThreadId, lock: ObjectHandle) -> bool {
    if with(|m| m.timed_out_pending(t) && !m.tearing_down) && !panicking() {
        return wake(t);
    }
    with(|m| {
        let lock = object_id(m, lock);
        m.wake_into(t, lock)
    })
}

/// Makes `t`, blocked, runnable again. Returns false when `t` had already timed out and not yet
/// run: its timeout stands, and the wake-up is spent on it (as in Python, where a notify can
/// pick a waiter whose timeout has expired).
///
/// When `t`'s timeout fired at this same virtual instant and `t` has not run yet, which came
/// first is a recorded choice (`o0`: the wake-up, `o1`: the timeout), as in CPython where both
/// orders happen.
pub fn wake(t: ThreadId) -> bool {
    if with(|m| m.timed_out_pending(t) && !m.tearing_down) && !panicking() {
        let timeout_first = choose(ChoiceKind::Timeout, 2) == 1;
        if !timeout_first {
            with(|m| m.wake_instead_of_timeout(t));
        }
        return !timeout_first;
    }
    with(|m| m.wake(t))
}

/// Says why the current thread's coming wait may never end ("it is empty: {0} items put, {1}
/// taken"), for a deadlock report. It holds until the thread resumes.
pub fn set_wait_note(template: &'static str, values: [u64; 3]) {
    with(|m| {
        let cur = m.current.index();
        m.threads[cur].wait_note = Some(Note { template, values, step: m.step, thread: m.current });
    })
}

/// The most alternatives one decision may offer: a schedule records each pick as a `u32`, so a
/// larger choice could not be replayed (it used to be truncated, which made a deterministic
/// program look nondeterministic and made an exhaustive search stop after one run).
pub const MAX_OPTIONS: usize = u32::MAX as usize;

/// Asks the scheduler to pick one of `options` alternatives of a `kind` decision, and records
/// the pick. One option is no decision and is not recorded. `options` must be from 1 to
/// [`MAX_OPTIONS`]; anything else is a misuse (`ValueError`, as Python's `randrange` raises for
/// an empty range), reported as the run's failure.
pub fn choose(kind: ChoiceKind, options: usize) -> usize {
    if !(1..=MAX_OPTIONS).contains(&options) && !panicking() {
        raise(Misuse::new(
            "ValueError",
            format!(
                "racelab::choose({options}): a choice takes from 1 to {MAX_OPTIONS} options (u32::MAX), \
                 so that the schedule can record it"
            ),
        ));
    }
    match with(|m| m.choose(kind, options)) {
        Ok(i) => i,
        Err(d) => {
            // The schedule cannot go on: record the failure and give control back for good;
            // the executor ends the run and unwinds this thread.
            with(|m| {
                let f = m.divergence(d);
                m.failure = Some(f);
            });
            loop {
                suspend();
            }
        }
    }
}

/// Decides whether a condition wait about to block wakes spuriously instead: a recorded
/// choice while the run's spurious wake-up budget lasts, never after.
pub fn spurious_wakeup() -> bool {
    let allowed = with(|m| {
        m.access(crate::footprint::SPURIOUS_BUDGET, false);
        m.spurious_left > 0 && !m.tearing_down
    });
    if !allowed || panicking() {
        return false;
    }
    let spurious = choose(ChoiceKind::Spurious, 2) == 1;
    if spurious {
        with(|m| {
            m.access(crate::footprint::SPURIOUS_BUDGET, true);
            m.spurious_left -= 1;
        });
    }
    spurious
}

/// True when wake-ups that CPython orders FIFO may pick any waiter (a recorded choice).
pub fn adversarial_wakeups() -> bool {
    with(|m| m.semantics.adversarial_wakeups)
}

/// Leaves a note on `obj` for deadlock reports: what its history says about why a thread
/// blocked on it will never be woken. The latest note replaces the previous one. See
/// [`Note`] for the placeholders; nothing is formatted until a report needs it.
pub fn set_note(obj: ObjectHandle, template: &'static str, values: [u64; 3]) {
    with(|m| {
        let id = object_id(m, obj);
        m.objects[id.index()].note = Some(Note { template, values, step: m.step, thread: m.current });
    })
}

/// Clears the note on `obj`.
pub fn clear_note(obj: ObjectHandle) {
    with(|m| {
        let id = object_id(m, obj);
        m.objects[id.index()].note = None;
    })
}

/// Cuts thread `t` off between two steps, as `Process.terminate()` does: it never runs again,
/// whatever it holds stays held, its joiners are released. Returns false if it had finished.
/// A thread terminating itself stops here.
///
/// Without release points a kill is an observer (see [`ReleasePoints`](crate::ReleasePoints)):
/// with them, `t` could have been cut off between a step and the release after it, keeping the
/// lock for good. A thread terminating itself is not.
pub fn kill(t: ThreadId) -> bool {
    let (killed, me) = with(|m| {
        let killed = m.kill(t);
        let other = m.current != t;
        if killed && other && !m.release_points && m.lock_observed.is_none() && !m.tearing_down {
            m.lock_observed = Some(format!("terminate of {}", m.thread_name(t)));
        }
        (killed, m.current == t)
    });
    if me && killed {
        loop {
            suspend();
        }
    }
    killed
}

/// The virtual clock.
pub fn now() -> VirtualTime {
    with(|m| m.now)
}

/// The thread running now.
pub fn current() -> ThreadId {
    with(|m| m.current)
}

/// The name of thread `t`.
pub fn thread_name(t: ThreadId) -> String {
    with(|m| m.thread_name(t))
}

/// Records that `t` holds `obj` (for deadlock reports: who holds what, and for lock contention).
/// A write of `obj`: who holds it is what [`held_by_another`] reads.
pub fn add_holder(obj: ObjectHandle, t: ThreadId) {
    with(|m| {
        let id = object_id(m, obj);
        m.access(id, true);
        m.add_holder(id, t);
    })
}

/// True when the current thread holds `obj` (as [`add_holder`] registered it). Only the thread
/// itself changes that, so asking is not an access: no other thread's step can change the answer.
pub fn holds(obj: ObjectHandle) -> bool {
    with(|m| {
        let id = object_id(m, obj);
        m.objects[id.index()].holders.contains(&m.current)
    })
}

/// Set only by the test that compares the searches with and without them: makes a notify by the
/// lock's holder a scheduling point again, as it was before it stopped being one.
#[doc(hidden)]
pub static NOTIFY_POINTS_FOR_TESTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A thread other than the current one that holds `obj`, if any (for a lock: whether an
/// acquire would have to wait). It reads `obj`, as far as partial-order reduction goes.
pub fn held_by_another(obj: ObjectHandle) -> Option<ThreadId> {
    with(|m| {
        let id = object_id(m, obj);
        m.access(id, false);
        let me = m.current;
        let holders = &m.objects[id.index()].holders;
        if holders.contains(&me) {
            None
        } else {
            holders.first().copied()
        }
    })
}

/// Records that `t` no longer holds `obj`: a write of `obj`, as [`add_holder`].
pub fn remove_holder(obj: ObjectHandle, t: ThreadId) {
    with(|m| {
        let id = object_id(m, obj);
        m.access(id, true);
        m.remove_holder(id, t);
    })
}

/// True when this run records a trace (a replay of a failure, or `replay`).
pub fn tracing() -> bool {
    TRACING.with(|t| t.get())
}

/// Mirrors "the run records a trace and is not tearing down", read on every event: a plain
/// flag is cheaper than borrowing the run's state for it.
pub(crate) fn set_tracing(on: bool) {
    TRACING.with(|t| t.set(on));
}

/// Records a trace event for the current thread. `result` is only called when tracing.
pub fn event(operation: &'static str, obj: Option<ObjectHandle>, result: impl FnOnce() -> String) {
    if !tracing() {
        return;
    }
    push_event(operation, obj, result(), None);
}

/// [`event`] with what it means, typed ([`EventKind`](crate::trace::EventKind)): what diagnoses,
/// narration and the timeline read, so a primitive written outside racelab that emits kinds gets
/// them too. Neither closure runs unless the run is traced.
pub fn event_kind(
    operation: &'static str,
    obj: Option<ObjectHandle>,
    kind: impl FnOnce() -> crate::trace::EventKind,
    result: impl FnOnce() -> String,
) {
    if !tracing() {
        return;
    }
    push_event(operation, obj, result(), Some(kind()));
}

fn push_event(
    operation: &'static str,
    obj: Option<ObjectHandle>,
    result: String,
    kind: Option<crate::trace::EventKind>,
) {
    with(|m| {
        let object = obj.map(|h| object_id(m, h));
        let at = m.threads[m.current.index()].location.clone();
        let e =
            RawEvent { step: m.step, time: m.now, thread: m.current, operation, object, result, kind, at };
        if let Some(t) = m.trace.as_mut() {
            t.push(e);
        }
    })
}

/// Says where in the program's own source the current thread is (`file:line  source`), for a
/// front-end whose steps do not show it: the thread's events from now on carry it
/// ([`Event::at`](crate::trace::Event::at)) until it says otherwise; `None` forgets it. Cheap
/// enough to call on every operation, but only worth it when the run is traced
/// ([`tracing`]).
pub fn set_location(text: Option<&str>) {
    with(|m| {
        let slot = &mut m.threads[m.current.index()];
        match (text, &slot.location) {
            (Some(t), Some(old)) if **old == *t => {}
            (text, _) => slot.location = text.map(Rc::from),
        }
    })
}

// ----- std-shaped threads: panics that come back from join, park/unpark -----

/// The given name of thread `t`: `None` for a spawned thread without one, `main` for main (as
/// `std::thread::Thread::name` answers).
pub fn thread_given_name(t: ThreadId) -> Option<String> {
    with(|m| m.thread_given_name(t))
}

/// The run's policy for panics in threads of the std-shaped API.
pub fn thread_panics() -> crate::config::ThreadPanics {
    with(|m| m.semantics.thread_panics)
}

/// Runs the body `f` of a thread spawned through the std-shaped API under the run's
/// [`ThreadPanics`](crate::config::ThreadPanics) policy: with the default, a panic goes on out
/// and fails the run where it happened; with `Join*` it is caught and returned (its payload,
/// for `join`'s `Err`) and noted, so that a run ending with it unclaimed ([`claim_panic`]) can
/// fail. A misuse and the unwind of a teardown always go on out.
pub fn catch_thread_panic<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    if thread_panics() == crate::config::ThreadPanics::FailRun {
        return Ok(f());
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(p) if p.is::<TearDown>() || p.is::<Misuse>() || tearing_down() => std::panic::resume_unwind(p),
        Err(p) => {
            let message = crate::executor::panic_message(&*p);
            let location = crate::executor::take_panic_location(current());
            note_panic_caught();
            event("panic", None, || format!("caught for join: {message}"));
            with(|m| {
                let thread = m.current;
                m.caught_panics.push(crate::state::CaughtPanic { thread, message, location, claimed: false });
            });
            Err(p)
        }
    }
}

// ----- reference counts: shared ownership, seen by partial-order reduction -----

pub use crate::datarace::CountSync;

/// A reference count's identity in a run: the pseudo-object its clones and drops access (see
/// [`count_of`]). Copied into every handle of the allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountId {
    object: ObjectId,
    /// The run that made it; `None` outside a run.
    nonce: Option<u64>,
}

impl CountId {
    /// The pseudo-object this count is in the run `m`: its own, or the foreign count's when it
    /// was made outside that run.
    fn object_in(self, m: &RunModel) -> ObjectId {
        if self.nonce == Some(m.nonce) {
            self.object
        } else {
            crate::footprint::FOREIGN_COUNTS
        }
    }
}

/// Runs `f` on the current run's state, or returns `None` outside a run and while the state is
/// borrowed (a value dropped while racelab itself holds the run's state: the run's end).
fn try_with<R>(f: impl FnOnce(&mut RunModel) -> R) -> Option<R> {
    let usable = RUN.with(|r| !r.model.get().is_null() && !r.borrowed.get());
    usable.then(|| with(f))
}

/// The current step read (`write` false) or changed the wake-only twin of `count` (see
/// [`crate::footprint::wake_twin`]): it wakes a thread asleep on a step that touched it, and
/// makes no race. Outside a run, and in its teardown, nothing.
pub fn count_wake(count: CountId, write: bool) {
    try_with(|m| {
        if m.tearing_down {
            return;
        }
        m.count_wake(count.object_in(m), write);
    });
}

/// The reference count of the shared allocation at `address` (a racelab `Arc`'s): the one it
/// has in this run, or a new one, made by the current thread. Neither a scheduling point nor an
/// access: making one conflicts with nothing, since its number depends only on the thread and
/// what the thread made before. Outside a run (or in a run's teardown) it is the *foreign*
/// count, which every other foreign count's accesses conflict with.
pub fn count_of(address: usize) -> CountId {
    try_with(|m| CountId { object: m.count_of(address), nonce: Some(m.nonce) }).unwrap_or_else(foreign_count)
}

/// The allocation at `address` lost its last owner (see [`count_of`]): an allocation made there
/// later gets a count of its own.
pub fn count_freed(address: usize) {
    try_with(|m| m.count_freed(address));
}

/// The foreign count (see [`count_of`]).
fn foreign_count() -> CountId {
    CountId { object: crate::footprint::FOREIGN_COUNTS, nonce: None }
}

/// The current step read (`write` false) or changed reference count `count`, for partial-order
/// reduction and, by `sync`, for data-race detection. Not a scheduling point: the access belongs
/// to the step in progress. A count made outside this run is accessed as the foreign count;
/// outside a run, and while the run is torn down, this does nothing.
pub fn count_access(count: CountId, write: bool, sync: CountSync) {
    try_with(|m| {
        if m.tearing_down {
            return;
        }
        m.count_access(count.object_in(m), write, sync);
    });
}

/// Before an operation on a reference count (a racelab `Arc`'s clone, drop, or a read of its
/// counts): a scheduling point in runs with release points. Without them the operation joins
/// the step before it, as a lock release does, which is exact until something looks at the
/// counts: an `observer` (`strong_count`, `try_unwrap`, `Weak::upgrade`...) is then remembered
/// as [`observe_lock`] remembers a lock's, so an exploration in the default mode starts again
/// with points (see [`ReleasePoints`](crate::ReleasePoints)). A point while the thread unwinds
/// from its own panic too; nothing outside a run, in a run's teardown, or inside an
/// `rt::read`/`rt::write` closure.
pub fn count_point(observer: Option<&dyn Fn() -> String>) {
    if state_open() {
        return;
    }
    let points = try_with(|m| {
        // A run that skipped a point is recorded as one without release points, so that its
        // replay skips it too.
        m.release_point_skipped |= !m.release_points && !m.tearing_down;
        (!m.tearing_down).then_some(m.release_points)
    })
    .flatten();
    match (points, observer) {
        (Some(true), _) => {
            // A point even while the thread unwinds from its own panic (as a yield is one): the
            // handles its frames drop may be the last, and other threads run meanwhile.
            STARTING.with(|c| c.set(false));
            point();
        }
        (Some(false), Some(what)) => counts_observed(what),
        _ => {}
    }
}

/// Something in this run depended on a reference count (see [`count_point`]): in a run without
/// release points it is remembered, as [`observe_lock`] remembers a lock's observer.
pub fn counts_observed(what: &dyn Fn() -> String) {
    try_with(|m| {
        if !m.release_points && m.lock_observed.is_none() && !m.tearing_down {
            m.lock_observed = Some(what());
        }
    });
}

/// A trace event of a reference count's operation (no object: counts are none): `Arc<T>`'s
/// drops that decide who drops the value, and reads of the counts. Nothing when not tracing,
/// outside a run, in its teardown, while the thread unwinds, or inside an `rt::read`/`rt::write`
/// closure.
pub fn count_event(operation: &'static str, result: impl FnOnce() -> String) {
    // (Not while the thread unwinds: the trace marks the failing thread's last event.)
    if !tracing() || state_open() || panicking() {
        return;
    }
    if try_with(|m| !m.tearing_down) == Some(true) {
        push_event(operation, None, result(), None);
    }
}

/// How many accesses the current thread has made so far in the run, to objects and cells (not
/// to reference counts): code it ran between two readings that give the same number did
/// nothing another thread could observe. 0 outside a run.
pub fn activity() -> u64 {
    try_with(|m| m.threads[m.current.index()].accesses).unwrap_or(0)
}

// ----- cells: plain memory checked for data races -----

/// Registers a new cell (`racelab::cell::UnsafeCell`) created at `location`: an object named
/// `UnsafeCell-<n>` whose accesses are checked for data races (see [`cell_access`]). Its
/// creation counts as its first write. Not a scheduling point.
pub fn new_cell(location: &'static std::panic::Location<'static>) -> ObjectHandle {
    with(|m| ObjectHandle { id: m.new_cell(location), nonce: m.nonce })
}

/// The current thread reads (`write` false) or writes `cell` from `location`. Not a scheduling
/// point: the access belongs to the step in progress, as a read or write of the cell for
/// partial-order reduction. When no synchronization orders it after an earlier access of
/// another thread (one of the two a write), the run fails here with a
/// [`FailureKind::DataRace`](crate::FailureKind::DataRace) and this thread runs no further.
///
/// Returns a token for [`cell_access_end`]. Does nothing while the thread unwinds or the run is
/// torn down.
pub fn cell_access(cell: ObjectHandle, write: bool, location: &'static std::panic::Location<'static>) -> u32 {
    if panicking() {
        return 0;
    }
    let checked = with(|m| {
        if m.tearing_down {
            return Ok(0);
        }
        let id = object_id(m, cell);
        m.cell_access(id, write, location)
    });
    match checked {
        Ok(epoch) => {
            event(if write { "write" } else { "read" }, Some(cell), || format!("ok at {}", at(location)));
            epoch
        }
        Err(race) => {
            event(if write { "write" } else { "read" }, Some(cell), || {
                let crate::FailureKind::DataRace(r) = &race else { unreachable!() };
                format!("DATA RACE with {}, at {}", r.first, at(location))
            });
            // The run ends here: record the failure and give control back for good; the
            // executor ends the run and unwinds this thread.
            with(|m| m.failure = Some(race));
            loop {
                suspend();
            }
        }
    }
}

/// Marks the panic caught in thread `t` as taken by its join (or its scope): the run's end no
/// longer fails for it. Not a step: the joiner has already observed that `t` finished.
pub fn claim_panic(t: ThreadId) {
    with(|m| {
        for p in m.caught_panics.iter_mut().filter(|p| p.thread == t) {
            p.claimed = true;
        }
    })
}

/// Fails the run with the panic `payload` of the current thread (a misuse when it is one) and
/// never returns: the thread stays suspended where it is until the run's teardown unwinds it.
/// For `thread::scope`, whose frame must not unwind while its scoped threads still run.
pub fn fail_run_from_panic(payload: Box<dyn Any + Send>) -> ! {
    let t = current();
    let failure = crate::executor::panic_failure(t, payload);
    with(|m| m.failure = Some(failure));
    loop {
        suspend();
    }
}

/// Fails the run with `failure`, caused by the current thread, and never returns: the thread
/// stays suspended where it is until the run's teardown unwinds it. For front-ends whose
/// threads fail in their own terms (an uncaught Python exception with its traceback).
pub fn fail_run(failure: crate::report::FailureKind) -> ! {
    with(|m| m.failure = Some(failure));
    loop {
        suspend();
    }
}

/// The current thread as reports name it.
pub fn thread_ref(t: ThreadId) -> crate::report::ThreadRef {
    with(|m| m.thread_ref(t))
}

/// Goes on unwinding a thread the run's teardown asked to unwind ([`unwinding`] is true for
/// it), after foreign code it ran through (an interpreter that turned the unwind into an
/// exception of its own and back) stopped the original unwind. Panics if no teardown asked.
pub fn resume_teardown() -> ! {
    assert!(unwind_requested(), "racelab: resume_teardown outside a teardown");
    unwind_for_teardown()
}

/// True when the current green thread is being torn down at the end of the run: its pending
/// scheduling point unwinds; foreign code that catches the unwind must let it go on
/// ([`resume_teardown`]).
pub fn torn_down() -> bool {
    unwind_requested()
}

/// Marks the objects made from now on, until a matching `library_objects(false)`, as a
/// library's, made on the program's behalf (a front-end's executor or pool code, the standard
/// library's futures): their events stay in the trace and are left out of the run's narration
/// unless they decide the bug. Calls nest.
pub fn library_objects(on: bool) {
    with(|m| {
        if on {
            m.library_depth += 1;
        } else {
            assert!(
                m.library_depth > 0,
                "racelab: library_objects(false) without a library_objects(true) before it"
            );
            m.library_depth -= 1;
        }
    });
}

/// std's `park`: a scheduling point, then, unless the current thread's park token is set (an
/// `unpark` came first, which this consumes), returns spuriously (while the run's spurious
/// wake-up budget lasts, a recorded choice, as std allows) or blocks until [`unpark`] or
/// `deadline`. Returns how the wait ended (`Woken` also when the token was there or the return
/// was spurious).
pub fn park(deadline: Option<VirtualTime>) -> Wakeup {
    schedule_point();
    let (parker, had_token) = with(|m| {
        let me = m.current;
        let o = m.parker(me);
        m.access(o, true);
        (o, std::mem::take(&mut m.threads[me.index()].park_token))
    });
    let parker = ObjectHandle::from_parts(parker);
    if had_token || tearing_down() || (panicking() && state_open()) {
        if !had_token && tearing_down() {
            wait_in_teardown("park");
        }
        event("park", Some(parker), || "token: ok".into());
        return Wakeup::Woken;
    }
    // std: "park may also return spuriously, without consuming the token": a recorded choice
    // while the run's spurious wake-up budget lasts, as a condition wait's.
    if spurious_wakeup() {
        event("park", Some(parker), || "spurious: returned without an unpark".into());
        return Wakeup::Woken;
    }
    event("park", Some(parker), || "blocked".into());
    let how = block(Some(parker), deadline);
    // An unpark that raced a timeout at the same instant left its token: this return uses it.
    with(|m| {
        m.access(parker.id, true);
        let me = m.current.index();
        m.threads[me].park_token = false;
    });
    event("park", Some(parker), || if how == Wakeup::TimedOut { "timed out".into() } else { "ok".into() });
    how
}

/// std's `Thread::unpark`: a scheduling point, then sets `t`'s park token and wakes `t` when it
/// is parked. An unpark of a finished thread changes nothing.
pub fn unpark(t: ThreadId) {
    schedule_point();
    let (parker, parked) = with(|m| {
        let o = m.parker(t);
        m.access(o, true);
        m.threads[t.index()].park_token = true;
        let parked = matches!(m.threads[t.index()].state, crate::state::RunState::Blocked { on: Some(on), .. } if on == o);
        (o, parked)
    });
    let parker = ObjectHandle::from_parts(parker);
    event("unpark", Some(parker), || if parked { "woke".into() } else { "token set".into() });
    if parked {
        with(|m| m.wake(t));
    }
}

/// Ends an access begun with [`cell_access`] (which returned `token`): when the thread
/// synchronized inside it (took or released a lock while it held the pointer), the access
/// spans that synchronization and is checked again at its end.
pub fn cell_access_end(
    cell: ObjectHandle,
    write: bool,
    location: &'static std::panic::Location<'static>,
    token: u32,
) {
    if panicking() {
        return;
    }
    let moved = with(|m| !m.tearing_down && m.race_epoch() != token);
    if moved {
        cell_access(cell, write, location);
    }
}

fn at(l: &std::panic::Location<'_>) -> String {
    format!("{}:{}:{}", l.file(), l.line(), l.column())
}
