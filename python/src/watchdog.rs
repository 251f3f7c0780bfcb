//! The last resort against a Python program that stops making progress inside a check.
//!
//! racelab's own watchdog stops a green thread that runs too long without a scheduling point
//! and fails the run; a thread in the middle of CPython cannot be stopped that way (it holds the
//! GIL and interpreter state no one could resume), so Python checks run with it off. Two kinds of
//! program would then hang `racelab-py` for ever: one that spins without touching a racelab
//! primitive where no scheduling point falls (`while not done: pass` at `--granularity sync`),
//! and one blocked in the operating system (`input()`, a socket, a lock or process racelab does
//! not replace). Here an OS thread of its own, which needs no GIL, watches a progress counter
//! that every scheduling point, switch and primitive operation bumps; when it stands still for
//! the limit (30 s by default, `racelab-py --watchdog SECONDS`, 0 for never) during a check, it
//! says which run and which thread stopped, why that happens and what to do, and ends the process
//! with exit code 2: the check could not be completed.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Bumped by everything that shows the program is moving.
static PROGRESS: AtomicU64 = AtomicU64::new(0);
/// The green thread that ran last, and the run it is in (counted from 0 in this process).
static THREAD: AtomicU32 = AtomicU32::new(0);
static RUN: AtomicU64 = AtomicU64::new(0);
/// True while a check or replay runs.
static ARMED: AtomicBool = AtomicBool::new(false);
/// The limit in milliseconds; 0 is off.
static LIMIT_MS: AtomicU64 = AtomicU64::new(30_000);
/// The current run's thread names, by thread id.
static NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static MONITOR: Once = Once::new();

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_watchdog, m)?)?;
    Ok(())
}

/// Sets the limit in seconds (0: never).
#[pyfunction]
fn set_watchdog(seconds: f64) -> PyResult<()> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "racelab: the watchdog must be a number of seconds >= 0 (0 turns it off), not {seconds}"
        )));
    }
    LIMIT_MS.store((seconds * 1000.0).round() as u64, Relaxed);
    Ok(())
}

/// The program moved.
#[inline]
pub(crate) fn tick() {
    PROGRESS.fetch_add(1, Relaxed);
}

/// Green thread `thread` runs now.
pub(crate) fn entered(thread: u32) {
    THREAD.store(thread, Relaxed);
    tick();
}

/// A run starts: its main thread is `main`.
pub(crate) fn new_run() {
    RUN.fetch_add(1, Relaxed);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    names.clear();
    names.push("main".into());
    drop(names);
    entered(0);
}

/// Thread `id` of the current run is called `name`.
pub(crate) fn named(id: u32, name: &str) {
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let i = id as usize;
    if names.len() <= i {
        names.resize(i + 1, String::new());
    }
    names[i] = name.to_string();
}

/// Watches while the returned guard lives (a check or a replay).
pub(crate) fn armed() -> Armed {
    MONITOR.call_once(|| {
        // If the thread cannot start, checks run unwatched, as before this module existed.
        let _ = std::thread::Builder::new().name("racelab-watchdog".into()).spawn(monitor);
    });
    RUN.store(0, Relaxed);
    tick();
    ARMED.store(true, Relaxed);
    Armed
}

/// See [`armed`].
pub(crate) struct Armed;

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.store(false, Relaxed);
    }
}

// Wall time on purpose: the watchdog measures how long the program has stood still, outside
// every run; nothing it reads decides anything in a run.
#[allow(clippy::disallowed_methods)]
fn monitor() {
    let mut last = PROGRESS.load(Relaxed);
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = PROGRESS.load(Relaxed);
        let limit = LIMIT_MS.load(Relaxed);
        if now != last || !ARMED.load(Relaxed) || limit == 0 {
            last = now;
            since = Instant::now();
            continue;
        }
        if since.elapsed() >= Duration::from_millis(limit) {
            stop(limit);
        }
    }
}

/// Says what happened and ends the process (the thread that stopped holds the GIL: nothing
/// else can run Python, so nothing here does).
fn stop(limit_ms: u64) -> ! {
    let thread = THREAD.load(Relaxed);
    let name = NAMES
        .lock()
        .ok()
        .and_then(|names| names.get(thread as usize).cloned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("thread {thread}"));
    let run = RUN.load(Relaxed).saturating_sub(1);
    let message = format!(
        "racelab: the program made no progress for {} s in run {run} (counted from 0): thread `{name}` \
         neither reached a scheduling point nor finished. Either it loops without touching a racelab \
         primitive (a busy-wait on a variable at granularity sync never lets another thread run: use \
         granularity line, or wait on an Event or a Condition; a loop on one line, `while True: pass`, has \
         no line event to stop at either: --granularity opcode has), or it is blocked outside racelab \
         (input(), a socket, a subprocess, a lock or process racelab does not replace). A thread in the \
         middle of CPython cannot be stopped, so the check stops here (racelab-py --watchdog SECONDS or \
         racelab.check(..., watchdog=SECONDS) sets the limit, 0 turns it off).\n",
        limit_ms as f64 / 1000.0
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(message.as_bytes());
    let _ = std::io::stderr().flush();
    // SAFETY: _exit ends the process at once, without running atexit handlers or Python's
    // finalization on this thread while another thread holds the interpreter.
    unsafe { libc::_exit(2) }
}
