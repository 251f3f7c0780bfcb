//! Exhaustive DPOR on several jobs, with the one-job report: the same runs counted in the same
//! order, the same failure, the same verdict.
//!
//! Why it can be exact: in the search tree, the subtree that takes thread `t` at a node depends
//! on nothing but the path to the node and the threads explored there before `t` (with what their
//! steps touched: they make the sleep sets). The subtree's races may ask for backtrack points at
//! the node and above; whether such a request adds a thread depends on what those nodes already
//! hold, but nothing inside the subtree depends on it. So another job can explore the subtree
//! ahead of time, recording those requests instead of applying them (`Dpor::subtree_search`);
//! when the search that owns the node reaches it and would take `t`, it *adopts* the subtree: it
//! applies the requests in their order, counts the subtree's runs as its own, in their order,
//! and moves on, exactly as if it had made those runs itself. The threads explored before `t`
//! are speculated when the subtree is handed out (the search may still be exploring one of them,
//! whose footprint can still grow); a subtree is adopted only when they match, otherwise the
//! owner explores it itself.
//!
//! Every search, the main one and the subtree searches alike, hands the shallowest subtree it
//! has left below its own root to the queue when the queue is empty, and adopts what it handed
//! out. At most `jobs` searches run at a time (*permits*): a search that reaches a subtree still
//! being explored lends its permit while it waits, so a queued subtree (often a piece of the one
//! it waits for) runs meanwhile; the job threads are twice the permits so that waiting searches
//! do not leave permits unused. A subtree search stops at its first failure (its owner stops
//! there when it adopts it) or after the run limit (every later run is past it). Unbounded DPOR
//! only: under a preemption bound a subtree's sleep sets depend on more than the threads explored
//! before it.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::config::{Config, StrategyConfig};
use crate::executor::Executor;
use crate::explore::{
    restarts_on_observers, run_once, shrink, traced_failure, Budget, Halt, Outcome, PROGRESS_EVERY,
};
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

/// Node identities each subtree search numbers its nodes in (see `SubtreeSeed::with_node_ids_from`).
const NODE_IDS_PER_SEARCH: u64 = 1 << 40;

/// One run, as the report counts it.
struct RunRecord {
    steps: u64,
    redundant: bool,
    cut_off: bool,
}

impl RunRecord {
    fn of(result: &crate::explore::RunResult) -> Self {
        RunRecord {
            steps: result.steps,
            redundant: matches!(result.end, RunEnd::Redundant),
            // As the one-job exploration counts them: completed runs only.
            cut_off: matches!(result.end, RunEnd::Completed) && !result.unfinished.is_empty(),
        }
    }
}

/// A failing run as its search saw it: enough to trace it again on the calling thread.
struct FoundFailure {
    /// Its index among the search's runs.
    index: u64,
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
    /// Stopped at the run limit: the owner stops inside this subtree.
    capped: bool,
    /// Without release points: the passing run that observed a lock (its index: right after
    /// `runs`, which do not count it), and what observed it; the exploration restarts there
    /// (see `ReleasePoints`).
    observed: Option<(u64, String)>,
}

impl Explored {
    /// The owner may stand in for the subtree's runs: complete, or ended by a failure or the
    /// run limit, which end the owner too (an abandoned subtree is none of these).
    fn adoptable(&self) -> bool {
        self.summary.is_some() || self.failure.is_some() || self.capped || self.observed.is_some()
    }
}

enum Task {
    Queued { done: Done, seed: SubtreeSeed },
    Running,
    Finished(Explored),
}

struct BoardState {
    queue: VecDeque<Key>,
    tasks: BTreeMap<Key, Task>,
    /// Searches that may run now besides those running.
    permits: usize,
    /// Searches waiting to take a permit back after a wait: they go before new subtrees.
    reclaiming: usize,
    /// Node-identity ranges handed out so far.
    ranges: u64,
    /// A job stopped for good (a panic, or its OS thread tainted): what it took may never finish.
    lost_a_job: bool,
}

/// What the searches share.
struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Board {
    fn new(jobs: usize) -> Self {
        let state = BoardState {
            queue: VecDeque::new(),
            tasks: BTreeMap::new(),
            // The main search holds one.
            permits: jobs - 1,
            reclaiming: 0,
            ranges: 0,
            lost_a_job: false,
        };
        Board { state: Mutex::new(state), changed: Condvar::new(), stop: AtomicBool::new(false) }
    }

    fn lock(&self) -> MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, state: MutexGuard<'a, BoardState>) -> MutexGuard<'a, BoardState> {
        self.changed.wait(state).unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _guard = self.lock();
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A search's side of the board: hand-outs, and the subtrees it adopted since its run loop last
/// looked, in order.
struct SearchSide {
    board: Arc<Board>,
    adopted: Rc<RefCell<Vec<Explored>>>,
}

impl Splits for SearchSide {
    fn wants_work(&self) -> bool {
        self.board.lock().queue.is_empty() && !self.board.stopped()
    }

    fn state(&self, node: u64, thread: ThreadId) -> SplitState {
        match self.board.lock().tasks.get(&(node, thread)) {
            None => SplitState::Free,
            Some(Task::Finished(e)) => match &e.summary {
                Some(s) => SplitState::Explored(s.footprint.clone()),
                None => SplitState::Busy,
            },
            Some(_) => SplitState::Busy,
        }
    }

    fn submit(&mut self, node: u64, thread: ThreadId, done: Done, seed: SubtreeSeed) {
        let mut state = self.board.lock();
        state.ranges += 1;
        let seed = seed.with_node_ids_from(state.ranges * NODE_IDS_PER_SEARCH);
        let key = (node, thread);
        let fresh = state.tasks.insert(key, Task::Queued { done, seed }).is_none();
        assert!(fresh, "racelab invariant: subtree {key:?} handed out twice");
        state.queue.push_back(key);
        self.board.changed.notify_all();
    }

    fn adopt(&mut self, node: u64, thread: ThreadId, done: &[(ThreadId, Footprint)]) -> Option<Adopted> {
        let key = (node, thread);
        let board = &self.board;
        let mut state = board.lock();
        let mut lent = false;
        let outcome = loop {
            match state.tasks.remove(&key) {
                None => break None,
                Some(Task::Queued { .. }) => {
                    // Nobody started it: explore it here.
                    state.queue.retain(|k| *k != key);
                    break None;
                }
                Some(Task::Running) => {
                    state.tasks.insert(key, Task::Running);
                    if state.lost_a_job || board.stopped() {
                        break None;
                    }
                    if !lent {
                        // Lend this search's permit while it waits.
                        lent = true;
                        state.permits += 1;
                        board.changed.notify_all();
                    }
                    state = board.wait(state);
                }
                Some(Task::Finished(explored)) => {
                    if explored.done != done || !explored.adoptable() {
                        // Speculated wrong (or abandoned): explore it here.
                        break None;
                    }
                    let adopted = match &explored.summary {
                        Some(summary)
                            if explored.failure.is_none()
                                && !explored.capped
                                && explored.observed.is_none() =>
                        {
                            Adopted::Explored(summary.clone())
                        }
                        _ => Adopted::Stop,
                    };
                    self.adopted.borrow_mut().push(explored);
                    break Some(adopted);
                }
            }
        };
        if lent {
            // Take a permit back before running again, ahead of new subtrees.
            state.reclaiming += 1;
            while state.permits == 0 && !board.stopped() {
                state = board.wait(state);
            }
            state.reclaiming -= 1;
            state.permits = state.permits.saturating_sub(1);
        }
        outcome
    }
}

pub(crate) fn explore<F>(config: &Config, program: Arc<F>, progress: &mut dyn FnMut(u64)) -> Outcome
where
    F: Fn() + Send + Sync + 'static,
{
    assert!(applies(config), "racelab invariant: a parallel DPOR search of another exploration");
    let board = Arc::new(Board::new(config.jobs));
    let budget = Budget::start(config.max_time, config.stop.clone());
    let panicked = Mutex::new(None);
    let outcome = std::thread::scope(|scope| {
        for _ in 0..2 * config.jobs - 1 {
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

/// Where a search's runs go: the main search's report, or a subtree's list.
trait Sink {
    /// Runs so far: the next run's index.
    fn runs(&self) -> u64;
    fn record(&mut self, run: RunRecord);
}

impl Sink for Report {
    fn runs(&self) -> u64 {
        self.runs
    }

    fn record(&mut self, run: RunRecord) {
        crate::report::GrowingRuns::track(self, self.runs, run.steps);
        self.runs += 1;
        self.steps += run.steps;
        self.redundant_runs += u64::from(run.redundant);
        self.runs_with_daemons_cut_off += u64::from(run.cut_off);
    }
}

impl Sink for Vec<RunRecord> {
    fn runs(&self) -> u64 {
        self.len() as u64
    }

    fn record(&mut self, run: RunRecord) {
        self.push(run);
    }
}

/// How a search ended.
enum Ending {
    Exhausted,
    /// At the run limit; `inside`: within an adopted subtree that has runs left.
    Limit {
        inside: bool,
    },
    /// The budget or the stop flag (the main search), or the exploration is over (a subtree).
    Halted(Option<Halt>),
    Failed(FoundFailure),
    /// Without release points, passing run `index` observed a lock: the exploration restarts.
    Restart {
        index: u64,
        observed: String,
    },
}

/// Makes `search`'s runs and counts them, with the subtrees it adopts, in order, into `sink`,
/// until it is exhausted, fails, reaches `config.runs` runs or is halted.
#[allow(clippy::too_many_arguments, reason = "one search's loop: the exploration's parts, one each")]
fn run_search<F>(
    config: &Config,
    program: &Arc<F>,
    board: &Board,
    budget: &Budget,
    executor: &mut Executor,
    strategy: &mut Option<Box<dyn Strategy>>,
    adopted: &RefCell<Vec<Explored>>,
    sink: &mut dyn Sink,
    main: bool,
    progress: &mut dyn FnMut(u64),
) -> Ending
where
    F: Fn() + Send + Sync + 'static,
{
    let mut reported = 0;
    loop {
        if !main && board.stopped() {
            return Ending::Halted(None);
        }
        if sink.runs() >= config.runs {
            return Ending::Limit { inside: false };
        }
        let index = sink.runs();
        if !strategy.as_mut().expect("strategy present").begin_run(index) {
            return Ending::Exhausted;
        }
        if let Some(halt) = budget.halt() {
            return Ending::Halted(Some(halt));
        }
        let mut result = run_once(executor, strategy, index, config, false, program);
        let observed = result.lock_observed.take().filter(|_| restarts_on_observers(config));
        if let Some(observed) = observed.filter(|_| !matches!(result.end, RunEnd::Failed(_))) {
            // As the one-job exploration: not counted, the exploration starts again.
            return Ending::Restart { index, observed };
        }
        sink.record(RunRecord::of(&result));
        if let RunEnd::Failed(kind) = result.end {
            let tainted = executor.tainted();
            return Ending::Failed(FoundFailure { index, kind, schedule: result.schedule, tainted });
        }
        // The subtrees adopted after this run, in the order the one-job search makes their runs.
        let taken = std::mem::take(&mut *adopted.borrow_mut());
        for explored in taken {
            let mut failure = explored.failure;
            for (i, run) in explored.runs.into_iter().enumerate() {
                if sink.runs() >= config.runs {
                    return Ending::Limit { inside: true };
                }
                let index = sink.runs();
                sink.record(run);
                if let Some(f) = failure.take_if(|f| f.index == i as u64) {
                    return Ending::Failed(FoundFailure { index, ..f });
                }
            }
            if let Some((_, observed)) = explored.observed {
                // The observing run (not counted) comes right after the subtree's counted runs.
                return Ending::Restart { index: sink.runs(), observed };
            }
            if explored.capped {
                // Its runs went on past the limit.
                return Ending::Limit { inside: true };
            }
        }
        if main && sink.runs() / PROGRESS_EVERY > reported {
            reported = sink.runs() / PROGRESS_EVERY;
            progress(sink.runs());
        }
    }
}

/// A job: explores the subtrees on the queue, one at a time while it holds a permit, until the
/// exploration is over.
fn job<F>(config: &Config, program: &Arc<F>, board: &Arc<Board>, budget: &Budget)
where
    F: Fn() + Send + Sync + 'static,
{
    let mut executor: Option<Executor> = None;
    loop {
        let (key, done, seed) = {
            let mut state = board.lock();
            loop {
                if board.stopped() {
                    return;
                }
                if !state.queue.is_empty() && state.permits > 0 && state.reclaiming == 0 {
                    let key = state.queue.pop_front().expect("checked non-empty");
                    state.permits -= 1;
                    match state.tasks.insert(key, Task::Running) {
                        Some(Task::Queued { done, seed }) => break (key, done, seed),
                        _ => panic!("racelab invariant: a queued subtree {key:?} that is not queued"),
                    }
                }
                state = board.wait(state);
            }
        };
        let executor = executor.get_or_insert_with(|| Executor::new(config));
        let outbox = seed.outbox();
        let adopted = Rc::new(RefCell::new(Vec::new()));
        let side = SearchSide { board: Arc::clone(board), adopted: Rc::clone(&adopted) };
        let mut strategy: Option<Box<dyn Strategy>> =
            Some(Box::new(seed.search().with_splits(Box::new(side))));
        let mut runs: Vec<RunRecord> = Vec::new();
        let ending = run_search(
            config,
            program,
            board,
            budget,
            executor,
            &mut strategy,
            &adopted,
            &mut runs,
            false,
            &mut |_| {},
        );
        let mut explored =
            Explored { done, summary: None, runs, failure: None, capped: false, observed: None };
        match ending {
            Ending::Exhausted => {
                explored.summary = outbox.lock().unwrap_or_else(|e| e.into_inner()).take();
                assert!(explored.summary.is_some(), "racelab invariant: a finished subtree left no summary");
            }
            Ending::Limit { .. } => explored.capped = true,
            Ending::Failed(f) => explored.failure = Some(f),
            Ending::Restart { index, observed } => explored.observed = Some((index, observed)),
            Ending::Halted(_) => {}
        }
        let tainted = executor.tainted();
        let mut state = board.lock();
        state.tasks.insert(key, Task::Finished(explored));
        state.permits += 1;
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
    let adopted = Rc::new(RefCell::new(Vec::new()));
    let side = SearchSide { board: Arc::clone(board), adopted: Rc::clone(&adopted) };
    let mut strategy: Option<Box<dyn Strategy>> = Some(Box::new(Dpor::new().with_splits(Box::new(side))));
    let mut report = crate::explore::empty_report(config, true);
    let ending = run_search(
        config,
        program,
        board,
        budget,
        &mut executor,
        &mut strategy,
        &adopted,
        &mut report,
        true,
        progress,
    );
    board.stop();
    report.elapsed_micros = budget.micros();
    report.distinct_runs = Some(report.runs - report.redundant_runs);
    match ending {
        Ending::Exhausted => report.exhausted = true,
        Ending::Halted(Some(Halt::Stop)) => report.interrupted = true,
        Ending::Halted(Some(Halt::Time)) => report.out_of_time = true,
        Ending::Halted(None) => unreachable!("the main search halts only by the budget"),
        Ending::Limit { inside: true } => {}
        Ending::Limit { inside: false } => {
            // Whether the search still had work left, as the one-job exploration asks.
            report.exhausted = !strategy.as_mut().expect("strategy present").begin_run(report.runs);
        }
        Ending::Restart { index, observed } => {
            progress(report.runs);
            return Outcome::Restart { run: index, observed };
        }
        Ending::Failed(f) => {
            let run = f.index;
            if f.tainted {
                progress(report.runs);
                report.growing_runs = None;
                return Outcome::Tainted { report, kind: f.kind, run, schedule: f.schedule };
            }
            let found = traced_failure(&mut executor, f.kind, run, f.schedule, config, program);
            let failure = if config.shrink { shrink(&mut executor, found, config, program) } else { found };
            report.failure = Some(Failure { found_by: None, ..failure });
        }
    }
    crate::report::GrowingRuns::settle(&mut report);
    progress(report.runs);
    Outcome::Done(report)
}
