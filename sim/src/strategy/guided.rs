//! The `guided` strategy: one run that follows a list of *relative* choices, for property-based
//! testing (`racelab::proptest`), where a generator makes the list and a shrinker cuts it down.
//!
//! A recorded schedule names threads (`t2`), so a shrinker that edits it mostly makes schedules
//! that no longer fit the program. Relative choices always fit: decision `i` takes option
//! `choices[i]`, capped at the last option, and past the end of the list option 0. Capping, not
//! wrapping, keeps shrinking monotone: a smaller value is never a bigger change (with wrapping,
//! a binary search from 7 toward 1 over two options would try 4 and 6, both "no switch"). Option 0 is the benign one
//! everywhere: at a thread decision, the thread that ran last goes on when it can (no
//! preemption), else the lowest runnable id; the other options are the other runnable threads
//! in id order after it, wrapping. After a yield the count starts at the thread after the one
//! that yielded, which comes last (keeping it going is the preemption: `super::preempts`). At any other decision it is the first alternative (no
//! spurious wake-up, the wake-up before the timeout, the oldest waiter, the value 0). So a
//! shorter list, or smaller values, means fewer preemptions and fewer unusual events: what a
//! shrinker should aim for. The run's recorded schedule is the usual one and replays as any.

use std::cell::RefCell;
use std::rc::Rc;

use super::{Divergence, Strategy};
use crate::ids::ThreadId;
use crate::schedule::ChoiceKind;

/// Follows relative choices, once. See the module documentation.
#[derive(Clone, Debug)]
pub struct Guided {
    choices: Vec<u32>,
    next: usize,
    played: bool,
    /// The values of the run's random draws (`ChoiceKind::Random`), in order, when they are kept
    /// apart from `choices` (see [`Guided::keeping_random_values`]).
    random_values: Option<Vec<u32>>,
    next_random: usize,
    /// The thread that ran last yielded, for the next thread decision.
    yielder: Option<ThreadId>,
}

impl Guided {
    /// A strategy that plays `choices` once.
    pub fn new(choices: &[u32]) -> Self {
        Guided {
            choices: choices.to_vec(),
            next: 0,
            played: false,
            random_values: None,
            next_random: 0,
            yielder: None,
        }
    }

    /// Takes the random draws' values from `values`, in order, and every other decision from
    /// the choices: a shrinker that changes how many thread decisions come before a draw still
    /// gives it the value the failing run drew (a draw past the list takes 0).
    pub fn keeping_random_values(mut self, values: Vec<u32>) -> Self {
        self.random_values = Some(values);
        self
    }

    fn take(&mut self, options: usize) -> usize {
        let c = self.choices.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        (c as usize).min(options - 1)
    }
}

impl Strategy for Guided {
    fn begin_run(&mut self, _run: u64) -> bool {
        self.next = 0;
        self.next_random = 0;
        !std::mem::replace(&mut self.played, true)
    }

    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        let start = first_option(runnable, current, self.yielder.take());
        if runnable.len() == 1 {
            return Ok(runnable[0]);
        }
        let k = self.take(runnable.len());
        Ok(runnable[(start + k) % runnable.len()])
    }

    fn pick(&mut self, kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        match &self.random_values {
            Some(values) if kind == ChoiceKind::Random => {
                let v = values.get(self.next_random).copied().unwrap_or(0);
                self.next_random += 1;
                Ok((v as usize).min(options - 1))
            }
            _ => Ok(self.take(options)),
        }
    }

    fn end_run(&mut self) -> Result<(), Divergence> {
        Ok(())
    }

    fn yielded(&mut self, t: ThreadId) {
        self.yielder = Some(t);
    }
}

/// Where [`Guided`] counts a thread decision's options from: the thread that ran last if it can
/// go on (option 0 goes on), after a yield the thread after it (option 0 switches, the yielder
/// comes last), else the lowest runnable id.
fn first_option(runnable: &[ThreadId], current: Option<ThreadId>, yielder: Option<ThreadId>) -> usize {
    match current.and_then(|c| runnable.iter().position(|&t| t == c)) {
        Some(at) if yielder == current => (at + 1) % runnable.len(),
        Some(at) => at,
        None => 0,
    }
}

/// One decision as [`Guided`] takes it: the relative choice, and its kind (`None` for a thread
/// decision).
pub type RelativeChoice = (u32, Option<ChoiceKind>);

/// Follows a recorded schedule (as [`super::Replay`]) and notes the relative choices that make
/// the same run under [`Guided`]: the inverse of `Guided`, so a shrinker can take a failing run's
/// choices, set one preemption to 0 ("go on"), and run the rest as near the original as fits.
pub struct RelativeRecorder {
    replay: super::Replay,
    choices: Rc<RefCell<Vec<RelativeChoice>>>,
    /// The thread that ran last yielded, for the next thread decision.
    yielder: Option<ThreadId>,
}

impl RelativeRecorder {
    /// A recorder that replays `schedule`, and the list it fills as the run goes (the strategy
    /// is handed to the engine, the list stays with the caller).
    pub fn new(schedule: &crate::schedule::Schedule) -> (Self, Rc<RefCell<Vec<RelativeChoice>>>) {
        let choices = Rc::new(RefCell::new(Vec::new()));
        (
            RelativeRecorder {
                replay: super::Replay::new(schedule),
                choices: Rc::clone(&choices),
                yielder: None,
            },
            choices,
        )
    }
}

impl Strategy for RelativeRecorder {
    fn begin_run(&mut self, run: u64) -> bool {
        self.choices.borrow_mut().clear();
        self.replay.begin_run(run)
    }

    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        let yielder = self.yielder.take();
        let picked = self.replay.pick_thread(runnable, current)?;
        if runnable.len() > 1 {
            // As `Guided::pick_thread` counts.
            let start = first_option(runnable, current, yielder);
            let at = runnable.iter().position(|&t| t == picked).expect("Replay picks a runnable thread");
            let k = (at + runnable.len() - start) % runnable.len();
            self.choices.borrow_mut().push((u32::try_from(k).expect("fewer than 2^32 threads"), None));
        }
        Ok(picked)
    }

    fn pick(&mut self, kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        let v = self.replay.pick(kind, options)?;
        self.choices.borrow_mut().push((u32::try_from(v).expect("fewer than 2^32 options"), Some(kind)));
        Ok(v)
    }

    fn end_run(&mut self) -> Result<(), Divergence> {
        self.replay.end_run()
    }

    fn yielded(&mut self, t: ThreadId) {
        self.yielder = Some(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u32) -> ThreadId {
        ThreadId(n)
    }

    #[test]
    fn zero_goes_on_and_other_values_switch_in_id_order() {
        let mut g = Guided::new(&[0, 1, 2, 5]);
        assert!(g.begin_run(0));
        let all = [t(0), t(1), t(2)];
        assert_eq!(g.pick_thread(&all, Some(t(1))), Ok(t(1)));
        assert_eq!(g.pick_thread(&all, Some(t(1))), Ok(t(2)));
        assert_eq!(g.pick_thread(&all, Some(t(2))), Ok(t(1)));
        // 5, capped at 1: the first alternative after the lowest id when nobody can go on.
        assert_eq!(g.pick_thread(&[t(0), t(2)], None), Ok(t(2)));
        // Past the end: option 0.
        assert_eq!(g.pick_thread(&all, Some(t(2))), Ok(t(2)));
        assert_eq!(g.pick(ChoiceKind::Spurious, 2), Ok(0));
        assert_eq!(g.pick_thread(&[t(3)], None), Ok(t(3)), "forced steps take no choice");
        assert!(!g.begin_run(1), "a guided run plays once");
    }

    #[test]
    fn after_a_yield_zero_switches_to_the_next_thread_and_the_yielder_comes_last() {
        let all = [t(0), t(1), t(2)];
        let mut g = Guided::new(&[0, 2, 0]);
        assert!(g.begin_run(0));
        g.yielded(t(1));
        assert_eq!(g.pick_thread(&all, Some(t(1))), Ok(t(2)));
        g.yielded(t(2));
        assert_eq!(g.pick_thread(&all, Some(t(2))), Ok(t(2)), "the last option keeps the yielder going");
        // The yield is told for one decision only.
        assert_eq!(g.pick_thread(&all, Some(t(2))), Ok(t(2)));
    }
}
