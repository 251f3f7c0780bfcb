//! Parallel and sharded exploration, for strategies whose runs are independent.
//!
//! `random` draws run `i` from stream `i` of the seed, so any run can be executed anywhere, in
//! any order. Jobs take the run indices of their shard in turn (job `j` of `n` takes every
//! `n`-th), each on its own OS thread with its own executor and run state (the run state is
//! thread-local); the calling thread only relays progress. A job stops once its next index is above the lowest failing index found so
//! far; the reported failure is the lowest failing index, re-run, traced and shrunk on the
//! calling thread, so the verdict and the failure are the same whatever the number of jobs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{Config, StrategyConfig};
use crate::executor::Executor;
use crate::explore::{run_once, shrink, traced_failure, Outcome, PROGRESS_EVERY};
use crate::report::Report;
use crate::state::RunEnd;
use crate::strategy::{Random, Strategy};

/// True when `config` asks for more than one job or a shard and its runs are independent.
pub(crate) fn applies(config: &Config) -> bool {
    matches!(config.strategy, StrategyConfig::Random { .. }) && (config.jobs > 1 || config.shard.1 > 1)
}

struct Totals {
    runs: AtomicU64,
    steps: AtomicU64,
    daemons_cut_off: AtomicU64,
    lowest_failure: AtomicU64,
}

pub(crate) fn explore<F>(config: &Config, program: Arc<F>, progress: &mut dyn FnMut(u64)) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    let StrategyConfig::Random { seed } = config.strategy else {
        unreachable!("parallel exploration applies to random only")
    };
    let totals = Totals {
        runs: AtomicU64::new(0),
        steps: AtomicU64::new(0),
        daemons_cut_off: AtomicU64::new(0),
        lowest_failure: AtomicU64::new(u64::MAX),
    };
    let panicked = Mutex::new(None);
    let timer = crate::explore::Stopwatch::start();
    let (shard, shards) = config.shard;
    let jobs = config.jobs as u64;
    // Every job runs on a thread of its own, so that the calling thread, which re-runs the lowest
    // failure below, is never one a teardown tainted (see `Executor::tear_down`).
    let (tick, ticks) = std::sync::mpsc::channel::<u64>();
    std::thread::scope(|scope| {
        for job in 0..jobs {
            let (totals, program, panicked, tick) = (&totals, &program, &panicked, tick.clone());
            scope.spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_job(config, seed, program, totals, shard + job * shards, jobs * shards, &mut || {
                        let _ = tick.send(totals.runs.load(Ordering::Relaxed));
                    })
                }));
                if let Err(p) = outcome {
                    *panicked.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                }
            });
        }
        drop(tick);
        for runs in ticks {
            progress(runs);
        }
    });
    if let Some(p) = panicked.into_inner().unwrap_or_else(|e| e.into_inner()) {
        std::panic::resume_unwind(p);
    }
    let mut report = Report {
        settings: config.to_string(),
        runs: totals.runs.load(Ordering::Relaxed),
        steps: totals.steps.load(Ordering::Relaxed),
        exhausted: false,
        runs_with_daemons_cut_off: totals.daemons_cut_off.load(Ordering::Relaxed),
        redundant_runs: 0,
        distinct_runs: None,
        elapsed_micros: 0,
        failure: None,
        traced: None,
    };
    report.elapsed_micros = timer.micros();
    let lowest = totals.lowest_failure.load(Ordering::Relaxed);
    if lowest != u64::MAX {
        // Re-run the lowest failing index here, then trace and shrink it as `check` does.
        let mut executor = Executor::new(config);
        let mut strategy: Option<Box<dyn Strategy>> = Some(Box::new(Random::new(seed)));
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

/// One job: run indices `first`, `first + stride`, ... below the run limit, stopping past the
/// lowest failure found by any job.
fn run_job<F>(
    config: &Config,
    seed: u64,
    program: &Arc<F>,
    totals: &Totals,
    first: u64,
    stride: u64,
    progress: &mut dyn FnMut(),
) where
    F: Fn() + Send + Sync + 'static,
{
    let mut executor = Executor::new(config);
    let mut strategy: Option<Box<dyn Strategy>> = Some(Box::new(Random::new(seed)));
    let mut run = first;
    while run < config.runs && run < totals.lowest_failure.load(Ordering::Relaxed) {
        strategy.as_mut().expect("strategy present").begin_run(run);
        let result = run_once(&mut executor, &mut strategy, run, config, false, program);
        totals.steps.fetch_add(result.steps, Ordering::Relaxed);
        // A tainted executor runs no more runs; its run failed (see `Executor::tear_down`).
        debug_assert!(!executor.tainted() || matches!(result.end, RunEnd::Failed(_)));
        let done = totals.runs.fetch_add(1, Ordering::Relaxed) + 1;
        match result.end {
            RunEnd::Completed => {
                if !result.unfinished.is_empty() {
                    totals.daemons_cut_off.fetch_add(1, Ordering::Relaxed);
                }
            }
            RunEnd::Redundant => unreachable!("random sampling never drops a run as redundant"),
            RunEnd::Failed(_) => {
                totals.lowest_failure.fetch_min(run, Ordering::Relaxed);
                return;
            }
        }
        if done % PROGRESS_EVERY == 0 {
            progress();
        }
        run += stride;
    }
}
