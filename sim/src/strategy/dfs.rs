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
//! A preemption is a thread choice that switches away from a thread that could have gone on,
//! or after a yield keeps the yielding thread going while another could run (see
//! [`super::preempts`]). At thread decisions the continuing thread is tried first (after a
//! yield, last), so the first run of the search is the non-preemptive one. With a bound `b`,
//! options that would make a run's preemptions exceed `b` are skipped.
//!
//! Delay bounding (Emmi, Qadeer, Rakamarić, "Delay-Bounded Scheduling", POPL 2011) measures a
//! run instead against a deterministic round-robin scheduler: it runs the current thread while
//! it can and has not yielded, else the next runnable thread in id order after it (cyclically). Taking the `k`-th
//! option in that order costs `k` delays; with a delay bound `d`, runs spend at most `d`. With a
//! delay bound the options are listed in round-robin order; both bounds may apply at once. This search has no partial-order reduction: it explores every
//! interleaving, including ones that differ only in the order of independent steps.

use super::runnable_log::RunnableLog;
use super::{Divergence, Offer, Strategy};
use crate::ids::ThreadId;
use crate::schedule::{Choice, ChoiceKind};

/// One decision of the current run. A frame stores no list of its options: for a data choice
/// they are `0..options`, for a thread choice they follow from the runnable set (kept in the
/// search's [`RunnableLog`]) and the thread that ran last, so a frame costs the same whatever
/// the number of threads.
#[derive(Clone, Debug)]
struct Frame {
    kind: ChoiceKind,
    /// How many options there are.
    options: usize,
    /// For thread decisions, the thread that took the previous step (the round-robin pivot),
    /// and whether it could go on (it is then option 0 and every other option preempts it,
    /// unless it yielded: see `yielded`).
    current: Option<u32>,
    first_continues: bool,
    /// The thread that took the previous step could go on and yielded: it is the last option,
    /// the only one that preempts.
    yielded: bool,
    /// A random value held at the run's own (see [`Dfs::keeping_random_values`]): no other
    /// option is explored.
    pinned: bool,
    /// Index of the option taken in the current run.
    chosen: usize,
    /// Preemptions taken by the run before this decision.
    preemptions_before: u32,
    /// Delays taken by the run before this decision (option `i` costs `i` when delay-bounding).
    delays_before: u32,
}

impl Frame {
    fn preempts(&self, index: usize) -> bool {
        if self.yielded {
            index + 1 == self.options
        } else {
            self.first_continues && index > 0
        }
    }
}

/// Exhaustive depth-first exploration. See the module documentation.
#[derive(Clone, Debug)]
pub struct Dfs {
    preemption_bound: Option<u32>,
    delay_bound: Option<u32>,
    stack: Vec<Frame>,
    /// The runnable set of every thread decision on the stack.
    runnable: RunnableLog,
    /// Position of the next decision in the current run.
    depth: usize,
    /// Preemptions taken so far in the current run.
    preemptions: u32,
    /// Delays taken so far in the current run.
    delays: u32,
    exhausted: bool,
    /// The thread that ran last yielded ([`Strategy::yielded`]): told for the next thread decision.
    yielder: Option<ThreadId>,
    /// Values for the program's random choices, in the order it asks for them (see
    /// [`Dfs::keeping_random_values`]), and how many this run has used.
    random_values: Vec<u32>,
    random_used: usize,
}

impl Dfs {
    /// An exhaustive search; with `Some(b)`, runs take at most `b` preemptions.
    pub fn new(preemption_bound: Option<u32>) -> Self {
        Dfs {
            preemption_bound,
            delay_bound: None,
            stack: Vec::new(),
            runnable: RunnableLog::default(),
            depth: 0,
            preemptions: 0,
            delays: 0,
            exhausted: false,
            yielder: None,
            random_values: Vec::new(),
            random_used: 0,
        }
    }

    /// Gives the program's random choices ([`ChoiceKind::Random`]: `choose`, racelab-py's seed
    /// of `random`) the values `values`, in order, instead of exploring them: what shrinking
    /// wants (the same input, in fewer preemptions and steps). A choice past the list, or whose
    /// value does not fit its options, is explored as usual.
    pub(crate) fn keeping_random_values(mut self, values: Vec<u32>) -> Self {
        self.random_values = values;
        self
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
        if frame.pinned {
            return false;
        }
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

    /// The thread that is option `index` of a thread decision among `runnable` (sorted) after
    /// `current`: the continuing thread first, then the others in id order, or with a delay
    /// bound in round-robin order (the threads after `current`, cyclically). After a yield
    /// (`yielded`) the continuing thread comes last instead.
    fn thread_option(&self, runnable: &[ThreadId], current: Option<u32>, yielded: bool, index: usize) -> u32 {
        let continuing = current.filter(|&c| runnable.contains(&ThreadId(c)));
        if continuing.is_some() && !yielded && index == 0 {
            return continuing.unwrap_or_default();
        }
        let others = runnable.iter().map(|t| t.0).filter(|&t| Some(t) != continuing);
        let skip = if yielded { index } else { index - usize::from(continuing.is_some()) };
        if self.delay_bound.is_some() {
            let pivot = current.unwrap_or(0);
            let (after, before): (Vec<u32>, Vec<u32>) = others.partition(|&t| t > pivot);
            after.into_iter().chain(before).nth(skip)
        } else {
            others.clone().nth(skip)
        }
        .or(continuing.filter(|_| yielded))
        .expect("racelab invariant: a thread option past the runnable set")
    }

    /// The decision recorded at `depth` as a schedule choice, for a divergence report.
    fn scheduled(&self, depth: usize) -> Choice {
        let frame = &self.stack[depth];
        let value = match frame.kind {
            ChoiceKind::Thread => {
                self.thread_option(&self.runnable.set_at(depth), frame.current, frame.yielded, frame.chosen)
            }
            _ => frame.chosen as u32,
        };
        Choice::new(frame.kind, value)
    }

    /// Takes the decision at the current depth among `options` options (for a thread decision,
    /// among `runnable` after `current`): replays the stack's choice, or pushes a new frame at
    /// its first option. Returns the index of the option taken.
    fn decide(
        &mut self,
        kind: ChoiceKind,
        options: usize,
        thread: Option<(&[ThreadId], Option<u32>, bool)>,
    ) -> Result<usize, Divergence> {
        let pin = if kind == ChoiceKind::Random {
            let value = self.random_values.get(self.random_used).map(|&v| v as usize);
            self.random_used += 1;
            value.filter(|&v| v < options)
        } else {
            None
        };
        let depth = self.depth;
        self.depth += 1;
        let (runnable, current, yielded) = thread.unwrap_or((&[], None, false));
        let first_continues = current.is_some_and(|c| runnable.contains(&ThreadId(c)));
        let yielded = yielded && first_continues;
        if let Some(frame) = self.stack.get(depth) {
            let same = frame.kind == kind
                && frame.options == options
                && frame.current == current
                && frame.yielded == yielded
                && (kind != ChoiceKind::Thread || self.runnable.same_at(depth, options, runnable));
            if !same {
                let offered = match kind {
                    ChoiceKind::Thread => Offer::Threads(runnable.to_vec()),
                    _ => Offer::Options { kind, options },
                };
                return Err(Divergence { decision: depth, scheduled: Some(self.scheduled(depth)), offered });
            }
            self.preemptions += u32::from(frame.preempts(frame.chosen));
            self.delays += self.delay_cost(frame, frame.chosen);
            return Ok(frame.chosen);
        }
        debug_assert_eq!(depth, self.stack.len(), "dfs decisions must extend the stack one at a time");
        if kind == ChoiceKind::Thread {
            self.runnable.push(depth, runnable);
        }
        self.stack.push(Frame {
            kind,
            options,
            current,
            first_continues,
            yielded,
            pinned: pin.is_some(),
            chosen: pin.unwrap_or(0),
            preemptions_before: self.preemptions,
            delays_before: self.delays,
        });
        Ok(0)
    }
}

impl Strategy for Dfs {
    fn begin_run(&mut self, _run: u64) -> bool {
        self.depth = 0;
        self.preemptions = 0;
        self.delays = 0;
        self.random_used = 0;
        self.yielder = None;
        !self.exhausted
    }

    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        let yielded = self.yielder.take().is_some_and(|y| current == Some(y));
        if runnable.len() == 1 {
            return Ok(runnable[0]);
        }
        let current = current.map(|c| c.0);
        let index = self.decide(ChoiceKind::Thread, runnable.len(), Some((runnable, current, yielded)))?;
        Ok(ThreadId(self.thread_option(runnable, current, yielded, index)))
    }

    fn pick(&mut self, kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        self.decide(kind, options, None)
    }

    fn yielded(&mut self, t: ThreadId) {
        self.yielder = Some(t);
    }

    fn end_run(&mut self) -> Result<(), Divergence> {
        // Decisions deeper than this run went are stale: a run that ended earlier than the
        // prefix it replayed means the program is not deterministic under its schedule.
        if self.depth < self.stack.len() {
            return Err(Divergence {
                decision: self.depth,
                scheduled: Some(self.scheduled(self.depth)),
                offered: Offer::End,
            });
        }
        while let Some(frame) = self.stack.last() {
            let next = (frame.chosen + 1..frame.options).find(|&i| self.allowed(frame, i));
            match next {
                Some(i) => {
                    if let Some(top) = self.stack.last_mut() {
                        top.chosen = i;
                    }
                    self.runnable.truncate(self.stack.len());
                    return Ok(());
                }
                None => {
                    self.stack.pop();
                }
            }
        }
        self.runnable.truncate(0);
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

    /// The runs of a bounded search over thread 0 spinning (`while !flag { yield }`: a check, then
    /// a yield, round again) until thread 1's one step sets the flag, each as the number of
    /// checks thread 0 made; `None` for a run that passed `limit` checks.
    fn spin_runs(bound: u32, limit: u32) -> Vec<Option<u32>> {
        let mut dfs = Dfs::new(Some(bound));
        let mut runs = Vec::new();
        while dfs.begin_run(runs.len() as u64) {
            let (mut checks, mut flag, mut current) = (0, false, None);
            let mut yielding = false;
            let outcome = loop {
                let runnable: Vec<ThreadId> = if flag { vec![t(0)] } else { vec![t(0), t(1)] };
                if yielding {
                    dfs.yielded(t(0));
                }
                let next = dfs.pick_thread(&runnable, current).unwrap();
                current = Some(next);
                yielding = false;
                if next == t(1) {
                    flag = true;
                    current = None; // thread 1 ended
                } else if flag {
                    break Some(checks);
                } else if checks == limit {
                    break None;
                } else {
                    checks += 1;
                    yielding = true; // the check failed: yield
                }
            };
            dfs.end_run().unwrap();
            runs.push(outcome);
        }
        runs
    }

    #[test]
    fn a_yield_makes_switching_free_and_keeping_the_yielder_going_the_preemption() {
        // Bound 0: thread 0 checks once, yields, and switching to thread 1 is free (the first
        // run takes it: after a yield the other threads come first); keeping thread 0 going is
        // not within the bound, so the loop ends. Starting with thread 1 is free too (no thread
        // ran before).
        assert_eq!(spin_runs(0, 100), vec![Some(1), Some(0)]);
        // Each preemption buys one more round of the loop.
        assert_eq!(spin_runs(1, 100), vec![Some(1), Some(2), Some(0)]);
        assert_eq!(spin_runs(2, 100), vec![Some(1), Some(2), Some(3), Some(0)]);
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
        assert_eq!(dfs.stack[0].options, 3_000_000_000, "a frame keeps a count, not a list");
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
