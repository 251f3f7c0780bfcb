//! Exploration: many runs of one program under a strategy, and the report of what they found.
//!
//! Runs are not traced, for speed. When a run fails, its recorded schedule is replayed once more
//! with tracing on; the failure must come out the same, or the program is not deterministic
//! under its schedule and the report says so. That is also why a trace is the same bytes
//! whether it came from `check` or from `replay`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::{Config, StrategyConfig};
use crate::executor::Executor;
use crate::report::{
    Failure, FailureKind, GrowingRuns, Report, ShardSubtree, ShrunkFrom, TeardownPanic, TracedRun,
};
use crate::rt;
use crate::schedule::Schedule;
use crate::state::{RunEnd, RunModel};
use crate::strategy::{Guided, Replay, Strategy};
use crate::trace::{Event, Trace};

thread_local! {
    /// The model of this OS thread's last run, emptied: the next run reuses its vectors.
    static SPARE_MODEL: std::cell::Cell<Option<Box<RunModel>>> = const { std::cell::Cell::new(None) };
}

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
    pub(crate) trace: Trace,
    pub(crate) unfinished: Vec<crate::report::ThreadRef>,
    step: u64,
    time: crate::clock::VirtualTime,
    /// A destructor that panicked in the run's teardown (the executor is tainted then).
    pub(crate) teardown_panic: Option<TeardownPanic>,
    /// Without release points: the first operation that observed a lock (see `ReleasePoints`).
    pub(crate) lock_observed: Option<String>,
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
    let strategy_of_run = strategy.take().expect("strategy present between runs");
    let (max_steps, semantics, release_points) =
        (config.max_steps, config.semantics, config.points_before_releases());
    let mut model = match SPARE_MODEL.with(|s| s.take()) {
        Some(spare) => RunModel::renew(spare, strategy_of_run, max_steps, semantics, release_points),
        None => Box::new(RunModel::new(strategy_of_run, max_steps, semantics, release_points)),
    };
    model.reset(run, NEXT_NONCE.fetch_add(1, Ordering::Relaxed), tracing);
    rt::install(model);
    let p = Arc::clone(program);
    let mut end = executor.run(Box::new(move || p()));
    let mut model = rt::uninstall();
    if let Err(d) = model.strategy.end_run() {
        match (&end, &config.strategy) {
            (RunEnd::Failed(FailureKind::Divergence { .. }), _) => {}
            (RunEnd::Failed(kind), StrategyConfig::Replay(schedule)) => {
                // A replayed run that failed before using its whole schedule: the failure is
                // not what the schedule recorded, so say so instead of cutting it silently.
                end = RunEnd::Failed(unused_decisions(schedule, d.decision, kind, model.step));
            }
            (RunEnd::Failed(_), _) => {}
            _ => end = RunEnd::Failed(model.divergence(d)),
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
        // A copy: the model's vector keeps its capacity for the next run.
        schedule: Schedule::from_choices(model.recorded.clone())
            .with_semantics(config.semantics)
            // A run whose releases all had their point (or that released nothing) is the same
            // run with release points: its schedule says nothing, as schedules did before.
            .with_release_points(model.release_points || !model.release_point_skipped),
        trace,
        lock_observed: model.lock_observed.take(),
        unfinished: model.unfinished_daemons(),
        step: model.step,
        time: model.now,
        preemptions: model.preemptions,
        end,
        teardown_panic,
    };
    let (strategy_back, spare) = model.into_spare();
    *strategy = Some(strategy_back);
    SPARE_MODEL.with(|s| s.set(Some(spare)));
    result
}

/// The divergence of a replay whose run failed (with `kind`, at `step`) before it used the
/// decisions of `schedule` from index `from` on: it names them (the first ten tokens of the
/// schedule's text, `t1*37` as one, so the quote is the schedule's own words).
fn unused_decisions(schedule: &Schedule, from: usize, kind: &FailureKind, step: u64) -> FailureKind {
    const TOKENS: usize = 10;
    let unused = &schedule.choices()[from..];
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < unused.len() && tokens.len() < TOKENS {
        let c = unused[i];
        let run = unused[i..].iter().take_while(|&&d| d == c).count();
        tokens.push(if run > 1 { format!("{c}*{run}") } else { c.to_string() });
        i += run;
    }
    let shown = tokens.join(" ");
    let more = if i < unused.len() { " ..." } else { "" };
    FailureKind::Divergence {
        message: format!(
            "the run ended with a {} at step {step}, but the schedule goes on: {} decision{} unused from \
             decision {} (`{shown}{more}`). A replay uses every decision of its schedule; this one was \
             edited or recorded from another program.",
            kind.name(),
            unused.len(),
            if unused.len() == 1 { "" } else { "s" },
            from + 1,
        ),
    }
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
            kind: e.kind,
            at: e.at.map(|a| a.to_string()),
            library: e.object.is_some_and(|o| model.objects[o.index()].library),
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
    /// Run `run`, without release points, passed but `observed` a lock (see `ReleasePoints`),
    /// and no run before it failed: the exploration starts again with release points.
    Restart { run: u64, observed: String },
}

/// The configuration an `auto` exploration restarts with: a point before every release.
fn with_points(config: &Config) -> Config {
    config.clone().release_points(crate::config::ReleasePoints::On)
}

/// The outcome of the exploration restarted with release points, its settings line saying why
/// (`restarted="run 3: try_acquire on Lock-1"`).
fn restarted(mut outcome: Outcome, run: u64, observed: &str) -> Outcome {
    let note = format!(" restarted=\"run {run}: {observed}\"");
    match &mut outcome {
        Outcome::Done(report) | Outcome::Tainted { report, .. } => report.settings.push_str(&note),
        Outcome::Restart { .. } => {
            unreachable!("racelab invariant: an exploration with release points restarted")
        }
    }
    outcome
}

/// Explores on an OS thread of its own, and on a fresh one again to trace a failure whose
/// teardown tainted the first. Every run still sees one OS thread only; the caller's thread never
/// runs simulated code, so a tainted thread is never the caller's.
fn explore<F>(config: &Config, program: Arc<F>, progress: &mut dyn FnMut(u64)) -> Report
where
    F: Fn() + Send + Sync + 'static,
{
    if let Err(e) = config.validate() {
        progress(0);
        return refused(config, e);
    }
    let config = &config.as_explored();
    assert!(
        !rt::in_simulation(),
        "racelab: check/replay cannot be nested, nor called from inside a simulated thread"
    );
    let outcome = on_fresh_thread(progress, |progress| {
        let explore_in = |config: &Config, progress: &mut dyn FnMut(u64)| {
            if crate::parallel_dpor::applies(config) {
                crate::parallel_dpor::explore(config, Arc::clone(&program), progress)
            } else if crate::parallel_pct::applies(config) {
                crate::parallel_pct::explore(config, Arc::clone(&program), progress)
            } else if crate::parallel::applies(config) {
                crate::parallel::explore(config, Arc::clone(&program), progress)
            } else {
                explore_here(config, Arc::clone(&program), progress)
            }
        };
        match explore_in(config, progress) {
            Outcome::Restart { run, observed } => {
                let config = with_points(config);
                (restarted(explore_in(&config, progress), run, &observed), config)
            }
            outcome => (outcome, config.clone()),
        }
    });
    // The configuration of the runs reported: with release points after a restart.
    let (outcome, config) = (outcome.0, &outcome.1);
    match outcome {
        Outcome::Done(report) => report,
        Outcome::Restart { .. } => {
            unreachable!("racelab invariant: an exploration with release points restarted")
        }
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
    // A replay or a guided run has one run; "exhausted" means nothing for it.
    let replaying = matches!(
        config.strategy,
        crate::config::StrategyConfig::Replay(_) | crate::config::StrategyConfig::Guided(_)
    );
    // The portfolio is exhaustive through its DPOR half; only the plain search's runs are all
    // distinct up to reordering.
    let exhaustive = matches!(
        config.strategy,
        crate::config::StrategyConfig::Dfs { .. } | crate::config::StrategyConfig::Portfolio { .. }
    );
    let counts_distinct = matches!(config.strategy, crate::config::StrategyConfig::Dfs { .. });
    let mut report = crate::explore::empty_report(config, exhaustive);
    let budget = Budget::start(config.max_time, config.stop.clone());
    // A dfs split into shards: the runs of each subtree this shard explored.
    let mut subtrees = config.splits_dfs().then(Vec::new);
    while report.runs < config.runs {
        let run = report.runs;
        if !strategy.as_mut().expect("strategy present").begin_run(run) {
            report.exhausted = true;
            break;
        }
        if budget.halts(&mut report) {
            break;
        }
        let tracing = config.trace_run == Some(run);
        let mut result = run_once(&mut executor, &mut strategy, run, config, tracing, &program);
        if let Some(subtrees) = subtrees.as_mut() {
            match strategy.as_ref().and_then(|s| s.shard_subtree()) {
                // Another shard's, or the search still probing for its cut: not counted. (Unless
                // a destructor panicked as the run was cut short: this OS thread can run nothing
                // more, so that bug is reported here, as the subtree's.)
                Some((_, false)) if !executor.tainted() => continue,
                Some((subtree, _)) => match subtrees.last_mut() {
                    Some(ShardSubtree { subtree: s, runs }) if *s == subtree => *runs += 1,
                    _ => subtrees.push(ShardSubtree { subtree, runs: 1 }),
                },
                None => unreachable!("racelab invariant: a sharded search's run belongs to no subtree"),
            }
        }
        if let Some(observed) = result.lock_observed.take().filter(|_| restarts_on_observers(config)) {
            if !matches!(result.end, RunEnd::Failed(_)) {
                progress(report.runs);
                return Outcome::Restart { run, observed };
            }
        }
        if counts_distinct {
            // A dfs only (the portfolio's runs alternate with sampled ones).
            GrowingRuns::track(&mut report, run, result.steps);
        }
        report.runs += 1;
        report.steps += result.steps;
        if report.runs % PROGRESS_EVERY == 0 {
            progress(report.runs);
        }
        if tracing {
            report.traced = Some(TracedRun {
                run,
                schedule: result.schedule.clone().with_trace_hash(result.trace.hash()),
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
                report.elapsed_micros = budget.micros();
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
                    report.shard_subtrees = subtrees;
                    report.growing_runs = None;
                    return Outcome::Tainted { report, kind, run, schedule: result.schedule };
                } else {
                    let found = traced_failure(&mut executor, kind, run, result.schedule, config, &program);
                    if config.shrink {
                        shrink(&mut executor, found, config, &program)
                    } else {
                        found
                    }
                };
                let maker = strategy.as_ref().and_then(|s| s.run_maker());
                report.failure = Some(Failure { found_by: maker, ..failure });
                report.shard_subtrees = subtrees;
                report.growing_runs = None;
                report.distinct_runs = counts_distinct.then(|| report.runs - report.redundant_runs);
                note_replay_change(&mut report, config);
                progress(report.runs);
                return Outcome::Done(report);
            }
        }
    }
    if replaying {
        // A replay has one run; "exhausted" means nothing for it.
        report.exhausted = false;
    } else if !report.exhausted && !report.interrupted && !report.out_of_time && report.runs == config.runs {
        // The run limit stopped us; say whether the strategy still had work left.
        report.exhausted = !strategy.as_mut().expect("strategy present").begin_run(report.runs);
    }
    report.elapsed_micros = budget.micros();
    report.distinct_runs = counts_distinct.then(|| report.runs - report.redundant_runs);
    report.shard_subtrees = subtrees;
    GrowingRuns::settle(&mut report);
    note_replay_change(&mut report, config);
    progress(report.runs);
    Outcome::Done(report)
}

/// True when a run that observes a lock restarts the exploration (`ReleasePoints::Auto`; a
/// replay or a forced mode never restarts).
pub(crate) fn restarts_on_observers(config: &Config) -> bool {
    config.release_points_mode() == crate::config::ReleasePoints::Auto
}

/// The report of an exploration of `config` before its first run.
pub(crate) fn empty_report(config: &Config, exhaustive_search: bool) -> Report {
    Report {
        settings: config.to_string(),
        runs: 0,
        steps: 0,
        exhausted: false,
        exhaustive_search,
        require_exhaustive: config.require_exhaustive,
        out_of_time: false,
        interrupted: false,
        replay_differs: None,
        runs_with_daemons_cut_off: 0,
        redundant_runs: 0,
        distinct_runs: None,
        elapsed_micros: 0,
        failure: None,
        traced: None,
        shard_subtrees: None,
        growing_runs: None,
    }
}

fn is_teardown_panic(kind: &FailureKind) -> bool {
    matches!(kind, FailureKind::TeardownPanic(_))
}

/// The report of a configuration `validate` refused: no run, a failure naming the setting.
fn refused(config: &Config, e: crate::config::ConfigError) -> Report {
    let kind = FailureKind::InvalidConfig { message: e.to_string() };
    let failure =
        failure_of(kind, 0, Schedule::default(), Trace::default(), Vec::new(), 0, Default::default());
    Report { failure: Some(failure), ..empty_report(config, false) }
}

/// For a replay of a schedule that carries its trace's hash: notes when the replayed trace
/// hashes differently, i.e. the same decisions made the program do something else.
fn note_replay_change(report: &mut Report, config: &Config) {
    let crate::config::StrategyConfig::Replay(recorded) = &config.strategy else { return };
    let Some(then) = recorded.trace_hash() else { return };
    let now = match (&report.failure, &report.traced) {
        (Some(f), _) if matches!(f.kind, FailureKind::Divergence { .. }) => return,
        (Some(f), _) => f.schedule.trace_hash(),
        (None, Some(t)) => t.schedule.trace_hash(),
        (None, None) => None,
    };
    if let Some(now) = now.filter(|&now| now != then) {
        report.replay_differs = Some(format!(
            "this program behaves differently than when the schedule was recorded: the same decisions give \
             another trace (#{then:08x} then, #{now:08x} now); a value, a message or a name changed"
        ));
    }
}

/// Why an exploration stops before its run limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Halt {
    /// The stop flag was raised.
    Stop,
    /// The wall-time budget is spent.
    Time,
}

/// Wall time of an exploration, its time budget and its stop flag.
///
/// This is the one place in the simulator that reads the OS clock (`clippy.toml` bans it
/// everywhere else): the explorer looks at it between runs, to report throughput and to stop
/// at `Config::max_time`, never inside a run, so no run can differ because of it.
pub(crate) struct Budget {
    start: std::time::Instant,
    limit: Option<std::time::Duration>,
    stop: Option<crate::config::StopFlag>,
}

impl Budget {
    #[allow(clippy::disallowed_methods, reason = "the exploration's wall time, read between runs only")]
    pub(crate) fn start(limit: Option<std::time::Duration>, stop: Option<crate::config::StopFlag>) -> Self {
        Budget { start: std::time::Instant::now(), limit, stop }
    }

    pub(crate) fn micros(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether to stop before the next run: the stop flag first, then the time budget.
    pub(crate) fn halt(&self) -> Option<Halt> {
        if self.stop.as_ref().is_some_and(|s| s.is_stopped()) {
            return Some(Halt::Stop);
        }
        match self.limit {
            Some(limit) if self.start.elapsed() >= limit => Some(Halt::Time),
            _ => None,
        }
    }

    /// Whether to stop before the next run, saying why in `report` (`interrupted` or
    /// `out_of_time`).
    pub(crate) fn halts(&self, report: &mut Report) -> bool {
        match self.halt() {
            Some(Halt::Stop) => report.interrupted = true,
            Some(Halt::Time) => report.out_of_time = true,
            None => return false,
        }
        true
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
    let schedule = schedule.with_trace_hash(trace.hash());
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
        shrink_cut_short: None,
        teardown_panic: None,
        found_by: None,
    }
}

/// `text` with every hexadecimal number written `0x...` (an address, as `{:p}` and `Debug` of a
/// pointer show it) replaced by `0x_`.
fn without_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at]);
        let digits = rest[at + 2..].chars().take_while(char::is_ascii_hexdigit).count();
        if digits == 0 {
            out.push_str("0x");
        } else {
            out.push_str("0x_");
        }
        rest = &rest[at + 2 + digits..];
    }
    out.push_str(rest);
    out
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
        // The same failure, its message showing other heap addresses (a pointer the program
        // formats): addresses change from one run to the next, the schedule does not.
        RunEnd::Failed(k) if without_addresses(&k.to_string()) == without_addresses(&kind.to_string()) => k,
        // An OS thread's timing is not the schedule's: the replay may or may not see it again.
        _ if matches!(kind, FailureKind::OsThread { .. }) => kind,
        other => {
            // Both failures in full: the first is the program's own finding, which the user
            // needs whichever way the replay went.
            let got = match other {
                RunEnd::Completed | RunEnd::Redundant => "a passing run".to_string(),
                RunEnd::Failed(k) => format!("another failure ({})", k.to_string().trim_end()),
            };
            FailureKind::Divergence {
                message: format!(
                    "run {run} failed ({}), but replaying its schedule gave {got}: the program is not \
                     deterministic under racelab's schedule. Does it keep state from one run to the next (a \
                     `static`, a `thread_local!`, a `OnceLock` made outside the program: each run must start \
                     from the same state), read OS time, use OS threads, unseeded randomness, or iterate a \
                     collection ordered by hash (a Rust HashMap, a Python set or dict of objects hashed by \
                     address)?",
                    kind.to_string().trim_end()
                ),
            }
        }
    };
    let mut failure = failure_of(kind, run, schedule, again.trace, again.unfinished, again.step, again.time);
    failure.preemptions = again.preemptions;
    failure.teardown_panic = again.teardown_panic.filter(|_| !is_teardown_panic(&failure.kind));
    failure
}

/// Runs that shrinking may spend in all, over every bound.
pub const SHRINK_BUDGET: u64 = 20_000;
/// Steps that shrinking may replay in all, tracing included: with many threads or long runs the
/// run budget alone would take minutes.
pub const SHRINK_MAX_STEPS: u64 = 20_000_000;

/// What shrinking may still spend: runs, steps, and wall time (`Config::max_time`, at most
/// [`DEFAULT_SHRINK_TIME`](crate::config::DEFAULT_SHRINK_TIME)); the stop flag ends it too.
struct ShrinkBudget {
    runs: u64,
    steps: u64,
    runs_left: u64,
    steps_left: u64,
    time: std::time::Duration,
    clock: Budget,
}

/// Shrinking's wall time in all: `Config::shrink_time`, at most `Config::max_time`.
fn shrink_time(config: &Config) -> std::time::Duration {
    config.max_time.map_or(config.shrink_time, |t| t.min(config.shrink_time))
}

impl ShrinkBudget {
    /// The whole budget (shrinking splits it between its two searches).
    #[cfg(test)]
    fn new(config: &Config) -> Self {
        ShrinkBudget::sized(config, config.shrink_runs, config.shrink_steps, shrink_time(config))
    }

    /// `runs`, `steps` and `time`, stopped by the config's flag.
    fn sized(config: &Config, runs: u64, steps: u64, time: std::time::Duration) -> Self {
        ShrinkBudget {
            runs,
            steps,
            runs_left: runs,
            steps_left: steps,
            time,
            clock: Budget::start(Some(time), config.stop.clone()),
        }
    }

    fn spend(&mut self, runs: u64, steps: u64) {
        self.runs_left = self.runs_left.saturating_sub(runs);
        self.steps_left = self.steps_left.saturating_sub(steps);
    }

    /// The budget that is spent, if one is, named for the report.
    fn spent(&self) -> Option<String> {
        if self.runs_left == 0 {
            return Some(format!("its run budget ({} runs)", self.runs));
        }
        if self.steps_left == 0 {
            return Some(format!("its step budget ({} steps replayed)", self.steps));
        }
        match self.clock.halt() {
            Some(Halt::Stop) => Some("the stop flag (interrupted)".to_string()),
            Some(Halt::Time) => Some(format!("its time budget ({} s)", crate::config::fmt_secs(self.time))),
            None => None,
        }
    }
}

/// Looks for a smaller run that fails with the same diagnosis: an exhaustive search bounded to
/// 0, 1, 2... preemptions (below the failure's own count) finds the fewest preemptions; within
/// that bound, the fewest steps. All bounds share one budget of [`SHRINK_BUDGET`] runs,
/// [`SHRINK_MAX_STEPS`] steps and a wall time; when it runs out the best run so far is kept
/// and [`Failure::shrink_cut_short`] says which budget ended the search; if that search found
/// nothing smaller, a greedy pass on a budget of its own takes the run's preemptions out one at
/// a time ([`shrink_greedily`]). Watchdog, OS-thread
/// and step-limit failures are not shrunk. The random values the failing run drew (`choose`,
/// racelab-py's per-run seed of `random`) are kept, not explored: the smaller run is the same
/// input in fewer preemptions and steps (exploring a 65,536-way seed spent the whole budget at
/// bound 0).
pub(crate) fn shrink<F>(executor: &mut Executor, found: Failure, config: &Config, program: &Arc<F>) -> Failure
where
    F: Fn() + Send + Sync + 'static,
{
    if matches!(
        found.kind,
        FailureKind::Watchdog { .. } | FailureKind::OsThread { .. } | FailureKind::StepLimit { .. }
    ) {
        // Not shrunk: every candidate run could wait out the watchdog's wall-time limit, an OS
        // thread's timing is not the schedule's to reproduce, and a run that fails the step limit
        // has run the whole limit: every candidate is as long (a spinning program's candidates
        // cost the whole budget, a minute and more, for nothing shorter).
        return found;
    }
    let target = found.diagnosis.kind;
    // The bounded search's share of the budget; the rest is the greedy fallback's, so that
    // shrinking spends at most `Config::shrink_budget` and `shrink_time` in all.
    let mut budget = ShrinkBudget::sized(
        config,
        config.shrink_runs - config.shrink_runs / GREEDY_SHARE_RUNS,
        config.shrink_steps - config.shrink_steps / GREEDY_SHARE,
        shrink_time(config) - shrink_time(config) / GREEDY_SHARE as u32,
    );
    let mut cut_short = None;
    for bound in 0..found.preemptions {
        let mut best: Option<Failure> = None;
        let random_values: Vec<u32> = found
            .schedule
            .choices()
            .iter()
            .filter(|c| c.kind == crate::schedule::ChoiceKind::Random)
            .map(|c| c.value)
            .collect();
        let mut dfs: Option<Box<dyn Strategy>> =
            Some(Box::new(crate::strategy::Dfs::new(Some(bound)).keeping_random_values(random_values)));
        for run in 0.. {
            cut_short = budget.spent();
            if cut_short.is_some() || !dfs.as_mut().expect("strategy present").begin_run(run) {
                break;
            }
            let result = run_once(executor, &mut dfs, run, config, false, program);
            budget.spend(1, result.steps);
            if executor.tainted() {
                // A destructor panicked in this candidate's teardown: no more runs on this thread.
                return found;
            }
            let RunEnd::Failed(kind) = result.end else { continue };
            if best.as_ref().is_some_and(|b| b.step <= result.step) || kind.name() != found.kind.name() {
                continue;
            }
            let candidate = traced_failure(executor, kind, run, result.schedule, config, program);
            budget.spend(0, candidate.step);
            if candidate.diagnosis.kind == target {
                best = Some(candidate);
            }
        }
        if let Some(small) = best {
            return replaced(small, found, cut_short);
        }
        if cut_short.is_some() {
            break;
        }
    }
    if let Some(cut) = cut_short.as_ref().filter(|_| budget.clock.halt() != Some(Halt::Stop)) {
        if let Some(small) = shrink_greedily(executor, &found, config, program) {
            let cut = format!("{cut}, before a greedy pass took preemptions out one at a time");
            return replaced(small, found, Some(cut));
        }
    }
    Failure { shrink_cut_short: cut_short, ..found }
}

/// `small`, a smaller run shrinking found, in place of `found`: reported under `found`'s run
/// index, with what it was shrunk from and the budget that cut shrinking short.
fn replaced(mut small: Failure, found: Failure, cut_short: Option<String>) -> Failure {
    small.run = found.run;
    small.shrunk_from = Some(ShrunkFrom {
        run: found.run,
        steps: found.step,
        preemptions: found.preemptions,
        schedule: found.schedule,
    });
    small.shrink_cut_short = cut_short;
    small
}

/// The greedy pass's share of shrinking's budget: a tenth of the runs, a quarter of the steps
/// and of the time (with the defaults, 2,000 runs and 5,000,000 steps).
const GREEDY_SHARE_RUNS: u64 = 10;
const GREEDY_SHARE: u64 = 4;

/// The fallback when the bounded search spent its budget without a smaller run: a program
/// with many free choices even without preemptions (a thread pool's workers, each blocking on
/// the task queue in turn) fills bound 0 alone with more runs than the budget holds, and the
/// report kept a run of 51 preemptions. This takes the failing run's preemptions and unusual
/// events out one at a time instead: its decisions as relative choices ([`RelativeRecorder`]),
/// one set to 0 ("no preemption", the first alternative), the rest followed as near as they fit
/// ([`Guided`]); a run that fails with the same diagnosis in fewer preemptions (or as many and
/// fewer steps) is kept and the scan goes on from there. Linear in the run's decisions per
/// pass, on a budget of its own; the random values the run drew are kept.
///
/// [`RelativeRecorder`]: crate::strategy::RelativeRecorder
/// [`Guided`]: crate::strategy::Guided
fn shrink_greedily<F>(
    executor: &mut Executor,
    found: &Failure,
    config: &Config,
    program: &Arc<F>,
) -> Option<Failure>
where
    F: Fn() + Send + Sync + 'static,
{
    use crate::schedule::ChoiceKind;

    let mut budget = ShrinkBudget::sized(
        config,
        config.shrink_runs / GREEDY_SHARE_RUNS,
        config.shrink_steps / GREEDY_SHARE,
        shrink_time(config) / GREEDY_SHARE as u32,
    );
    if budget.spent().is_some() {
        return None;
    }
    let target = found.diagnosis.kind;
    let mut best: Option<Failure> = None;
    let mut choices = relative_choices(executor, &mut budget, &found.schedule, config, program)?;
    let random_values: Vec<u32> =
        choices.iter().filter(|(_, k)| *k == Some(ChoiceKind::Random)).map(|&(v, _)| v).collect();
    // Scans from the first decision; after a scan that kept a smaller run, another (a choice
    // that had to stay may go now).
    let mut i = 0;
    let mut improved = false;
    loop {
        if i >= choices.len() {
            if !std::mem::take(&mut improved) {
                break;
            }
            i = 0;
        }
        if budget.spent().is_some() || executor.tainted() {
            break;
        }
        let (value, kind) = choices[i];
        if value == 0 || kind == Some(ChoiceKind::Random) {
            i += 1;
            continue;
        }
        // First every choice from `i` on set to 0 (the run goes on without a preemption after
        // it), then `i` alone. The random values drawn go to the draws in order, whatever comes
        // before them (`Guided::keeping_random_values`): the found run's, which every kept run
        // draws again.
        let mut smaller = None;
        for cut in [true, false] {
            let candidate: Vec<u32> = choices
                .iter()
                .enumerate()
                .filter(|(_, (_, k))| *k != Some(ChoiceKind::Random))
                .map(|(j, &(v, _))| if j == i || (cut && j > i) { 0 } else { v })
                .collect();
            let guided = Guided::new(&candidate).keeping_random_values(random_values.clone());
            let current = best.as_ref().unwrap_or(found);
            if let Some(f) = smaller_failure(executor, &mut budget, guided, current, target, config, program)
            {
                smaller = Some(f);
                break;
            }
        }
        if let Some(traced) = smaller {
            // The choices before `i` are the same run's: the scan goes on after it.
            match relative_choices(executor, &mut budget, &traced.schedule, config, program) {
                Some(c) => choices = c,
                None => break,
            }
            best = Some(traced);
            improved = true;
        }
        i += 1;
    }
    best
}

/// The run `guided` makes, traced, when it fails with the diagnosis `target` in
/// fewer preemptions than `current` (or as many and fewer steps).
fn smaller_failure<F>(
    executor: &mut Executor,
    budget: &mut ShrinkBudget,
    guided: Guided,
    current: &Failure,
    target: crate::diagnosis::DiagnosisKind,
    config: &Config,
    program: &Arc<F>,
) -> Option<Failure>
where
    F: Fn() + Send + Sync + 'static,
{
    let mut guided: Option<Box<dyn Strategy>> = Some(Box::new(guided));
    guided.as_mut().expect("just set").begin_run(0);
    let result = run_once(executor, &mut guided, 0, config, false, program);
    budget.spend(1, result.steps);
    // A destructor panicked in this candidate's teardown: no more runs on this thread.
    if executor.tainted() {
        return None;
    }
    let RunEnd::Failed(kind) = result.end else { return None };
    if kind.name() != current.kind.name() || result.preemptions > current.preemptions {
        return None;
    }
    let traced = traced_failure(executor, kind, 0, result.schedule, config, program);
    budget.spend(0, traced.step);
    let smaller = (traced.preemptions, traced.step) < (current.preemptions, current.step);
    (traced.diagnosis.kind == target && smaller).then_some(traced)
}

/// The relative choices that make `schedule`'s run under `Guided`, with their kinds (one run
/// spent); `None` when the replay does not fit.
fn relative_choices<F>(
    executor: &mut Executor,
    budget: &mut ShrinkBudget,
    schedule: &Schedule,
    config: &Config,
    program: &Arc<F>,
) -> Option<Vec<crate::strategy::RelativeChoice>>
where
    F: Fn() + Send + Sync + 'static,
{
    let (recorder, choices) = crate::strategy::RelativeRecorder::new(schedule);
    let mut strategy: Option<Box<dyn Strategy>> = Some(Box::new(recorder));
    strategy.as_mut().expect("just set").begin_run(0);
    let result = run_once(executor, &mut strategy, 0, config, false, program);
    budget.spend(1, result.steps);
    if executor.tainted() || matches!(result.end, RunEnd::Failed(FailureKind::Divergence { .. })) {
        return None;
    }
    let recorded = choices.borrow().clone();
    Some(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_stops_at_whichever_budget_is_spent_first() {
        let config = Config::random(0);
        let mut budget = ShrinkBudget::new(&config);
        assert_eq!(budget.spent(), None);
        budget.spend(1, SHRINK_MAX_STEPS - 1);
        assert_eq!(budget.spent(), None);
        budget.spend(0, 1);
        assert_eq!(budget.spent().as_deref(), Some("its step budget (20000000 steps replayed)"));
        let mut budget = ShrinkBudget::new(&config);
        budget.spend(SHRINK_BUDGET, 0);
        assert_eq!(budget.spent().as_deref(), Some("its run budget (20000 runs)"));
        // The time budget is the smaller of max_time and the default.
        let short = ShrinkBudget::new(&config.clone().max_time(std::time::Duration::ZERO));
        assert_eq!(short.spent().as_deref(), Some("its time budget (0 s)"));
        assert_eq!(
            ShrinkBudget::new(&config.clone().max_time(std::time::Duration::from_secs(3600))).time,
            crate::config::DEFAULT_SHRINK_TIME
        );
        let mut small = ShrinkBudget::new(&config.clone().shrink_budget(5, 1_000));
        small.spend(5, 10);
        assert_eq!(small.spent().as_deref(), Some("its run budget (5 runs)"));
        let flag = crate::config::StopFlag::new();
        let stopped = ShrinkBudget::new(&config.stop_flag(flag.clone()));
        flag.stop();
        assert_eq!(stopped.spent().as_deref(), Some("the stop flag (interrupted)"));
    }
}
