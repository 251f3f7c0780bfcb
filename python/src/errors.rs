//! racelab's failures inside a primitive, as Python exceptions in the thread that caused them.
//!
//! A primitive misused (`release()` of an unlocked lock...) raises a `racelab::rt::Misuse`
//! carrying Python's exception class and message; here it becomes that exception, raised in the
//! Python thread, which may catch it. The exception is marked, so that if nobody catches it the
//! run fails as a misuse (the diagnosis the Rust CLI gives) rather than as a plain exception.
//! The unwind of a thread torn down at the end of a run becomes `racelab.ThreadExit`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyBaseException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use racelab_primitives::QueueError;
use racelab_sim::rt::{self, Misuse};

pyo3::create_exception!(
    _racelab,
    ThreadExit,
    PyBaseException,
    "Raised in a racelab thread that is cut off at the end of a run (a daemon thread, a deadlocked one): \
     let it propagate."
);

/// What an operation on a racelab object outside a run raises.
const OUTSIDE_RUN: &str =
    "racelab: a racelab thread or primitive was used outside a run: they work only while \
    racelab.check/racelab.replay (or racelab-py) runs the program, on the threads it runs (an OS thread the \
    program started itself, or an object kept from a run, is outside)";

/// The attribute that marks an exception raised for a misuse of a primitive.
pub(crate) const MISUSE_MARK: &str = "_racelab_misuse";

/// Runs a primitive's operation `f`, turning its misuse, the teardown's unwind and racelab's own
/// errors (an operation outside a run) into Python exceptions.
pub(crate) fn guarded<R>(py: Python<'_>, f: impl FnOnce() -> R) -> PyResult<R> {
    if !cut_off() {
        crate::watchdog::tick();
    }
    guarded_quiet(py, f)
}

/// True while the end-of-run teardown cuts the current thread off: Python code it runs on its
/// way out (a `finally`, an `__exit__`, asyncio's loop closing) gets `ThreadExit` from every
/// racelab operation, shows no progress, and so cannot spin on one that returns at once (a
/// zero sleep). The tracer's own points are left alone (an exception out of a trace function
/// would switch tracing off).
fn cut_off() -> bool {
    rt::in_simulation() && rt::torn_down() && !rt::panicking()
}

/// `guarded` for an operation that shows no progress (a read of the virtual clock,
/// `is_alive`): the watchdog is not told, so that a loop of nothing else lets it fire.
pub(crate) fn guarded_quiet<R>(py: Python<'_>, f: impl FnOnce() -> R) -> PyResult<R> {
    if cut_off() {
        return Err(ThreadExit::new_err("racelab: the run is over; this thread is being cut off"));
    }
    let result = caught(py, f);
    // The step this operation ended in goes on with the program's Python code, up to the next
    // scheduling point: the rest of the lines on the stack (see `threads::record_rest`).
    crate::threads::record_rest(py);
    result
}

/// `guarded` for the tracer's own scheduling point, whose step's footprint the tracer records.
pub(crate) fn guarded_point<R>(py: Python<'_>, f: impl FnOnce() -> R) -> PyResult<R> {
    if !cut_off() {
        crate::watchdog::tick();
    }
    caught(py, f)
}

/// Runs `f` inside a run, its panic (a misuse, a teardown) as the Python exception it stands for.
fn caught<R>(py: Python<'_>, f: impl FnOnce() -> R) -> PyResult<R> {
    if !rt::in_simulation() {
        return Err(PyRuntimeError::new_err(OUTSIDE_RUN));
    }
    let located = crate::threads::locate(py);
    let result = catch_unwind(AssertUnwindSafe(f));
    if located {
        crate::threads::unlocate();
    }
    result.map_err(|payload| to_python(py, payload))
}

fn to_python(py: Python<'_>, payload: Box<dyn Any + Send>) -> PyErr {
    if rt::in_simulation() && rt::torn_down() {
        return ThreadExit::new_err("racelab: the run is over; this thread is being cut off");
    }
    match payload.downcast::<Misuse>() {
        Ok(m) => misuse(py, &m),
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "racelab: internal error (a panic with a non-text payload)".into());
            PyRuntimeError::new_err(text)
        }
    }
}

/// The Python exception of a misuse, marked as one.
pub(crate) fn misuse(py: Python<'_>, m: &Misuse) -> PyErr {
    let err = match python_class(py, m.exception) {
        Some(class) => PyErr::from_type(class, m.message.clone()),
        None if m.exception == "ValueError" => PyValueError::new_err(m.message.clone()),
        None => PyRuntimeError::new_err(m.message.clone()),
    };
    let _ = err.value(py).setattr(MISUSE_MARK, (m.exception, m.message.clone()));
    err
}

/// The class Python raises for `name`: a builtin, or one of `queue`/`threading`'s.
fn python_class<'py>(py: Python<'py>, name: &str) -> Option<Bound<'py, pyo3::types::PyType>> {
    let (module, attr) = match name.split_once('.') {
        Some((module, attr)) => (module, attr),
        None if name == "BrokenBarrierError" => ("threading", name),
        None => ("builtins", name),
    };
    // `queue.ShutDown` is new in 3.13: older versions get a RuntimeError.
    let class = py.import(module).ok()?.getattr(attr).ok()?;
    class.cast_into::<pyo3::types::PyType>().ok()
}

/// A queue operation's error as Python's `queue.Empty` / `queue.Full` / `queue.ShutDown`.
pub(crate) fn queue_error(py: Python<'_>, e: QueueError) -> PyErr {
    match python_class(py, e.exception()) {
        Some(class) => PyErr::from_type(class, ()),
        None => PyRuntimeError::new_err(e.exception()),
    }
}
