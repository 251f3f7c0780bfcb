//! Exploration: many runs of one program under a strategy, and the report of what they found.
//!
//! Runs are not traced, for speed. When a run fails, its recorded schedule is replayed once more
//! with tracing on; the failure must come out the same, or the program is not deterministic
//! under its schedule and the report says so. That is also why a trace is the same bytes
//! whether it came from `check` or from `replay`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::Config;
use crate::executor::Executor;
use crate::report::{Failure, FailureKind, Report, ShrunkFrom, TeardownPanic, TracedRun};
use crate::rt;
use crate::schedule::Schedule;
use crate::state::{RunEnd, RunModel};
use crate::strategy::{Replay, Strategy};
use crate::trace::{Event, Trace};

/// Every run in the process gets a fresh nonce, so objects cannot leak between runs unnoticed.
static NEXT_NONCE: AtomicU64 = AtomicU64::new(1);

/// Explores `program` under `config` and reports the first failing run, if any.
///
/// The closure is the main thread of each run: it creates its primitives, spawns threads with
/// [`crate::thread::spawn`], and may assert on results. It runs once per run.
pub fn check<F>(config: Config, program: F) -> Report
where
    F: Fn() + Send + Sync + 'static,
{
    explore(&config, Arc::new(program), &mut |_| {})
}

/// How often `check_with_progress` reports, in runs.
pub const PROGRESS_EVERY: u64 = 1024;

/// `check`, calling `progress(runs_done)` every [`PROGRESS_EVERY`] runs and once at the end:
/// for a progress bar on long explorations.
pub fn check_with_progress<F>(config: Config, program: F, progress: &mut dyn FnMut(u64)) -> Report
where
    F: Fn() + Send + Sync + 'static,
{
    explore(&config, Arc::new(program), progress)
}

/// Runs `program` once, following `schedule`, with a full trace. A schedule that does not fit
/// the program gives a report whose failure is a divergence naming the decision that did not
/// fit; a failure the schedule leads to is reported as `check` reported it.
pub fn replay<F>(schedule: &Schedule, program: F) -> Report
where
    F: Fn() + Send + Sync + 'static,
{
    explore(&Config::replay(schedule.clone()), Arc::new(program), &mut |_| {})
}

/// What one run produced.
pub(crate) struct RunResult {
    pub(crate) end: RunEnd,
    preemptions: u32,
    pub(crate) steps: u64,
    pub(crate) schedule: Schedule,
    trace: Trace,
    pub(crate) unfinished: Vec<crate::report::ThreadRef>,
    step: u64,
    time: crate::clock::VirtualTime,
    /// A destructor that panicked in the run's teardown (the executor is tainted then).
    pub(crate) teardown_panic: Option<TeardownPanic>,
}

pub(crate) fn run_once<F>(
    executor: &mut Executor,
    strategy: &mut Option<Box<dyn Strategy>>,
    run: u64,
    config: &Config,
    tracing: bool,
    program: &Arc<F>,
) -> RunResult
where
    F: Fn() + Send + Sync + 'static,
{
    let mut model = RunModel::new(
        strategy.take().expect("strategy present between runs"),
        config.max_steps,
        config.semantics,
    );
    model.reset(run, NEXT_NONCE.fetch_add(1, Ordering::Relaxed), tracing);
    rt::install(model);
    let p = Arc::clone(program);
    let mut end = executor.run(Box::new(move || p()));
    let mut model = rt::uninstall();
    if let Err(d) = model.strategy.end_run() {
        if !matches!(end, RunEnd::Failed(_)) {
            end = RunEnd::Failed(model.divergence(d));
        }
    }
    let teardown_panic = executor.take_teardown_panic();
    if let Some(p) = &teardown_panic {
        if !matches!(end, RunEnd::Failed(_)) {
            end = RunEnd::Failed(FailureKind::TeardownPanic(p.clone()));
        }
    }
    let trace = resolve_trace(&mut model);
    let result = RunResult {
        steps: model.step,
        schedule: Schedule::from_choices(std::mem::take(&mut model.recorded)),
        trace,
        unfinished: model.unfinished_daemons(),
        step: model.step,
        time: model.now,
        preemptions: model.preemptions,
        end,
        teardown_panic,
    };
    *strategy = Some(model.strategy);
    result
}

fn resolve_trace(model: &mut RunModel) -> Trace {
    let raw = model.trace.take().unwrap_or_default();
    let events = raw
        .into_iter()
        .map(|e| Event {
            step: e.step,
            time_ns: e.time.as_nanos(),
            thread_id: e.thread.as_u32(),
            thread: model.thread_name(e.thread),
            operation: e.operation.to_string(),
            object: e.object.map(|o| model.object_name(o)),
            result: e.result,
        })
        .collect();
    Trace { events }
}

/// How an exploration on one OS thread ended.
pub(crate) enum Outcome {
    /// With its report.
    Done(Report),
    /// A destructor panicked in the teardown of failing run `run` and tainted the OS thread
    /// (see `Executor::tear_down`): the failure is traced on a fresh one, and not shrunk.
    Tainted { report: Report, kind: FailureKind, run: u64, schedule: Schedule },
}

/// Explores on an OS thread of its own, and on a fresh one again to trace a failure whose
/// teardown tainted the first. Every run still sees one OS thread only; the caller's thread never
/// runs simulated code, so a tainted thread is never the caller's.
fn explore<F>(config: &Config, program: Arc<F>, progress: &mut dyn FnMut(u64)) -> Report
where
    F: Fn() + Send + Sync + 'static,
{
    assert!(
        !rt::in_simulation(),
        "racelab: check/replay cannot be nested, nor called from inside a simulated thread"
    );
    let outcome = on_fresh_thread(progress, |progress| {
        if crate::parallel::applies(config) {
            crate::parallel::explore(config, Arc::clone(&program), progress)
        } else {
            explore_here(config, Arc::clone(&program), progress)
        }
    });
    match outcome {
        Outcome::Done(report) => report,
        Outcome::Tainted { mut report, kind, run, schedule } => {
            let failure = on_fresh_thread(&mut |_| {}, |_| {
                let mut executor = Executor::new(config);
                traced_failure(&mut executor, kind, run, schedule, config, &program)
            });
            report.failure = Some(failure);
            report
        }
    }
}

/// Runs `f` on a new OS thread, handing it a progress callback that reaches `progress` here.
fn on_fresh_thread<R: Send>(
    progress: &mut dyn FnMut(u64),
    f: impl FnOnce(&mut dyn FnMut(u64)) -> R + Send,
) -> R {
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    std::thread::scope(|scope| {
        let explorer = std::thread::Builder::new()
            .name("racelab-explorer".into())
            .stack_size(EXPLORER_STACK)
            .spawn_scoped(scope, move || {
                f(&mut |runs| {
                    let _ = tx.send(runs);
                })
            })
            .expect("racelab: could not start the explorer thread");
        for runs in rx {
            progress(runs);
        }
        explorer.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// The explorer thread's own stack (green threads have theirs).
const EXPLORER_STACK: usize = 8 << 20;

fn explore_here<F>(config: &Config, program: Arc<F>, progress: &mut dyn FnMut(u64)) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    let mut executor = Executor::new(config);
    let mut strategy = Some(config.build_strategy());
    let replaying = matches!(config.strategy, crate::config::StrategyConfig::Replay(_));
    let exhaustive = matches!(config.strategy, crate::config::StrategyConfig::Dfs { .. });
    let mut report = Report {
        settings: config.to_string(),
        runs: 0,
        steps: 0,
        exhausted: false,
        runs_with_daemons_cut_off: 0,
        redundant_runs: 0,
        distinct_runs: None,
        elapsed_micros: 0,
        failure: None,
        traced: None,
    };
    let timer = Stopwatch::start();
    for run in 0..config.runs {
        if !strategy.as_mut().expect("strategy present").begin_run(run) {
            report.exhausted = true;
            break;
        }
        let tracing = config.trace_run == Some(run);
        let result = run_once(&mut executor, &mut strategy, run, config, tracing, &program);
        report.runs += 1;
        report.steps += result.steps;
        if report.runs % PROGRESS_EVERY == 0 {
            progress(report.runs);
        }
        if tracing {
            report.traced = Some(TracedRun {
                run,
                schedule: result.schedule.clone(),
                trace: result.trace.clone(),
                cut_off: result.unfinished.clone(),
            });
        }
        match result.end {
            RunEnd::Completed => {
                if !result.unfinished.is_empty() {
                    report.runs_with_daemons_cut_off += 1;
                }
            }
            RunEnd::Redundant => report.redundant_runs += 1,
            RunEnd::Failed(kind) => {
                // The exploration's time: tracing and shrinking the failure come after.
                report.elapsed_micros = timer.micros();
                report.distinct_runs = exhaustive.then(|| report.runs - report.redundant_runs);
                let failure = if tracing {
                    let mut f = failure_of(
                        kind,
                        run,
                        result.schedule,
                        result.trace,
                        result.unfinished,
                        result.step,
                        result.time,
                    );
                    f.teardown_panic = result.teardown_panic.filter(|_| !is_teardown_panic(&f.kind));
                    f
                } else if executor.tainted() {
                    progress(report.runs);
                    return Outcome::Tainted { report, kind, run, schedule: result.schedule };
                } else {
                    let found = traced_failure(&mut executor, kind, run, result.schedule, config, &program);
                    if config.shrink {
                        shrink(&mut executor, found, config, &program)
                    } else {
                        found
                    }
                };
                report.failure = Some(failure);
                progress(report.runs);
                return Outcome::Done(report);
            }
        }
    }
    if replaying {
        // A replay has one run; "exhausted" means nothing for it.
        report.exhausted = false;
    } else if !report.exhausted && report.runs == config.runs {
        // The run limit stopped us; say whether the strategy still had work left.
        report.exhausted = !strategy.as_mut().expect("strategy present").begin_run(report.runs);
    }
    report.elapsed_micros = timer.micros();
    report.distinct_runs = exhaustive.then(|| report.runs - report.redundant_runs);
    progress(report.runs);
    Outcome::Done(report)
}

fn is_teardown_panic(kind: &FailureKind) -> bool {
    matches!(kind, FailureKind::TeardownPanic(_))
}

/// Wall time of an exploration, for the report's throughput figures. It is read only by the
/// explorer, never by simulated code, so it cannot make runs differ.
pub(crate) struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods, reason = "wall time of the exploration, for the report only")]
    pub(crate) fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    pub(crate) fn micros(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

fn failure_of(
    kind: FailureKind,
    run: u64,
    schedule: Schedule,
    trace: Trace,
    cut_off: Vec<crate::report::ThreadRef>,
    step: u64,
    time: crate::clock::VirtualTime,
) -> Failure {
    let diagnosis = crate::diagnosis::diagnose(&kind, &trace);
    Failure {
        kind,
        diagnosis,
        run,
        step,
        time,
        schedule,
        trace,
        cut_off,
        preemptions: 0,
        shrunk_from: None,
        teardown_panic: None,
    }
}

/// Replays a failing run's schedule with tracing on, to attach the trace.
pub(crate) fn traced_failure<F>(
    executor: &mut Executor,
    kind: FailureKind,
    run: u64,
    schedule: Schedule,
    config: &Config,
    program: &Arc<F>,
) -> Failure
where
    F: Fn() + Send + Sync + 'static,
{
    let mut replay: Option<Box<dyn Strategy>> = Some(Box::new(Replay::new(&schedule)));
    replay.as_mut().expect("just set").begin_run(run);
    let again = run_once(executor, &mut replay, run, config, true, program);
    let kind = match again.end {
        RunEnd::Failed(k) if k == kind => k,
        // An OS thread's timing is not the schedule's: the replay may or may not see it again.
        _ if matches!(kind, FailureKind::OsThread { .. }) => kind,
        other => {
            let got = match other {
                RunEnd::Completed | RunEnd::Redundant => "a passing run".to_string(),
                RunEnd::Failed(k) => format!("a different failure ({})", k.name()),
            };
            FailureKind::Divergence {
                message: format!(
                    "run {run} failed with a {}, but replaying its schedule gave {got}: the program is not \
                     deterministic under racelab's schedule (does it read OS time, use OS threads, unseeded \
                     randomness or HashMap iteration order?)",
                    kind.name()
                ),
            }
        }
    };
    let mut failure = failure_of(kind, run, schedule, again.trace, again.unfinished, again.step, again.time);
    failure.preemptions = again.preemptions;
    failure.teardown_panic = again.teardown_panic.filter(|_| !is_teardown_panic(&failure.kind));
    failure
}

/// Runs that shrinking may spend in all, over every bound: it always ends, and soon.
pub const SHRINK_BUDGET: u64 = 20_000;

/// Looks for a smaller run that fails with the same diagnosis: an exhaustive search bounded to
/// 0, 1, 2... preemptions (below the failure's own count) finds the fewest preemptions; within
/// that bound, the fewest steps. All bounds share a budget of [`SHRINK_BUDGET`] runs. Watchdog
/// and OS-thread failures are not shrunk.
pub(crate) fn shrink<F>(executor: &mut Executor, found: Failure, config: &Config, program: &Arc<F>) -> Failure
where
    F: Fn() + Send + Sync + 'static,
{
    if matches!(found.kind, FailureKind::Watchdog { .. } | FailureKind::OsThread { .. }) {
        // Not shrunk: every candidate run could wait out the watchdog's wall-time limit, and an
        // OS thread's timing is not the schedule's to reproduce.
        return found;
    }
    let target = found.diagnosis.kind;
    let mut budget = SHRINK_BUDGET;
    for bound in 0..found.preemptions {
        let mut best: Option<Failure> = None;
        let mut dfs: Option<Box<dyn Strategy>> = Some(Box::new(crate::strategy::Dfs::new(Some(bound))));
        for run in 0.. {
            if budget == 0 || !dfs.as_mut().expect("strategy present").begin_run(run) {
                break;
            }
            budget -= 1;
            let result = run_once(executor, &mut dfs, run, config, false, program);
            if executor.tainted() {
                // A destructor panicked in this candidate's teardown: no more runs on this thread.
                return found;
            }
            let RunEnd::Failed(kind) = result.end else { continue };
            if best.as_ref().is_some_and(|b| b.step <= result.step) || kind.name() != found.kind.name() {
                continue;
            }
            let candidate = traced_failure(executor, kind, run, result.schedule, config, program);
            if candidate.diagnosis.kind == target {
                best = Some(candidate);
            }
        }
        if let Some(mut small) = best {
            small.run = found.run;
            small.shrunk_from = Some(ShrunkFrom {
                run: found.run,
                steps: found.step,
                preemptions: found.preemptions,
                schedule: found.schedule,
            });
            return small;
        }
    }
    found
}
