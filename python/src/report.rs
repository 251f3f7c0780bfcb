//! Checks and replays of a Python program, and their reports in the Rust CLI's words.
//!
//! `explore` runs the program (a callable that runs it once, from the top) under a strategy and
//! returns the report as a dict: the JSON form (`report`, as `racelab check --json` has it) and
//! the texts the CLI prints (verdict, coverage, diagnosis, failure, trace), so that
//! `racelab-py` prints what `racelab` prints. The GIL is released for the whole exploration: the
//! runs take it back thread by thread (see `green`).

use std::str::FromStr;
use std::time::Duration;

use std::sync::atomic::{AtomicU32, Ordering};

use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use racelab_sim::{Config, ReleasePoints, Report, Schedule, StopFlag, StrategyConfig};

use crate::green;

/// Green-thread stacks for Python: CPython recurses through C; 1 MiB is the least that gives a
/// clean RecursionError at the default recursion limit (measured), so twice that.
const PYTHON_STACK: usize = 2 << 20;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(explore, m)?)?;
    m.add_function(wrap_pyfunction!(settings_line, m)?)?;
    m.add_function(wrap_pyfunction!(replay, m)?)?;
    m.add_function(wrap_pyfunction!(play, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    Ok(())
}

/// Merges the `--json` output of the shards of split checks (`racelab-py check --shard K/N
/// --json`, `racelab check ... --shard K/N --json`), given as `(where it came from, its text)`:
/// a dict per target with the merged settings, verdict and coverage in the Rust CLI's words
/// (`racelab merge` prints the same), its JSON line, and the replay command of the lowest failure.
#[pyfunction]
fn merge<'py>(py: Python<'py>, outputs: Vec<(String, String)>) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let merged =
        racelab_sim::merge::merge(&outputs).map_err(|e| PyValueError::new_err(format!("racelab: {e}")))?;
    merged
        .iter()
        .map(|m| {
            let d = PyDict::new(py);
            d.set_item("target", &m.target)?;
            d.set_item("shards", m.shards)?;
            d.set_item("settings", racelab_sim::merge::settings_line(m))?;
            d.set_item("verdict", racelab_sim::merge::verdict(m))?;
            d.set_item("coverage", racelab_sim::merge::coverage(m))?;
            d.set_item("failed", m.failed())?;
            d.set_item("replay", m.replay())?;
            d.set_item("json", m.to_json())?;
            Ok(d)
        })
        .collect()
}

/// The configuration of a check from the Python-side settings.
#[allow(clippy::too_many_arguments)]
fn config(
    strategy: &str,
    seed: u64,
    runs: Option<u64>,
    depth: u32,
    max_steps: u64,
    daemon_cut_off_fails: bool,
    shard: Option<(u64, u64)>,
    wakeups: Wakeups,
) -> PyResult<Config> {
    let config = match strategy {
        "random" => Config::random(seed),
        "pct" => Config::pct(seed, depth),
        "pos" => Config::pos(seed),
        "dfs" => Config::dfs(),
        // Every interleaving without the reduction: what DPOR's results are checked against.
        "dfs-plain" => Config::dfs().dpor(false),
        "portfolio" => Config::portfolio(seed),
        other => {
            return Err(PyValueError::new_err(format!(
                "racelab: unknown strategy `{other}`: use random, pct, pos, dfs or portfolio"
            )))
        }
    };
    let config = match runs {
        Some(r) => config.runs(r),
        None => config,
    };
    // One of N processes of a split exploration (`racelab-py check --shard K/N`, or `--jobs`):
    // `Config::validate` below refuses the strategies that cannot be split. With a point before
    // every lock release: in the default mode a shard whose run observes a lock starts again with
    // them and its runs are no longer the other shards' (`racelab check --shard` leaves that to a
    // flag racelab-py does not have, and a sharded dfs forces it too).
    let config = match shard {
        Some((k, n)) => config.shard(k, n).release_points(ReleasePoints::On),
        None => config,
    };
    // The watchdog would abandon a thread in the middle of CPython, which cannot be resumed from
    // there: off. A program without scheduling points runs to its end as it would in Python.
    let config = python_limits(config, max_steps, daemon_cut_off_fails);
    let config = config.spurious_wakeups(wakeups.spurious).adversarial_wakeups(wakeups.adversarial);
    config.validate().map_err(|e| PyValueError::new_err(format!("racelab: {}", e.message)))?;
    Ok(config)
}

/// The wake-up semantics a check asks for (`--spurious-wakeups N`, `--adversarial-wakeups`): the
/// engine's defaults (1, off) unless given. A replay takes them from its schedule.
#[derive(Clone, Copy, Debug)]
struct Wakeups {
    spurious: u32,
    adversarial: bool,
}

/// What every Python check and replay sets: the step limit, the stacks, no watchdog, and
/// whether a daemon thread cut off at the end fails the run.
fn python_limits(config: Config, max_steps: u64, daemon_cut_off_fails: bool) -> Config {
    config
        .shrink_budget(PYTHON_SHRINK_RUNS, PYTHON_SHRINK_STEPS)
        .shrink_time(PYTHON_SHRINK_TIME)
        .max_steps(max_steps)
        .stack_size(PYTHON_STACK)
        .watchdog(Duration::ZERO)
        .fail_on_daemon_cut_off(daemon_cut_off_fails)
}

/// What shrinking a Python program's failure may spend, in runs and steps, and the wall time
/// behind them. An interpreted run is slow (about 100,000 steps a second), so the engine's step
/// budget was never reached: its 10 s wall-time budget stopped every long shrink, at a run that
/// depended on the machine's load, and one check reported different failures from one time to the
/// next. The counted budgets are spent in about 10 s here; the wall time is only a safety net.
const PYTHON_SHRINK_RUNS: u64 = 20_000;
const PYTHON_SHRINK_STEPS: u64 = 1_000_000;
const PYTHON_SHRINK_TIME: Duration = Duration::from_secs(60);

/// The settings line [`explore`] would run with these arguments (`Config`'s display), without
/// running anything: the command line prints it before a check starts. A `ValueError` for the
/// arguments `explore` refuses.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (strategy="random", seed=0, runs=None, depth=3, max_steps=100_000, daemon_cut_off_fails=false, shard=None,
                    spurious_wakeups=1, adversarial_wakeups=false))]
fn settings_line(
    strategy: &str,
    seed: u64,
    runs: Option<u64>,
    depth: u32,
    max_steps: u64,
    daemon_cut_off_fails: bool,
    shard: Option<(u64, u64)>,
    spurious_wakeups: u32,
    adversarial_wakeups: bool,
) -> PyResult<String> {
    let wakeups = Wakeups { spurious: spurious_wakeups, adversarial: adversarial_wakeups };
    Ok(config(strategy, seed, runs, depth, max_steps, daemon_cut_off_fails, shard, wakeups)?.to_string())
}

/// Explores `program` (a callable running the program once) and reports.
// Python keyword arguments, one per setting.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (program, strategy="random", seed=0, runs=None, depth=3, max_steps=100_000, daemon_cut_off_fails=false, source=None, shard=None,
                    spurious_wakeups=1, adversarial_wakeups=false))]
fn explore<'py>(
    py: Python<'py>,
    program: Py<PyAny>,
    strategy: &str,
    seed: u64,
    runs: Option<u64>,
    depth: u32,
    max_steps: u64,
    daemon_cut_off_fails: bool,
    source: Option<(String, String)>,
    shard: Option<(u64, u64)>,
    spurious_wakeups: u32,
    adversarial_wakeups: bool,
) -> PyResult<Bound<'py, PyDict>> {
    not_nested()?;
    let wakeups = Wakeups { spurious: spurious_wakeups, adversarial: adversarial_wakeups };
    let config = config(strategy, seed, runs, depth, max_steps, daemon_cut_off_fails, shard, wakeups)?;
    green::remember_interpreter(py);
    let watched = crate::watchdog::armed();
    let (report, interrupt) = check_interruptibly(py, config.clone(), program);
    drop(watched);
    let d = to_dict(py, &report, &config, source.as_ref())?;
    d.set_item("interrupted", report.interrupted)?;
    // The exception the signal's handler raised (KeyboardInterrupt): the library raises it again
    // once the search has stopped, the CLI prints the partial report and exits with 130.
    d.set_item("interrupt", interrupt.map(|e| e.into_value(py)))?;
    Ok(d)
}

/// A check or replay called by a program under check (from any of its threads) is refused: its
/// runs would share the outer run's patched modules, tracer and clock.
fn not_nested() -> PyResult<()> {
    if racelab_sim::rt::in_simulation() {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "racelab: check/replay cannot be nested: the program under check called racelab.check or replay",
        ));
    }
    Ok(())
}

/// How often the thread that waits for a check looks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Ctrl-C presses since the check under way began (see [`check_interruptibly`]).
static CTRL_C: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_ctrl_c(_signal: libc::c_int) {
    // Only async-signal-safe work here: an atomic, and `_exit`.
    if CTRL_C.fetch_add(1, Ordering::SeqCst) >= 1 {
        // SAFETY: `_exit` is async-signal-safe; a second Ctrl-C ends the process at once.
        unsafe { libc::_exit(EXIT_INTERRUPTED) };
    }
}

/// racelab's SIGINT handler for the length of a check, Python's own put back on drop. Why not
/// Python's: the script's threads run on the engine's threads, where CPython runs no handler,
/// and one of them may hold the interpreter lock for as long as it likes (a long `sum` in C), so
/// Python's handler would run only when the check is over. Not installed when SIGINT is
/// ignored (a process started in the background keeps ignoring it).
struct CtrlC {
    previous: Option<libc::sigaction>,
}

impl CtrlC {
    fn install() -> CtrlC {
        CTRL_C.store(0, Ordering::SeqCst);
        // SAFETY: sigaction with a zeroed struct filled field by field; the handler above only
        // touches an atomic and calls `_exit`.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGINT, std::ptr::null(), &mut previous) != 0
                || previous.sa_sigaction == libc::SIG_IGN
            {
                return CtrlC { previous: None };
            }
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = on_ctrl_c as extern "C" fn(libc::c_int) as libc::sighandler_t;
            ours.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut ours.sa_mask);
            if libc::sigaction(libc::SIGINT, &ours, std::ptr::null_mut()) != 0 {
                return CtrlC { previous: None };
            }
            CtrlC { previous: Some(previous) }
        }
    }

    fn pressed(&self) -> bool {
        CTRL_C.load(Ordering::SeqCst) > 0
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            // SAFETY: puts back the disposition read in `install`.
            unsafe { libc::sigaction(libc::SIGINT, previous, std::ptr::null_mut()) };
        }
    }
}

/// Runs the check on a thread of its own while this one waits for it with the interpreter
/// lock released, watching for Ctrl-C ([`CtrlC`]). The first Ctrl-C stops the search after its
/// current run, as Ctrl-C stops `racelab check`, and a `KeyboardInterrupt` is returned beside
/// the partial report; a second one ends the process at once with exit code 130, as a second
/// Ctrl-C does there: a run that never reaches its end (a thread in C) cannot be stopped
/// otherwise. Called off Python's main thread, the check runs as it is, without the handler.
fn check_interruptibly(py: Python<'_>, config: Config, program: Py<PyAny>) -> (Report, Option<PyErr>) {
    // Inside a run, `threading` is racelab's: its main thread is the program's (see `not_nested`).
    let on_main_thread = py
        .import("threading")
        .and_then(|t| Ok(t.call_method0("current_thread")?.is(&t.call_method0("main_thread")?)))
        .unwrap_or(false);
    if !on_main_thread {
        return (
            py.detach(move || racelab_sim::check(config, move || crate::threads::run_main(&program))),
            None,
        );
    }
    let stop = StopFlag::new();
    let config = config.stop_flag(stop.clone());
    let waiter = std::thread::current();
    let ctrl_c = CtrlC::install();
    let report = py.detach(|| {
        std::thread::scope(|s| {
            let search = s.spawn(move || {
                let report = racelab_sim::check(config, move || crate::threads::run_main(&program));
                waiter.unpark();
                report
            });
            while !search.is_finished() {
                std::thread::park_timeout(SIGNAL_POLL);
                if ctrl_c.pressed() {
                    stop.stop();
                }
            }
            search.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    });
    // Python's handler back first, then the count: a press in between reaches one or the other.
    drop(ctrl_c);
    let pressed = CTRL_C.load(Ordering::SeqCst) > 0;
    (report, pressed.then(|| PyKeyboardInterrupt::new_err(())))
}

/// The exit code of an interrupted check, as `racelab`'s (128 + SIGINT).
const EXIT_INTERRUPTED: i32 = 130;

/// Runs `program` once along `schedule` (its text, as reports print it) and reports.
#[pyfunction]
#[pyo3(signature = (program, schedule, max_steps=100_000, daemon_cut_off_fails=false, source=None))]
fn replay<'py>(
    py: Python<'py>,
    program: Py<PyAny>,
    schedule: &str,
    max_steps: u64,
    daemon_cut_off_fails: bool,
    source: Option<(String, String)>,
) -> PyResult<Bound<'py, PyDict>> {
    not_nested()?;
    let schedule = Schedule::from_str(schedule.trim())
        .map_err(|e| PyValueError::new_err(format!("racelab: the schedule does not parse: {e}")))?;
    let config = python_limits(Config::replay(schedule), max_steps, daemon_cut_off_fails);
    green::remember_interpreter(py);
    let run_config = config.clone();
    let watched = crate::watchdog::armed();
    let report =
        py.detach(move || racelab_sim::check(run_config, move || crate::threads::run_main(&program)));
    drop(watched);
    to_dict(py, &report, &config, source.as_ref())
}

/// `racelab-py play`: the engine's game (`racelab_sim::play`) on the script, the player choosing
/// every decision; `commands` are (the name, the replay command, the play command) as the CLI
/// words them. Returns the exit code (1: the bug reached; 0: not); a bad scripted move raises.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (program, source, commands, moves=None, max_steps=100_000, daemon_cut_off_fails=false,
                    check_command=None, no_bug_words=None, spurious_wakeups=1, adversarial_wakeups=false))]
fn play(
    py: Python<'_>,
    program: Py<PyAny>,
    source: (String, String),
    commands: (String, String, String),
    moves: Option<String>,
    max_steps: u64,
    daemon_cut_off_fails: bool,
    check_command: Option<String>,
    no_bug_words: Option<String>,
    spurious_wakeups: u32,
    adversarial_wakeups: bool,
) -> PyResult<i32> {
    not_nested()?;
    green::remember_interpreter(py);
    let program = std::sync::Arc::new(program);
    let (file, text) = source;
    let (name, replay_command, play_command) = commands;
    let result = py.detach(move || {
        let check = |config: Config| {
            let program = std::sync::Arc::clone(&program);
            let config = python_limits(config, max_steps, daemon_cut_off_fails);
            racelab_sim::check(config, move || crate::threads::run_main(&program))
        };
        // A thread stands at the line of the `py` step its next step starts with, or at `sync`
        // granularity the line its next operation is called from.
        let line_of = |_thread: &str, next: &[racelab_sim::Event]| {
            next.iter()
                .find_map(|e| if e.operation == "py" { Some(e.result.as_str()) } else { e.at.as_deref() })
                .and_then(|place| script_line(place, &file))
        };
        let playable = racelab_sim::play::Playable {
            name,
            summary: format!("{file}: every thread of the script is yours to schedule"),
            python: text,
            check: &check,
            line_of: &line_of,
            replay_command,
            play_command,
            check_command: check_command
                .unwrap_or_else(|| "racelab-py check --strategy portfolio".to_string()),
            no_bug_words: no_bug_words.unwrap_or_else(|| "has no bug to find".to_string()),
        };
        let base = Config::portfolio(0)
            .runs(2_000)
            .spurious_wakeups(spurious_wakeups)
            .adversarial_wakeups(adversarial_wakeups);
        racelab_sim::play::play(&playable, base, moves)
    });
    result.map_err(|e| PyValueError::new_err(format!("racelab: {e}")))
}

/// The line (0-based) a `py` step's text (`file:line  source`) names, when it is in `file`.
fn script_line(text: &str, file: &str) -> Option<usize> {
    let name = std::path::Path::new(file).file_name().and_then(|n| n.to_str()).unwrap_or(file);
    let place = text.split("  ").next()?;
    let (f, line) = place.rsplit_once(':')?;
    let n: usize = line.trim().parse().ok()?;
    (f == file || f.ends_with(name)).then(|| n.saturating_sub(1))
}

/// For each event of `trace`, the line (0-based) of the script its thread stands at: the line of
/// the thread's last `py` step (`file:line  source`) in `file`, or at `--granularity sync` the
/// line its event was called from (`Event::at`), when it had one.
fn script_lines(trace: &racelab_sim::Trace, file: &str) -> Vec<Option<usize>> {
    let mut at: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
    trace
        .events
        .iter()
        .map(|e| {
            let place = if e.operation == "py" { Some(e.result.as_str()) } else { e.at.as_deref() };
            if let Some(n) = place.and_then(|p| script_line(p, file)) {
                at.insert(e.thread_id, n);
            }
            at.get(&e.thread_id).copied()
        })
        .collect()
}

/// The longest trace `teaching` narrates and draws.
const TEACHING_MAX_EVENTS: usize = 20_000;

/// The narration of a failure (`--explain`) and the page of a run (`--html`): the same as the
/// Rust CLI's, with the script's own lines beside the steps.
fn teaching<'py>(
    d: &Bound<'py, PyDict>,
    title: &str,
    trace: &racelab_sim::Trace,
    failure: Option<&racelab_sim::Failure>,
    source: Option<&(String, String)>,
) -> PyResult<()> {
    if trace.events.len() > TEACHING_MAX_EVENTS {
        // A run this long (a spinning thread stopped by the step limit) is no lesson to narrate
        // or draw, and both grow faster than the trace: a minute for 100,000 steps.
        let note = format!(
            "racelab: this run has {} trace events; --explain and --html tell runs of up to {TEACHING_MAX_EVENTS} \
             (lower --max-steps to see how it begins)\n",
            trace.events.len()
        );
        d.set_item("explain", failure.map(|_| note.clone()))?;
        return d.set_item("html", format!("<!DOCTYPE html><html><body><p>{note}</p></body></html>\n"));
    }
    let narration = failure.map(|f| racelab_sim::narrate::narrate(f, None));
    if let Some(n) = &narration {
        d.set_item("explain", n.to_string())?;
    }
    let lines = source.map(|(file, _)| script_lines(trace, file));
    let page_source = match (source, &lines) {
        (Some((_, text)), Some(line_of)) => {
            Some(racelab_sim::html::Source { text: text.as_str(), line_of: line_of.clone() })
        }
        _ => None,
    };
    let page = racelab_sim::html::timeline(title, trace, failure, narration.as_ref(), page_source.as_ref());
    d.set_item("html", page)
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The verdict line, in the Rust CLI's words (`src/cli/run.rs`).
fn verdict(report: &Report, config: &Config) -> String {
    let dfs = matches!(config.strategy(), StrategyConfig::Dfs { .. } | StrategyConfig::Portfolio { .. });
    match &report.failure {
        None if report.interrupted => {
            format!(
                "interrupted: no bug found in {} run{} so far (not exhaustive)",
                report.runs,
                plural(report.runs)
            )
        }
        None if report.exhausted => {
            let reduced = if config.uses_dpor() { ", partial-order reduced" } else { "" };
            format!(
                "no bug: every interleaving explored ({} run{}{reduced})",
                report.runs,
                plural(report.runs)
            )
        }
        None if dfs => {
            format!(
                "no bug found in {} runs (the search stopped at the run limit, not exhausted)",
                report.runs
            )
        }
        None => {
            format!("no bug found in {} run{} (sampled, not exhaustive)", report.runs, plural(report.runs))
        }
        Some(f) => {
            let found_by = match f.found_by {
                Some("dpor") => " (found by the portfolio's exhaustive DPOR)",
                Some(_) => " (found by the portfolio's POS sampling)",
                None => "",
            };
            format!(
                "BUG: {} in run {}{found_by}, with {} preemption{}",
                f.diagnosis.kind,
                f.run,
                f.preemptions,
                plural(f.preemptions.into())
            )
        }
    }
}

fn to_dict<'py>(
    py: Python<'py>,
    report: &Report,
    config: &Config,
    source: Option<&(String, String)>,
) -> PyResult<Bound<'py, PyDict>> {
    let title = match source {
        Some((file, _)) => format!("racelab-py {file}"),
        None => "racelab".to_string(),
    };
    let d = PyDict::new(py);
    d.set_item("settings", config.to_string())?;
    d.set_item("verdict", verdict(report, config))?;
    d.set_item("coverage", report.coverage())?;
    // A dfs that stopped short with ever longer runs: why it may never end (the CLI's `note:`).
    d.set_item("growth_note", report.growth_note())?;
    d.set_item("runs", report.runs)?;
    d.set_item("exhausted", report.exhausted)?;
    d.set_item("text", report.to_string())?;
    d.set_item("json", serde_json::to_string(report).unwrap_or_default())?;
    // A replay whose trace hashes otherwise than the schedule recorded (the CLI's `note:` line).
    d.set_item("replay_differs", report.replay_differs.as_deref())?;
    match &report.failure {
        Some(f) => {
            d.set_item("passed", false)?;
            d.set_item("kind", f.kind.name())?;
            d.set_item("diagnosis_kind", f.diagnosis.kind.name())?;
            d.set_item("diagnosis", f.diagnosis.to_string())?;
            d.set_item("failure", f.kind.to_string())?;
            // As `racelab check` words them: what shrinking did, and where its budget stopped it.
            let preemptions = |n: u32| format!("{n} preemption{}", if n == 1 { "" } else { "s" });
            let shrunk = f.shrunk_from.as_ref().map(|s| {
                format!(
                    "shrunk from {} steps and {} to {} steps and {}",
                    s.steps,
                    preemptions(s.preemptions),
                    f.step,
                    preemptions(f.preemptions)
                )
            });
            d.set_item("shrunk", shrunk)?;
            d.set_item("shrink_cut_short", f.shrink_cut_short.as_deref())?;
            d.set_item("schedule", f.schedule.to_string())?;
            d.set_item("trace", f.trace.to_string())?;
            d.set_item(
                "trace_excerpt",
                f.trace.excerpt("the replay command below prints the whole trace").to_string(),
            )?;
            if let racelab_sim::FailureKind::InvalidConfig { message } = &f.kind {
                d.set_item("refused", message)?;
            }
            teaching(&d, &title, &f.trace, Some(f), source)?;
        }
        None => {
            d.set_item("passed", true)?;
            if let Some(t) = &report.traced {
                d.set_item("schedule", t.schedule.to_string())?;
                d.set_item("trace", t.trace.to_string())?;
                let names: Vec<&str> = t.cut_off.iter().map(|c| c.name.as_str()).collect();
                d.set_item("cut_off", names)?;
                teaching(&d, &title, &t.trace, None, source)?;
            }
        }
    }
    Ok(d)
}
