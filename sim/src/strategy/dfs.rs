//! The `dfs` strategy: exhaustive depth-first search over every decision of the program,
//! optionally bounded by the number of preemptions (CHESS: Musuvathi and Qadeer, "Iterative
//! Context Bounding for Systematic Testing of Multithreaded Programs", PLDI 2007).
//!
//! The search keeps a stack of decision frames. Each run replays the stack's choices as a
//! prefix, then extends it with the first option at every new decision. When a run ends, the
//! deepest frame with an untried option advances; frames with none left are popped. The search
//! is complete when the stack empties. Because the prefix is replayed, the program must make
//! the same decisions given the same choices; when it does not (it reads something racelab
//! does not control) the search reports a [`Divergence`] instead of exploring garbage.
//!
//! A preemption is a thread choice that switches away from a thread that could have gone on.
//! At thread decisions the continuing thread is tried first, so the first run of the search is
//! the non-preemptive one. With a bound `b`, options that would make a run's preemptions
//! exceed `b` are skipped.
//!
//! Delay bounding (Emmi, Qadeer, Rakamarić, "Delay-Bounded Scheduling", POPL 2011) measures a
//! run instead against a deterministic round-robin scheduler: it runs the current thread while
//! it can, else the next runnable thread in id order after it (cyclically). Taking the `k`-th
//! option in that order costs `k` delays; with a delay bound `d`, runs spend at most `d`. With a
//! delay bound the options are listed in round-robin order; both bounds may apply at once. This search has no partial-order reduction: it explores every
//! interleaving, including ones that differ only in the order of independent steps.

use super::{Divergence, Offer, Strategy};
use crate::ids::ThreadId;
use crate::schedule::{Choice, ChoiceKind};

/// The options of one decision. A data decision is only a count: `racelab::choose(n)` may offer
/// billions of values, and listing them would take gigabytes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Options {
    /// The runnable thread ids, with the continuing thread (if any) first.
    Threads(Vec<u32>),
    /// The values `0..n`.
    Count(usize),
}

impl Options {
    fn len(&self) -> usize {
        match self {
            Options::Threads(ts) => ts.len(),
            Options::Count(n) => *n,
        }
    }

    /// The value option `index` stands for: a thread id or the index itself.
    fn value(&self, index: usize) -> u32 {
        match self {
            Options::Threads(ts) => ts[index],
            Options::Count(n) => {
                assert!(index < *n, "racelab invariant: dfs option {index} of {n}");
                u32::try_from(index).expect("racelab invariant: choices are capped to u32 values")
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Frame {
    kind: ChoiceKind,
    options: Options,
    /// Index into `options` of the option taken in the current run.
    chosen: usize,
    /// True when `options[0]` is the thread that could have continued, so every other option
    /// is a preemption.
    first_continues: bool,
    /// Preemptions taken by the run before this decision.
    preemptions_before: u32,
    /// Delays taken by the run before this decision (option `i` costs `i` when delay-bounding).
    delays_before: u32,
}

impl Frame {
    fn preempts(&self, index: usize) -> bool {
        self.first_continues && index > 0
    }
}

/// Exhaustive depth-first exploration. See the module documentation.
#[derive(Clone, Debug)]
pub struct Dfs {
    preemption_bound: Option<u32>,
    delay_bound: Option<u32>,
    stack: Vec<Frame>,
    /// Position of the next decision in the current run.
    depth: usize,
    /// Preemptions taken so far in the current run.
    preemptions: u32,
    /// Delays taken so far in the current run.
    delays: u32,
    exhausted: bool,
}

impl Dfs {
    /// An exhaustive search; with `Some(b)`, runs take at most `b` preemptions.
    pub fn new(preemption_bound: Option<u32>) -> Self {
        Dfs {
            preemption_bound,
            delay_bound: None,
            stack: Vec::new(),
            depth: 0,
            preemptions: 0,
            delays: 0,
            exhausted: false,
        }
    }

    /// Also bounds every run to `bound` delays against round-robin scheduling.
    pub fn delay_bound(mut self, bound: u32) -> Self {
        self.delay_bound = Some(bound);
        self
    }

    /// The delays option `index` of `frame` costs: its position in round-robin order.
    fn delay_cost(&self, frame: &Frame, index: usize) -> u32 {
        if self.delay_bound.is_some() && frame.kind == ChoiceKind::Thread {
            index as u32
        } else {
            0
        }
    }

    fn allowed(&self, frame: &Frame, index: usize) -> bool {
        let preemptions_ok = match self.preemption_bound {
            None => true,
            Some(b) => frame.preemptions_before + u32::from(frame.preempts(index)) <= b,
        };
        let delays_ok = match self.delay_bound {
            None => true,
            Some(d) => frame.delays_before + self.delay_cost(frame, index) <= d,
        };
        preemptions_ok && delays_ok
    }

    /// Takes the decision at the current depth: replays the stack's choice, or pushes a new
    /// frame at its first option.
    fn decide(
        &mut self,
        kind: ChoiceKind,
        options: Options,
        first_continues: bool,
    ) -> Result<u32, Divergence> {
        let depth = self.depth;
        self.depth += 1;
        if let Some(frame) = self.stack.get(depth) {
            if frame.kind != kind || frame.options != options || frame.first_continues != first_continues {
                let scheduled = Some(Choice::new(frame.kind, frame.options.value(frame.chosen)));
                let offered = match options {
                    Options::Threads(ts) => Offer::Threads(ts.into_iter().map(ThreadId).collect()),
                    Options::Count(n) => Offer::Options { kind, options: n },
                };
                return Err(Divergence { decision: depth, scheduled, offered });
            }
            self.preemptions += u32::from(frame.preempts(frame.chosen));
            self.delays += self.delay_cost(frame, frame.chosen);
            return Ok(frame.options.value(frame.chosen));
        }
        debug_assert_eq!(depth, self.stack.len(), "dfs decisions must extend the stack one at a time");
        let frame = Frame {
            kind,
            options,
            chosen: 0,
            first_continues,
            preemptions_before: self.preemptions,
            delays_before: self.delays,
        };
        let value = frame.options.value(0);
        self.stack.push(frame);
        Ok(value)
    }
}

impl Strategy for Dfs {
    fn begin_run(&mut self, _run: u64) -> bool {
        self.depth = 0;
        self.preemptions = 0;
        self.delays = 0;
        !self.exhausted
    }

    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        if runnable.len() == 1 {
            return Ok(runnable[0]);
        }
        let continuing = current.filter(|c| runnable.contains(c));
        let mut options = Vec::with_capacity(runnable.len());
        options.extend(continuing.map(|c| c.0));
        if self.delay_bound.is_some() {
            // Round-robin order: the threads after the current one, cyclically.
            let pivot = current.map_or(0, |c| c.0);
            let (after, before): (Vec<u32>, Vec<u32>) = runnable
                .iter()
                .map(|t| t.0)
                .filter(|&t| Some(t) != continuing.map(|c| c.0))
                .partition(|&t| t > pivot);
            options.extend(after);
            options.extend(before);
        } else {
            options.extend(runnable.iter().filter(|&&t| Some(t) != continuing).map(|t| t.0));
        }
        self.decide(ChoiceKind::Thread, Options::Threads(options), continuing.is_some()).map(ThreadId)
    }

    fn pick(&mut self, kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        self.decide(kind, Options::Count(options), false).map(|v| v as usize)
    }

    fn end_run(&mut self) -> Result<(), Divergence> {
        // Decisions deeper than this run went are stale: a run that ended earlier than the
        // prefix it replayed means the program is not deterministic under its schedule.
        if self.depth < self.stack.len() {
            let frame = &self.stack[self.depth];
            return Err(Divergence {
                decision: self.depth,
                scheduled: Some(Choice::new(frame.kind, frame.options.value(frame.chosen))),
                offered: Offer::End,
            });
        }
        while let Some(frame) = self.stack.last() {
            let next = (frame.chosen + 1..frame.options.len()).find(|&i| self.allowed(frame, i));
            match next {
                Some(i) => {
                    if let Some(top) = self.stack.last_mut() {
                        top.chosen = i;
                    }
                    return Ok(());
                }
                None => {
                    self.stack.pop();
                }
            }
        }
        self.exhausted = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u32) -> ThreadId {
        ThreadId(n)
    }

    /// Two threads of `steps` steps each, modelled by hand: counts the interleavings the search
    /// enumerates. Without a bound that is C(2*steps, steps).
    fn count_interleavings(steps: u32, bound: Option<u32>) -> usize {
        let mut dfs = Dfs::new(bound);
        let mut runs = 0;
        let mut seen = std::collections::BTreeSet::new();
        while dfs.begin_run(runs as u64) {
            let mut left = [steps, steps];
            let mut current = None;
            let mut order = Vec::new();
            while left.iter().any(|&n| n > 0) {
                let runnable: Vec<ThreadId> = (0..2).filter(|&i| left[i as usize] > 0).map(t).collect();
                let next = dfs.pick_thread(&runnable, current).unwrap();
                left[next.index()] -= 1;
                order.push(next.0);
                current = Some(next);
            }
            dfs.end_run().unwrap();
            assert!(seen.insert(order), "an interleaving was explored twice");
            runs += 1;
        }
        runs
    }

    #[test]
    fn unbounded_search_is_exhaustive() {
        assert_eq!(count_interleavings(1, None), 2);
        assert_eq!(count_interleavings(2, None), 6);
        assert_eq!(count_interleavings(3, None), 20);
    }

    #[test]
    fn preemption_bound_limits_the_search() {
        // Bound 0: each thread runs to completion once started: 2 orders.
        assert_eq!(count_interleavings(3, Some(0)), 2);
        // A bound as large as the program allows everything.
        assert_eq!(count_interleavings(3, Some(10)), 20);
        let one = count_interleavings(3, Some(1));
        assert!(2 < one && one < 20, "bound 1 gave {one}");
    }

    fn count_with_delays(steps: u32, delays: u32) -> usize {
        let mut dfs = Dfs::new(None).delay_bound(delays);
        let mut runs = 0;
        while dfs.begin_run(runs as u64) {
            let mut left = [steps, steps, steps];
            let mut current = None;
            while left.iter().any(|&n| n > 0) {
                let runnable: Vec<ThreadId> = (0..3).filter(|&i| left[i as usize] > 0).map(t).collect();
                let next = dfs.pick_thread(&runnable, current).unwrap();
                left[next.index()] -= 1;
                current = Some(next);
            }
            dfs.end_run().unwrap();
            runs += 1;
        }
        runs
    }

    #[test]
    fn delay_bound_zero_is_the_round_robin_run_and_bounds_grow_the_search() {
        assert_eq!(count_with_delays(2, 0), 1);
        let (one, two, all) = (count_with_delays(2, 1), count_with_delays(2, 2), count_with_delays(2, 100));
        assert!(1 < one && one < two && two <= all, "{one} {two} {all}");
        // Three threads of two steps: 6!/(2!2!2!) = 90 interleavings in all.
        assert_eq!(all, 90);
    }

    #[test]
    fn data_choices_are_enumerated() {
        let mut dfs = Dfs::new(None);
        let mut outcomes = Vec::new();
        let mut run = 0;
        while dfs.begin_run(run) {
            let a = dfs.pick(ChoiceKind::Random, 3).unwrap();
            let b = dfs.pick(ChoiceKind::Spurious, 2).unwrap();
            outcomes.push((a, b));
            dfs.end_run().unwrap();
            run += 1;
        }
        assert_eq!(outcomes, vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]);
    }

    #[test]
    fn a_data_choice_of_billions_allocates_nothing_per_option() {
        let mut dfs = Dfs::new(None);
        let mut picked = Vec::new();
        for run in 0..3 {
            assert!(dfs.begin_run(run));
            picked.push(dfs.pick(ChoiceKind::Random, 3_000_000_000).unwrap());
            dfs.end_run().unwrap();
        }
        assert_eq!(picked, vec![0, 1, 2]);
        let frame = &dfs.stack[0];
        assert_eq!(frame.options, Options::Count(3_000_000_000));
    }

    #[test]
    fn nondeterministic_program_is_reported() {
        let mut dfs = Dfs::new(None);
        dfs.begin_run(0);
        dfs.pick(ChoiceKind::Random, 2).unwrap();
        dfs.end_run().unwrap();
        dfs.begin_run(1);
        let e = dfs.pick(ChoiceKind::Random, 3).unwrap_err();
        assert_eq!(e.decision, 0);
    }
}
