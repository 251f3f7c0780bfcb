//! The `pct` strategy: Probabilistic Concurrency Testing (Burckhardt, Kothari, Musuvathi,
//! Nagarakatte, "A Randomized Scheduler with Probabilistic Guarantees of Finding Bugs",
//! ASPLOS 2010).
//!
//! Every thread gets a random priority above `depth`; the highest-priority runnable thread
//! always runs. At `depth - 1` change points, drawn uniformly over the expected run length `k`,
//! the running thread drops to a low priority (`depth - 1 - i` at the i-th point). A bug of
//! depth `d` in a program of `n` threads and `k` steps is then found with probability at least
//! `1 / (n * k^(d-1))` per run.
//!
//! Where we differ from the paper: `k` is not known in advance, so, like shuttle, we start from
//! a guess and raise it to the longest run seen so far, counting only steps with more than one
//! runnable thread; and threads get their priority when
//! they first become runnable, a random 32-bit number above `depth` (ties broken by id), which
//! yields the paper's uniformly random order. Non-thread decisions (waiters, timeouts, random
//! values) are drawn uniformly from the same stream.

use rand_chacha::rand_core::Rng;
use rand_chacha::ChaCha8Rng;

use super::random::run_rng;
use super::{uniform, Divergence, Strategy};
use crate::ids::ThreadId;
use crate::schedule::ChoiceKind;

/// The run length assumed before any run has been seen: the first run then has its change
/// points at its first step, and every later run draws them over the longest run seen.
const INITIAL_LENGTH_GUESS: u64 = 1;

/// PCT scheduling of a given depth. See the module documentation.
#[derive(Clone, Debug)]
pub struct Pct {
    seed: u64,
    depth: u32,
    rng: ChaCha8Rng,
    /// Priority of each thread, by id; `None` until the thread is first seen.
    priorities: Vec<Option<u64>>,
    /// Steps (1-based) at which the running thread is lowered, sorted.
    change_points: Vec<u64>,
    /// Steps taken in this run.
    step: u64,
    /// The longest run seen so far: PCT's `k`.
    max_length: u64,
}

impl Pct {
    /// A PCT strategy of bug depth `depth` (at least 1), seeded with `seed`.
    pub fn new(seed: u64, depth: u32) -> Self {
        assert!(depth >= 1, "PCT depth must be at least 1");
        Pct {
            seed,
            depth,
            rng: run_rng(seed, 0),
            priorities: Vec::new(),
            change_points: Vec::new(),
            step: 0,
            max_length: INITIAL_LENGTH_GUESS,
        }
    }

    fn priority(&mut self, t: ThreadId) -> u64 {
        let i = t.index();
        if self.priorities.len() <= i {
            self.priorities.resize(i + 1, None);
        }
        if self.priorities[i].is_none() {
            let p = u64::from(self.depth) + 1 + u64::from(self.rng.next_u32());
            self.priorities[i] = Some(p);
        }
        self.priorities[i].unwrap_or(0)
    }
}

impl Strategy for Pct {
    fn begin_run(&mut self, run: u64) -> bool {
        self.rng = run_rng(self.seed, run);
        self.priorities.clear();
        self.step = 0;
        // `depth - 1` distinct change points among the steps 1..k-1 (the last step can change
        // nothing), fewer when the runs are shorter than that.
        let span = self.max_length.saturating_sub(1).max(1);
        let wanted = u64::from(self.depth.saturating_sub(1)).min(span) as usize;
        self.change_points.clear();
        while self.change_points.len() < wanted {
            let p = 1 + uniform(self.rng.next_u64(), span as usize) as u64;
            if !self.change_points.contains(&p) {
                self.change_points.push(p);
            }
        }
        self.change_points.sort_unstable();
        true
    }

    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        for t in runnable {
            self.priority(*t);
        }
        if runnable.len() == 1 {
            return Ok(runnable[0]);
        }
        // Only real decisions count as steps (as in shuttle): `k` is then the number of places
        // where a change point can make a difference.
        self.step += 1;
        let best = |s: &Self| {
            runnable
                .iter()
                .copied()
                .max_by_key(|t| (s.priorities[t.index()], std::cmp::Reverse(*t)))
                .unwrap_or(runnable[0])
        };
        // At the i-th change point the running thread (or, when it cannot go on, the one about
        // to run) drops to priority `depth - 1 - i`, below every initial priority (all above
        // `depth`), and the pick is made again.
        if let Some(i) = self.change_points.iter().position(|&p| p == self.step) {
            let lowered = current.unwrap_or_else(|| best(self));
            self.priorities[lowered.index()] = Some(u64::from(self.depth) - 1 - i as u64);
        }
        Ok(best(self))
    }

    fn pick(&mut self, _kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        Ok(uniform(self.rng.next_u64(), options))
    }

    fn end_run(&mut self) -> Result<(), Divergence> {
        self.max_length = self.max_length.max(self.step);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_one_never_preempts() {
        // With no change points the highest-priority thread runs until it cannot.
        let ts: Vec<ThreadId> = (0..3).map(ThreadId).collect();
        for seed in 0..20 {
            let mut s = Pct::new(seed, 1);
            s.begin_run(0);
            let first = s.pick_thread(&ts, None).unwrap();
            for _ in 0..100 {
                assert_eq!(s.pick_thread(&ts, Some(first)).unwrap(), first);
            }
        }
    }

    #[test]
    fn change_point_lowers_the_running_thread() {
        let ts: Vec<ThreadId> = (0..2).map(ThreadId).collect();
        for seed in 0..50 {
            let mut s = Pct::new(seed, 2);
            s.begin_run(0);
            let mut cur = None;
            for _ in 0..=INITIAL_LENGTH_GUESS {
                cur = Some(s.pick_thread(&ts, cur).unwrap());
            }
            // Depth 2 has one change point within the first k steps: one thread was lowered
            // below every initial priority, and the other runs from then on.
            let lowered: Vec<ThreadId> =
                ts.iter().copied().filter(|t| s.priorities[t.index()] < Some(2)).collect();
            assert_eq!(lowered.len(), 1, "seed {seed}: {:?}", s.priorities);
            assert_ne!(cur, Some(lowered[0]), "seed {seed}");
        }
    }

    #[test]
    fn runs_are_reproducible() {
        let ts: Vec<ThreadId> = (0..3).map(ThreadId).collect();
        let run = |seed| {
            let mut s = Pct::new(seed, 3);
            s.begin_run(4);
            let mut cur = None;
            (0..40)
                .map(|_| {
                    let t = s.pick_thread(&ts, cur).unwrap();
                    cur = Some(t);
                    t
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
    }
}
