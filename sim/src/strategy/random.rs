//! The `random` strategy: every decision uniformly at random from a seeded ChaCha8 stream.
//!
//! Run `i` draws from stream `i` of the generator seeded with the user's seed, so each run is
//! a function of `(seed, i)` alone: any run can be replayed or handed to another worker without
//! replaying the runs before it.

use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{uniform, Divergence, Strategy};
use crate::ids::ThreadId;
use crate::schedule::ChoiceKind;

/// Uniform random scheduling. See the module documentation.
#[derive(Clone, Debug)]
pub struct Random {
    seed: u64,
    rng: ChaCha8Rng,
}

impl Random {
    /// A random strategy seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Random { seed, rng: ChaCha8Rng::seed_from_u64(seed) }
    }
}

/// The generator for run `run` of seed `seed` (shared with `pct`).
pub(crate) fn run_rng(seed: u64, run: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(run);
    rng
}

impl Strategy for Random {
    fn begin_run(&mut self, run: u64) -> bool {
        self.rng = run_rng(self.seed, run);
        true
    }

    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        _current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        if runnable.len() == 1 {
            return Ok(runnable[0]);
        }
        Ok(runnable[uniform(self.rng.next_u64(), runnable.len())])
    }

    fn pick(&mut self, _kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        Ok(uniform(self.rng.next_u64(), options))
    }

    fn end_run(&mut self) -> Result<(), Divergence> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads(n: u32) -> Vec<ThreadId> {
        (0..n).map(ThreadId).collect()
    }

    fn picks(seed: u64, run: u64) -> Vec<ThreadId> {
        let mut s = Random::new(seed);
        assert!(s.begin_run(run));
        let ts = threads(4);
        (0..50).map(|_| s.pick_thread(&ts, None).unwrap()).collect()
    }

    #[test]
    fn same_seed_and_run_same_picks() {
        assert_eq!(picks(7, 3), picks(7, 3));
        assert_ne!(picks(7, 3), picks(7, 4));
        assert_ne!(picks(7, 3), picks(8, 3));
    }

    #[test]
    fn every_thread_gets_picked() {
        let p = picks(1, 0);
        for t in threads(4) {
            assert!(p.contains(&t), "{t} never picked in {p:?}");
        }
    }

    #[test]
    fn forced_pick_draws_nothing() {
        let mut a = Random::new(5);
        let mut b = Random::new(5);
        a.begin_run(0);
        b.begin_run(0);
        assert_eq!(a.pick_thread(&threads(1), None).unwrap(), ThreadId(0));
        assert_eq!(a.pick(ChoiceKind::Waiter, 3), b.pick(ChoiceKind::Waiter, 3));
    }
}
