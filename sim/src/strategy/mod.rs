//! Strategies: who decides every nondeterministic choice of a run.
//!
//! A strategy is a pure state machine behind a four-method trait. It never sees the runtime,
//! only the options at each decision, so each one can be unit-tested on its own. The runtime
//! asks it at every step which runnable thread goes next, and at every other choice point
//! (which waiter wakes, whether a timeout or spurious wake-up happens, a random value) which of
//! `n` options to take; the runtime records each answer into the run's [`Schedule`].
//!
//! [`Schedule`]: crate::schedule::Schedule

mod dfs;
mod dpor;
mod guided;
mod pct;
mod portfolio;
mod pos;
mod races;
mod random;
mod replay;
mod runnable_log;

pub use dfs::Dfs;
pub use dpor::Dpor;
pub(crate) use dpor::{Adopted, SplitState, Splits, SubtreeSeed, SubtreeSummary, SHARD_SUBTREES};
pub use guided::{Guided, RelativeChoice, RelativeRecorder};
pub use pct::Pct;
pub use portfolio::{Half, Portfolio};
pub use pos::Pos;
pub use random::Random;
pub use replay::Replay;

use std::fmt;

use crate::footprint::StepFootprint;
use crate::ids::ThreadId;
use crate::schedule::{Choice, ChoiceKind};

/// Whether picking `picked` is a preemption, the unit a preemption bound counts (CHESS).
/// `current` is the thread that took the previous step if it could go on, `yielded` whether
/// that step was a yield (`yield_now`, a zero sleep, racelab-py's hand-over at the end of a
/// switch interval), `runnable` how many threads could be picked.
///
/// Switching away from a thread that could go on is a preemption. A yield turns that round: the
/// thread asked to be switched away from, so switching is free and keeping it going while
/// another thread could run is the preemption. A spin loop that yields (`while !ready {
/// yield_now() }`) thus goes round at most as many times as the bound allows while the thread
/// that would end it waits, instead of to the step limit.
pub fn preempts(current: Option<ThreadId>, yielded: bool, picked: ThreadId, runnable: usize) -> bool {
    match current {
        Some(c) if yielded => c == picked && runnable > 1,
        Some(c) => c != picked,
        None => false,
    }
}

/// The decision-maker behind a run. See the module documentation.
pub trait Strategy {
    /// Prepares run number `run` (counted from 0). Returns false when the strategy has nothing
    /// left to explore (an exhaustive search is complete, a replay has been played).
    fn begin_run(&mut self, run: u64) -> bool;

    /// Picks the thread that takes the next step. `runnable` is sorted and never empty;
    /// `current` is the thread that took the previous step if it could go on (switching away
    /// from it is a preemption, unless that step was a yield: see [`preempts`]). When `runnable` has one element the strategy must return it:
    /// such forced steps are not recorded, and replay does not consume a decision for them.
    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence>;

    /// Picks one of `options` (at least 2) alternatives of a non-thread decision.
    fn pick(&mut self, kind: ChoiceKind, options: usize) -> Result<usize, Divergence>;

    /// The run ended. A replay checks here that the whole schedule was used.
    fn end_run(&mut self) -> Result<(), Divergence>;

    /// True when the strategy wants to see what each step touched (partial-order reduction).
    /// The runtime then calls [`Strategy::step_finished`] after every step, and the other
    /// observation methods below.
    fn observes_steps(&self) -> bool {
        false
    }

    /// The step of the thread picked last is over: what it touched and whom it woke.
    fn step_finished(&mut self, _step: &StepFootprint<'_>) {}

    /// Thread `t`, the one that ran last, asked to let others run (`yield_now`, a zero sleep)
    /// and is runnable: told before the pick that follows. PCT and POS lower its priority; the
    /// exhaustive searches count a preemption the yield's way ([`preempts`]), and they and
    /// [`Guided`] try the other threads first.
    fn yielded(&mut self, _t: ThreadId) {}

    /// The part of a composite strategy that makes the current run (`dpor` or `pos` for the
    /// portfolio), for the report of a failure it finds.
    fn run_maker(&self) -> Option<&'static str> {
        None
    }

    /// Nothing could run, so the virtual clock jumped forward before the next step.
    fn clock_advanced(&mut self) {}

    /// The run ended with threads cut off where they stood (daemons at the end of the program,
    /// terminated workers), each with what its next step would at least have read.
    fn cut_off(&mut self, _pending: &[StepFootprint<'_>]) {}

    /// True when the thread just picked leads only to runs explored already: the runtime then
    /// drops the run, uncounted.
    fn redundant(&self) -> bool {
        false
    }

    /// For a search split into shards (`Config::shard` on `dfs`), after `end_run`: the subtree
    /// the run belonged to, numbered in the search's order, and whether it is this shard's. A
    /// run of another shard's subtree is not counted, and what it found is ignored.
    fn shard_subtree(&self) -> Option<(u64, bool)> {
        None
    }

    /// PCT's `k`: the most decisions among two or more threads in any run so far, which the
    /// next run draws its change points over (`None` for the other strategies).
    fn longest_run(&self) -> Option<u64> {
        None
    }
}

/// What a decision point offered, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Offer {
    /// A thread choice among these runnable threads.
    Threads(Vec<ThreadId>),
    /// A choice of `kind` among `options` alternatives.
    Options {
        /// The kind of decision.
        kind: ChoiceKind,
        /// How many alternatives there were.
        options: usize,
    },
    /// The run ended.
    End,
}

/// A schedule that does not fit the program: the schedule says one thing at decision
/// `decision`, the program offered another. Replay reports it for a malformed or mismatched
/// schedule; exhaustive search reports it when the program makes decisions racelab does not
/// control (it then is not deterministic under its schedule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// 0-based index of the decision in the schedule.
    pub decision: usize,
    /// What the schedule held there (`None`: the schedule had ended).
    pub scheduled: Option<Choice>,
    /// What the program offered.
    pub offered: Offer,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decision {}: ", self.decision + 1)?;
        match self.scheduled {
            Some(c) => write!(f, "the schedule says `{c}`")?,
            None => write!(f, "the schedule has ended")?,
        }
        match &self.offered {
            Offer::Threads(ts) => {
                let names: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
                write!(f, ", but the program is at a thread choice among {}", names.join(", "))
            }
            Offer::Options { kind, options } => {
                write!(f, ", but the program is at {} with options 0..{}", kind.describe(), options - 1)
            }
            Offer::End => write!(f, ", but the run is over"),
        }
    }
}

/// A uniform pick in `0..n` from 64 random bits (Lemire's multiply-shift; no floats, so the
/// same bits give the same pick on every platform).
pub(crate) fn uniform(bits: u64, n: usize) -> usize {
    debug_assert!(n > 0);
    ((u128::from(bits) * n as u128) >> 64) as usize
}
