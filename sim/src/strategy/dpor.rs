//! The `dfs` strategy with dynamic partial-order reduction: an exhaustive search that explores
//! one run per class of equivalent runs instead of every interleaving.
//!
//! Two runs are equivalent when one becomes the other by swapping adjacent independent steps
//! (see [`crate::footprint`] for what makes steps dependent): they end in the same state and
//! pass or fail together. This is source-DPOR with sleep sets, Algorithm 1 of Abdulla, Aronis,
//! Jonsson and Sagonas, "Optimal Dynamic Partial Order Reduction", POPL 2014:
//!
//! - After each run, [`races`](super::races) finds the pairs of dependent steps that nothing
//!   else orders. For a race `(e, e')`, the search must also explore a run where `e'` (or what
//!   leads to it) goes first at the node before `e`: unless one of the race's *initials* is
//!   already scheduled or explored there, one is added to that node's backtrack set (a source
//!   set, not a persistent set: far fewer additions).
//! - Every node keeps a sleep set: threads whose next step was explored at an ancestor and
//!   commutes with everything taken since. They are not run again; a run where only sleeping
//!   threads could go on is redundant and is dropped (the report counts these).
//!
//! Where this differs from the paper:
//!
//! - Steps carry data choices (which waiter wakes, timeout or wake-up first, a spurious
//!   wake-up, a scenario's random value). Those are nodes of the search tree too, and every
//!   option of each is explored, which is sound and costs nothing when there is no choice.
//!   A thread's footprint in a sleep set is the union over the options its step explored.
//! - A thread's step is everything from one scheduling point to the next, so a step's footprint
//!   is known only after it ran: races are computed on finished runs, as implementations of the
//!   paper do.
//! - Blocking: a thread that finds a lock taken has taken a step that read the lock, so it races
//!   with the step that took it; its wake-up orders the waker before its next step. A jump of
//!   the virtual clock happens only when nothing can run, so it orders everything before it
//!   before everything after it.
//! - Threads cut off at the end of a run (daemons when the program ends, terminated process
//!   workers) get a pending step that reads their own end and every non-daemon thread's end:
//!   it races with the step that ended the program or terminated them, so the search also
//!   explores those threads going further.
//! - Not implemented: wakeup trees (the paper's optimal algorithm), so some runs are still
//!   redundant; they are dropped as soon as they are sleep-set blocked.
//!
//! - A preemption bound can apply, as loom applies one: options that would take a run past the
//!   bound are not explored. Bounding and reduction interact (Coons, Musuvathi, McKinley,
//!   "Bounded Partial-Order Reduction", OOPSLA 2013): equivalent runs can differ in how many
//!   preemptions they take, so the representative the reduction keeps may be beyond the bound
//!   while another member of its class is within it. Five things keep the bounded search
//!   complete against the plain bounded search (same outcomes, measured by the differential
//!   fuzzer under bounds 1 and 2, and 0 to 2 on programs that yield, see `tests/dpor.rs`):
//!   - every initial of a race's reversal is scheduled, not one: the runs that start with
//!     different initials are equivalent but may take different numbers of preemptions
//!     ([`Dpor::race_backtrack_within_bound`]);
//!   - a reversal that would cost a preemption is also tried where the running thread was
//!     switched to, the latest earlier node where taking the other thread costs nothing more
//!     (their conservative backtracking);
//!   - bound-aware sleep sets: a thread explored at a node sleeps in a later sibling's branch
//!     only when moving its step back to the front costs no extra preemption
//!     ([`ThreadNode::covers_within_bound`]); otherwise the run it would skip may be within the
//!     bound while its equivalent in the explored branch is not;
//!   - the engine never counts the first choice after a clock jump as a preemption (every
//!     thread had blocked), so the order of independent steps before a jump cannot change
//!     what the bound allows after it;
//!   - a yield makes switching free and keeping the yielder going the preemption
//!     ([`super::preempts`]), so where a yield falls among other threads' steps changes what
//!     the bound allows (a free switch at the yield to a thread that then blocks lets the
//!     yielder go on for free): the step that ends in a yield writes
//!     [`footprint::YIELDS`], which every step reads, so yields race with every other
//!     thread's steps and the search tries each place for them; and every awake thread is
//!     explored at a node after a yield, since no race asks for the thread the free switch
//!     should go to (an outside review's fuzzer found 65 misses in 54,623 program/bound pairs
//!     before this rule and the engine's fix for a spawned thread's yield at its first point).
//!
//!   Delay bounds use the plain search.
//!
//! - On several jobs (`crate::parallel_dpor`), a subtree can be explored by another job ahead of
//!   this search ([`Dpor::subtree_search`]) and adopted when the search reaches it: the subtree
//!   depends only on the path to its root and the threads explored there before it, and the
//!   backtrack points it asks for at its root and above are recorded as requests
//!   ([`PrefixBacktrack`]) and applied in order on adoption, so the search makes the same runs in
//!   the same order as on one job.
//!
//! - Split into shards ([`Dpor::sharded`]), for processes that cannot talk to each other: the
//!   search is cut at a fixed *branching depth* (thread nodes with more than one runnable
//!   thread), and each node there roots a subtree, numbered in the search's order; a shard
//!   explores the subtrees whose number is its own modulo the shard count, and cuts the run
//!   short at the others (uncounted). A subtree's backtrack points at its root and above are the
//!   one thing that ties it to the rest, so above the cut every awake thread is explored: a
//!   request there finds its thread scheduled already and changes nothing, and every subtree
//!   is explored the same way whichever shard explores it. Sleep sets still apply above the
//!   cut, so the runs not cut short as redundant stay about the unsharded search's (exactly,
//!   on every catalog variant; clock jumps, threads cut off and data choices can make a few
//!   more or fewer), and the runs that end sleep-set blocked are more. The cut depth is the
//!   first at which the search has [`SHARD_SUBTREES`] subtrees, found by probing ever deeper
//!   (the probe runs are uncounted): it depends on the program only, not on the shard count,
//!   so every split makes the same runs.

use super::races::{Analysis, Initials, Step};
use super::runnable_log::RunnableLog;
use super::{Divergence, Offer, Strategy};
use crate::footprint::{self, Access, Footprint, StepFootprint};
use crate::ids::ThreadId;
use crate::schedule::{Choice, ChoiceKind};

#[derive(Clone, Debug)]
struct ThreadNode {
    /// The node's identity in the search (stack indices are reused as the search moves on).
    id: u64,
    /// How many threads are runnable here (which ones: the search's [`RunnableLog`]).
    enabled: usize,
    /// The thread taken in the current run.
    chosen: ThreadId,
    /// What the chosen thread's step touched, over every run that took it here.
    chosen_footprint: Footprint,
    /// Whether the chosen thread could go on after its step, in some run that took it here.
    chosen_goes_on: bool,
    /// Threads to explore here: the chosen one, those done, and those still to do.
    backtrack: Vec<ThreadId>,
    /// Threads explored here, with their step's footprint.
    done: Vec<(ThreadId, Footprint)>,
    /// The explored threads that could go on after their step here.
    done_going_on: Vec<ThreadId>,
    /// Threads asleep on arrival, with their next step's footprint.
    sleep: Vec<(ThreadId, Footprint)>,
    /// Index of the step this node starts, in the run.
    step: usize,
    /// The thread that ran the previous step, if it could go on and did not yield: any other is
    /// a preemption.
    continuing: Option<ThreadId>,
    /// The thread that ran the previous step, if it could go on and yielded: taking it again
    /// while another thread could run is the preemption ([`super::preempts`]).
    yielder: Option<ThreadId>,
    /// Preemptions the run took before this node.
    preemptions_before: u32,
}

impl ThreadNode {
    fn asleep(&self, t: ThreadId) -> bool {
        self.sleep.iter().any(|&(s, _)| s == t)
    }

    fn preempts(&self, t: ThreadId) -> bool {
        self.continuing.is_some_and(|c| c != t) || self.yielder == Some(t) && self.enabled > 1
    }

    /// Adds to the backtrack set each of `threads` that is not asleep here or scheduled already.
    fn schedule_awake(&mut self, threads: impl IntoIterator<Item = ThreadId>) {
        for t in threads {
            if !self.backtrack.contains(&t) && !self.asleep(t) {
                self.backtrack.push(t);
            }
        }
    }

    fn within(&self, bound: Option<u32>, t: ThreadId) -> bool {
        bound.is_none_or(|b| self.preemptions_before + u32::from(self.preempts(t)) <= b)
    }

    /// Under a preemption bound: whether `p`, explored here before the chosen thread `q`, may
    /// sleep in `q`'s branch. Sleeping skips a run `q X p Y` (X independent of `p`) because the
    /// equivalent `p q X Y` is in `p`'s branch; that holds under the bound only if `p q X Y`
    /// takes no more preemptions. Moving `p` to the front changes three things: the choice
    /// here (`p` instead of `q`), the switch from `p` to `q` (a preemption when `p` could go
    /// on), and the junction between X and Y (`X → Y` never costs more than `X → p → Y`).
    /// So it takes no more when the thread continuing here is `p` (taking `p` saves what
    /// taking `q` cost, and at most the `p → q` switch is added), or when it is not `q` and `p`
    /// could not go on after its step (a step that yields counts as one that cannot: switching
    /// away from it is free) and taking `p` here costs nothing (`p` is not a yielder that
    /// stays). A yield makes the junction cost more in one case, `X` ending in a yield of the
    /// thread that starts `Y`, where `X → Y` keeps the yielder going and `X → p → Y` does not;
    /// there `p` does not sleep: the yield conflicts with every step (`footprint::YIELDS`).
    fn covers_within_bound(&self, p: ThreadId) -> bool {
        self.continuing == Some(p)
            || (self.continuing != Some(self.chosen)
                && !self.done_going_on.contains(&p)
                && self.yielder != Some(p))
    }
}

#[derive(Clone, Debug)]
struct DataNode {
    kind: ChoiceKind,
    options: usize,
    chosen: usize,
    /// Index of the step the choice falls in.
    step: usize,
}

#[derive(Clone, Debug)]
enum Node {
    Thread(ThreadNode),
    Data(DataNode),
}

/// Exhaustive search with source-DPOR and sleep sets. See the module documentation.
#[derive(Debug, Default)]
pub struct Dpor {
    stack: Vec<Node>,
    /// The runnable set of every thread node on the stack.
    runnable: RunnableLog,
    /// Position of the next decision in the current run.
    depth: usize,
    /// The current run's steps, and the stack index of the node that started each.
    steps: Vec<Step>,
    /// The last run's steps, emptied, kept so the next run reuses their vectors instead of
    /// allocating four per step.
    spare_steps: Vec<Step>,
    /// Thread nodes the search has left, kept so new nodes reuse their vectors.
    spare_nodes: Vec<ThreadNode>,
    step_nodes: Vec<usize>,
    /// Steps from here on are new in this run; earlier ones were analysed already.
    fresh_from: usize,
    /// The clock jumped since the last step.
    clock_jumped: bool,
    /// The thread that ran last yielded ([`Strategy::yielded`]): told for the next pick.
    yielded: Option<ThreadId>,
    /// The current run reached a node where every runnable thread sleeps.
    blocked: bool,
    /// Pending steps of threads cut off at the end, appended after the real ones.
    cut_off_from: Option<usize>,
    exhausted: bool,
    preemption_bound: Option<u32>,
    /// Preemptions taken so far in the current run.
    preemptions: u32,
    /// The last run's analysis: the next run shares its steps before `fresh_from`, whose
    /// clocks it reuses.
    last_analysis: Option<Analysis>,
    /// Identity of the next thread node created.
    next_node_id: u64,
    /// A search of one subtree (a job of a parallel search): the stack index of its root, which
    /// it never moves past, and what it leaves for the search that adopts it.
    subtree: Option<Subtree>,
    /// The other jobs of a parallel search, for the search that hands subtrees out.
    splits: Option<SplitsHook>,
    /// A shard's part of the search: see [`Dpor::sharded`].
    shard: Option<ShardSplit>,
    /// Thread nodes with more than one runnable thread the current run has passed.
    branch_depth: usize,
}

/// A sharded search stops probing deeper once the cut has at least this many subtrees: enough
/// to spread over a few dozen shards with a balance that does not hang on one subtree.
pub(crate) const SHARD_SUBTREES: u64 = 512;

/// ... or at this branching depth, whatever the subtrees (a program with little to reorder).
const SHARD_MAX_DEPTH: usize = 48;

/// Which subtrees of the search are a shard's (see the module documentation).
#[derive(Debug)]
struct ShardSplit {
    index: u64,
    count: u64,
    /// The probe stops at the first depth with at least this many subtrees.
    subtrees: u64,
    /// The branching depth of the subtree roots (while probing, the depth tried).
    depth: usize,
    /// Still looking for the depth: every run is cut short and uncounted.
    probing: bool,
    /// Subtrees numbered so far by the search (or the probe), in the search's order.
    numbered: u64,
    /// The probe met a node at `depth` (if not, the whole tree lies above it).
    reached: bool,
    /// The subtree of the run that ended last, and whether it is this shard's.
    run_subtree: Option<(u64, bool)>,
}

impl ShardSplit {
    /// Numbers the next subtree: the current run's.
    fn number(&mut self) -> bool {
        let s = self.numbered;
        self.numbered += 1;
        let mine = !self.probing && s % self.count == self.index;
        self.run_subtree = Some((s, mine));
        mine
    }
}

/// A search of one subtree: see [`Dpor::subtree`].
#[derive(Debug)]
struct Subtree {
    root: usize,
    /// Backtrack points this subtree's races asked for at its root or above, in order: the
    /// adopting search applies them where it stands (see [`PrefixBacktrack`]).
    log: Vec<PrefixBacktrack>,
    /// Filled once the subtree is explored.
    outbox: std::sync::Arc<std::sync::Mutex<Option<SubtreeSummary>>>,
}

/// A backtrack point asked for at a node the subtree search does not own. Recorded as the
/// request, not its effect: whether it adds a thread depends on what the node holds when the
/// adopting search applies it, which includes the subtrees explored before this one.
#[derive(Clone, Debug)]
pub(crate) enum PrefixBacktrack {
    /// A race's reversal at node `at` (see [`Dpor::race_backtrack`]).
    Race { at: usize, initials: Initials, preferred: ThreadId, pending: bool },
    /// A thread a step at node `at` made wait again (see [`Dpor::disabled_backtrack`]).
    Disabled { at: usize, thread: ThreadId },
}

/// What an explored subtree leaves for the search that adopts it.
#[derive(Clone, Debug)]
pub(crate) struct SubtreeSummary {
    /// What the root's thread's step touched, over every run of the subtree.
    pub(crate) footprint: Footprint,
    /// Whether that thread could go on after its step, in some run.
    pub(crate) goes_on: bool,
    pub(crate) log: Vec<PrefixBacktrack>,
}

/// Whether another job has explored, or is exploring, a subtree.
pub(crate) enum SplitState {
    /// Nobody has it.
    Free,
    /// Handed out, not finished.
    Busy,
    /// Explored; the footprint of its root's thread.
    Explored(Footprint),
}

/// What adopting a subtree gave.
pub(crate) enum Adopted {
    /// The subtree was explored by another job with the same threads explored before it: here
    /// is what it leaves (its runs are counted by the parallel search).
    Explored(SubtreeSummary),
    /// Another job found a failure in it, or reached the run limit: the search stops there.
    Stop,
}

/// A subtree to hand out: the node's stack index and identity, the thread to take there, and the
/// threads explored there before it with their footprints.
type Split = (usize, u64, ThreadId, Vec<(ThreadId, Footprint)>);

/// A subtree search, ready to be sent to another job: see [`Dpor::subtree_search`]. (A search
/// itself holds its last analysis, whose clocks share chunks by `Rc`, so it stays on its thread.)
#[derive(Debug)]
pub(crate) struct SubtreeSeed {
    stack: Vec<Node>,
    runnable: RunnableLog,
    fresh_from: usize,
    root: usize,
    outbox: std::sync::Arc<std::sync::Mutex<Option<SubtreeSummary>>>,
    /// Identity of the first node the search creates (each search of a parallel search gets a
    /// range of its own, so nodes are told apart across searches).
    first_node_id: u64,
}

impl SubtreeSeed {
    /// Where the search leaves its summary once the subtree is explored.
    pub(crate) fn outbox(&self) -> std::sync::Arc<std::sync::Mutex<Option<SubtreeSummary>>> {
        std::sync::Arc::clone(&self.outbox)
    }

    /// Numbers the nodes the search creates from `first`.
    pub(crate) fn with_node_ids_from(mut self, first: u64) -> Self {
        self.first_node_id = first;
        self
    }

    /// The search, on the job that explores it.
    pub(crate) fn search(self) -> Dpor {
        Dpor {
            stack: self.stack,
            runnable: self.runnable,
            fresh_from: self.fresh_from,
            next_node_id: self.first_node_id,
            subtree: Some(Subtree { root: self.root, log: Vec::new(), outbox: self.outbox }),
            ..Dpor::default()
        }
    }
}

/// The parallel search's side of the subtrees: which are handed out, and the hand-out.
pub(crate) trait Splits {
    /// Whether a job is waiting for a subtree.
    fn wants_work(&self) -> bool;
    /// The state of the subtree that takes `thread` at node `node`.
    fn state(&self, node: u64, thread: ThreadId) -> SplitState;
    /// Hands out the subtree that takes `thread` at node `node`, explored before: `done`.
    fn submit(&mut self, node: u64, thread: ThreadId, done: Vec<(ThreadId, Footprint)>, search: SubtreeSeed);
    /// Where this search would now explore `thread` at node `node` after `done`: the subtree's
    /// result if another job explored it after exactly `done` (waiting for it if it is being
    /// explored), else `None` and the search explores it itself.
    fn adopt(&mut self, node: u64, thread: ThreadId, done: &[(ThreadId, Footprint)]) -> Option<Adopted>;
}

/// The hook, boxed (so that `Dpor` stays `Debug`).
struct SplitsHook(Box<dyn Splits>);

impl std::fmt::Debug for SplitsHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Splits")
    }
}

impl Dpor {
    /// A new search.
    pub fn new() -> Self {
        Dpor::default()
    }

    /// Shard `index` of `count` of an unbounded search, cut where it has `subtrees` subtrees
    /// (512 unless a test asks for fewer, `Config::shard_cut`; see the module documentation).
    pub fn sharded(index: u64, count: u64, subtrees: u64) -> Self {
        assert!(index < count, "racelab invariant: shard {index} of {count}");
        Dpor {
            shard: Some(ShardSplit {
                index,
                count,
                subtrees,
                depth: 1,
                probing: true,
                numbered: 0,
                reached: false,
                run_subtree: None,
            }),
            ..Dpor::default()
        }
    }

    /// The search is at its end: a sharded search that was probing either probes one level
    /// deeper or starts the search itself, from an empty stack. Returns true when a search
    /// starts.
    fn next_probe(&mut self) -> bool {
        let Some(split) = self.shard.as_mut().filter(|s| s.probing) else { return false };
        if split.reached && split.numbered < split.subtrees && split.depth < SHARD_MAX_DEPTH {
            split.depth += 1;
        } else {
            split.probing = false;
        }
        split.numbered = 0;
        split.reached = false;
        for node in self.stack.drain(..) {
            if let Node::Thread(n) = node {
                self.spare_nodes.push(n);
            }
        }
        self.runnable.truncate(0);
        self.fresh_from = 0;
        self.last_analysis = None;
        true
    }

    /// Explores only runs with at most `bound` preemptions (see the module documentation).
    pub fn preemption_bound(mut self, bound: Option<u32>) -> Self {
        self.preemption_bound = bound;
        self
    }

    /// The sleep set for a new node: what slept at the previous thread node or was explored
    /// there before its chosen thread, minus whatever conflicts with the step just taken.
    /// Under a preemption bound only the explored threads whose branch covers this one within
    /// the bound fall asleep (see [`ThreadNode::covers_within_bound`]); after a yield none stays
    /// asleep, since the step that ended in it writes `footprint::YIELDS`, which every sleeper's
    /// step reads.
    fn inherited_sleep(&self, runnable: &[ThreadId]) -> Vec<(ThreadId, Footprint)> {
        let bounded = self.preemption_bound.is_some();
        let Some(prev) = self.stack.iter().rev().find_map(|n| match n {
            Node::Thread(t) => Some(t),
            Node::Data(_) => None,
        }) else {
            return Vec::new();
        };
        if prev.sleep.is_empty() && prev.done.iter().all(|(t, _)| *t == prev.chosen) {
            return Vec::new();
        }
        let taken = Footprint::of(&self.steps[prev.step].accesses);
        let explored = prev.done.iter().filter(|(t, _)| !bounded || prev.covers_within_bound(*t));
        prev.sleep
            .iter()
            .chain(explored)
            .filter(|(t, f)| *t != prev.chosen && runnable.contains(t) && !f.conflicts(&taken))
            .cloned()
            .collect()
    }

    fn push_step(&mut self, thread: ThreadId, node: usize) {
        let after_clock_jump = std::mem::take(&mut self.clock_jumped);
        let step = self.fresh_step(thread, after_clock_jump, None);
        self.steps.push(step);
        self.step_nodes.push(node);
    }

    /// A step with no accesses, wake-ups, disabled or killed threads yet, from the spare ones.
    fn fresh_step(&mut self, thread: ThreadId, after_clock_jump: bool, floor_of: Option<usize>) -> Step {
        let mut step = self.spare_steps.pop().unwrap_or_else(|| Step {
            thread,
            accesses: Vec::new(),
            woke: Vec::new(),
            disabled: Vec::new(),
            killed: Vec::new(),
            after_clock_jump,
            floor_of,
        });
        step.accesses.clear();
        step.woke.clear();
        step.disabled.clear();
        step.killed.clear();
        Step { thread, after_clock_jump, floor_of, ..step }
    }

    fn divergence(&self, depth: usize, offered: Offer) -> Divergence {
        let scheduled = self.stack.get(depth).map(|n| match n {
            Node::Thread(t) => Choice::new(ChoiceKind::Thread, t.chosen.0),
            Node::Data(d) => Choice::new(d.kind, d.chosen as u32),
        });
        Divergence { decision: depth, scheduled, offered }
    }

    /// For race `(a, b)`: makes sure the node before step `a` explores a way to reverse it.
    fn add_backtrack(&mut self, analysis: &Analysis, a: usize, b: usize) {
        let pending = self.cut_off_from.is_some_and(|c| b >= c);
        let preferred = self.steps[b].thread;
        let initials = analysis.initials(a, b);
        let at = self.step_nodes[a];
        match &mut self.subtree {
            Some(sub) if at <= sub.root => {
                sub.log.push(PrefixBacktrack::Race { at, initials, preferred, pending })
            }
            _ => self.race_backtrack(at, &initials, preferred, pending),
        }
    }

    /// Applies a backtrack request an adopted subtree search recorded at a node of this search's
    /// stack; a subtree search records it in turn when the node is its root or above.
    fn apply(&mut self, request: &PrefixBacktrack) {
        let at = match request {
            PrefixBacktrack::Race { at, .. } | PrefixBacktrack::Disabled { at, .. } => *at,
        };
        if let Some(sub) = self.subtree.as_mut().filter(|sub| at <= sub.root) {
            sub.log.push(request.clone());
            return;
        }
        match request {
            PrefixBacktrack::Race { at, initials, preferred, pending } => {
                self.race_backtrack(*at, initials, *preferred, *pending)
            }
            PrefixBacktrack::Disabled { at, thread } => self.disabled_backtrack(*at, *thread),
        }
    }

    /// For a race whose reversal can start with `initials` (the race's later step is
    /// `preferred`'s): unless one of them is asleep or scheduled at node `at` already, schedule
    /// one there. Under a preemption bound, every one of them not asleep.
    fn race_backtrack(&mut self, at: usize, initials: &[ThreadId], preferred: ThreadId, pending: bool) {
        if self.preemption_bound.is_some() {
            return self.race_backtrack_within_bound(at, initials, pending);
        }
        let Node::Thread(node) = &mut self.stack[at] else {
            panic!("racelab invariant: a step that does not start at a thread node");
        };
        if initials.iter().any(|&t| node.asleep(t) || node.backtrack.contains(&t)) {
            return;
        }
        let runnable = &self.runnable;
        let candidates: Initials = initials.iter().copied().filter(|&t| runnable.contains(at, t)).collect();
        if let Some(&t) = candidates.iter().find(|&&t| t == preferred).or(candidates.first()) {
            node.backtrack.push(t);
            self.also_before_the_switch(at, t);
        } else if !pending {
            // The race cannot start from any thread runnable here; that should not happen with
            // the orderings recorded, so stay sound: explore every thread here.
            node.schedule_awake(runnable.set_at(at));
        }
    }

    /// `race_backtrack` under a preemption bound. Equivalent runs can take different numbers of
    /// preemptions, so the reversal's initials are not interchangeable there: a reversal that
    /// starts with one thread may need a switch more than one that starts with another (a
    /// thread that must go between two steps of the other) and fall outside the bound while
    /// the other is within it. Every initial not asleep is scheduled, each also before the
    /// switch where taking it costs a preemption (an outside review's program: the reversal
    /// scheduled only the later step's thread, which needed two preemptions for the outcome
    /// that starting with the other initial reaches in one).
    fn race_backtrack_within_bound(&mut self, at: usize, initials: &[ThreadId], pending: bool) {
        let Node::Thread(node) = &mut self.stack[at] else {
            panic!("racelab invariant: a step that does not start at a thread node");
        };
        let runnable = &self.runnable;
        let candidates: Initials = initials.iter().copied().filter(|&t| runnable.contains(at, t)).collect();
        if candidates.is_empty() {
            if !pending {
                // As in `race_backtrack`: stay sound, explore every thread here.
                node.schedule_awake(runnable.set_at(at));
            }
            return;
        }
        let added: Initials =
            candidates.iter().copied().filter(|&t| !node.asleep(t) && !node.backtrack.contains(&t)).collect();
        node.backtrack.extend(added.iter().copied());
        for t in added {
            self.also_before_the_switch(at, t);
        }
    }

    /// A step that took a lock made the other runnable contenders wait again: each of them
    /// could have taken it instead, so the node before that step explores them too (the
    /// classic treatment of disabling steps; their would-be step is not in the run to race).
    fn add_disabled_backtracks(&mut self) {
        let end = self.cut_off_from.unwrap_or(self.steps.len());
        for s in self.fresh_from..end {
            if self.steps[s].disabled.is_empty() {
                continue;
            }
            let at = self.step_nodes[s];
            for q in self.steps[s].disabled.clone() {
                match &mut self.subtree {
                    Some(sub) if at <= sub.root => sub.log.push(PrefixBacktrack::Disabled { at, thread: q }),
                    _ => self.disabled_backtrack(at, q),
                }
            }
        }
    }

    /// Schedules `q`, which the step at node `at` made wait again, at that node.
    fn disabled_backtrack(&mut self, at: usize, q: ThreadId) {
        let Node::Thread(node) = &mut self.stack[at] else {
            panic!("racelab invariant: a step that does not start at a thread node");
        };
        if self.runnable.contains(at, q) && !node.asleep(q) && !node.backtrack.contains(&q) {
            node.backtrack.push(q);
            self.also_before_the_switch(at, q);
        }
    }

    /// Under a preemption bound, taking `q` at node `at` may cost a preemption the bound does
    /// not allow. Bounded partial-order reduction (Coons, Musuvathi, McKinley, OOPSLA 2013)
    /// then also tries `q` where the thread running at `at` was switched to, the latest earlier
    /// node whose switch cost nothing more: a run that starts `q` there needs no extra
    /// preemption for the reversal.
    fn also_before_the_switch(&mut self, at: usize, q: ThreadId) {
        if self.preemption_bound.is_none() {
            return;
        }
        let Node::Thread(node) = &self.stack[at] else { return };
        let Some(running) = node.continuing.filter(|&c| c != q) else { return };
        for m in (0..at).rev() {
            let Node::Thread(earlier) = &mut self.stack[m] else { continue };
            let switched_to_running = earlier.chosen == running && earlier.continuing != Some(running);
            if !switched_to_running {
                continue;
            }
            if self.runnable.contains(m, q) && !earlier.asleep(q) {
                if !earlier.backtrack.contains(&q) {
                    earlier.backtrack.push(q);
                }
                return;
            }
        }
    }

    /// Moves the search to its next run: the deepest node with an option left takes it, deeper
    /// nodes are dropped. Returns false when nothing is left.
    fn advance(&mut self) -> bool {
        let more = self.advance_stack();
        self.runnable.truncate(self.stack.len());
        more
    }

    fn advance_stack(&mut self) -> bool {
        while let Some(top) = self.stack.len().checked_sub(1) {
            if self.subtree.as_ref().is_some_and(|sub| sub.root == top) {
                self.finish_subtree();
                return false;
            }
            match &mut self.stack[top] {
                Node::Data(d) => {
                    if d.chosen + 1 < d.options {
                        d.chosen += 1;
                        self.fresh_from = d.step;
                        return true;
                    }
                }
                Node::Thread(_) => {
                    self.finish_branch(top);
                    if self.next_branch(top) {
                        return true;
                    }
                }
            }
            if let Some(Node::Thread(done)) = self.stack.pop() {
                self.spare_nodes.push(done);
            }
        }
        false
    }

    /// The chosen thread of thread node `at` is explored: it joins the node's done list.
    fn finish_branch(&mut self, at: usize) {
        let Node::Thread(n) = &mut self.stack[at] else {
            panic!("racelab invariant: finishing a branch of a data node");
        };
        let footprint = std::mem::take(&mut n.chosen_footprint);
        n.done.push((n.chosen, footprint));
        if std::mem::take(&mut n.chosen_goes_on) {
            n.done_going_on.push(n.chosen);
        }
    }

    /// The threads still to explore at thread node `n`, in the order the search takes them.
    fn pending(n: &ThreadNode, bound: Option<u32>) -> impl Iterator<Item = ThreadId> + '_ {
        n.backtrack
            .iter()
            .copied()
            .filter(move |&t| !n.done.iter().any(|&(d, _)| d == t) && !n.asleep(t) && n.within(bound, t))
    }

    /// Moves thread node `at` to its next thread, adopting the subtrees other jobs explored
    /// (a parallel search); false when the node has nothing left.
    fn next_branch(&mut self, at: usize) -> bool {
        loop {
            let Node::Thread(n) = &mut self.stack[at] else {
                panic!("racelab invariant: the next branch of a data node");
            };
            let Some(t) = Self::pending(n, self.preemption_bound).next() else {
                return false;
            };
            n.chosen = t;
            self.fresh_from = n.step;
            let adopted = match self.splits.as_mut() {
                Some(hook) => hook.0.adopt(n.id, t, &n.done),
                None => None,
            };
            match adopted {
                None | Some(Adopted::Stop) => return true,
                Some(Adopted::Explored(summary)) => {
                    // As if this search had explored the subtree: its requests at this node and
                    // above, then the branch is done.
                    for request in &summary.log {
                        self.apply(request);
                    }
                    let Node::Thread(n) = &mut self.stack[at] else { unreachable!("checked above") };
                    n.chosen_footprint = summary.footprint;
                    n.chosen_goes_on = summary.goes_on;
                    self.finish_branch(at);
                }
            }
        }
    }

    /// A subtree search is done: what the adopting search needs goes to the outbox.
    fn finish_subtree(&mut self) {
        let sub = self.subtree.as_mut().expect("racelab invariant: finishing a subtree of a whole search");
        let Node::Thread(root) = &self.stack[sub.root] else {
            panic!("racelab invariant: a subtree rooted at a data node");
        };
        let summary = SubtreeSummary {
            footprint: root.chosen_footprint.clone(),
            goes_on: root.chosen_goes_on,
            log: std::mem::take(&mut sub.log),
        };
        *sub.outbox.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary);
    }

    /// A search of the subtree below thread node `at` of this search's stack taking `thread`
    /// there, with `done` explored there before: the runs this search would make there, in the
    /// same order, for another job (an unbounded search only). It never moves past `at`;
    /// what its races ask of nodes at `at` and above is recorded, and the summary goes to
    /// `outbox` once it is exhausted.
    pub(crate) fn subtree_search(
        &self,
        at: usize,
        thread: ThreadId,
        done: Vec<(ThreadId, Footprint)>,
    ) -> SubtreeSeed {
        assert!(self.preemption_bound.is_none(), "racelab invariant: a bounded search is not split");
        let mut stack = self.stack[..=at].to_vec();
        let Some(Node::Thread(root)) = stack.last_mut() else {
            panic!("racelab invariant: a subtree rooted at a data node");
        };
        root.chosen = thread;
        root.chosen_footprint = Footprint::default();
        root.chosen_goes_on = false;
        root.done = done;
        let fresh_from = root.step;
        let mut runnable = self.runnable.clone();
        runnable.truncate(at + 1);
        SubtreeSeed { stack, runnable, fresh_from, root: at, outbox: Default::default(), first_node_id: 0 }
    }

    /// Attaches the other jobs of a parallel search.
    pub(crate) fn with_splits(mut self, splits: Box<dyn Splits>) -> Self {
        self.splits = Some(SplitsHook(splits));
        self
    }

    /// Hands a subtree to a waiting job: the shallowest thread still to explore whose threads
    /// explored before are known (explored here, or by a job).
    fn offer_split(&mut self) {
        let Some(mut hook) = self.splits.take() else { return };
        if hook.0.wants_work() {
            if let Some((at, id, thread, done)) = self.next_split(&*hook.0) {
                let seed = self.subtree_search(at, thread, done.clone());
                hook.0.submit(id, thread, done, seed);
            }
        }
        self.splits = Some(hook);
    }

    fn next_split(&self, splits: &dyn Splits) -> Option<Split> {
        // A subtree search hands out only what lies below its root.
        let own_from = self.subtree.as_ref().map_or(0, |sub| sub.root + 1);
        for (at, node) in self.stack.iter().enumerate().skip(own_from) {
            let Node::Thread(n) = node else { continue };
            let mut done = n.done.clone();
            done.push((n.chosen, n.chosen_footprint.clone()));
            for t in Self::pending(n, self.preemption_bound).filter(|&t| t != n.chosen) {
                match splits.state(n.id, t) {
                    SplitState::Free => return Some((at, n.id, t, done)),
                    SplitState::Busy => break,
                    SplitState::Explored(footprint) => done.push((t, footprint)),
                }
            }
        }
        None
    }
}

/// Up to this many runnable threads an unbounded search's first run through a node goes round
/// robin (see `pick_thread`).
const ROUND_ROBIN_MAX_THREADS: usize = super::races::CHUNK;

impl Dpor {
    /// True once every run the search needs has been made.
    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted
    }
}

impl Strategy for Dpor {
    fn begin_run(&mut self, _run: u64) -> bool {
        self.depth = 0;
        self.spare_steps.append(&mut self.steps);
        self.step_nodes.clear();
        self.clock_jumped = false;
        self.yielded = None;
        self.blocked = false;
        self.cut_off_from = None;
        self.preemptions = 0;
        self.branch_depth = 0;
        !self.exhausted
    }

    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        let yielder = self.yielded.take().filter(|&y| current == Some(y) && runnable.contains(&y));
        let depth = self.depth;
        self.depth += 1;
        let branch_depth = self.branch_depth;
        if runnable.len() > 1 {
            self.branch_depth += 1;
        }
        if let Some(node) = self.stack.get(depth) {
            let Node::Thread(n) = node else {
                return Err(self.divergence(depth, Offer::Threads(runnable.to_vec())));
            };
            if !self.runnable.same_at(depth, n.enabled, runnable) {
                return Err(self.divergence(depth, Offer::Threads(runnable.to_vec())));
            }
            let chosen = n.chosen;
            self.preemptions += u32::from(n.preempts(chosen));
            self.push_step(chosen, depth);
            return Ok(chosen);
        }
        debug_assert_eq!(depth, self.stack.len(), "dpor decisions must extend the stack one at a time");
        let sleep = self.inherited_sleep(runnable);
        let continuing = current.filter(|c| runnable.contains(c) && yielder.is_none());
        let within = |t: &ThreadId| {
            let preempts = super::preempts(continuing.or(yielder), yielder.is_some(), *t, runnable.len());
            self.preemption_bound.is_none_or(|b| self.preemptions + u32::from(preempts) <= b)
        };
        let awake = |t: &ThreadId| !sleep.iter().any(|(s, _)| s == t) && within(t);
        // The first run through a new node: under a bound, go on with the current thread (a
        // preemption is spent only where a race asks for one); unbounded, pass to the next
        // thread after the one that ran last, round robin, so the first run of a new subtree
        // interleaves the threads as much as it can, which is where most bugs show (on the
        // runs-to-bug bench it finds 6 of 12 bugs in the first run). Every other order is
        // still explored where it races. With more threads than one clock chunk, round robin
        // makes races span the whole run (a thread ends long before its join) and computing
        // their initials costs `threads²` each: there the search goes on with the current one.
        let round_robin = self.preemption_bound.is_none() && runnable.len() <= ROUND_ROBIN_MAX_THREADS;
        let first_choice = if !round_robin {
            // (After a yield, the others first: keeping the yielder going is the preemption.)
            continuing
                .filter(awake)
                .or_else(|| runnable.iter().copied().find(|t| awake(t) && Some(*t) != yielder))
                .or_else(|| yielder.filter(awake))
        } else {
            let last = self.steps.last().map(|s| s.thread);
            let after = last.map_or(0, |l| runnable.partition_point(|t| *t <= l));
            runnable[after..].iter().chain(&runnable[..after]).copied().find(awake)
        };
        let Some(chosen) = first_choice else {
            // Every runnable thread sleeps (or is beyond the bound): whatever comes next was
            // explored already (or may not be).
            self.blocked = true;
            return Ok(continuing.unwrap_or(runnable[0]));
        };
        // Above a shard's cut every awake thread is explored (gathered here, while `awake` may
        // borrow the search).
        let above_cut = self.shard.as_ref().is_some_and(|split| branch_depth < split.depth);
        // Under a bound, after a yield every awake thread too: the free switch there may go to a
        // thread that ends or blocks at once, after which the yielder goes on for free, and no
        // race asks for that thread there (its steps are independent of the yielder's).
        let every_awake = above_cut || self.preemption_bound.is_some() && yielder.is_some();
        let awake_threads: Vec<ThreadId> =
            if every_awake { runnable.iter().copied().filter(awake).collect() } else { Vec::new() };
        // A shard: a new node at the cut roots the next subtree; another shard's (or any, while
        // probing) ends the run here, uncounted.
        if let Some(split) =
            self.shard.as_mut().filter(|split| runnable.len() > 1 && branch_depth == split.depth)
        {
            split.reached = true;
            if !split.number() {
                self.blocked = true;
                return Ok(chosen);
            }
        }
        let preemptions_before = self.preemptions;
        self.preemptions +=
            u32::from(super::preempts(continuing.or(yielder), yielder.is_some(), chosen, runnable.len()));
        self.runnable.push(depth, runnable);
        let id = self.next_node_id;
        self.next_node_id += 1;
        // The vectors of a node the search left, emptied, or new ones.
        let (mut chosen_footprint, mut backtrack, mut done, mut done_going_on) = self
            .spare_nodes
            .pop()
            .map(|n| (n.chosen_footprint, n.backtrack, n.done, n.done_going_on))
            .unwrap_or_default();
        chosen_footprint.clear();
        backtrack.clear();
        backtrack.push(chosen);
        if every_awake {
            // See "Split into shards" in the module documentation, and above.
            backtrack.extend(awake_threads.iter().copied().filter(|&t| t != chosen));
        }
        done.clear();
        done_going_on.clear();
        let node = ThreadNode {
            id,
            enabled: runnable.len(),
            chosen,
            chosen_footprint,
            chosen_goes_on: false,
            backtrack,
            done,
            done_going_on,
            sleep,
            step: self.steps.len(),
            continuing,
            yielder,
            preemptions_before,
        };
        self.stack.push(Node::Thread(node));
        self.push_step(chosen, depth);
        Ok(chosen)
    }

    fn pick(&mut self, kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        let depth = self.depth;
        self.depth += 1;
        if let Some(node) = self.stack.get(depth) {
            return match node {
                Node::Data(d) if d.kind == kind && d.options == options => Ok(d.chosen),
                _ => Err(self.divergence(depth, Offer::Options { kind, options })),
            };
        }
        debug_assert_eq!(depth, self.stack.len(), "dpor decisions must extend the stack one at a time");
        let step = self.steps.len().saturating_sub(1);
        self.stack.push(Node::Data(DataNode { kind, options, chosen: 0, step }));
        Ok(0)
    }

    fn end_run(&mut self) -> Result<(), Divergence> {
        if self.depth < self.stack.len() && !self.blocked {
            return Err(self.divergence(self.depth, Offer::End));
        }
        // Whether each node's chosen thread could go on: the next thread node continues it. A
        // run cut short after the last node does not say; count it as going on (the safe side).
        let mut next_continuing = if self.blocked { None } else { Some(None) };
        for i in (0..self.stack.len()).rev() {
            if let Node::Thread(n) = &mut self.stack[i] {
                // A node whose step was replayed took the same step in the run that chose its
                // thread (a run is a function of its decisions), which added it already.
                if n.step >= self.fresh_from {
                    if let Some(step) = self.steps.get(n.step) {
                        n.chosen_footprint.union(&step.accesses);
                    }
                }
                n.chosen_goes_on |= next_continuing.is_none_or(|c| c == Some(n.chosen));
                next_continuing = Some(n.continuing);
            }
        }
        if let Some(split) = self.shard.as_mut() {
            // A run that ended above the cut is a subtree of its own.
            if self.branch_depth <= split.depth {
                split.number();
            }
        }
        let analysis = Analysis::after(self.last_analysis.take(), &self.steps, self.fresh_from);
        for &(a, b) in &analysis.races {
            self.add_backtrack(&analysis, a, b);
        }
        self.last_analysis = Some(analysis);
        self.add_disabled_backtracks();
        if !self.advance() {
            self.exhausted = !self.next_probe();
        } else if self.splits.is_some() {
            self.offer_split();
        }
        Ok(())
    }

    fn yielded(&mut self, t: ThreadId) {
        self.yielded = Some(t);
        if self.preemption_bound.is_some() {
            // The step that ended in the yield (see `footprint::YIELDS`; main's code before the
            // first step is no step: nothing in it can race).
            if let Some(last) = self.steps.last_mut() {
                assert_eq!(
                    last.thread, t,
                    "racelab invariant: a yield by a thread that did not take the last step"
                );
                last.accesses.push(Access::write(footprint::YIELDS));
            }
        }
    }

    fn observes_steps(&self) -> bool {
        true
    }

    fn step_finished(&mut self, step: &StepFootprint<'_>) {
        let last = self.steps.last_mut().expect("racelab invariant: a step finished before any started");
        assert_eq!(last.thread, step.thread, "racelab invariant: a step finished by another thread");
        last.accesses.extend_from_slice(step.accesses);
        if self.preemption_bound.is_some() {
            last.accesses.push(Access::read(footprint::YIELDS));
        }
        last.woke.extend_from_slice(step.woke);
        last.disabled.extend_from_slice(step.disabled);
        last.killed.extend_from_slice(step.killed);
    }

    fn clock_advanced(&mut self) {
        self.clock_jumped = true;
    }

    fn cut_off(&mut self, pending: &[StepFootprint<'_>]) {
        self.cut_off_from = Some(self.steps.len());
        for p in pending {
            // A terminated thread's next step was possible when it was cut off, before any
            // later clock jump: it is ordered by what came before its terminate, not after.
            let floor_of = self.steps.iter().rposition(|s| s.killed.contains(&p.thread));
            let mut step = self.fresh_step(p.thread, false, floor_of);
            step.accesses.extend_from_slice(p.accesses);
            self.steps.push(step);
            self.step_nodes.push(usize::MAX);
        }
    }

    fn redundant(&self) -> bool {
        self.blocked
    }

    fn shard_subtree(&self) -> Option<(u64, bool)> {
        self.shard.as_ref().and_then(|s| s.run_subtree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::footprint::Access;
    use crate::ids::ObjectId;

    /// A step that only accesses objects: it wakes, disables and kills nobody.
    fn plain_step(thread: ThreadId, accesses: &[Access]) -> StepFootprint<'_> {
        StepFootprint { thread, accesses, woke: &[], disabled: &[], killed: &[] }
    }

    /// A straight-line program for the search to explore by hand: each thread is a list of
    /// steps, each step a list of accesses. Returns (complete runs, redundant runs).
    fn explore(threads: &[Vec<Vec<Access>>]) -> (usize, usize) {
        let mut dpor = Dpor::new();
        let (mut complete, mut redundant) = (0, 0);
        let mut run = 0;
        while dpor.begin_run(run) {
            run += 1;
            let mut pc = vec![0; threads.len()];
            let mut current = None;
            loop {
                let runnable: Vec<ThreadId> = (0..threads.len())
                    .filter(|&i| pc[i] < threads[i].len())
                    .map(|i| ThreadId(i as u32))
                    .collect();
                if runnable.is_empty() {
                    complete += 1;
                    break;
                }
                let t = dpor.pick_thread(&runnable, current).unwrap();
                if dpor.redundant() {
                    redundant += 1;
                    break;
                }
                let accesses = &threads[t.index()][pc[t.index()]];
                pc[t.index()] += 1;
                dpor.step_finished(&plain_step(t, accesses));
                current = Some(t);
            }
            dpor.end_run().unwrap();
            assert!(run < 100_000, "the search does not end");
        }
        (complete, redundant)
    }

    fn w(n: u32) -> Access {
        Access::write(ObjectId(n))
    }

    fn r(n: u32) -> Access {
        Access::read(ObjectId(n))
    }

    #[test]
    fn independent_threads_give_one_run() {
        let threads: Vec<_> = (0..5).map(|i| vec![vec![w(i)], vec![w(i + 10)]]).collect();
        assert_eq!(explore(&threads), (1, 0));
    }

    #[test]
    fn one_writer_and_n_readers_give_two_to_the_n_runs() {
        for n in 1..=6u32 {
            let mut threads = vec![vec![vec![w(0)]]];
            threads.extend((0..n).map(|_| vec![vec![r(0)]]));
            assert_eq!(explore(&threads), (1 << n, 0), "{n} readers");
        }
    }

    #[test]
    fn fully_dependent_threads_give_every_interleaving() {
        // Two threads writing one cell twice each: all C(4, 2) = 6 orders differ.
        let threads = vec![vec![vec![w(0)], vec![w(0)]], vec![vec![w(0)], vec![w(0)]]];
        assert_eq!(explore(&threads).0, 6);
        // Three threads, one write each: 3! orders.
        let threads = vec![vec![vec![w(0)]], vec![vec![w(0)]], vec![vec![w(0)]]];
        assert_eq!(explore(&threads).0, 6);
    }

    #[test]
    fn independent_work_around_a_conflict_is_not_multiplied() {
        // Each thread does private work, then writes the shared cell, then more private work:
        // only the order of the two shared writes matters.
        let threads =
            vec![vec![vec![w(1)], vec![w(0)], vec![w(1)]], vec![vec![w(2)], vec![w(0)], vec![w(2)]]];
        assert_eq!(explore(&threads).0, 2);
    }

    #[test]
    fn a_preemption_bound_limits_the_reduced_search() {
        // Two threads writing one cell twice each: 6 classes unbounded. Bound 0: a thread runs
        // until it finishes, so only the two serial orders remain.
        let threads = [[vec![w(0)], vec![w(0)]], [vec![w(0)], vec![w(0)]]];
        let count = |bound| {
            let mut dpor = Dpor::new().preemption_bound(bound);
            let mut runs = 0;
            while dpor.begin_run(runs) {
                runs += 1;
                let mut pc = [0; 2];
                let mut current = None;
                loop {
                    let runnable: Vec<ThreadId> =
                        (0..2).filter(|&i| pc[i] < 2).map(|i| ThreadId(i as u32)).collect();
                    if runnable.is_empty() {
                        break;
                    }
                    let t = dpor.pick_thread(&runnable, current).unwrap();
                    let accesses = &threads[t.index()][pc[t.index()]];
                    pc[t.index()] += 1;
                    dpor.step_finished(&plain_step(t, accesses));
                    current = Some(t);
                }
                dpor.end_run().unwrap();
            }
            runs
        };
        assert_eq!(count(None), 6);
        assert_eq!(count(Some(0)), 2);
        let one = count(Some(1));
        assert!(2 < one && one < 6, "bound 1 gave {one}");
    }

    #[test]
    fn data_choices_are_all_explored() {
        let mut dpor = Dpor::new();
        let mut outcomes = Vec::new();
        let mut run = 0;
        while dpor.begin_run(run) {
            let a = dpor.pick(ChoiceKind::Random, 3).unwrap();
            outcomes.push(a);
            dpor.end_run().unwrap();
            run += 1;
        }
        assert_eq!(outcomes, vec![0, 1, 2]);
    }
}
