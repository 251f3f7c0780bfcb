//! Publishing a value through a flag: plain data in an `UnsafeCell`, made visible to a reader
//! by an `AtomicBool`.
//!
//! The writer stores the data, then sets `ready`; a reader that sees `ready` may read the data,
//! because the store to the flag comes after the data's write and the reader's load of the flag
//! before its read. [`Publish::flag_first`] sets the flag *before* writing the data: a reader
//! that sees the flag reads the cell while the writer may still be writing it. Under racelab
//! every atomic is sequentially consistent, so the value may even come out right; the data-race
//! detector still reports the two unordered accesses of the cell.
//!
//! ```text
//! writer                       reader
//! ready.store(true)
//!                              ready.load() == true
//!                              read data      <- no synchronization orders this
//! data = 42                    <-    ... and this: a data race
//! ```

use racelab::cell::UnsafeCell;
use racelab::sync::atomic::{AtomicBool, Ordering};

/// A value published once, and read by whoever sees it published.
pub struct Publish {
    data: UnsafeCell<u64>,
    ready: AtomicBool,
    flag_first: bool,
}

impl Publish {
    /// Writes the data, then sets the flag (correct).
    pub fn data_first() -> Self {
        Publish { data: UnsafeCell::new(0), ready: AtomicBool::new(false), flag_first: false }
    }

    /// Sets the flag, then writes the data (the bug).
    pub fn flag_first() -> Self {
        Publish { data: UnsafeCell::new(0), ready: AtomicBool::new(false), flag_first: true }
    }

    /// The writer's side: publishes `value`.
    pub fn publish(&self, value: u64) {
        if self.flag_first {
            self.ready.store(true, Ordering::Release);
        }
        // SAFETY: only the writer writes the cell, once; readers read it only after they see
        // `ready`, which the correct order sets after this write.
        self.data.with_mut(|p| unsafe { *p = value });
        if !self.flag_first {
            self.ready.store(true, Ordering::Release);
        }
    }

    /// The reader's side: the value if it has been published.
    pub fn read(&self) -> Option<u64> {
        // SAFETY: the read happens after seeing `ready`, set after the write (when correct).
        self.ready.load(Ordering::Acquire).then(|| self.data.with(|p| unsafe { *p }))
    }
}

// SAFETY: the cell is written once, before `ready` is set (in the correct order), and read only
// after `ready` is seen; the data-race detector checks exactly that in the tests.
unsafe impl Sync for Publish {}
