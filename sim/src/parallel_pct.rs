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
//! A job takes [`CHUNK`] indices at a time, runs at most [`LEAD`] indices ahead of the commit, so
//! a failure or a restart wastes little, and stops when the commit is over. `jobs - 1` jobs have
//! an OS thread and an executor each; the commit, on an OS thread of its own (the calling thread
//! only relays progress, and runs a restarted exploration), is the last job: while the run it must
//! commit next is not made yet, it makes the next chunk itself instead of waiting, and it makes
//! the runs made again and traces the failure (on a fresh thread if a run it made ahead tainted
//! its own). A run a job claimed but could not make (a
//! destructor's panic tainted its thread) is made by the commit, on a fresh thread if its own is
//! tainted too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use crate::config::{Config, StrategyConfig};
use crate::executor::Executor;
use crate::explore::{
    restarts_on_observers, run_once, shrink, traced_failure, Budget, Outcome, PROGRESS_EVERY,
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

/// The runs a job claimed, and those it made (fewer when a destructor's panic tainted its
/// thread: the commit makes the rest).
struct Chunk {
    claimed: std::ops::Range<u64>,
    made: Vec<Made>,
}

/// Files a chunk's runs for the commit, and the ones it claimed but never made.
fn take(chunk: Chunk, waiting: &mut BTreeMap<u64, Made>, orphans: &mut BTreeSet<u64>) {
    orphans.extend(chunk.claimed.filter(|r| !chunk.made.iter().any(|m| m.run == *r)));
    waiting.extend(chunk.made.into_iter().map(|m| (m.run, m)));
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
    let (send, made) = mpsc::channel::<Chunk>();
    std::thread::scope(|scope| {
        // The commit makes runs too while it waits (see `commit`): one job fewer here.
        for _ in 1..config.jobs {
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
        // The commit makes runs too, so a destructor's panic can taint its OS thread (see
        // `Executor::tear_down`): it has one of its own, never the calling thread, which an
        // exploration restarted with release points goes on with.
        let (tick, ticks) = mpsc::channel::<u64>();
        let (shared_ref, program_ref, budget_ref) = (&shared, &program, &budget);
        let committer = scope.spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                commit(config, program_ref, shared_ref, &made, budget_ref, &mut |runs| {
                    let _ = tick.send(runs);
                })
            }));
            // Over, however it ended: the jobs stop at their next index (none waits for ever).
            shared_ref.over.store(true, Ordering::SeqCst);
            // Drain what the jobs still send, so none blocks.
            for _ in made.iter() {}
            outcome
        });
        for runs in ticks {
            progress(runs);
        }
        let outcome = committer.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        let outcome = outcome.unwrap_or_else(|p| std::panic::resume_unwind(p));
        if let Some(p) = panicked.lock().unwrap_or_else(|e| e.into_inner()).take() {
            std::panic::resume_unwind(p);
        }
        outcome
    })
}

/// A job: takes the next [`CHUNK`] indices, makes their runs with the longest committed run as
/// `k`, and sends them to the commit; at most [`LEAD`] indices ahead of it.
fn speculate<F>(config: &Config, program: &Arc<F>, shared: &Shared, send: &mpsc::Sender<Chunk>)
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
        let over = || shared.over.load(Ordering::SeqCst);
        let Some(chunk) =
            make_chunk(&mut executor, config, program, first, || shared.longest.load(Ordering::SeqCst), over)
        else {
            return;
        };
        let tainted = executor.tainted();
        if send.send(chunk).is_err() || tainted {
            // The commit is over, or this thread can run nothing more: the commit makes the
            // runs this job would have made itself.
            return;
        }
    }
}

/// Makes the runs of the chunk from `first` (each with `k()`), until one taints the thread;
/// `None` when `over()` says the exploration ended meanwhile.
fn make_chunk<F>(
    executor: &mut Executor,
    config: &Config,
    program: &Arc<F>,
    first: u64,
    k: impl Fn() -> u64,
    over: impl Fn() -> bool,
) -> Option<Chunk>
where
    F: Fn() + Send + Sync + 'static,
{
    let claimed = first..first.saturating_add(CHUNK).min(config.runs);
    let mut made = Vec::with_capacity(claimed.clone().count());
    for run in claimed.clone() {
        if over() {
            return None;
        }
        made.push(make(executor, config, program, run, k()));
        if executor.tainted() {
            break;
        }
    }
    Some(Chunk { claimed, made })
}

/// Runs `f` with `executor`, or, when a destructor's panic tainted this OS thread (a run made
/// ahead here; see `Executor::tear_down`), with a new executor on a fresh thread.
fn on_untainted<R: Send>(
    executor: &mut Executor,
    config: &Config,
    f: impl FnOnce(&mut Executor) -> R + Send,
) -> R {
    if !executor.tainted() {
        return f(executor);
    }
    std::thread::scope(|s| {
        s.spawn(|| f(&mut Executor::new(config))).join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A job waiting for the commit to catch up: an OS thread's pause between runs.
#[allow(clippy::disallowed_methods, reason = "a job's OS thread waits between runs, not a simulated thread")]
fn pause() {
    std::thread::sleep(std::time::Duration::from_micros(50));
}

/// The commit, on a thread of its own: takes the runs in index order, making again here any run
/// made with another `k` than its own (or never made: its job stopped), and builds the one-job
/// report.
fn commit<F>(
    config: &Config,
    program: &Arc<F>,
    shared: &Shared,
    made: &mpsc::Receiver<Chunk>,
    budget: &Budget,
    progress: &mut dyn FnMut(u64),
) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    let mut executor = Executor::new(config);
    let mut report = crate::explore::empty_report(config, false);
    let mut waiting: BTreeMap<u64, Made> = BTreeMap::new();
    // Claimed by a job (or here) and never made: its thread was tainted.
    let mut orphans: BTreeSet<u64> = BTreeSet::new();
    let mut k = 0u64;
    let mut jobs_gone = false;
    for run in 0..config.runs {
        if shared.over.load(Ordering::SeqCst) {
            // A job panicked: `explore` raises its panic; nothing here is reported.
            return Outcome::Done(report);
        }
        if budget.halts(&mut report) {
            break;
        }
        // This run as its job made it, if it came.
        let mut this = loop {
            if let Some(m) = waiting.remove(&run) {
                break Some(m);
            }
            if orphans.remove(&run) {
                break None;
            }
            match made.try_recv() {
                Ok(chunk) => {
                    take(chunk, &mut waiting, &mut orphans);
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => jobs_gone = true,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            if jobs_gone {
                break None;
            }
            // Not made yet: make the next chunk here rather than wait, while this thread can.
            if !executor.tainted()
                && shared.next.load(Ordering::SeqCst) < config.runs.min(run.saturating_add(LEAD))
            {
                let first = shared.next.fetch_add(CHUNK, Ordering::SeqCst);
                let chunk = make_chunk(&mut executor, config, program, first, || k, || false)
                    .expect("racelab invariant: the commit's chunk is never abandoned");
                take(chunk, &mut waiting, &mut orphans);
                continue;
            }
            match made.recv() {
                Ok(chunk) => take(chunk, &mut waiting, &mut orphans),
                Err(_) => jobs_gone = true,
            }
        };
        if this.as_ref().is_none_or(|m| m.k != k) {
            this =
                Some(on_untainted(&mut executor, config, |executor| make(executor, config, program, run, k)));
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
            progress(report.runs);
            if m.tainted {
                // Its own teardown panicked: tracing it would taint the thread that traces it,
                // so `explore` traces it on a fresh one (and does not shrink it, as on one job).
                return Outcome::Tainted { report, kind, run, schedule: m.schedule };
            }
            let trace_and_shrink = |executor: &mut Executor| {
                let traced = traced_failure(executor, kind, run, m.schedule, config, program);
                if config.shrink {
                    shrink(executor, traced, config, program)
                } else {
                    traced
                }
            };
            report.failure = Some(on_untainted(&mut executor, config, trace_and_shrink));
            return Outcome::Done(report);
        }
    }
    report.elapsed_micros = budget.micros();
    progress(report.runs);
    Outcome::Done(report)
}
