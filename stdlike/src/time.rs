//! std's `time::{Instant, Duration}` on racelab's virtual clock.
//!
//! Why: a program that measures time with `std::time::Instant` reads the OS clock, which no two
//! runs agree on, so its schedule would not replay; and `thread::sleep` in racelab is virtual.
//! [`Instant`] reads the run's virtual clock instead: it starts at zero in every run, advances
//! only when every thread waits (a sleep, a timed wait) and jumps straight to the next deadline,
//! so `Instant::now()` is the same in every replay. [`Duration`] is std's own.
//!
//! `Instant::now` must be called inside a run (on a racelab thread); reading it is not a step:
//! no other thread can change the clock while this one runs.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use racelab_sim::rt;
use racelab_sim::VirtualTime;

pub use std::time::Duration;

/// A point in the run's virtual time (std's `Instant`): monotonic, comparable, and the same in
/// every replay of the run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(VirtualTime);

impl Instant {
    /// The virtual clock now.
    pub fn now() -> Instant {
        Instant(rt::now())
    }

    /// Virtual time since `earlier`; zero when `earlier` is later (std's `duration_since`,
    /// which saturates too).
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// Virtual time since `earlier`, `None` when `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.as_nanos().checked_sub(earlier.0.as_nanos()).map(Duration::from_nanos)
    }

    /// Virtual time since `earlier`, zero when `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.checked_duration_since(earlier).unwrap_or_default()
    }

    /// Virtual time since this instant.
    pub fn elapsed(&self) -> Duration {
        Instant::now().duration_since(*self)
    }

    /// This instant plus `d`, `None` past the clock's range (about 584 years).
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        let nanos = u64::try_from(d.as_nanos()).ok()?;
        self.0.as_nanos().checked_add(nanos).map(|n| Instant(VirtualTime::from_nanos(n)))
    }

    /// This instant minus `d`, `None` before the run's start.
    pub fn checked_sub(&self, d: Duration) -> Option<Instant> {
        let nanos = u64::try_from(d.as_nanos()).ok()?;
        self.0.as_nanos().checked_sub(nanos).map(|n| Instant(VirtualTime::from_nanos(n)))
    }

    /// The virtual time this instant stands for (racelab's own type; an extra).
    pub fn virtual_time(&self) -> VirtualTime {
        self.0
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({})", self.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Panics past the clock's range, as std's does on overflow.
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).expect("overflow when adding duration to instant")
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// Panics before the run's start, as std's does on underflow.
    fn sub(self, d: Duration) -> Instant {
        self.checked_sub(d).expect("overflow when subtracting duration from instant")
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// `duration_since`: zero when `other` is later.
    fn sub(self, other: Instant) -> Duration {
        self.duration_since(other)
    }
}
