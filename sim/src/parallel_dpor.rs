//! Exhaustive DPOR on several jobs, with the one-job report: the same runs counted in the same
//! order, the same failure, the same verdict.
//!
//! Why it can be exact: in the search tree, the subtree that takes thread `t` at a node depends
//! on nothing but the path to the node and the threads explored there before `t` (with what their
//! steps touched: they make the sleep sets). The subtree's races may ask for backtrack points at
//! the node and above; whether such a request adds a thread depends on what those nodes already
//! hold, but nothing inside the subtree depends on it. So another job can explore the subtree
//! ahead of time, recording those requests instead of applying them (`Dpor::subtree_search`);
//! when the main search reaches the node and would take `t`, it *adopts* the subtree: it applies
//! the requests in their order, counts the subtree's runs as its own, in their order, and moves
//! on, exactly as if it had made those runs itself. The threads explored before `t` are
//! speculated when the subtree is handed out (the main search may still be exploring one of them,
//! whose footprint can still grow); a subtree explored after other ones is adopted only when they
//! match, otherwise the main search explores it itself.
//!
//! The main search runs on the calling thread and hands the shallowest subtree it has left to a
//! waiting job after each run (the main search reaches shallow nodes last, so those jobs have
//! the longest to work); it waits for a subtree a job is still exploring when it gets there. A
//! job stops a subtree at its first failure (the main search stops there when it adopts it) or
//! after the run limit (every later run is past it). Unbounded DPOR only: under a preemption
//! bound a subtree's sleep sets depend on more than the threads explored before it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::config::{Config, StrategyConfig};
use crate::executor::Executor;
use crate::explore::{run_once, shrink, traced_failure, Budget, Halt, Outcome, PROGRESS_EVERY};
use crate::footprint::Footprint;
use crate::ids::ThreadId;
use crate::report::{Failure, FailureKind, Report};
use crate::schedule::Schedule;
use crate::state::RunEnd;
use crate::strategy::{Adopted, Dpor, SplitState, Splits, Strategy, SubtreeSeed, SubtreeSummary};

/// True for an unbounded DPOR search on more than one job.
pub(crate) fn applies(config: &Config) -> bool {
    matches!(config.strategy, StrategyConfig::Dfs { preemption_bound: None, delay_bound: None })
        && config.uses_dpor()
        && config.jobs > 1
        && config.trace_run.is_none()
}

/// A subtree: the identity of the node, and the thread taken there.
type Key = (u64, ThreadId);

/// The threads explored at a node before a subtree, with their steps' footprints.
type Done = Vec<(ThreadId, Footprint)>;

/// One run of a subtree, as the report counts it.
struct RunRecord {
    steps: u64,
    redundant: bool,
    cut_off: bool,
}

/// A failing run as its job saw it: enough to trace it again on the calling thread.
struct FoundFailure {
    /// Its index among the subtree's runs.
    index: usize,
    kind: FailureKind,
    schedule: Schedule,
    /// A destructor panicked in the run's teardown (see `Executor::tear_down`).
    tainted: bool,
}

/// What a job made of a subtree.
struct Explored {
    done: Done,
    /// Set when the subtree was explored to the end.
    summary: Option<SubtreeSummary>,
    runs: Vec<RunRecord>,
    failure: Option<FoundFailure>,
    /// Stopped at the run limit: the main search stops inside this subtree.
    capped: bool,
}

impl Explored {
    /// The main search may stand in for the subtree's runs: complete, or ended by a failure or
    /// the run limit, which end the main search too.
    fn adoptable(&self) -> bool {
        self.summary.is_some() || self.failure.is_some() || self.capped
    }
}

enum Task {
    Queued { done: Done, search: SubtreeSeed },
    Running,
    Finished(Explored),
}

#[derive(Default)]
struct BoardState {
    queue: VecDeque<Key>,
    tasks: BTreeMap<Key, Task>,
    /// Jobs waiting for a subtree.
    idle: usize,
    /// Subtrees the main search adopted since the explore loop last looked, in order.
    adopted: Vec<Explored>,
    /// A job stopped for good (a panic, or its OS thread tainted): nothing it took will finish.
    lost_a_job: bool,
}

/// What the main search and the jobs share.
#[derive(Default)]
struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _guard = self.lock();
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn take_adopted(&self) -> Vec<Explored> {
        std::mem::take(&mut self.lock().adopted)
    }
}

/// The main search's view of the board.
struct MainSide(Arc<Board>);

impl Splits for MainSide {
    fn wants_work(&self) -> bool {
        let state = self.0.lock();
        state.queue.is_empty() && state.idle > 0
    }

    fn state(&self, node: u64, thread: ThreadId) -> SplitState {
        match self.0.lock().tasks.get(&(node, thread)) {
            None => SplitState::Free,
            Some(Task::Finished(e)) => match &e.summary {
                Some(s) => SplitState::Explored(s.footprint.clone()),
                None => SplitState::Busy,
            },
            Some(_) => SplitState::Busy,
        }
    }

    fn submit(&mut self, node: u64, thread: ThreadId, done: Done, search: SubtreeSeed) {
        let mut state = self.0.lock();
        let key = (node, thread);
        let fresh = state.tasks.insert(key, Task::Queued { done, search }).is_none();
        assert!(fresh, "racelab invariant: subtree {key:?} handed out twice");
        state.queue.push_back(key);
        self.0.changed.notify_all();
    }

    fn adopt(&mut self, node: u64, thread: ThreadId, done: &[(ThreadId, Footprint)]) -> Option<Adopted> {
        let key = (node, thread);
        let mut state = self.0.lock();
        loop {
            match state.tasks.remove(&key) {
                None => return None,
                Some(Task::Queued { .. }) => {
                    // Nobody started it: explore it here.
                    state.queue.retain(|k| *k != key);
                    return None;
                }
                Some(Task::Running) => {
                    state.tasks.insert(key, Task::Running);
                    if state.lost_a_job || self.0.stopped() {
                        return None;
                    }
                    state = self.0.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                Some(Task::Finished(explored)) => {
                    if explored.done != done || !explored.adoptable() {
                        // Speculated wrong (or abandoned): explore it here.
                        return None;
                    }
                    let adopted = match &explored.summary {
                        Some(summary) if explored.failure.is_none() && !explored.capped => {
                            Adopted::Explored(summary.clone())
                        }
                        _ => Adopted::Stop,
                    };
                    state.adopted.push(explored);
                    return Some(adopted);
                }
            }
        }
    }
}

pub(crate) fn explore<F>(config: &Config, program: Arc<F>, progress: &mut dyn FnMut(u64)) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    assert!(applies(config), "racelab invariant: a parallel DPOR search of another exploration");
    let board = Arc::new(Board::default());
    let budget = Budget::start(config.max_time, config.stop.clone());
    let panicked = Mutex::new(None);
    let outcome = std::thread::scope(|scope| {
        for _ in 1..config.jobs {
            let (board, program, budget, panicked) = (&board, &program, &budget, &panicked);
            scope.spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    job(config, program, board, budget)
                }));
                if let Err(p) = outcome {
                    *panicked.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                    board.lock().lost_a_job = true;
                    board.stop();
                }
            });
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            main_search(config, &program, &board, &budget, progress)
        }));
        board.stop();
        outcome
    });
    if let Some(p) = panicked.into_inner().unwrap_or_else(|e| e.into_inner()) {
        std::panic::resume_unwind(p);
    }
    outcome.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// A job: explores the subtrees the main search hands out, one at a time, until it stops.
fn job<F>(config: &Config, program: &Arc<F>, board: &Board, budget: &Budget)
where
    F: Fn() + Send + Sync + 'static,
{
    let mut executor = Executor::new(config);
    loop {
        let (key, done, seed) = {
            let mut state = board.lock();
            loop {
                if board.stopped() {
                    return;
                }
                if let Some(key) = state.queue.pop_front() {
                    match state.tasks.insert(key, Task::Running) {
                        Some(Task::Queued { done, search }) => break (key, done, search),
                        _ => panic!("racelab invariant: a queued subtree {key:?} that is not queued"),
                    }
                }
                state.idle += 1;
                state = board.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                state.idle -= 1;
            }
        };
        let outbox = seed.outbox();
        let mut strategy: Option<Box<dyn Strategy>> = Some(Box::new(seed.search()));
        let mut explored = Explored { done, summary: None, runs: Vec::new(), failure: None, capped: false };
        let mut index = 0u64;
        loop {
            if board.stopped() || budget.halt().is_some() {
                break;
            }
            if !strategy.as_mut().expect("strategy present").begin_run(index) {
                explored.summary = outbox.lock().unwrap_or_else(|e| e.into_inner()).take();
                assert!(explored.summary.is_some(), "racelab invariant: a finished subtree left no summary");
                break;
            }
            if index >= config.runs {
                explored.capped = true;
                break;
            }
            let result = run_once(&mut executor, &mut strategy, index, config, false, program);
            explored.runs.push(RunRecord {
                steps: result.steps,
                redundant: matches!(result.end, RunEnd::Redundant),
                cut_off: matches!(result.end, RunEnd::Completed) && !result.unfinished.is_empty(),
            });
            if let RunEnd::Failed(kind) = result.end {
                explored.failure = Some(FoundFailure {
                    index: explored.runs.len() - 1,
                    kind,
                    schedule: result.schedule,
                    tainted: executor.tainted(),
                });
                break;
            }
            index += 1;
        }
        let tainted = executor.tainted();
        let mut state = board.lock();
        state.tasks.insert(key, Task::Finished(explored));
        if tainted {
            // This OS thread runs no more runs (see `Executor::tear_down`).
            state.lost_a_job = true;
        }
        board.changed.notify_all();
        if tainted {
            return;
        }
    }
}

/// How the main search ended: where its loop stopped, with the failure if one was found.
enum Ending {
    Exhausted,
    /// At the run limit; `inside`: within an adopted subtree that has runs left.
    Limit {
        inside: bool,
    },
    Halted(Halt),
    Failed {
        run: u64,
        kind: FailureKind,
        schedule: Schedule,
        tainted: bool,
    },
}

/// The main search on the calling thread: the one-job exploration, adopting subtrees.
fn main_search<F>(
    config: &Config,
    program: &Arc<F>,
    board: &Arc<Board>,
    budget: &Budget,
    progress: &mut dyn FnMut(u64),
) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    let mut executor = Executor::new(config);
    let search = Dpor::new().with_splits(Box::new(MainSide(Arc::clone(board))));
    let mut strategy: Option<Box<dyn Strategy>> = Some(Box::new(search));
    let mut report = Report {
        settings: config.to_string(),
        runs: 0,
        steps: 0,
        exhausted: false,
        exhaustive_search: true,
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
    };
    let mut reported = 0;
    let count = |report: &mut Report, r: &RunRecord| {
        report.runs += 1;
        report.steps += r.steps;
        report.redundant_runs += u64::from(r.redundant);
        report.runs_with_daemons_cut_off += u64::from(r.cut_off);
    };
    let ending = 'search: loop {
        if report.runs >= config.runs {
            break Ending::Limit { inside: false };
        }
        if !strategy.as_mut().expect("strategy present").begin_run(report.runs) {
            break Ending::Exhausted;
        }
        if let Some(halt) = budget.halt() {
            break Ending::Halted(halt);
        }
        let run = report.runs;
        let result = run_once(&mut executor, &mut strategy, run, config, false, program);
        count(
            &mut report,
            &RunRecord {
                steps: result.steps,
                redundant: matches!(result.end, RunEnd::Redundant),
                cut_off: matches!(result.end, RunEnd::Completed) && !result.unfinished.is_empty(),
            },
        );
        if let RunEnd::Failed(kind) = result.end {
            break Ending::Failed { run, kind, schedule: result.schedule, tainted: executor.tainted() };
        }
        // The subtrees adopted after this run, in the order the one-job search makes their runs.
        for explored in board.take_adopted() {
            for (i, r) in explored.runs.iter().enumerate() {
                if report.runs >= config.runs {
                    break 'search Ending::Limit { inside: true };
                }
                let run = report.runs;
                count(&mut report, r);
                if explored.failure.as_ref().is_some_and(|f| f.index == i) {
                    let f = explored.failure.expect("just matched");
                    break 'search Ending::Failed {
                        run,
                        kind: f.kind,
                        schedule: f.schedule,
                        tainted: f.tainted,
                    };
                }
            }
            if explored.capped {
                // Its runs went on past the limit.
                break 'search Ending::Limit { inside: true };
            }
        }
        if report.runs / PROGRESS_EVERY > reported {
            reported = report.runs / PROGRESS_EVERY;
            progress(report.runs);
        }
    };
    board.stop();
    report.elapsed_micros = budget.micros();
    match ending {
        Ending::Exhausted => report.exhausted = true,
        Ending::Halted(Halt::Stop) => report.interrupted = true,
        Ending::Halted(Halt::Time) => report.out_of_time = true,
        Ending::Limit { inside: true } => {}
        Ending::Limit { inside: false } => {
            // Whether the search still had work left, as the one-job exploration asks.
            report.exhausted = !strategy.as_mut().expect("strategy present").begin_run(report.runs);
        }
        Ending::Failed { run, kind, schedule, tainted } => {
            report.distinct_runs = Some(report.runs - report.redundant_runs);
            if tainted {
                progress(report.runs);
                return Outcome::Tainted { report, kind, run, schedule };
            }
            let found = traced_failure(&mut executor, kind, run, schedule, config, program);
            let failure = if config.shrink { shrink(&mut executor, found, config, program) } else { found };
            report.failure = Some(Failure { found_by: None, ..failure });
            progress(report.runs);
            return Outcome::Done(report);
        }
    }
    report.distinct_runs = Some(report.runs - report.redundant_runs);
    progress(report.runs);
    Outcome::Done(report)
}
