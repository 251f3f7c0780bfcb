//! racelab's primitives as the classes of Python's `threading` and `queue`.
//!
//! Each class is a thin shell over its namesake in `racelab-primitives`, which already follows
//! Python's semantics (blocking, timeouts on the virtual clock, wake-up order, misuse errors):
//! this module only converts arguments the way CPython does (`timeout=-1` means none, a negative
//! one is a `ValueError`) and turns a misuse into the exception Python raises. The objects are
//! handles into the current run; a Python program makes fresh ones in every run.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;
use racelab_primitives as prim;
use racelab_sim::rt;

use crate::errors::{guarded, misuse, queue_error};

/// Seconds from Python as a duration; negative or not finite is a `ValueError` (`what` names
/// it as CPython does).
pub(crate) fn seconds(secs: f64, what: &str) -> PyResult<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return Err(PyValueError::new_err(format!("{what} must be a non-negative number")));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| PyOverflowError::new_err(format!("{what} is too large")))
}

/// `acquire(blocking, timeout)`'s arguments as CPython checks them: `None` (wait for ever) or a
/// timeout; a non-blocking call has timeout zero.
fn acquire_timeout(blocking: bool, timeout: f64) -> PyResult<Option<Duration>> {
    if !blocking {
        if timeout != -1.0 {
            return Err(PyValueError::new_err("can't specify a timeout for a non-blocking call"));
        }
        return Ok(Some(Duration::ZERO));
    }
    if timeout == -1.0 {
        return Ok(None);
    }
    if timeout < 0.0 {
        return Err(PyValueError::new_err("timeout value must be a non-negative number"));
    }
    seconds(timeout, "timeout").map(Some)
}

/// `threading.Lock`. Outside runs a lock is inert (acquire succeeds, release does nothing): the
/// standard library keeps some it made during a run (a `logging` handler's lock) and uses them
/// at exit, where nothing runs concurrently under racelab any more.
#[pyclass(module = "racelab._racelab", frozen, subclass)]
pub(crate) struct Lock {
    pub(crate) inner: prim::Lock,
}

/// The `#[pymethods]` a lock class shares (`__new__`, `acquire`, `release`, the `with` protocol),
/// plus the `extra` methods of the one class.
macro_rules! lock_methods {
    ($class:ident, $prim:ty, $($extra:item)*) => {
        #[pymethods]
        impl $class {
            #[new]
            fn new(py: Python<'_>) -> PyResult<Self> {
                guarded(py, <$prim>::new).map(|inner| $class { inner })
            }

            #[pyo3(signature = (blocking=true, timeout=-1.0))]
            fn acquire(&self, py: Python<'_>, blocking: bool, timeout: f64) -> PyResult<bool> {
                let t = acquire_timeout(blocking, timeout)?;
                if !rt::in_simulation() {
                    return Ok(true); // inert outside runs: see `Lock`
                }
                guarded(py, || match t {
                    None => self.inner.acquire(),
                    Some(d) if d.is_zero() => self.inner.try_acquire(),
                    Some(d) => self.inner.acquire_timeout(d),
                })
            }

            fn release(&self, py: Python<'_>) -> PyResult<()> {
                if !rt::in_simulation() {
                    return Ok(());
                }
                guarded(py, || self.inner.try_release())?.map_err(|m| misuse(py, &m))
            }

            fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
                self.acquire(py, true, -1.0)
            }

            fn __exit__(&self, py: Python<'_>, _t: Py<PyAny>, _v: Py<PyAny>, _tb: Py<PyAny>) -> PyResult<()> {
                self.release(py)
            }

            $($extra)*
        }
    };
}

lock_methods!(
    Lock,
    prim::Lock,
    fn locked(&self, py: Python<'_>) -> PyResult<bool> {
        guarded(py, || self.inner.locked())
    }
);

/// `threading.RLock`.
#[pyclass(module = "racelab._racelab", frozen, subclass)]
pub(crate) struct RLock {
    pub(crate) inner: prim::RLock,
}

lock_methods!(
    RLock,
    prim::RLock,
    fn _is_owned(&self, py: Python<'_>) -> PyResult<bool> {
        guarded(py, || self.inner.is_owned())
    }
);

/// `threading.Condition` (its `wait_for` is written in Python, over `wait`).
#[pyclass(module = "racelab._racelab", frozen, subclass)]
pub(crate) struct Condition {
    inner: prim::Condition,
    lock: Py<PyAny>,
}

#[pymethods]
impl Condition {
    /// `spurious`: whether its waits may wake without a notify (within the run's budget);
    /// `threading.Condition` passes false for a condition made by the standard library or an
    /// installed package (see `racelab._threading.Condition`).
    #[new]
    #[pyo3(signature = (lock=None, spurious=true))]
    fn new(py: Python<'_>, lock: Option<Bound<'_, PyAny>>, spurious: bool) -> PyResult<Self> {
        let lock = match lock {
            Some(l) if !l.is_none() => l,
            _ => Bound::new(py, RLock::new(py)?)?.into_any(),
        };
        let any: prim::AnyLock = if let Ok(l) = lock.cast::<Lock>() {
            l.get().inner.into()
        } else if let Ok(r) = lock.cast::<RLock>() {
            r.get().inner.into()
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "racelab: Condition takes a threading.Lock or threading.RLock made during the run",
            ));
        };
        let inner = guarded(py, || {
            let c = prim::Condition::new(any);
            if !spurious {
                c.never_wake_spuriously();
            }
            c
        })?;
        Ok(Condition { inner, lock: lock.unbind() })
    }

    #[pyo3(signature = (blocking=true, timeout=-1.0))]
    fn acquire(&self, py: Python<'_>, blocking: bool, timeout: f64) -> PyResult<Py<PyAny>> {
        self.lock.call_method1(py, "acquire", (blocking, timeout))
    }

    fn release(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.lock.call_method0(py, "release")
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.lock.call_method0(py, "__enter__")
    }

    fn __exit__(&self, py: Python<'_>, t: Py<PyAny>, v: Py<PyAny>, tb: Py<PyAny>) -> PyResult<Py<PyAny>> {
        self.lock.call_method1(py, "__exit__", (t, v, tb))
    }

    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = timeout.map(|t| seconds(t.max(0.0), "timeout")).transpose()?;
        guarded(py, || self.inner.try_wait(timeout))?.map_err(|m| misuse(py, &m))
    }

    #[pyo3(signature = (n=1))]
    fn notify(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        guarded(py, || self.inner.try_notify(Some(n)))?.map_err(|m| misuse(py, &m))
    }

    fn notify_all(&self, py: Python<'_>) -> PyResult<()> {
        guarded(py, || self.inner.try_notify(None))?.map_err(|m| misuse(py, &m))
    }
}

/// `threading.Semaphore` and `threading.BoundedSemaphore`.
#[pyclass(module = "racelab._racelab", frozen, subclass)]
pub(crate) struct Semaphore {
    inner: prim::Semaphore,
}

#[pymethods]
impl Semaphore {
    #[new]
    #[pyo3(signature = (value=1, bounded=false))]
    fn new(py: Python<'_>, value: i64, bounded: bool) -> PyResult<Self> {
        if value < 0 {
            return Err(PyValueError::new_err("semaphore initial value must be >= 0"));
        }
        let inner =
            guarded(
                py,
                || if bounded { prim::Semaphore::bounded(value) } else { prim::Semaphore::new(value) },
            )?;
        Ok(Semaphore { inner })
    }

    #[pyo3(signature = (blocking=true, timeout=None))]
    fn acquire(&self, py: Python<'_>, blocking: bool, timeout: Option<f64>) -> PyResult<bool> {
        if !blocking && timeout.is_some() {
            return Err(PyValueError::new_err("can't specify timeout for non-blocking acquire"));
        }
        let timeout = timeout.map(|t| seconds(t.max(0.0), "timeout")).transpose()?;
        guarded(py, || match (blocking, timeout) {
            (false, _) => self.inner.try_acquire(),
            (true, None) => self.inner.acquire(),
            (true, Some(d)) => self.inner.acquire_timeout(d),
        })
    }

    #[pyo3(signature = (n=1))]
    fn release(&self, py: Python<'_>, n: i64) -> PyResult<()> {
        guarded(py, || self.inner.try_release_n(n))?.map_err(|m| misuse(py, &m))
    }

    #[getter]
    fn _value(&self, py: Python<'_>) -> PyResult<usize> {
        guarded(py, || self.inner.value())
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        guarded(py, || self.inner.acquire())
    }

    fn __exit__(&self, py: Python<'_>, _t: Py<PyAny>, _v: Py<PyAny>, _tb: Py<PyAny>) -> PyResult<()> {
        self.release(py, 1)
    }
}

/// `threading.Event`.
#[pyclass(module = "racelab._racelab", frozen, subclass)]
pub(crate) struct Event {
    inner: prim::Event,
}

#[pymethods]
impl Event {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        guarded(py, prim::Event::new).map(|inner| Event { inner })
    }

    /// An Event the trace names `name`: a `Timer`'s `finished` event is its timer's, not one of
    /// the program's own Events.
    #[staticmethod]
    fn _named(py: Python<'_>, name: String) -> PyResult<Self> {
        guarded(py, || prim::Event::named(name)).map(|inner| Event { inner })
    }

    fn is_set(&self, py: Python<'_>) -> PyResult<bool> {
        guarded(py, || self.inner.is_set())
    }

    fn set(&self, py: Python<'_>) -> PyResult<()> {
        guarded(py, || self.inner.set())
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        guarded(py, || self.inner.clear())
    }

    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = timeout.map(|t| seconds(t.max(0.0), "timeout")).transpose()?;
        guarded(py, || match timeout {
            None => self.inner.wait(),
            Some(d) => self.inner.wait_timeout(d),
        })
    }
}

/// `threading.Barrier`. The action runs in the last thread to arrive, before the release; if it
/// raises, the barrier breaks and that thread gets the action's exception, as in CPython.
#[pyclass(module = "racelab._racelab", frozen, subclass)]
pub(crate) struct Barrier {
    inner: prim::Barrier,
    /// The exception the action raised, for the thread that ran it.
    action_error: Arc<Mutex<Option<PyErr>>>,
}

#[pymethods]
impl Barrier {
    #[new]
    #[pyo3(signature = (parties, timeout=None, action=None))]
    fn new(
        py: Python<'_>,
        parties: usize,
        timeout: Option<f64>,
        action: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        if parties < 1 {
            return Err(PyValueError::new_err("parties must be >= 1"));
        }
        let timeout = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        let action_error: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let failed = Arc::clone(&action_error);
        let inner = guarded(py, || {
            let mut b = prim::Barrier::builder();
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            if let Some(action) = action {
                b = b.fallible_action(move || {
                    Python::attach(|py| action.call0(py)).map(drop).map_err(|e| {
                        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    })
                });
            }
            b.build(parties)
        })?;
        Ok(Barrier { inner, action_error })
    }

    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
        let timeout = timeout.map(|t| seconds(t.max(0.0), "timeout")).transpose()?;
        guarded(py, || self.inner.try_wait(timeout))?.map_err(|m| {
            // The thread whose action raised gets that exception rather than the breakage.
            self.action_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_else(|| misuse(py, &m))
        })
    }

    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        guarded(py, || self.inner.abort())
    }

    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        guarded(py, || self.inner.reset())
    }

    #[getter]
    fn parties(&self) -> usize {
        self.inner.parties()
    }

    #[getter]
    fn n_waiting(&self, py: Python<'_>) -> PyResult<usize> {
        guarded(py, || self.inner.n_waiting())
    }

    #[getter]
    fn broken(&self, py: Python<'_>) -> PyResult<bool> {
        guarded(py, || self.inner.broken())
    }
}

/// A Python object held by a racelab queue.
pub(crate) struct Item(Py<PyAny>);

impl fmt::Debug for Item {
    /// The item as a trace shows it: its `repr` when it is a plain value (a number, a string,
    /// `None`, a tuple or list of those), whose `repr` runs none of the program's code; otherwise
    /// `<Type object>`. Shortened past 40 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = Python::attach(|py| {
            let item = self.0.bind(py);
            if plain(item, 2) {
                item.repr().map(|r| r.to_string()).unwrap_or_else(|_| "<python object>".into())
            } else {
                format!("<{} object>", item.get_type().name().map(|n| n.to_string()).unwrap_or_default())
            }
        });
        let mut chars = shown.chars();
        let head: String = chars.by_ref().take(40).collect();
        if chars.next().is_some() {
            write!(f, "{head}...")
        } else {
            f.write_str(&head)
        }
    }
}

/// True for a value whose `repr` is CPython's own and short: `None`, a bool, int, float, str or
/// bytes, or (down to `depth` levels) a tuple or list of at most 8 such values.
fn plain(item: &Bound<'_, PyAny>, depth: u32) -> bool {
    use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};
    if item.is_none()
        || item.is_exact_instance_of::<PyBool>()
        || item.is_exact_instance_of::<PyInt>()
        || item.is_exact_instance_of::<PyFloat>()
        || item.is_exact_instance_of::<PyString>()
        || item.is_exact_instance_of::<PyBytes>()
    {
        return true;
    }
    if depth == 0 {
        return false;
    }
    let elements = if let Ok(t) = item.cast_exact::<PyTuple>() {
        t.iter().collect::<Vec<_>>()
    } else if let Ok(l) = item.cast_exact::<PyList>() {
        l.iter().collect::<Vec<_>>()
    } else {
        return false;
    };
    elements.len() <= 8 && elements.iter().all(|e| plain(e, depth - 1))
}

/// `queue.Queue` (`lifo=True`: `queue.LifoQueue`).
#[pyclass(module = "racelab._racelab", frozen, subclass)]
pub(crate) struct Queue {
    inner: prim::Queue<Item>,
}

#[pymethods]
impl Queue {
    #[new]
    #[pyo3(signature = (maxsize=0, lifo=false, name=None))]
    fn new(py: Python<'_>, maxsize: i64, lifo: bool, name: Option<String>) -> PyResult<Self> {
        let maxsize = usize::try_from(maxsize).unwrap_or(0);
        let inner = guarded(py, || match (lifo, name) {
            (true, _) => prim::Queue::lifo(maxsize),
            (false, Some(name)) => prim::Queue::named(name, maxsize),
            (false, None) => prim::Queue::new(maxsize),
        })?;
        Ok(Queue { inner })
    }

    #[pyo3(signature = (item, block=true, timeout=None))]
    fn put(&self, py: Python<'_>, item: Py<PyAny>, block: bool, timeout: Option<f64>) -> PyResult<()> {
        let item = Item(item);
        let result = match (block, timeout) {
            (false, _) => guarded(py, || self.inner.put_nowait(item))?,
            (true, None) => {
                guarded(py, || self.inner.put(item))?;
                Ok(())
            }
            (true, Some(t)) => {
                if t < 0.0 {
                    return Err(PyValueError::new_err("'timeout' must be a non-negative number"));
                }
                let d = seconds(t, "timeout")?;
                guarded(py, || self.inner.put_timeout(item, d))?
            }
        };
        result.map_err(|e| queue_error(py, e.error))
    }

    fn put_nowait(&self, py: Python<'_>, item: Py<PyAny>) -> PyResult<()> {
        self.put(py, item, false, None)
    }

    #[pyo3(signature = (block=true, timeout=None))]
    fn get(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let result = match (block, timeout) {
            (false, _) => guarded(py, || self.inner.get_nowait())?,
            (true, None) => Ok(guarded(py, || self.inner.get())?),
            (true, Some(t)) => {
                if t < 0.0 {
                    return Err(PyValueError::new_err("'timeout' must be a non-negative number"));
                }
                let d = seconds(t, "timeout")?;
                guarded(py, || self.inner.get_timeout(d))?
            }
        };
        result.map(|i| i.0).map_err(|e| queue_error(py, e))
    }

    fn get_nowait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get(py, false, None)
    }

    fn qsize(&self, py: Python<'_>) -> PyResult<usize> {
        guarded(py, || self.inner.qsize())
    }

    fn empty(&self, py: Python<'_>) -> PyResult<bool> {
        guarded(py, || self.inner.empty())
    }

    fn full(&self, py: Python<'_>) -> PyResult<bool> {
        guarded(py, || self.inner.full())
    }

    fn task_done(&self, py: Python<'_>) -> PyResult<()> {
        guarded(py, || self.inner.try_task_done())?.map_err(|m| misuse(py, &m))
    }

    fn join(&self, py: Python<'_>) -> PyResult<()> {
        guarded(py, || self.inner.join())
    }

    #[pyo3(signature = (immediate=false))]
    fn shutdown(&self, py: Python<'_>, immediate: bool) -> PyResult<()> {
        guarded(py, || self.inner.shutdown(immediate))
    }
}
