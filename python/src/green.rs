//! Python on racelab's green threads: one `PyThreadState` per green thread, handed over on
//! every switch.
//!
//! All green threads of a run are coroutines on the explorer's OS thread. Each one that runs
//! Python owns a thread state of its own (`PyThreadState_New`), so exceptions, `sys.exc_info()`,
//! tracing and recursion depth stay per thread. The hand-over is the engine's switch hook
//! (`rt::set_switch_hook`): before a Python green thread suspends, it releases the GIL and pyo3's
//! attach count (`Python::detach`, which keeps both on the suspending thread's stack); after it
//! resumes, it takes them back. The executor between two steps therefore runs without the GIL,
//! and Python objects it drops go to pyo3's deferred pool.
//!
//! Teardown: a thread cut off at the end of a run is resumed with an unwind requested; the
//! scheduling point it was suspended in unwinds, and the Python call that led there raises
//! `racelab.ThreadExit` (a `BaseException`), so `finally` blocks run. When the Python code has
//! returned, its thread state is cleared and deleted, and the unwind goes on
//! (`rt::resume_teardown`). A suspended coroutine is never simply dropped: that crashes CPython.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use racelab_sim::rt;

thread_local! {
    /// The thread state of the green thread running Python now on this OS thread; null in the
    /// executor and in green threads outside Python.
    static CURRENT: Cell<*mut ffi::PyThreadState> = const { Cell::new(std::ptr::null_mut()) };
}

/// The interpreter the runs' thread states belong to (set by `explore` before a check).
static INTERPRETER: AtomicPtr<ffi::PyInterpreterState> = AtomicPtr::new(std::ptr::null_mut());

/// Remembers the calling thread's interpreter: the green threads' states are created in it.
pub(crate) fn remember_interpreter(_py: Python<'_>) {
    // SAFETY: the caller is attached (it holds `py`), which is all PyInterpreterState_Get needs.
    let interp = unsafe { ffi::PyInterpreterState_Get() };
    INTERPRETER.store(interp, Ordering::Relaxed);
}

/// The switch hook: a green thread running Python releases the GIL (and pyo3's attach count)
/// across its suspension, and takes them back after.
fn around_switch(switch: &mut dyn FnMut()) {
    let ts = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
    if ts.is_null() {
        return switch();
    }
    struct SendSwitch<'a>(&'a mut dyn FnMut());
    // SAFETY: the closure runs on this same OS thread, inside `detach`, before it returns; the
    // `Send` bound `detach` asks for guards against a `Python` token escaping, which this holds
    // none of.
    unsafe impl Send for SendSwitch<'_> {}
    let s = SendSwitch(switch);
    // SAFETY: `ts` non-null means this green thread holds the GIL with its own thread state.
    let py = unsafe { Python::assume_attached() };
    py.detach(move || {
        let s = s;
        (s.0)()
    });
    CURRENT.with(|c| c.set(ts));
    crate::watchdog::entered(rt::current().as_u32());
    crate::memory::enter(py);
}

/// Installs the switch hook on this (the explorer's) OS thread. Called at the start of every
/// run, from its main thread.
pub(crate) fn install_switch_hook() {
    rt::set_switch_hook(Some(around_switch));
}

/// True when the current green thread runs Python with its own thread state.
pub(crate) fn in_python() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// How a green thread's Python code ended.
pub(crate) enum Ended<R> {
    Returned(R),
    /// Torn down at the end of the run: the unwind goes on once the thread state is gone.
    TornDown,
}

/// Runs `f` with the GIL and a fresh thread state of this green thread's own, then deletes the
/// state. Must be called from a green thread that is not in Python yet.
pub(crate) fn with_python<R>(f: impl FnOnce(Python<'_>) -> R) -> Ended<R> {
    assert!(!in_python(), "racelab invariant: a green thread entered Python twice");
    let interp = INTERPRETER.load(Ordering::Relaxed);
    assert!(!interp.is_null(), "racelab invariant: Python green thread before remember_interpreter");
    // SAFETY: `interp` is the live interpreter of the process (remembered by the check that runs
    // this); PyThreadState_New needs no GIL. PyEval_RestoreThread takes the GIL, which no one
    // holds on this OS thread (the executor runs without it; the caller of `check` released it).
    let ts = unsafe {
        let ts = ffi::PyThreadState_New(interp);
        assert!(!ts.is_null(), "racelab: could not create a Python thread state");
        ffi::PyEval_RestoreThread(ts);
        ts
    };
    CURRENT.with(|c| c.set(ts));
    crate::watchdog::entered(rt::current().as_u32());
    // SAFETY: the GIL is held with `ts` current.
    let py = unsafe { Python::assume_attached() };
    let result = f(py);
    let torn_down = rt::torn_down();
    CURRENT.with(|c| c.set(std::ptr::null_mut()));
    // SAFETY: `ts` is current and holds the GIL; clearing it runs Python code (finalizers) under
    // the GIL, and PyThreadState_DeleteCurrent deletes it and releases the GIL.
    unsafe {
        ffi::PyThreadState_Clear(ts);
        ffi::PyThreadState_DeleteCurrent();
    }
    if torn_down {
        Ended::TornDown
    } else {
        Ended::Returned(result)
    }
}
