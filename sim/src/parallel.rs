//! Parallel and sharded exploration, for the explorations whose report can be made not to
//! depend on the number of jobs.
//!
//! An exploration is a sequence of run indices. Two kinds can hand theirs out to OS threads:
//! - `random` and `pos` draw run `i` from stream `i` of the seed, so any run can be executed
//!   anywhere, in any order: job `j` of `n` takes every `n`-th index of its shard.
//! - The `portfolio` makes DPOR's runs at the even indices and POS's at the odd ones. DPOR's runs
//!   depend on each other but not on POS's, and POS's are independent: so one job makes DPOR's
//!   runs in order while the others share POS's. A POS job stays a little ahead of DPOR's job
//!   at most (see [`LEAD`]): a POS run far past DPOR's is wasted unless DPOR reaches it anyway.
//!
//! Each job has its own executor and run state (the run state is thread-local); the calling
//! thread only relays progress. A job stops once its next index is above the lowest failing
//! index found so far, or at or past the *end*: the index at which the one-job exploration would
//! stop because DPOR has covered everything (the portfolio stops right after DPOR's last run). The
//! reported failure is the lowest failing index, traced and shrunk on the calling thread from the
//! schedule its job recorded, so the verdict and the failure are the same whatever the jobs.
//!
//! The counts are the same too: `runs`, `steps`, redundant runs and the daemon count cover exactly
//! the runs below the end up to and including the lowest failing index (all of them when nothing
//! fails), although a job may have executed a few runs past it before it learned of the failure.
//! A job keeps the counts of its runs that may lie past the failure aside until every job has moved
//! beyond them (the *watermark*: no failure can be found below the smallest index a job is about to
//! run, and the end is never set below it).
//!
//! Without release points (`ReleasePoints::Auto`), a passing run that observed a lock is treated
//! like a failure: jobs stop past the lowest such index, and when it lies below the lowest
//! failing index (and the end) the exploration restarts with release points, as the one-job
//! exploration would.
//!
//! Run indices are computed with checked arithmetic: the `k`-th index of shard `K` of `N` is
//! `K + k * N`, and an index past `u64::MAX` is past every run limit, so huge shard counts end
//! a job instead of wrapping around.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{Config, StrategyConfig};
use crate::executor::Executor;
use crate::explore::{
    restarts_on_observers, run_once, shrink, traced_failure, Budget, Halt, Outcome, PROGRESS_EVERY,
};
use crate::report::{FailureKind, Report, TracedRun};
use crate::schedule::Schedule;
use crate::state::RunEnd;
use crate::strategy::{Half, Portfolio, Strategy};

/// How far (in run indices) a POS job of the portfolio may run ahead of DPOR's job.
const LEAD: u64 = 64;

/// True when `config` asks for more than one job or a shard and the report can be kept the same.
pub(crate) fn applies(config: &Config) -> bool {
    match config.strategy {
        StrategyConfig::Portfolio { .. } => config.jobs > 1 && config.trace_run.is_none(),
        _ => independent_runs(config) && (config.jobs > 1 || config.shard.is_some_and(|(_, n)| n > 1)),
    }
}

/// True for the strategies whose run `i` depends on nothing but the seed and `i` (`random` and
/// `pos` draw run `i` from stream `i`; PCT's change points depend on the runs before).
pub(crate) fn independent_runs(config: &Config) -> bool {
    matches!(config.strategy, StrategyConfig::Random { .. } | StrategyConfig::Pos { .. })
}

/// One job's share of the run indices, and how its strategy is made.
struct Lane {
    /// The job's first run index and the distance between its indices.
    first: u64,
    stride: u64,
    /// The portfolio half the job makes runs for (`None`: the configured strategy itself).
    half: Option<Half>,
}

impl Lane {
    /// The `k`-th run index of the lane, or `None` past `u64::MAX`.
    fn index(&self, k: u64) -> Option<u64> {
        k.checked_mul(self.stride)?.checked_add(self.first)
    }

    /// DPOR's job decides where the exploration ends.
    fn covers(&self) -> bool {
        self.half == Some(Half::Dpor)
    }

    fn strategy(&self, config: &Config) -> Box<dyn Strategy> {
        match (self.half, &config.strategy) {
            (None, _) => config.build_strategy(),
            (Some(half), StrategyConfig::Portfolio { seed }) => Box::new(Portfolio::half(*seed, half)),
            (Some(_), other) => unreachable!("racelab invariant: a portfolio lane for {other:?}"),
        }
    }
}

/// The lanes of `config`'s exploration: see the module documentation.
fn lanes(config: &Config) -> Vec<Lane> {
    let jobs = config.jobs as u64;
    match config.strategy {
        StrategyConfig::Portfolio { .. } => {
            assert!(jobs >= 2, "racelab invariant: a parallel portfolio has a DPOR job and a POS job");
            let dpor = Lane { first: 0, stride: 2, half: Some(Half::Dpor) };
            let sampled = (0..jobs - 1).map(|j| Lane {
                first: 1 + 2 * j,
                stride: 2 * (jobs - 1),
                half: Some(Half::Pos),
            });
            std::iter::once(dpor).chain(sampled).collect()
        }
        _ => {
            let (shard, shards) = config.shard_or_whole();
            // Job `j` takes the shard's indices `j`, `j + jobs`, ... (counted within the shard).
            (0..jobs)
                .filter_map(|j| {
                    let first = j.checked_mul(shards)?.checked_add(shard)?;
                    Some(Lane { first, stride: shards.saturating_mul(jobs), half: None })
                })
                .collect()
        }
    }
}

/// What the jobs share while they run.
struct Shared {
    /// The lowest failing run index found so far (`u64::MAX`: none).
    lowest_failure: AtomicU64,
    /// The first index the one-job exploration would not run because DPOR has covered
    /// everything (`u64::MAX`: not known yet).
    end: AtomicU64,
    /// Per job, the run index it is about to run or running (`u64::MAX` once it is done without
    /// a failure; a job that failed keeps its failing index). No failure can be found below
    /// their minimum.
    next: Vec<AtomicU64>,
    /// Runs executed so far, for progress only (it may count runs past the failure).
    executed: AtomicU64,
    /// Set by the job that saw the budget's halt first.
    halted: Mutex<Option<Halt>>,
    /// Without release points (`ReleasePoints::Auto`): the lowest passing run index that
    /// observed a lock, and what observed it. Like a failure, it stops the jobs past it; when
    /// it is below the lowest failure the exploration restarts, whatever the number of jobs.
    lowest_observed: Mutex<Option<(u64, String)>>,
    /// Its index (`u64::MAX`: none), read by the jobs between runs.
    lowest_observed_run: AtomicU64,
}

impl Shared {
    fn watermark(&self) -> u64 {
        self.next.iter().map(|n| n.load(Ordering::SeqCst)).min().unwrap_or(u64::MAX)
    }

    /// No job runs an index at or past this: the lowest failure, the lowest run that observed a
    /// lock, or the end.
    fn stop_at(&self) -> u64 {
        self.lowest_failure
            .load(Ordering::SeqCst)
            .min(self.lowest_observed_run.load(Ordering::SeqCst))
            .min(self.end.load(Ordering::SeqCst))
    }

    fn halt(&self, budget: &Budget) -> bool {
        match budget.halt() {
            Some(halt) => {
                self.halted.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(halt);
                true
            }
            None => false,
        }
    }
}

/// The counts one job contributes to the report.
#[derive(Default)]
struct Counts {
    runs: u64,
    steps: u64,
    redundant: u64,
    daemons_cut_off: u64,
}

impl Counts {
    fn add(&mut self, run: &JobRun) {
        self.runs += 1;
        self.steps += run.steps;
        self.redundant += u64::from(run.redundant);
        self.daemons_cut_off += u64::from(run.cut_off);
    }

    fn merge(&mut self, other: Counts) {
        self.runs += other.runs;
        self.steps += other.steps;
        self.redundant += other.redundant;
        self.daemons_cut_off += other.daemons_cut_off;
    }
}

/// One executed run, kept aside while it may lie past the lowest failure.
struct JobRun {
    run: u64,
    steps: u64,
    redundant: bool,
    cut_off: bool,
}

/// A failing run as its job saw it: enough to trace it again on the calling thread.
struct FoundFailure {
    run: u64,
    kind: FailureKind,
    schedule: Schedule,
    /// A destructor panicked in the run's teardown (see `Executor::tear_down`).
    tainted: bool,
    found_by: Option<&'static str>,
}

/// A job's result: counts of runs certainly counted, the runs that may lie past the lowest
/// failure, its failure, and (DPOR's job) whether everything was covered.
#[derive(Default)]
struct JobTotals {
    confirmed: Counts,
    pending: VecDeque<JobRun>,
    failure: Option<FoundFailure>,
    covered: bool,
}

impl JobTotals {
    /// Adds the runs the lowest failure `lowest` (`u64::MAX`: none) and the end do not exclude.
    fn settle(mut self, lowest: u64, end: u64) -> Counts {
        for r in self.pending.drain(..).filter(|r| r.run <= lowest && r.run < end) {
            self.confirmed.add(&r);
        }
        self.confirmed
    }

    /// Counts the pending runs below `watermark`; drops those at or past `end` (never counted).
    fn confirm_below(&mut self, watermark: u64, end: u64) {
        while self.pending.front().is_some_and(|r| r.run < watermark) {
            let r = self.pending.pop_front().expect("front checked");
            if r.run < end {
                self.confirmed.add(&r);
            }
        }
    }
}

pub(crate) fn explore<F>(config: &Config, program: Arc<F>, progress: &mut dyn FnMut(u64)) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    assert!(applies(config), "racelab invariant: parallel exploration of dependent runs");
    assert!(
        (1..=crate::config::MAX_JOBS).contains(&config.jobs),
        "racelab invariant: jobs validated to 1..={}",
        crate::config::MAX_JOBS
    );
    let lanes = lanes(config);
    let shared = Shared {
        lowest_failure: AtomicU64::new(u64::MAX),
        end: AtomicU64::new(u64::MAX),
        next: lanes.iter().map(|_| AtomicU64::new(0)).collect(),
        executed: AtomicU64::new(0),
        halted: Mutex::new(None),
        lowest_observed: Mutex::new(None),
        lowest_observed_run: AtomicU64::new(u64::MAX),
    };
    let panicked = Mutex::new(None);
    let budget = Budget::start(config.max_time, config.stop.clone());
    let mut per_job = Vec::new();
    // Every job runs on a thread of its own, so that the calling thread, which traces the lowest
    // failure below, is never one a teardown tainted (see `Executor::tear_down`).
    let (tick, ticks) = std::sync::mpsc::channel::<u64>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .iter()
            .enumerate()
            .map(|(job, lane)| {
                let (shared, program, panicked, budget) = (&shared, &program, &panicked, &budget);
                let tick = tick.clone();
                scope.spawn(move || {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_job(config, program, shared, budget, job, lane, &mut || {
                            let _ = tick.send(shared.executed.load(Ordering::Relaxed));
                        })
                    }));
                    match outcome {
                        Ok(totals) => totals,
                        Err(p) => {
                            // Let the other jobs stop soon: the exploration is over.
                            shared.lowest_failure.store(0, Ordering::SeqCst);
                            shared.next[job].store(u64::MAX, Ordering::SeqCst);
                            *panicked.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                            JobTotals::default()
                        }
                    }
                })
            })
            .collect();
        drop(tick);
        for runs in ticks {
            progress(runs);
        }
        per_job.extend(handles.into_iter().map(|h| h.join().unwrap_or_default()));
    });
    if let Some(p) = panicked.into_inner().unwrap_or_else(|e| e.into_inner()) {
        std::panic::resume_unwind(p);
    }
    let end = shared.end.load(Ordering::SeqCst);
    let lowest_failure =
        per_job.iter().filter_map(|j| j.failure.as_ref()).map(|f| f.run).min().unwrap_or(u64::MAX);
    if let Some((run, observed)) = shared.lowest_observed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        if run < lowest_failure && run < end {
            progress(shared.executed.load(Ordering::Relaxed));
            return Outcome::Restart { run, observed };
        }
    }
    let halted = *shared.halted.lock().unwrap_or_else(|e| e.into_inner());
    // A failure at or past the end is one the one-job exploration never reaches.
    let failure =
        per_job.iter_mut().filter_map(|job| job.failure.take()).filter(|f| f.run < end).min_by_key(|f| f.run);
    let lowest = failure.as_ref().map_or(u64::MAX, |f| f.run);
    let covered = per_job.iter().any(|job| job.covered);
    let mut counts = Counts::default();
    for job in per_job {
        counts.merge(job.settle(lowest, end));
    }
    let portfolio = matches!(config.strategy, StrategyConfig::Portfolio { .. });
    let mut report = Report {
        runs: counts.runs,
        steps: counts.steps,
        exhausted: portfolio && covered && failure.is_none() && halted.is_none(),
        out_of_time: halted == Some(Halt::Time),
        interrupted: halted == Some(Halt::Stop),
        runs_with_daemons_cut_off: counts.daemons_cut_off,
        redundant_runs: counts.redundant,
        elapsed_micros: budget.micros(),
        ..crate::explore::empty_report(config, portfolio)
    };
    if let Some(run) = config.trace_run.filter(|&r| in_reach(config, r, lowest)) {
        // The run asked for with `trace_run`, re-run here with tracing on (independent runs only:
        // `applies` keeps the portfolio sequential then).
        let mut executor = Executor::new(config);
        let mut strategy: Option<Box<dyn Strategy>> = Some(config.build_strategy());
        strategy.as_mut().expect("just set").begin_run(run);
        let result = run_once(&mut executor, &mut strategy, run, config, true, &program);
        report.traced = Some(TracedRun {
            run,
            schedule: result.schedule.with_trace_hash(result.trace.hash()),
            trace: result.trace,
            cut_off: result.unfinished,
        });
    }
    if let Some(found) = failure {
        if found.tainted {
            progress(report.runs);
            return Outcome::Tainted { report, kind: found.kind, run: found.run, schedule: found.schedule };
        }
        // Trace and shrink it here as `check` does.
        let mut executor = Executor::new(config);
        let traced = traced_failure(&mut executor, found.kind, found.run, found.schedule, config, &program);
        let failure = if config.shrink { shrink(&mut executor, traced, config, &program) } else { traced };
        report.failure = Some(crate::report::Failure { found_by: found.found_by, ..failure });
    }
    progress(report.runs);
    Outcome::Done(report)
}

/// A POS job waiting for DPOR's job to move on: an OS thread's pause between runs, never inside
/// one (no simulated thread runs on this thread while it waits).
#[allow(clippy::disallowed_methods, reason = "a job's OS thread waits between runs, not a simulated thread")]
fn pause() {
    std::thread::sleep(std::time::Duration::from_micros(50));
}

/// True when run `run` belongs to the shard and the exploration reached it.
fn in_reach(config: &Config, run: u64, lowest: u64) -> bool {
    let (shard, shards) = config.shard_or_whole();
    run % shards == shard && run < config.runs && run <= lowest
}

/// Job `job`: its lane's run indices below the run limit, stopping past the lowest failure found
/// by any job, at the end, or when the budget halts (then the report covers the runs done,
/// whatever the jobs: a time budget or Ctrl-C stops jobs wherever they stand).
fn run_job<F>(
    config: &Config,
    program: &Arc<F>,
    shared: &Shared,
    budget: &Budget,
    job: usize,
    lane: &Lane,
    progress: &mut dyn FnMut(),
) -> JobTotals
where
    F: Fn() + Send + Sync + 'static,
{
    let mine = &shared.next[job];
    let mut executor = Executor::new(config);
    let mut strategy: Option<Box<dyn Strategy>> = Some(lane.strategy(config));
    let mut totals = JobTotals::default();
    let mut k = Some(0u64);
    loop {
        let run = k.and_then(|k| lane.index(k));
        let Some(run) = run.filter(|&r| r < config.runs && r < shared.stop_at()) else {
            if lane.covers() && totals.failure.is_none() {
                // Stopped by the run limit (or another job's failure): would the next run be
                // DPOR's, were there one? That is what the one-job exploration reports.
                totals.covered = run.is_some_and(|next| {
                    next >= config.runs && !strategy.as_mut().expect("strategy present").begin_run(next)
                });
                if let Some(next) = run.filter(|_| totals.covered) {
                    // DPOR covered everything with its last run: the sampled run just before `next`
                    // is not made either.
                    shared.end.fetch_min(next - 1, Ordering::SeqCst);
                }
            }
            mine.store(u64::MAX, Ordering::SeqCst);
            return totals;
        };
        if lane.covers() {
            // Asked while `mine` still holds the previous index, so the end is never set below
            // the watermark: no run another job has counted lies past it.
            if !strategy.as_mut().expect("strategy present").begin_run(run) {
                // DPOR covered everything with its last run; the one-job portfolio stops before
                // the sampled run that would have come next.
                shared.end.fetch_min(run - 1, Ordering::SeqCst);
                totals.covered = true;
                mine.store(u64::MAX, Ordering::SeqCst);
                return totals;
            }
        }
        if shared.halt(budget) {
            mine.store(u64::MAX, Ordering::SeqCst);
            return totals;
        }
        if let Some(leader) = lane.half.filter(|&h| h == Half::Pos).map(|_| &shared.next[0]) {
            // Stay within LEAD of DPOR's job (job 0): runs far ahead of it are likely wasted.
            // DPOR's job may have stopped at a failure or a lock observed below this run: it
            // keeps that index, so check it here, or this job would wait for ever.
            while run > leader.load(Ordering::SeqCst).saturating_add(LEAD) {
                if shared.halt(budget) || run >= shared.stop_at() {
                    mine.store(u64::MAX, Ordering::SeqCst);
                    return totals;
                }
                pause();
            }
        }
        mine.store(run, Ordering::SeqCst);
        if !lane.covers() {
            strategy.as_mut().expect("strategy present").begin_run(run);
        }
        let mut result = run_once(&mut executor, &mut strategy, run, config, false, program);
        let done = shared.executed.fetch_add(1, Ordering::Relaxed) + 1;
        let observed = result.lock_observed.take().filter(|_| restarts_on_observers(config));
        totals.pending.push_back(JobRun {
            run,
            steps: result.steps,
            redundant: matches!(result.end, RunEnd::Redundant),
            // As the one-job exploration counts them: completed runs only.
            cut_off: matches!(result.end, RunEnd::Completed) && !result.unfinished.is_empty(),
        });
        // A tainted executor runs no more runs; its run failed (see `Executor::tear_down`).
        debug_assert!(!executor.tainted() || matches!(result.end, RunEnd::Failed(_)));
        if let Some(observed) = observed.filter(|_| !matches!(result.end, RunEnd::Failed(_))) {
            // As a failure: `mine` keeps `run`, and no job runs past it.
            let mut lowest = shared.lowest_observed.lock().unwrap_or_else(|e| e.into_inner());
            if lowest.as_ref().is_none_or(|(r, _)| run < *r) {
                *lowest = Some((run, observed));
                shared.lowest_observed_run.fetch_min(run, Ordering::SeqCst);
            }
            return totals;
        }
        if let RunEnd::Failed(kind) = result.end {
            // `mine` keeps `run`: no job may count a run past it as certain from now on.
            shared.lowest_failure.fetch_min(run, Ordering::SeqCst);
            totals.failure = Some(FoundFailure {
                run,
                kind,
                schedule: result.schedule,
                tainted: executor.tainted(),
                found_by: strategy.as_ref().and_then(|s| s.run_maker()),
            });
            return totals;
        }
        // Runs below the watermark are not past any failure, found or still to be found.
        let watermark = shared.watermark();
        totals.confirm_below(watermark, shared.end.load(Ordering::SeqCst));
        if done % PROGRESS_EVERY == 0 {
            progress();
        }
        k = k.and_then(|k| k.checked_add(1));
    }
}
