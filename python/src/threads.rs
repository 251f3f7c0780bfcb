//! Python threads on racelab green threads: start, join, names, the virtual clock, and the
//! scheduling points the tracer puts between a program's own lines or instructions.
//!
//! A thread's body is a Python callable (the Python side's bootstrap) that returns `None`, or
//! describes how the thread failed: `("exception", text, location)` for an uncaught exception
//! (the text as `threading.excepthook` prints it), `("misuse", class, message)` for an uncaught
//! misuse of a primitive, `("unsupported", message)` for something racelab refuses to simulate
//! (`os.fork`, an OS thread). The run then fails with it, as the Rust front-end's would.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use racelab_sim::rt::{self, ObjectHandle};
use racelab_sim::thread::{Builder, JoinHandle};
use racelab_sim::{FailureKind, ThreadId};

use crate::errors::{guarded, guarded_point};
use crate::green::{self, Ended};
use crate::objects::seconds;

thread_local! {
    /// The join handles of the current run's threads, by thread id.
    static HANDLES: RefCell<Vec<Option<Rc<JoinHandle<()>>>>> = const { RefCell::new(Vec::new()) };
    /// The whole Python heap, as far as the reduction knows: what a step writes when its Python
    /// code is not understood, and what every finer access reads (so both conflict).
    static HEAP: Cell<Option<ObjectHandle>> = const { Cell::new(None) };
    /// The keys of the Python heap (names, container contents: see `_footprint.py`), hashed into
    /// a fixed number of buckets, registered in the same order every run so their ids match.
    static BUCKETS: RefCell<Vec<ObjectHandle>> = const { RefCell::new(Vec::new()) };
    /// The thread that took the last point between lines or instructions, and how many it has
    /// taken in a row (see `SWITCH_INTERVAL_POINTS`).
    static IN_A_ROW: Cell<(Option<ThreadId>, u32)> = const { Cell::new((None, 0)) };
}

/// How many points between lines (or instructions) a thread takes in a row, no other thread's
/// in between, before its next one is a yield (`rt::yield_point`): CPython's GIL makes a thread
/// that holds it hand it over after its switch interval (5 ms, thousands of lines), so a thread
/// spinning in `while not flag: pass` does not keep the others out for ever. The strategies that
/// rank threads (PCT, POS, the portfolio's POS half) lowered nothing for such a loop and ran the
/// spinning thread until the step limit, which CPython never does (Peterson's lock, correct
/// under the GIL, was reported as a livelock); a yield lowers it. Random exploration makes the
/// same runs either way; an unbounded exhaustive search the same interleavings (the other
/// threads tried first after the yield), and under a bound the switch there is free.
const SWITCH_INTERVAL_POINTS: u32 = 1000;

/// How many buckets the keys of the Python heap hash into (`BUCKETS` in `_footprint.py`).
const BUCKET_COUNT: usize = 63;
/// The footprint bit that writes the whole heap (`ALL` in `_footprint.py`).
const WRITES_ALL: u128 = 1 << (2 * BUCKET_COUNT);

/// The Python function that computes the footprint of the rest of the current step after a
/// primitive operation returns (`Tracer.rest_footprint`); without one, the rest writes the heap.
static REST: Mutex<Option<Py<PyAny>>> = Mutex::new(None);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spawn, m)?)?;
    m.add_function(wrap_pyfunction!(join, m)?)?;
    m.add_function(wrap_pyfunction!(is_alive, m)?)?;
    m.add_function(wrap_pyfunction!(current_ident, m)?)?;
    m.add_function(wrap_pyfunction!(kill, m)?)?;
    m.add_function(wrap_pyfunction!(sleep, m)?)?;
    m.add_function(wrap_pyfunction!(now, m)?)?;
    m.add_function(wrap_pyfunction!(now_ns, m)?)?;
    m.add_function(wrap_pyfunction!(run_seed, m)?)?;
    m.add_function(wrap_pyfunction!(step, m)?)?;
    m.add_function(wrap_pyfunction!(output, m)?)?;
    m.add_function(wrap_pyfunction!(set_where, m)?)?;
    m.add_function(wrap_pyfunction!(set_locator, m)?)?;
    m.add_function(wrap_pyfunction!(in_run, m)?)?;
    m.add_function(wrap_pyfunction!(library_objects, m)?)?;
    m.add_function(wrap_pyfunction!(touch, m)?)?;
    m.add_function(wrap_pyfunction!(point, m)?)?;
    m.add_function(wrap_pyfunction!(line_point, m)?)?;
    m.add_function(wrap_pyfunction!(set_rest_footprint, m)?)?;
    Ok(())
}

/// Records a footprint (see `_footprint.py`: bit `i` reads bucket `i`, bit `63 + i` writes it,
/// `WRITES_ALL` writes the whole heap) in the current step. Any keyed access also reads the heap,
/// so it conflicts with a write of everything. Nothing while the thread is being torn down.
pub(crate) fn record(footprint: u128) {
    if footprint == 0 || !rt::in_simulation() || rt::unwinding() {
        return;
    }
    let Some(heap) = HEAP.with(|h| h.get()) else { return };
    if footprint & WRITES_ALL != 0 {
        rt::write(heap, |_: &mut ()| ());
        return;
    }
    assert!(footprint < WRITES_ALL, "racelab: a footprint with unknown bits: {footprint:#x}");
    rt::read(heap, |_: &()| ());
    BUCKETS.with(|b| {
        let buckets = b.borrow();
        for (i, bucket) in buckets.iter().enumerate() {
            if footprint & (1 << (BUCKET_COUNT + i)) != 0 {
                rt::write(*bucket, |_: &mut ()| ());
            } else if footprint & (1 << i) != 0 {
                rt::read(*bucket, |_: &()| ());
            }
        }
    });
}

/// Records, in the current step, what the Python code after a primitive operation may touch up
/// to the next scheduling point: the rest of the lines on the stack, as the tracer computes it
/// (`set_rest_footprint`), or the whole heap when no tracer runs (`sync` granularity).
pub(crate) fn record_rest(py: Python<'_>) {
    if !rt::in_simulation() || rt::unwinding() {
        return;
    }
    let hook = REST.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|h| h.clone_ref(py));
    let footprint = match hook {
        // A hook that fails cannot bound the step: it writes everything.
        Some(hook) => hook.call0(py).and_then(|f| f.extract::<u128>(py)).unwrap_or(WRITES_ALL),
        None => WRITES_ALL,
    };
    record(footprint);
}

/// The main thread of one run: fresh per-run state, then `program`.
pub(crate) fn run_main(program: &Py<PyAny>) {
    green::install_switch_hook();
    crate::watchdog::new_run();
    HANDLES.with(|h| h.borrow_mut().clear());
    IN_A_ROW.with(|c| c.set((None, 0)));
    HEAP.with(|h| h.set(Some(rt::register("python", Some("python".into()), ()))));
    BUCKETS.with(|b| {
        let mut b = b.borrow_mut();
        b.clear();
        b.extend(
            (0..BUCKET_COUNT).map(|i| rt::register("python", Some(format!("python key bucket {i}")), ())),
        );
    });
    // The main thread's first stretch of Python, up to its first scheduling point, may touch
    // anything (other threads' bootstraps say what theirs touch: `Thread._bootstrap`).
    record(WRITES_ALL);
    run_body(program, Start::Main);
}

/// Where a thread's memory comes from (see [`crate::memory`]).
enum Start {
    /// The run's main thread: every thread in the program's own space.
    Main,
    /// A thread in the space of the thread that started it.
    Thread { parent: u32 },
    /// A process started by `parent`: a space of its own, `snapshot`'s copy of `namespace`.
    Process { parent: u32, namespace: Py<PyDict>, snapshot: Py<PyDict> },
}

/// Runs a thread's body (see the module docs) in Python and fails the run as it says.
fn run_body(body: &Py<PyAny>, start: Start) {
    let ended = green::with_python(|py| {
        match start {
            Start::Main => crate::memory::reset(py),
            Start::Thread { parent } => {
                crate::memory::inherit(parent, rt::current().as_u32());
                crate::memory::enter(py);
            }
            Start::Process { parent, namespace, snapshot } => {
                crate::memory::start_space(py, parent, namespace, snapshot)
            }
        }
        run_python_body(py, body)
    });
    match ended {
        Ended::TornDown => rt::resume_teardown(),
        Ended::Returned(None) => {}
        Ended::Returned(Some(f)) => {
            if let FailureKind::Panic { message, location, .. } = &f {
                // The trace's mark of the failure: at granularity sync the thread's last event is
                // its last primitive's, not the line that raised; its place (`Event::at`) is the
                // raising line, which `--html` and `play` show.
                // Only at granularity sync (where a locator is set): a `py` step shows it otherwise.
                let located = LOCATOR.lock().unwrap_or_else(|e| e.into_inner()).is_some();
                let at = location.as_deref().filter(|_| located && rt::tracing()).and_then(raising_line);
                if at.is_some() {
                    rt::set_location(at.as_deref());
                }
                let place = if at.is_some() { None } else { location.as_deref() };
                rt::event("raise", None, || uncaught(message, place));
                if at.is_some() {
                    rt::set_location(None);
                }
            }
            rt::fail_run(f)
        }
    }
}

/// `prog.py:12  source` for a `path:line` location, as a step's place reads.
fn raising_line(location: &str) -> Option<String> {
    let (file, line) = location.rsplit_once(':')?;
    let n: usize = line.parse().ok()?;
    let source = std::fs::read_to_string(file).ok()?;
    let text = source.lines().nth(n.checked_sub(1)?)?.trim();
    let name = std::path::Path::new(file).file_name()?.to_string_lossy();
    Some(format!("{name}:{n}  {text}"))
}

/// The trace's line for an uncaught exception: its `Type: message` line (`ValueError: bad
/// input`; not a note added after it, nor the rest of a message of several lines), and where it
/// was raised (`prog.py:12`: the file's name, as the trace's lines of Python give it).
fn uncaught(traceback: &str, location: Option<&str>) -> String {
    let lines: Vec<&str> = traceback.trim_end().lines().collect();
    let after_frames = lines.iter().rposition(|l| l.starts_with("  File ")).map_or(0, |i| i + 1);
    let last = lines[after_frames..]
        .iter()
        .find(|l| {
            !l.starts_with(' ') && !l.starts_with("Traceback ") && !l.starts_with("Exception in thread ")
        })
        .copied()
        .unwrap_or("an exception");
    let Some((file, line)) = location.and_then(|l| l.rsplit_once(':')) else {
        return format!("{last}, uncaught");
    };
    let name = std::path::Path::new(file).file_name().map_or(file.into(), |n| n.to_string_lossy());
    format!("{last}, uncaught at {name}:{line}")
}

/// Calls a thread's body; the failure it describes, if any.
fn run_python_body(py: Python<'_>, body: &Py<PyAny>) -> Option<FailureKind> {
    match body.bind(py).call0() {
        Ok(outcome) if outcome.is_none() => None,
        Ok(outcome) => Some(failure(py, &outcome)),
        // Only the teardown's ThreadExit gets past the bootstrap.
        Err(e) if e.is_instance_of::<crate::errors::ThreadExit>(py) => None,
        Err(e) => Some(FailureKind::Panic {
            thread: rt::thread_ref(rt::current()),
            message: format!("racelab: internal error in the Python bootstrap: {e}"),
            location: None,
        }),
    }
}

/// The failure a bootstrap's outcome describes.
fn failure(py: Python<'_>, outcome: &Bound<'_, PyAny>) -> FailureKind {
    let thread = rt::thread_ref(rt::current());
    let parts: Vec<String> = outcome
        .cast::<PyTuple>()
        .map(|t| t.iter().map(|p| if p.is_none() { String::new() } else { p.to_string() }).collect())
        .unwrap_or_default();
    let _ = py;
    match parts.as_slice() {
        [kind, class, message] if kind == "misuse" => {
            FailureKind::Misuse { thread, exception: class.clone(), message: message.clone() }
        }
        [kind, message] if kind == "unsupported" => FailureKind::InvalidConfig { message: message.clone() },
        [kind, text, location] if kind == "exception" => FailureKind::Panic {
            thread,
            message: text.trim_end().to_string(),
            location: (!location.is_empty()).then(|| location.clone()),
        },
        _ => FailureKind::Panic {
            thread,
            message: format!("racelab: internal error: a thread ended with {outcome}"),
            location: None,
        },
    }
}

/// Starts a green thread named `name` running `body` (a bootstrap); returns its ident. With
/// `space` (`(namespace, snapshot)`), it is a process with its own copy of the globals.
#[pyfunction]
#[pyo3(signature = (body, name, daemon, space=None))]
fn spawn(
    py: Python<'_>,
    body: Py<PyAny>,
    name: String,
    daemon: bool,
    space: Option<(Py<PyDict>, Py<PyDict>)>,
) -> PyResult<u32> {
    guarded(py, move || {
        let start = match space {
            Some((namespace, snapshot)) => {
                Start::Process { parent: rt::current().as_u32(), namespace, snapshot }
            }
            None => Start::Thread { parent: rt::current().as_u32() },
        };
        let handle = Builder::new().name(name.clone()).daemon(daemon).spawn(move || run_body(&body, start));
        let id = handle.thread().id().as_u32();
        crate::watchdog::named(id, &name);
        HANDLES.with(|h| {
            let mut h = h.borrow_mut();
            let i = id as usize;
            if h.len() <= i {
                h.resize_with(i + 1, || None);
            }
            h[i] = Some(Rc::new(handle));
        });
        id
    })
}

fn with_handle<R>(ident: u32, f: impl FnOnce(&JoinHandle<()>) -> R) -> PyResult<R> {
    // A shared handle, not a borrow of the registry: `f` may switch threads, and others may
    // join or ask about the same thread meanwhile.
    let handle = HANDLES.with(|h| h.borrow().get(ident as usize).cloned().flatten());
    let handle = handle.ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err(format!("racelab: no thread {ident} in this run"))
    })?;
    Ok(f(&handle))
}

/// Waits for thread `ident` to finish, at most `timeout` seconds; true if it finished.
#[pyfunction]
#[pyo3(signature = (ident, timeout=None))]
fn join(py: Python<'_>, ident: u32, timeout: Option<f64>) -> PyResult<bool> {
    let timeout = timeout.map(|t| seconds(t.max(0.0), "timeout")).transpose()?;
    guarded(py, || {
        with_handle(ident, |h| match timeout {
            None => {
                h.wait();
                true
            }
            Some(d) => h.join_timeout(d),
        })
    })?
}

/// True while thread `ident` has not finished.
#[pyfunction]
fn is_alive(py: Python<'_>, ident: u32) -> PyResult<bool> {
    // Not a scheduling point, and not progress: `while t.is_alive(): pass` at granularity sync
    // spins for ever, which the watchdog must see.
    crate::errors::guarded_quiet(py, || with_handle(ident, |h| !h.finished_now()))?
}

/// The current green thread's ident (main is 0).
#[pyfunction]
fn current_ident(py: Python<'_>) -> PyResult<u32> {
    guarded(py, || rt::current().as_u32())
}

/// Cuts thread `ident` off, as `Process.terminate()` does.
#[pyfunction]
fn kill(py: Python<'_>, ident: u32) -> PyResult<bool> {
    guarded(py, || rt::kill(racelab_sim::ThreadId::from_u32(ident)))
}

/// `time.sleep` on the virtual clock.
#[pyfunction]
fn sleep(py: Python<'_>, secs: f64) -> PyResult<()> {
    if secs < 0.0 {
        return Err(pyo3::exceptions::PyValueError::new_err("sleep length must be non-negative"));
    }
    let d = seconds(secs, "sleep length")?;
    guarded(py, || racelab_sim::thread::sleep(d))
}

/// Seeds of `random` a sampled run draws from: a recorded choice among this many.
const RUN_SEEDS: usize = 1 << 16;

/// The seed of this run's `random`: with `drawn`, a choice the run's strategy makes and the
/// schedule records (so every run of a sampled check draws other values, and a replay of the
/// schedule the same ones); without, 0 (an exhaustive search explores schedules, not seeds, and
/// would otherwise branch 65,536 ways on every run).
#[pyfunction]
fn run_seed(py: Python<'_>, drawn: bool) -> PyResult<u64> {
    if !drawn || !rt::in_simulation() {
        return Ok(0);
    }
    guarded(py, || rt::choose(racelab_sim::ChoiceKind::Random, RUN_SEEDS) as u64)
}

/// The virtual clock, in seconds since the run began.
#[pyfunction]
fn now(py: Python<'_>) -> PyResult<f64> {
    // Not progress: a loop that only reads the clock (an event loop polling its selector) must
    // not keep the watchdog quiet.
    crate::errors::guarded_quiet(py, || Duration::from_nanos(rt::now().as_nanos()).as_secs_f64())
}

/// The virtual clock in whole nanoseconds (`now` as an integer, which keeps nanoseconds that a
/// float of seconds far from zero cannot).
#[pyfunction]
fn now_ns(py: Python<'_>) -> PyResult<u64> {
    crate::errors::guarded_quiet(py, || rt::now().as_nanos())
}

/// A scheduling point between two lines or instructions of the program's own code (the tracer's
/// callback, with the frame about to run): the step that begins here has `footprint` (see
/// `record`), computed by the tracer from the instructions it may run. On a traced run, the trace
/// gets a `py` event with `file:line  source` (from `set_where`'s function). Outside a run
/// (another OS thread running the same code) it does nothing.
#[pyfunction]
fn step(py: Python<'_>, footprint: u128, frame: &Bound<'_, PyAny>) -> PyResult<()> {
    if !(green::in_python() && rt::in_simulation()) {
        return Ok(());
    }
    let me = rt::current();
    let hand_over = IN_A_ROW.with(|c| {
        let (last, n) = c.get();
        let n = if last == Some(me) { n + 1 } else { 1 };
        let hand_over = n >= SWITCH_INTERVAL_POINTS;
        c.set((Some(me), if hand_over { 0 } else { n }));
        hand_over
    });
    guarded_point(py, || {
        if hand_over {
            rt::yield_point();
        } else {
            rt::schedule_point();
        }
        record(footprint);
    })?;
    if rt::tracing() {
        let describe = WHERE.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|w| w.clone_ref(py));
        if let Some(describe) = describe {
            // The description must not change the run it describes: at the recursion limit its
            // own frames would raise a RecursionError the untraced run never saw (and the trace
            // of a failure found untraced would not replay). When it fails, the place is read
            // from the frame's attributes, which pushes no frame.
            let text = match describe.call1(py, (frame,)) {
                Ok(text) => text.to_string(),
                Err(_) => place_of(frame),
            };
            rt::event("py", None, || text);
        }
    }
    Ok(())
}

/// `file:line` of a frame, read without calling Python code (see `step`); `?` when `frame` is
/// not a frame (`sys.monitoring` passes none: the description reads the caller's).
fn place_of(frame: &Bound<'_, PyAny>) -> String {
    let read = || -> PyResult<String> {
        let file: String = frame.getattr("f_code")?.getattr("co_filename")?.extract()?;
        let line: i64 = frame.getattr("f_lineno")?.extract().unwrap_or(0);
        let name =
            std::path::Path::new(&file).file_name().and_then(|n| n.to_str()).unwrap_or(&file).to_string();
        Ok(format!("{name}:{line}"))
    };
    read().unwrap_or_else(|_| "?".to_string())
}

/// `point` for `sys.monitoring` LINE events (`(code, line)`), except the line a code object
/// other than a module starts on (a class body's first line, a lambda's or a generator
/// expression's only one): whether CPython 3.13 reports that one depends on the code's
/// instrumentation history (the first run of a check saw it where later runs did not, and the
/// exhaustive search reported a divergence), so no version gets a point there. The footprint
/// tracer does the same (`Tracer._on_step`).
#[pyfunction]
fn line_point(py: Python<'_>, code: &Bound<'_, PyAny>, line: i64) -> PyResult<()> {
    if code.getattr("co_firstlineno")?.extract::<i64>()? == line
        && code.getattr("co_name")?.extract::<String>()? != "<module>"
    {
        return Ok(());
    }
    step(py, WRITES_ALL, &py.None().into_bound(py))
}

/// `step` for a search that uses no footprints (random and PCT sampling, replays): the tracer's
/// callback itself, called with the frame (`sys.settrace`) or `(code, offset)` (`sys.monitoring`)
/// and cheap; the step writes the whole heap (sound, should a reduction ever look at it).
#[pyfunction]
#[pyo3(signature = (*args))]
fn point(py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<()> {
    let frame = match args.get_item(0) {
        Ok(a) if a.hasattr("f_code")? => a,
        _ => py.None().into_bound(py),
    };
    step(py, WRITES_ALL, &frame)
}

/// Records `footprint` in the current step, without a scheduling point: what a call, a generator
/// resumed or a thread's start runs before the next point (see `_footprint.py`).
#[pyfunction]
fn touch(footprint: u128) {
    if green::in_python() && rt::in_simulation() {
        record(footprint);
    }
}

/// Sets the function that computes what the Python code after a primitive operation touches
/// (see `record_rest`); `None` makes it write everything.
#[pyfunction]
fn set_rest_footprint(hook: Option<Py<PyAny>>) {
    *REST.lock().unwrap_or_else(|e| e.into_inner()) = hook;
}

/// The function that describes a step for the trace: `where(frame_or_None) -> str`.
static WHERE: Mutex<Option<Py<PyAny>>> = Mutex::new(None);

/// Sets the function that describes a step for the trace (see `step`).
#[pyfunction]
fn set_where(describe: Py<PyAny>) {
    *WHERE.lock().unwrap_or_else(|e| e.into_inner()) = Some(describe);
}

/// The function that says where the program is when a primitive is called (`locate() -> str |
/// None`), at `--granularity sync` only: there no `py` step shows the line.
static LOCATOR: Mutex<Option<Py<PyAny>>> = Mutex::new(None);

/// Sets (or with `None` clears) the function that says where a primitive is called from.
#[pyfunction]
#[pyo3(signature = (locate=None))]
fn set_locator(locate: Option<Py<PyAny>>) {
    *LOCATOR.lock().unwrap_or_else(|e| e.into_inner()) = locate;
}

/// On a traced run, tells the engine where in the program the current thread calls a primitive
/// (see [`LOCATOR`]); the events of the operation then carry it. True when it did: the caller
/// then [`unlocate`]s once the operation is over.
pub(crate) fn locate(py: Python<'_>) -> bool {
    if !rt::tracing() {
        return false;
    }
    let locate = LOCATOR.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|l| l.clone_ref(py));
    let Some(at) = locate.and_then(|l| l.call0(py).ok()).filter(|at| !at.is_none(py)) else {
        return false;
    };
    rt::set_location(Some(&at.to_string()));
    true
}

/// The operation [`locate`] placed is over: later events (a print, the thread's end) are not
/// its. Nothing while the thread is torn down.
pub(crate) fn unlocate() {
    if rt::in_simulation() && !rt::unwinding() {
        rt::set_location(None);
    }
}

/// What the program printed, into the trace.
#[pyfunction]
fn output(py: Python<'_>, text: &str) {
    if rt::in_simulation() && rt::tracing() {
        let located = locate(py);
        rt::event("print", None, || text.to_string());
        if located {
            unlocate();
        }
    }
}

/// True on a green thread of a run.
#[pyfunction]
fn in_run() -> bool {
    rt::in_simulation() && green::in_python()
}

/// `rt::library_objects`: the racelab objects made until the matching `False` are a library's
/// (the Python layer's `_library()`, around what its executor and pool make, and what the
/// standard library makes). The caller turns it on only in a run.
#[pyfunction]
fn library_objects(on: bool) {
    rt::library_objects(on);
}
