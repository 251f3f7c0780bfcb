//! Identifiers of simulated threads and objects.
//!
//! Both are small indexes, dense within one run, so the runtime can keep its tables in plain
//! vectors and every run numbers its threads and objects the same way: determinism by
//! construction, with no hashing and no addresses.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A simulated thread, numbered in spawn order; the main thread is `0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ThreadId(pub(crate) u32);

impl ThreadId {
    /// The thread that runs the closure given to `check`.
    pub const MAIN: ThreadId = ThreadId(0);

    /// The thread's number: its position in spawn order, main being 0.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The number as it appears in schedules (`t<n>`).
    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// The thread with this number (for strategies and tests; the runtime hands out ids).
    pub fn from_u32(n: u32) -> Self {
        ThreadId(n)
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// A simulated object (lock, condition, shared cell, thread handle...), numbered in creation
/// order within one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ObjectId(pub(crate) u32);

impl ObjectId {
    /// The object's number in creation order.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
