//! Interleavings as proptest values: vary a program's inputs and its interleaving together, and
//! let proptest shrink both.
//!
//! Why it exists: a `proptest!` test already varies inputs and shrinks a failure to a minimal
//! one; a concurrency bug needs an interleaving as well, and a seed shrinks to nothing
//! meaningful. An [`Interleaving`] is a list of *relative* choices (see
//! `racelab_sim::strategy::Guided`): decision `i` takes option `choices[i]`, capped at the last
//! option, and past the end of the list option 0. Option 0 is the benign one everywhere (at a thread
//! decision no preemption: the running thread goes on, or after a yield the next one; elsewhere
//! no spurious wake-up, the
//! oldest waiter, the value 0), so every list fits every program, and proptest's shrinking
//! (shorter lists, elements toward 0) moves toward fewer preemptions and fewer unusual events,
//! and, with the inputs shrinking beside it, toward shorter runs.
//!
//! ```no_run
//! use proptest::prelude::*;
//! use racelab_std::proptest::{interleavings, run};
//!
//! fn counter_program(threads: usize) -> impl Fn() + Send + Sync + 'static {
//!     move || { /* spawn `threads` threads that count, join them, assert the total */ }
//! }
//!
//! proptest! {
//!     #[test]
//!     fn counter_is_exact(threads in 1..4usize, interleaving in interleavings()) {
//!         run(&interleaving, counter_program(threads))?;
//!     }
//! }
//! ```
//!
//! A failing case prints as proptest's minimal input (`Interleaving::new(vec![0, 0, 1])`,
//! pasteable) and the message of [`run`]: the racelab report, with the recorded schedule in a
//! `racelab::replay` line.

use std::fmt;

use ::proptest::prelude::{Just, Strategy};
use ::proptest::test_runner::TestCaseError;
use racelab_sim::{Config, Report};

/// How many decisions [`interleavings`] steers at most; decisions past them take option 0.
pub const DEFAULT_DECISIONS: usize = 64;

/// One interleaving of a program, as relative choices. See the module documentation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Interleaving {
    choices: Vec<u32>,
}

impl Interleaving {
    /// The interleaving that takes option `choices[i]` (capped at the last option) at decision
    /// `i`, and option 0 past the end.
    pub fn new(choices: Vec<u32>) -> Self {
        Interleaving { choices }
    }

    /// The choices.
    pub fn choices(&self) -> &[u32] {
        &self.choices
    }

    /// Decisions that may take other than option 0: at most this many preemptions.
    pub fn switches(&self) -> usize {
        self.choices.iter().filter(|&&c| c != 0).count()
    }

    /// The racelab configuration of the one run this interleaving makes (`Config::guided`);
    /// adjust it (`max_steps`, `spurious_wakeups`...) and pass it to `racelab::check`.
    pub fn config(&self) -> Config {
        Config::guided(self.choices.clone())
    }
}

impl fmt::Debug for Interleaving {
    /// As Rust that makes it again: what proptest prints for a minimal failing input.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interleaving::new(vec!{:?})", self.choices)
    }
}

/// Interleavings of up to [`DEFAULT_DECISIONS`] steered decisions: see [`interleavings_up_to`].
pub fn interleavings() -> impl Strategy<Value = Interleaving> {
    interleavings_up_to(DEFAULT_DECISIONS)
}

/// Interleavings of up to `decisions` steered decisions, each one a switch (a non-zero choice)
/// one time in four, so that most generated runs have a few preemptions, not one at every
/// step. Shrinks toward fewer and earlier switches, then smaller ones.
pub fn interleavings_up_to(decisions: usize) -> impl Strategy<Value = Interleaving> {
    let choice = ::proptest::prop_oneof![3 => Just(0u32), 1 => 1u32..8];
    ::proptest::collection::vec(choice, 0..=decisions).prop_map(Interleaving::new)
}

/// Runs `program` once, under `interleaving`: its report.
pub fn check<F>(interleaving: &Interleaving, program: F) -> Report
where
    F: Fn() + Send + Sync + 'static,
{
    racelab_sim::check(interleaving.config(), program)
}

/// Runs `program` once under `interleaving`, as a proptest case: `Ok` when the run passes, a
/// failed case otherwise, whose message is the report and the lines that replay the run.
pub fn run<F>(interleaving: &Interleaving, program: F) -> Result<(), TestCaseError>
where
    F: Fn() + Send + Sync + 'static,
{
    let report = check(interleaving, program);
    match &report.failure {
        None => Ok(()),
        Some(f) => Err(TestCaseError::fail(format!(
            "{report}replay: racelab::replay(&\"{}\".parse().unwrap(), program).assert_passed()\n    or: \
             racelab::proptest::run(&{interleaving:?}, program)",
            f.schedule
        ))),
    }
}
