//! Parallel and sharded exploration, for strategies whose runs are independent.
//!
//! `random` and `pos` draw run `i` from stream `i` of the seed, so any run can be executed anywhere, in
//! any order. Jobs take the run indices of their shard in turn (job `j` of `n` takes every
//! `n`-th), each on its own OS thread with its own executor and run state (the run state is
//! thread-local); the calling thread only relays progress. A job stops once its next index is above the lowest failing index found so
//! far; the reported failure is the lowest failing index, re-run, traced and shrunk on the
//! calling thread, so the verdict and the failure are the same whatever the number of jobs.
//!
//! The counts are the same too: `runs`, `steps` and the daemon count cover exactly the runs of the
//! shard up to and including the lowest failing index (all of them when nothing fails), although
//! a job may have executed a few runs past it before it learned of the failure. A job keeps the
//! counts of its runs that may lie past the failure aside until every job has moved beyond them
//! (the *watermark*: no failure can be found below the smallest index a job is about to run).
//!
//! Without release points (`ReleasePoints::Auto`), a passing run that observed a lock is treated
//! like a failure: jobs stop past the lowest such index, and when it lies below the lowest
//! failing index the exploration restarts with release points, as a sequential one would.
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
use crate::report::{Report, TracedRun};
use crate::state::RunEnd;
use crate::strategy::Strategy;

/// True when `config` asks for more than one job or a shard and its runs are independent.
pub(crate) fn applies(config: &Config) -> bool {
    independent_runs(config) && (config.jobs > 1 || config.shard.1 > 1)
}

/// True for the strategies whose run `i` depends on nothing but the seed and `i` (`random` and
/// `pos` draw run `i` from stream `i`; PCT's change points depend on the runs before).
pub(crate) fn independent_runs(config: &Config) -> bool {
    matches!(config.strategy, StrategyConfig::Random { .. } | StrategyConfig::Pos { .. })
}

/// What the jobs share while they run.
struct Shared {
    /// The lowest failing run index found so far (`u64::MAX`: none).
    lowest_failure: AtomicU64,
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
}

/// The counts one job contributes to the report.
#[derive(Default)]
struct Counts {
    runs: u64,
    steps: u64,
    daemons_cut_off: u64,
}

impl Counts {
    fn add(&mut self, run: &JobRun) {
        self.runs += 1;
        self.steps += run.steps;
        self.daemons_cut_off += u64::from(run.cut_off);
    }
}

/// One executed run, kept aside while it may lie past the lowest failure.
struct JobRun {
    run: u64,
    steps: u64,
    cut_off: bool,
}

/// A job's result: counts of runs certainly not past the lowest failure, and the runs that may be.
#[derive(Default)]
struct JobTotals {
    confirmed: Counts,
    pending: VecDeque<JobRun>,
}

impl JobTotals {
    /// Adds the runs the lowest failure `lowest` (`u64::MAX`: none) does not exclude.
    fn settle(mut self, lowest: u64) -> Counts {
        for r in self.pending.drain(..).filter(|r| r.run <= lowest) {
            self.confirmed.add(&r);
        }
        self.confirmed
    }
}

/// The `k`-th run index of shard `shard` of `shards`, or `None` past `u64::MAX`.
fn shard_index(shard: u64, shards: u64, k: u64) -> Option<u64> {
    k.checked_mul(shards)?.checked_add(shard)
}

pub(crate) fn explore<F>(config: &Config, program: Arc<F>, progress: &mut dyn FnMut(u64)) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    assert!(independent_runs(config), "racelab invariant: parallel exploration of dependent runs");
    assert!(
        (1..=crate::config::MAX_JOBS).contains(&config.jobs),
        "racelab invariant: jobs validated to 1..={}",
        crate::config::MAX_JOBS
    );
    let jobs = config.jobs as u64;
    let shared = Shared {
        lowest_failure: AtomicU64::new(u64::MAX),
        next: (0..jobs).map(|_| AtomicU64::new(0)).collect(),
        executed: AtomicU64::new(0),
        halted: Mutex::new(None),
        lowest_observed: Mutex::new(None),
        lowest_observed_run: AtomicU64::new(u64::MAX),
    };
    let panicked = Mutex::new(None);
    let budget = Budget::start(config.max_time, config.stop.clone());
    let mut per_job = Vec::new();
    // Every job runs on a thread of its own, so that the calling thread, which re-runs the lowest
    // failure below, is never one a teardown tainted (see `Executor::tear_down`).
    let (tick, ticks) = std::sync::mpsc::channel::<u64>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|job| {
                let (shared, program, panicked, budget) = (&shared, &program, &panicked, &budget);
                let tick = tick.clone();
                scope.spawn(move || {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_job(config, program, shared, budget, job, &mut || {
                            let _ = tick.send(shared.executed.load(Ordering::Relaxed));
                        })
                    }));
                    match outcome {
                        Ok(totals) => totals,
                        Err(p) => {
                            // Let the other jobs stop soon: the exploration is over.
                            shared.lowest_failure.store(0, Ordering::SeqCst);
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
    let lowest = shared.lowest_failure.load(Ordering::SeqCst);
    if let Some((run, observed)) = shared.lowest_observed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        if run < lowest {
            progress(shared.executed.load(Ordering::Relaxed));
            return Outcome::Restart { run, observed };
        }
    }
    let halted = *shared.halted.lock().unwrap_or_else(|e| e.into_inner());
    let mut counts = Counts::default();
    for job in per_job {
        let c = job.settle(lowest);
        counts.runs += c.runs;
        counts.steps += c.steps;
        counts.daemons_cut_off += c.daemons_cut_off;
    }
    let mut report = Report {
        settings: config.to_string(),
        runs: counts.runs,
        steps: counts.steps,
        exhausted: false,
        exhaustive_search: false,
        require_exhaustive: config.require_exhaustive,
        out_of_time: halted == Some(Halt::Time),
        interrupted: halted == Some(Halt::Stop),
        replay_differs: None,
        runs_with_daemons_cut_off: counts.daemons_cut_off,
        redundant_runs: 0,
        distinct_runs: None,
        elapsed_micros: budget.micros(),
        failure: None,
        traced: None,
    };
    let mut executor = Executor::new(config);
    if let Some(run) = config.trace_run.filter(|&r| in_reach(config, r, lowest)) {
        // The run asked for with `trace_run`, re-run here with tracing on.
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
    if lowest != u64::MAX {
        // Re-run the lowest failing index here, then trace and shrink it as `check` does.
        let mut executor = Executor::new(config);
        let mut strategy: Option<Box<dyn Strategy>> = Some(config.build_strategy());
        strategy.as_mut().expect("just set").begin_run(lowest);
        let result = run_once(&mut executor, &mut strategy, lowest, config, false, &program);
        let RunEnd::Failed(kind) = result.end else {
            panic!("racelab invariant: run {lowest} failed on a job but passed when re-run")
        };
        if executor.tainted() {
            progress(report.runs);
            return Outcome::Tainted { report, kind, run: lowest, schedule: result.schedule };
        }
        let found = traced_failure(&mut executor, kind, lowest, result.schedule, config, &program);
        report.failure =
            Some(if config.shrink { shrink(&mut executor, found, config, &program) } else { found });
    }
    progress(report.runs);
    Outcome::Done(report)
}

/// True when run `run` belongs to the shard and the exploration reached it.
fn in_reach(config: &Config, run: u64, lowest: u64) -> bool {
    let (shard, shards) = config.shard;
    run % shards == shard && run < config.runs && run <= lowest
}

/// Job `job`: the shard's run indices `job`, `job + jobs`, ... (counted within the shard) below
/// the run limit, stopping past the lowest failure found by any job, or when the budget halts
/// (then the report covers the runs done, whatever the jobs: a time budget or Ctrl-C stops
/// jobs wherever they stand).
fn run_job<F>(
    config: &Config,
    program: &Arc<F>,
    shared: &Shared,
    budget: &Budget,
    job: u64,
    progress: &mut dyn FnMut(),
) -> JobTotals
where
    F: Fn() + Send + Sync + 'static,
{
    let (shard, shards) = config.shard;
    let jobs = shared.next.len() as u64;
    let mine = &shared.next[job as usize];
    let mut executor = Executor::new(config);
    let mut strategy: Option<Box<dyn Strategy>> = Some(config.build_strategy());
    let mut totals = JobTotals::default();
    let mut k = Some(job);
    loop {
        let run = k.and_then(|k| shard_index(shard, shards, k));
        let stop_at = shared
            .lowest_failure
            .load(Ordering::SeqCst)
            .min(shared.lowest_observed_run.load(Ordering::SeqCst));
        let Some(run) = run.filter(|&r| r < config.runs && r < stop_at) else {
            mine.store(u64::MAX, Ordering::SeqCst);
            return totals;
        };
        if let Some(halt) = budget.halt() {
            shared.halted.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(halt);
            mine.store(u64::MAX, Ordering::SeqCst);
            return totals;
        }
        mine.store(run, Ordering::SeqCst);
        strategy.as_mut().expect("strategy present").begin_run(run);
        let mut result = run_once(&mut executor, &mut strategy, run, config, false, program);
        let done = shared.executed.fetch_add(1, Ordering::Relaxed) + 1;
        let observed = result.lock_observed.take().filter(|_| restarts_on_observers(config));
        totals.pending.push_back(JobRun { run, steps: result.steps, cut_off: !result.unfinished.is_empty() });
        // A tainted executor runs no more runs; its run failed (see `Executor::tear_down`).
        debug_assert!(!executor.tainted() || matches!(result.end, RunEnd::Failed(_)));
        match result.end {
            RunEnd::Completed if observed.is_some() => {
                // As a failure: `mine` keeps `run`, and no job runs past it.
                let mut lowest = shared.lowest_observed.lock().unwrap_or_else(|e| e.into_inner());
                if lowest.as_ref().is_none_or(|(r, _)| run < *r) {
                    *lowest = observed.map(|o| (run, o));
                    shared.lowest_observed_run.fetch_min(run, Ordering::SeqCst);
                }
                return totals;
            }
            RunEnd::Completed => {}
            RunEnd::Redundant => unreachable!("random sampling never drops a run as redundant"),
            RunEnd::Failed(_) => {
                // `mine` keeps `run`: no job may count a run past it as certain from now on.
                shared.lowest_failure.fetch_min(run, Ordering::SeqCst);
                return totals;
            }
        }
        // Runs below the watermark are not past any failure, found or still to be found.
        let watermark = shared.watermark();
        while totals.pending.front().is_some_and(|r| r.run < watermark) {
            let r = totals.pending.pop_front().expect("front checked");
            totals.confirmed.add(&r);
        }
        if done % PROGRESS_EVERY == 0 {
            progress();
        }
        k = k.and_then(|k| k.checked_add(jobs));
    }
}
