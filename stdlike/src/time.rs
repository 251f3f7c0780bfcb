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
/// every replay of the run. It may lie before the run's start (`Instant::now() - 5s`, "already
/// expired", which std allows as far back as the machine's boot): up to [`BEFORE_START_LIMIT`]
/// back.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// Nanoseconds since the run's start; negative before it.
    nanos: i128,
}

/// How far before the run's start an `Instant` may lie: about 292 years, a machine booted long
/// ago (std's `Instant` panics before its clock's origin, the boot on Linux).
pub const BEFORE_START_LIMIT: Duration = Duration::from_nanos(i64::MAX as u64);

impl Instant {
    fn from_nanos(nanos: i128) -> Option<Instant> {
        (-(i64::MAX as i128)..=u64::MAX as i128).contains(&nanos).then_some(Instant { nanos })
    }

    /// The virtual clock now.
    pub fn now() -> Instant {
        Instant { nanos: i128::from(rt::now().as_nanos()) }
    }

    /// Virtual time since `earlier`; zero when `earlier` is later (std's `duration_since`,
    /// which saturates too).
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// Virtual time since `earlier`, `None` when `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        let d = self.nanos - earlier.nanos;
        // Up to about 877 years apart: more nanoseconds than a u64 holds, so seconds and the rest.
        const NANOS_PER_SEC: i128 = 1_000_000_000;
        (d >= 0).then(|| Duration::new((d / NANOS_PER_SEC) as u64, (d % NANOS_PER_SEC) as u32))
    }

    /// Virtual time since `earlier`, zero when `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.checked_duration_since(earlier).unwrap_or_default()
    }

    /// Virtual time since this instant.
    pub fn elapsed(&self) -> Duration {
        Instant::now().duration_since(*self)
    }

    /// This instant plus `d`, `None` past the clock's range (about 584 years after the start).
    pub fn checked_add(&self, d: Duration) -> Option<Instant> {
        Instant::from_nanos(self.nanos.checked_add(i128::try_from(d.as_nanos()).ok()?)?)
    }

    /// This instant minus `d`, `None` more than [`BEFORE_START_LIMIT`] before the run's start.
    pub fn checked_sub(&self, d: Duration) -> Option<Instant> {
        Instant::from_nanos(self.nanos.checked_sub(i128::try_from(d.as_nanos()).ok()?)?)
    }

    /// The virtual time this instant stands for (racelab's own type; an extra): the run's start
    /// for an instant before it.
    pub fn virtual_time(&self) -> VirtualTime {
        VirtualTime::from_nanos(self.nanos.max(0) as u64)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos < 0 {
            write!(f, "Instant(-{:?})", Duration::from_nanos(self.nanos.unsigned_abs() as u64))
        } else {
            write!(f, "Instant({})", self.virtual_time())
        }
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

    /// Panics before [`BEFORE_START_LIMIT`], as std's does before its clock's origin.
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
