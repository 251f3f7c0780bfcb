//! PCT on several jobs, with the one-job report: the same runs, the same failure, the same counts.
//!
//! Why it needs a module of its own: PCT's run `i` is not independent of the runs before it, as
//! a `random` or `pos` run is. It draws its change points over `k`, the longest run seen so far
//! (see [`Pct`](crate::strategy::Pct)), so run `i` is a function of the seed, `i` and `k_i`, the
//! longest of runs `0..i`, and of nothing else. `k` stops growing after a few runs on most
//! programs, so the jobs *speculate*: a job takes the next index and runs it with the `k` known
//! when it starts (the longest committed run). The calling thread commits the runs in index
//! order, as one job would have made them; a run made with another `k` than the one its index
//! has is made again there, with the right one, before it is committed. The committed runs are
//! then exactly the one-job exploration's, and so are the failure (the lowest failing index,
//! traced and shrunk here), the counts and a restart with release points (at the lowest passing
//! run that observed a lock). An exploration asked to trace a run (`trace_run`) stays on one job.
//!
//! A job runs at most [`LEAD`] indices ahead of the commit, so a failure or a restart wastes
//! little, and stops when the commit is over. Each job has its own executor on an OS thread of
//! its own; the calling thread has one too, for the runs made again, the traced run and the
//! failure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use crate::config::{Config, StrategyConfig};
use crate::executor::Executor;
use crate::explore::{
    restarts_on_observers, run_once, shrink, traced_failure, Budget, Halt, Outcome, PROGRESS_EVERY,
};
use crate::schedule::Schedule;
use crate::state::RunEnd;
use crate::strategy::{Pct, Strategy};

/// How many indices a job may run ahead of the commit.
const LEAD: u64 = 256;

/// Consecutive indices a job takes at a time, and sends together: one message and one wake-up of
/// the commit per chunk, not per run (a run of a small program takes microseconds).
const CHUNK: u64 = 16;

/// True for PCT on more than one job.
pub(crate) fn applies(config: &Config) -> bool {
    matches!(config.strategy, StrategyConfig::Pct { .. }) && config.jobs > 1 && config.trace_run.is_none()
}

/// One run as a job made it, with the `k` it was made with.
struct Made {
    run: u64,
    /// The longest earlier run the job knew of: the run is the one-job run only if that is `k_run`.
    k: u64,
    /// `k` after the run: the longest of the runs up to this one.
    k_after: u64,
    steps: u64,
    end: RunEnd,
    schedule: Schedule,
    daemons_cut_off: bool,
    lock_observed: Option<String>,
    /// A destructor panicked in the run's teardown: the job's thread runs nothing more.
    tainted: bool,
}

/// PCT's strategy for run `run` with the longest earlier run `k`.
fn pct_for(config: &Config, run: u64, k: u64) -> Box<dyn Strategy> {
    let StrategyConfig::Pct { seed, depth } = config.strategy else {
        unreachable!("racelab invariant: a parallel PCT exploration of {:?}", config.strategy)
    };
    let mut pct = Pct::new(seed, depth).with_longest_run(k);
    pct.begin_run(run);
    Box::new(pct)
}

/// Makes run `run` with `k` on `executor`.
fn make<F>(executor: &mut Executor, config: &Config, program: &Arc<F>, run: u64, k: u64) -> Made
where
    F: Fn() + Send + Sync + 'static,
{
    let mut strategy = Some(pct_for(config, run, k));
    let mut result = run_once(executor, &mut strategy, run, config, false, program);
    let k_after = strategy
        .as_ref()
        .and_then(|s| s.longest_run())
        .expect("racelab invariant: PCT knows its longest run");
    Made {
        run,
        k,
        k_after,
        steps: result.steps,
        daemons_cut_off: matches!(result.end, RunEnd::Completed) && !result.unfinished.is_empty(),
        end: result.end,
        schedule: result.schedule,
        lock_observed: result.lock_observed.take().filter(|_| restarts_on_observers(config)),
        tainted: executor.tainted(),
    }
}

/// What the jobs and the commit share.
struct Shared {
    /// The next index a job takes.
    next: AtomicU64,
    /// Indices below this are committed; `k` for the next one is `longest`.
    committed: AtomicU64,
    longest: AtomicU64,
    /// The commit is over: jobs stop.
    over: AtomicBool,
}

pub(crate) fn explore<F>(config: &Config, program: Arc<F>, progress: &mut dyn FnMut(u64)) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    assert!(applies(config), "racelab invariant: parallel PCT of {:?}", config.strategy);
    let shared = Shared {
        next: AtomicU64::new(0),
        committed: AtomicU64::new(0),
        longest: AtomicU64::new(0),
        over: AtomicBool::new(false),
    };
    let budget = Budget::start(config.max_time, config.stop.clone());
    let panicked = Mutex::new(None);
    let (send, made) = mpsc::channel::<Vec<Made>>();
    std::thread::scope(|scope| {
        for _ in 0..config.jobs {
            let (shared, program, panicked, send) = (&shared, &program, &panicked, send.clone());
            scope.spawn(move || {
                let job = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    speculate(config, program, shared, &send)
                }));
                if let Err(p) = job {
                    *panicked.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                    shared.over.store(true, Ordering::SeqCst);
                }
            });
        }
        drop(send);
        let outcome = commit(config, &program, &shared, &made, &budget, progress);
        shared.over.store(true, Ordering::SeqCst);
        // Drain what the jobs still send, so none blocks; they stop at their next index.
        for _ in made.iter() {}
        if let Some(p) = panicked.lock().unwrap_or_else(|e| e.into_inner()).take() {
            std::panic::resume_unwind(p);
        }
        outcome
    })
}

/// A job: takes the next [`CHUNK`] indices, makes their runs with the longest committed run as
/// `k`, and sends them to the commit; at most [`LEAD`] indices ahead of it.
fn speculate<F>(config: &Config, program: &Arc<F>, shared: &Shared, send: &mpsc::Sender<Vec<Made>>)
where
    F: Fn() + Send + Sync + 'static,
{
    let mut executor = Executor::new(config);
    loop {
        if shared.over.load(Ordering::SeqCst) {
            return;
        }
        let first = shared.next.fetch_add(CHUNK, Ordering::SeqCst);
        if first >= config.runs {
            return;
        }
        while first >= shared.committed.load(Ordering::SeqCst).saturating_add(LEAD) {
            if shared.over.load(Ordering::SeqCst) {
                return;
            }
            pause();
        }
        let mut chunk = Vec::with_capacity(CHUNK as usize);
        let mut tainted = false;
        for run in first..first.saturating_add(CHUNK).min(config.runs) {
            if shared.over.load(Ordering::SeqCst) {
                return;
            }
            let made = make(&mut executor, config, program, run, shared.longest.load(Ordering::SeqCst));
            tainted = made.tainted;
            chunk.push(made);
            if tainted {
                break;
            }
        }
        if send.send(chunk).is_err() || tainted {
            // The commit is over, or this thread can run nothing more: the commit makes the
            // runs this job would have made itself.
            return;
        }
    }
}

/// A job waiting for the commit to catch up: an OS thread's pause between runs.
#[allow(clippy::disallowed_methods, reason = "a job's OS thread waits between runs, not a simulated thread")]
fn pause() {
    std::thread::sleep(std::time::Duration::from_micros(50));
}

/// The calling thread: commits the runs in index order, making again here any run made with
/// another `k` than its own (or never made: its job stopped), and builds the one-job report.
fn commit<F>(
    config: &Config,
    program: &Arc<F>,
    shared: &Shared,
    made: &mpsc::Receiver<Vec<Made>>,
    budget: &Budget,
    progress: &mut dyn FnMut(u64),
) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    let mut executor = Executor::new(config);
    let mut report = crate::explore::empty_report(config, false);
    let mut waiting: BTreeMap<u64, Made> = BTreeMap::new();
    let mut k = 0u64;
    let mut jobs_gone = false;
    for run in 0..config.runs {
        match budget.halt() {
            Some(Halt::Stop) => report.interrupted = true,
            Some(Halt::Time) => report.out_of_time = true,
            None => {}
        }
        if report.interrupted || report.out_of_time {
            break;
        }
        // This run as its job made it, if it came.
        let mut this = loop {
            if let Some(m) = waiting.remove(&run) {
                break Some(m);
            }
            if jobs_gone {
                break None;
            }
            match made.recv() {
                Ok(chunk) => waiting.extend(chunk.into_iter().map(|m| (m.run, m))),
                Err(_) => jobs_gone = true,
            }
        };
        if this.as_ref().is_none_or(|m| m.k != k) {
            this = Some(make(&mut executor, config, program, run, k));
        }
        let m = this.expect("racelab invariant: the run to commit was made");
        assert_eq!((m.run, m.k), (run, k), "racelab invariant: a run committed with another k");
        if let Some(observed) = m.lock_observed.clone().filter(|_| !matches!(m.end, RunEnd::Failed(_))) {
            progress(report.runs);
            return Outcome::Restart { run, observed };
        }
        report.runs += 1;
        report.steps += m.steps;
        report.runs_with_daemons_cut_off += u64::from(m.daemons_cut_off);
        k = m.k_after;
        shared.longest.store(k, Ordering::SeqCst);
        shared.committed.store(run + 1, Ordering::SeqCst);
        if report.runs % PROGRESS_EVERY == 0 {
            progress(report.runs);
        }
        if let RunEnd::Failed(kind) = m.end {
            report.elapsed_micros = budget.micros();
            shared.over.store(true, Ordering::SeqCst);
            let tainted = m.tainted || executor.tainted();
            progress(report.runs);
            if tainted {
                // Tracing it would taint this thread too: `explore` traces it on a fresh one.
                return Outcome::Tainted { report, kind, run, schedule: m.schedule };
            }
            let traced = traced_failure(&mut executor, kind, run, m.schedule, config, program);
            let failure = if config.shrink { shrink(&mut executor, traced, config, program) } else { traced };
            report.failure = Some(failure);
            return Outcome::Done(report);
        }
    }
    report.elapsed_micros = budget.micros();
    progress(report.runs);
    Outcome::Done(report)
}
