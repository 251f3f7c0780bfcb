//! `UnsafeCell<T>` shaped like loom's: plain memory whose every access is checked for data races.
//!
//! Why it exists: racelab explores the interleavings of *steps*, and a step runs from one
//! scheduling point to the next. An increment of plain memory (`*p += 1` through an
//! `UnsafeCell`) happens inside one step, so in every run racelab makes its value comes out
//! right, and yet two threads doing it without a lock is a data race: undefined behaviour that
//! the compiler and the CPU are free to turn into a lost update. So the accesses are checked
//! against happens-before (the synchronization order: program order, spawn and join, wake-ups,
//! and racelab objects, a lock's release then acquire; see `racelab-sim`'s `datarace` module):
//!
//! ```text
//!   Thread-1                      Thread-2
//!   counter.with_mut(+1)  ──┐
//!                           │ nothing orders these: no lock, no join between them
//!                           └──   counter.with_mut(+1)   ← data race, reported here
//! ```
//!
//! Two accesses from different threads, at least one a write (`with_mut`), that nothing orders
//! fail the run with a `data-race` failure naming both (thread, step, source line), even when
//! the values came out right. The same increments under a racelab `Lock` (or a `Mutex`) are
//! ordered by it and pass. An access is not a scheduling point, as in loom; it is a read or a
//! write of the cell for partial-order reduction, so an exhaustive search (DPOR) explores the
//! orders that can expose a race. The check runs under every strategy.
//!
//! A cell is created inside a simulation (in the closure given to `check`), like every racelab
//! object; its creation counts as a write. `get_mut` and `into_inner` are not checked: they need
//! the cell exclusively (`&mut self`, `self`), which safe Rust only grants after whatever
//! synchronization ended the sharing.

use std::fmt;
use std::panic::Location;

use racelab_sim::rt::{self, ObjectHandle};

/// A cell of plain memory whose accesses are checked for data races: loom's
/// `loom::cell::UnsafeCell`, for code that wraps `std::cell::UnsafeCell` in `with`/`with_mut`.
pub struct UnsafeCell<T: ?Sized> {
    obj: ObjectHandle,
    data: std::cell::UnsafeCell<T>,
}

impl<T> UnsafeCell<T> {
    /// A new cell holding `data`, named `UnsafeCell-<n>` in traces and reports. Its creation is
    /// its first write. Panics outside a simulation, like every racelab object.
    #[track_caller]
    pub fn new(data: T) -> Self {
        UnsafeCell { obj: rt::new_cell(Location::caller()), data: std::cell::UnsafeCell::new(data) }
    }

    /// The value, taking the cell. Not checked: owning the cell means nobody else can reach it.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> UnsafeCell<T> {
    /// Reads through a `*const T`: a read of the cell by the current thread, checked against
    /// every earlier write of another thread. Not a scheduling point. When `f` synchronizes
    /// (takes or releases a lock while it holds the pointer), the read is checked again at its
    /// end.
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        let location = Location::caller();
        let token = rt::cell_access(self.obj, false, location);
        let r = f(self.data.get());
        rt::cell_access_end(self.obj, false, location, token);
        r
    }

    /// Writes (or reads) through a `*mut T`: a write of the cell by the current thread,
    /// checked against every earlier read and write of another thread. Not a scheduling point;
    /// checked again at its end when `f` synchronizes, as [`with`](Self::with).
    #[track_caller]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        let location = Location::caller();
        let token = rt::cell_access(self.obj, true, location);
        let r = f(self.data.get());
        rt::cell_access_end(self.obj, true, location, token);
        r
    }

    /// The value, mutably. Not checked: `&mut self` already proves nobody else can reach it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for UnsafeCell<T> {
    #[track_caller]
    fn default() -> Self {
        UnsafeCell::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for UnsafeCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As std's: the value cannot be read without an access.
        f.debug_struct("UnsafeCell").finish_non_exhaustive()
    }
}
