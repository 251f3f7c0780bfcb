//! A lock-free counter on an `AtomicUsize`, handing out unique ticket numbers.
//!
//! [`RacyCounter`] loads the value and stores it plus one: two threads can load the same value
//! and hand out the same ticket (a lost update), however strong the `Ordering`. [`CasCounter`]
//! retries a `compare_exchange` until no other thread changed the value in between.

use racelab::sync::atomic::{AtomicUsize, Ordering};

/// The buggy counter: a load, then a store.
pub struct RacyCounter {
    next: AtomicUsize,
}

impl RacyCounter {
    /// A counter whose first ticket is 0.
    pub fn new() -> Self {
        RacyCounter { next: AtomicUsize::new(0) }
    }

    /// A ticket, meant to be unique.
    pub fn ticket(&self) -> usize {
        let t = self.next.load(Ordering::Acquire);
        self.next.store(t + 1, Ordering::Release);
        t
    }
}

impl Default for RacyCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// The fixed counter: a `compare_exchange` loop.
pub struct CasCounter {
    next: AtomicUsize,
}

impl CasCounter {
    /// A counter whose first ticket is 0.
    pub fn new() -> Self {
        CasCounter { next: AtomicUsize::new(0) }
    }

    /// A unique ticket.
    pub fn ticket(&self) -> usize {
        let mut t = self.next.load(Ordering::Relaxed);
        loop {
            match self.next.compare_exchange_weak(t, t + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return t,
                Err(seen) => t = seen,
            }
        }
    }
}

impl Default for CasCounter {
    fn default() -> Self {
        Self::new()
    }
}
