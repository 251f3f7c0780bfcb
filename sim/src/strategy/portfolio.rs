//! The `portfolio` strategy: exhaustive DPOR and Partial Order Sampling, run for run in turn.
//!
//! Why it exists: neither half is enough alone. DPOR proves a program correct when it can
//! finish, but its depth-first order reaches some bugs only after hundreds of thousands of runs
//! (a bug deep in one subtree of a many-threaded program); sampling finds most bugs in a few
//! dozen runs but never proves anything. Alternating them (DPOR's run first) finds every bug at
//! most about twice as late as the faster of the two would alone, and still ends with "every
//! interleaving explored" when DPOR finishes: a sampled run can only repeat an interleaving
//! DPOR covers, so DPOR's verdict is the portfolio's.
//!
//! The sampler is POS: on the runs-to-bug bench it is the sampler whose median is closest to the
//! best of random, PCT and POS on the most programs (see the README's Performance section).
//! Each half keeps its own run count: DPOR's search state is untouched by the sampled runs, and
//! sampled run `i` draws from the same stream as run `i` of `Config::pos(seed)`. A run DPOR cuts
//! short as redundant counts as DPOR's turn.

use super::{Divergence, Dpor, Pos, Strategy};
use crate::footprint::StepFootprint;
use crate::ids::ThreadId;
use crate::schedule::ChoiceKind;

/// Which half makes the current run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    /// The exhaustive search (source-DPOR with sleep sets).
    Dpor,
    /// Partial Order Sampling.
    Pos,
}

impl Half {
    /// The half's name in reports: `dpor` or `pos`.
    pub fn name(self) -> &'static str {
        match self {
            Half::Dpor => "dpor",
            Half::Pos => "pos",
        }
    }
}

/// DPOR and POS in turn. See the module documentation.
pub struct Portfolio {
    dpor: Dpor,
    sampler: Pos,
    /// The half making the current run.
    turn: Half,
    /// Runs each half has begun.
    dpor_runs: u64,
    sampled_runs: u64,
    /// Set for one job of a parallel exploration, which makes only this half's runs.
    only: Option<Half>,
}

impl Portfolio {
    /// DPOR (unbounded) and POS seeded with `seed`, DPOR first.
    pub fn new(seed: u64) -> Self {
        Portfolio {
            dpor: Dpor::new(),
            sampler: Pos::new(seed),
            turn: Half::Pos,
            dpor_runs: 0,
            sampled_runs: 0,
            only: None,
        }
    }

    /// One half alone, for a job of a parallel exploration (`--jobs`, see `parallel`): it is
    /// given only its own half's run indices of the whole exploration, DPOR the even ones in
    /// order, POS some of the odd ones in any order, and makes the runs the whole portfolio
    /// would make at those indices (run `r` is DPOR's run `r / 2` or POS's run `(r - 1) / 2`).
    pub(crate) fn half(seed: u64, half: Half) -> Self {
        Portfolio { turn: half, only: Some(half), ..Portfolio::new(seed) }
    }

    fn current(&mut self) -> &mut dyn Strategy {
        match self.turn {
            Half::Dpor => &mut self.dpor,
            Half::Pos => &mut self.sampler,
        }
    }

    fn current_ref(&self) -> &dyn Strategy {
        match self.turn {
            Half::Dpor => &self.dpor,
            Half::Pos => &self.sampler,
        }
    }
}

impl Strategy for Portfolio {
    fn begin_run(&mut self, run: u64) -> bool {
        match self.only {
            Some(Half::Dpor) => {
                assert!(run % 2 == 0, "racelab invariant: DPOR's half of the portfolio got odd run {run}");
                self.dpor_runs += 1;
                return self.dpor.begin_run(run / 2);
            }
            Some(Half::Pos) => {
                assert!(run % 2 == 1, "racelab invariant: POS's half of the portfolio got even run {run}");
                self.sampled_runs += 1;
                return self.sampler.begin_run((run - 1) / 2);
            }
            None => {}
        }
        // DPOR's turn after each sampled run; its search decides when everything is explored.
        self.turn = match self.turn {
            Half::Pos => Half::Dpor,
            Half::Dpor => Half::Pos,
        };
        match self.turn {
            Half::Dpor => {
                let more = self.dpor.begin_run(self.dpor_runs);
                self.dpor_runs += 1;
                more
            }
            Half::Pos => {
                // The space is covered once DPOR says so, whoever's turn it is.
                if self.dpor.exhausted() {
                    return false;
                }
                let more = self.sampler.begin_run(self.sampled_runs);
                self.sampled_runs += 1;
                more
            }
        }
    }

    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        self.current().pick_thread(runnable, current)
    }

    fn pick(&mut self, kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        self.current().pick(kind, options)
    }

    fn end_run(&mut self) -> Result<(), Divergence> {
        self.current().end_run()
    }

    fn observes_steps(&self) -> bool {
        self.current_ref().observes_steps()
    }

    fn step_finished(&mut self, step: &StepFootprint<'_>) {
        self.current().step_finished(step);
    }

    fn clock_advanced(&mut self) {
        self.current().clock_advanced();
    }

    fn cut_off(&mut self, pending: &[StepFootprint<'_>]) {
        self.current().cut_off(pending);
    }

    fn redundant(&self) -> bool {
        self.current_ref().redundant()
    }

    fn yielded(&mut self, t: ThreadId) {
        self.current().yielded(t);
    }

    fn run_maker(&self) -> Option<&'static str> {
        Some(self.turn.name())
    }
}
