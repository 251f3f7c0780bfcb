//! The `replay` strategy: follows a recorded schedule decision by decision, and says exactly
//! where a schedule does not fit the program instead of guessing.

use super::{Divergence, Offer, Strategy};
use crate::ids::ThreadId;
use crate::schedule::{Choice, ChoiceKind, Schedule};

/// Replays one recorded schedule, once.
#[derive(Clone, Debug)]
pub struct Replay {
    choices: Vec<Choice>,
    next: usize,
    played: bool,
}

impl Replay {
    /// A strategy that plays `schedule` once.
    pub fn new(schedule: &Schedule) -> Self {
        Replay { choices: schedule.choices().to_vec(), next: 0, played: false }
    }

    fn take(
        &mut self,
        offered: impl FnOnce() -> Offer,
        fits: impl Fn(Choice) -> bool,
    ) -> Result<Choice, Divergence> {
        match self.choices.get(self.next) {
            Some(&c) if fits(c) => {
                self.next += 1;
                Ok(c)
            }
            scheduled => {
                Err(Divergence { decision: self.next, scheduled: scheduled.copied(), offered: offered() })
            }
        }
    }
}

impl Strategy for Replay {
    fn begin_run(&mut self, _run: u64) -> bool {
        self.next = 0;
        !std::mem::replace(&mut self.played, true)
    }

    fn pick_thread(
        &mut self,
        runnable: &[ThreadId],
        _current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        if runnable.len() == 1 {
            return Ok(runnable[0]);
        }
        let c = self.take(
            || Offer::Threads(runnable.to_vec()),
            |c| c.kind == ChoiceKind::Thread && runnable.iter().any(|t| t.as_u32() == c.value),
        )?;
        Ok(ThreadId(c.value))
    }

    fn pick(&mut self, kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        let c = self
            .take(|| Offer::Options { kind, options }, |c| c.kind == kind && (c.value as usize) < options)?;
        Ok(c.value as usize)
    }

    fn end_run(&mut self) -> Result<(), Divergence> {
        match self.choices.get(self.next) {
            None => Ok(()),
            Some(&c) => Err(Divergence { decision: self.next, scheduled: Some(c), offered: Offer::End }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u32) -> ThreadId {
        ThreadId(n)
    }

    #[test]
    fn follows_the_schedule_and_skips_forced_steps() {
        let s: Schedule = "v1 t1 w2 t0".parse().unwrap();
        let mut r = Replay::new(&s);
        assert!(r.begin_run(0));
        assert_eq!(r.pick_thread(&[t(0), t(1)], None), Ok(t(1)));
        assert_eq!(r.pick_thread(&[t(1)], None), Ok(t(1)));
        assert_eq!(r.pick(ChoiceKind::Waiter, 3), Ok(2));
        assert_eq!(r.pick_thread(&[t(0), t(1)], None), Ok(t(0)));
        assert_eq!(r.end_run(), Ok(()));
        assert!(!r.begin_run(1), "a replay plays once");
    }

    #[test]
    fn mismatches_say_where_and_what() {
        let s: Schedule = "v1 t3".parse().unwrap();
        let mut r = Replay::new(&s);
        r.begin_run(0);
        let e = r.pick_thread(&[t(0), t(1)], None).unwrap_err();
        assert_eq!(e.decision, 0);
        assert_eq!(
            e.to_string(),
            "decision 1: the schedule says `t3`, but the program is at a thread choice among t0, t1"
        );

        let mut r = Replay::new(&"v1 w0".parse().unwrap());
        r.begin_run(0);
        let e = r.pick_thread(&[t(0), t(1)], None).unwrap_err();
        assert!(e.to_string().contains("says `w0`"), "{e}");

        let mut r = Replay::new(&"v1".parse().unwrap());
        r.begin_run(0);
        let e = r.pick(ChoiceKind::Spurious, 2).unwrap_err();
        assert_eq!(e.to_string(), "decision 1: the schedule has ended, but the program is at a spurious wake-up choice with options 0..1");

        let mut r = Replay::new(&"v1 t1 t1".parse().unwrap());
        r.begin_run(0);
        r.pick_thread(&[t(0), t(1)], None).unwrap();
        let e = r.end_run().unwrap_err();
        assert_eq!(e.to_string(), "decision 2: the schedule says `t1`, but the run is over");
    }
}
