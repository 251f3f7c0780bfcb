//! `Barrier`: std's barrier, `n` threads meet and the last to arrive is the leader.
//!
//! An arrival is one step; the last one wakes the others and starts the next generation (a
//! barrier is reusable). Unlike Python's `threading.Barrier` (racelab's native one) it has no
//! timeout, no abort and no broken state: std's has none either.

use std::fmt;

use racelab_sim::rt::{self, ObjectHandle};
use racelab_sim::ThreadId;

#[derive(Debug)]
struct BarrierState {
    n: usize,
    waiting: Vec<ThreadId>,
    generation: u64,
}

/// A barrier for `n` threads, as `std::sync::Barrier`.
pub struct Barrier {
    obj: ObjectHandle,
}

/// What [`Barrier::wait`] returns: whether this thread is the leader, as std's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one thread of each generation: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("name", &rt::object_name(self.obj)).finish_non_exhaustive()
    }
}

impl Barrier {
    /// A barrier that releases its waiters when `n` threads have called `wait` (0 and 1 never
    /// block, as in std). Registered with the current run as `Barrier-<n>`.
    pub fn new(n: usize) -> Self {
        Barrier { obj: rt::register("Barrier", None, BarrierState { n, waiting: Vec::new(), generation: 0 }) }
    }

    /// Blocks until `n` threads have arrived; the last one is the leader and does not block.
    pub fn wait(&self) -> BarrierWaitResult {
        rt::schedule_point();
        let me = rt::current();
        let released = rt::write(self.obj, |s: &mut BarrierState| {
            if s.waiting.len() + 1 >= s.n {
                s.generation += 1;
                Some(std::mem::take(&mut s.waiting))
            } else {
                s.waiting.push(me);
                None
            }
        });
        match released {
            Some(others) => {
                rt::event("wait", Some(self.obj), || format!("leader, released {} waiting", others.len()));
                for t in others {
                    rt::wake(t);
                }
                BarrierWaitResult(true)
            }
            None => {
                rt::event("wait", Some(self.obj), || "waiting".into());
                // Only the leader wakes a waiter, and no deadline: this returns released.
                rt::block(Some(self.obj), None);
                rt::event("wait", Some(self.obj), || "released".into());
                BarrierWaitResult(false)
            }
        }
    }
}
