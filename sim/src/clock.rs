//! The virtual clock.
//!
//! Simulated programs never read the OS clock: `sleep` and every timeout are measured on a
//! virtual clock that moves only when no thread can run, and then jumps straight to the
//! earliest pending deadline. A program that sleeps one second a thousand times finishes in
//! microseconds of wall time, and a timeout fires at exactly the same virtual instant in every
//! replay.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point on the virtual clock: nanoseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VirtualTime(u64);

impl VirtualTime {
    /// The start of every run.
    pub const ZERO: VirtualTime = VirtualTime(0);

    /// The instant `nanos` nanoseconds after the start of the run.
    pub const fn from_nanos(nanos: u64) -> Self {
        VirtualTime(nanos)
    }

    /// Nanoseconds since the start of the run.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time elapsed since the start of the run.
    pub fn elapsed(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// The end of time, where a deadline past what the clock can count lands (a wait with
    /// `Duration::MAX`, about 584 years or more): the clock never gets there, so such a deadline
    /// never fires, as it would not under std.
    pub const NEVER: VirtualTime = VirtualTime(u64::MAX);

    /// `self + d`, saturating at [`VirtualTime::NEVER`] (a timeout that large never fires).
    pub fn after(self, d: Duration) -> Self {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        VirtualTime(self.0.saturating_add(nanos))
    }
}

impl fmt::Display for VirtualTime {
    /// Seconds with millisecond precision, e.g. `5.000s`; finer instants add digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000_000;
        let nanos = self.0 % 1_000_000_000;
        if nanos % 1_000_000 == 0 {
            write!(f, "{secs}.{:03}s", nanos / 1_000_000)
        } else {
            write!(f, "{secs}.{nanos:09}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_seconds() {
        assert_eq!(VirtualTime::ZERO.to_string(), "0.000s");
        assert_eq!(VirtualTime::ZERO.after(Duration::from_secs(5)).to_string(), "5.000s");
        assert_eq!(VirtualTime::from_nanos(1_500_000).to_string(), "0.001500000s");
    }

    #[test]
    fn saturates() {
        let t = VirtualTime::from_nanos(u64::MAX - 1).after(Duration::from_secs(1));
        assert_eq!(t, VirtualTime::NEVER);
        assert_eq!(VirtualTime::ZERO.after(Duration::MAX), VirtualTime::NEVER);
    }
}
