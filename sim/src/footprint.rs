//! Footprints: what one step of a run touched, so partial-order reduction can tell which steps
//! commute.
//!
//! Two steps of different threads are *dependent* when swapping them could change what either
//! sees: they touch the same object and at least one of them writes it. Everything a step can
//! observe goes through `rt` (a primitive's state, a thread's end, the object allocator, the
//! run's spurious wake-up budget), and `rt` logs each of those as an [`Access`] while a
//! strategy asks for footprints. State shared outside racelab's primitives (an `Rc<RefCell<_>>`
//! handed to two threads) is invisible here: it is only sound under a racelab lock, whose
//! accesses order it.
//!
//! Besides accesses, a step records the threads it woke (a release, a notify, a spawn, a thread
//! ending and releasing its joiners): the woken thread's next step comes after it in every
//! reordering, since it could not run before.

use smallvec::SmallVec;

use crate::ids::{ObjectId, ThreadId};

/// One access of a step to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Access {
    /// The object (or one of the pseudo-objects below).
    pub object: ObjectId,
    /// True when the step may have changed the object.
    pub write: bool,
}

impl Access {
    /// A read of `object`.
    pub fn read(object: ObjectId) -> Self {
        Access { object, write: false }
    }

    /// A write of `object`.
    pub fn write(object: ObjectId) -> Self {
        Access { object, write: true }
    }
}

/// The allocator of object and thread ids: creating either numbers it after every earlier
/// creation, so two creations in different threads do not commute.
pub const ALLOCATOR: ObjectId = ObjectId(u32::MAX);
/// The run's budget of spurious wake-ups, which every `Condition.wait` consults.
pub const SPURIOUS_BUDGET: ObjectId = ObjectId(u32::MAX - 1);
/// The reference counts of every shared allocation made outside the current run (before the
/// program started, or by an earlier run): one pseudo-object for them all, so that their
/// clones and drops conflict with one another rather than with nothing.
pub const FOREIGN_COUNTS: ObjectId = ObjectId(u32::MAX - 2);

/// The scheduler's yields, under a preemption bound (where a yield changes what a switch
/// costs: `strategy::preempts`): the step that ends in a yield writes it and every step reads
/// it, so that a bounded DPOR also explores where a yield falls among the other threads' steps
/// (a free switch at a yield to a thread that then blocks lets the yielder go on for free).
pub const YIELDS: ObjectId = ObjectId(u32::MAX - 4);

/// Reference counts (a racelab `Arc`'s) are pseudo-objects numbered from here up to
/// [`COUNTS_END`]: by the thread that made the allocation and how many it had made before
/// (bits 20 to 28: the thread, modulo 512; below: the allocation, modulo 2^20). Unlike an
/// object's number, that does not depend on how the run interleaved other threads, so making an
/// allocation needs no access to [`ALLOCATOR`] (which would make every two allocations in
/// different threads conflict). Past 512 threads or 2^20 allocations numbers repeat: two
/// counts then share a pseudo-object, which only adds conflicts.
pub const COUNTS_FROM: u32 = 0x8000_0000;
/// The end (exclusive) of the reference counts' numbers.
pub const COUNTS_END: u32 = 0xA000_0000;
/// Each count's *wake-only twin* is its number with this bit set (from [`COUNTS_END`] up to
/// `0xC000_0000`); see [`wake_twin`].
const WAKE_BIT: u32 = 0x2000_0000;
/// The foreign counts' wake-only twin.
const FOREIGN_WAKE: ObjectId = ObjectId(u32::MAX - 3);

/// The pseudo-object of the `made`-th reference count thread `thread` made in a run.
pub fn count_object(thread: ThreadId, made: u32) -> ObjectId {
    let id = COUNTS_FROM | ((thread.0 & 0x1FF) << 20) | (made & 0xF_FFFF);
    debug_assert!((COUNTS_FROM..COUNTS_END).contains(&id));
    ObjectId(id)
}

/// True for a reference count's pseudo-object (see [`COUNTS_FROM`]).
pub fn is_count(object: ObjectId) -> bool {
    (COUNTS_FROM..COUNTS_END).contains(&object.0) || object == FOREIGN_COUNTS
}

/// The wake-only twin of `count`: accesses to it wake sleeping threads (two steps that touch it,
/// one writing, are dependent for sleep sets) but make no race (the race analysis skips it).
/// What it serves: a drop that leaves one owner of a value with a destructor does not conflict
/// with the drops before it (they commute), but it changes what the other owner's drop does
/// (that one becomes the last): a thread asleep on its drop must wake.
pub fn wake_twin(count: ObjectId) -> ObjectId {
    debug_assert!(is_count(count), "racelab invariant: the wake-only twin of an object");
    if count == FOREIGN_COUNTS {
        FOREIGN_WAKE
    } else {
        ObjectId(count.0 | WAKE_BIT)
    }
}

/// True for a wake-only twin (see [`wake_twin`]).
pub fn is_wake_only(object: ObjectId) -> bool {
    (COUNTS_END..COUNTS_END + WAKE_BIT).contains(&object.0) || object == FOREIGN_WAKE
}

/// What one finished step did: the thread that took it, its accesses, the threads it woke.
#[derive(Clone, Copy, Debug)]
pub struct StepFootprint<'a> {
    /// The thread that took the step.
    pub thread: ThreadId,
    /// Everything it read or wrote, in order, possibly with repeats.
    pub accesses: &'a [Access],
    /// Threads it made runnable.
    pub woke: &'a [ThreadId],
    /// Runnable threads it made wait again (it took the lock they contended for).
    pub disabled: &'a [ThreadId],
    /// Threads it cut off for good (`terminate()`): their would-be next step, reported at the
    /// end of the run, could have come before this one.
    pub killed: &'a [ThreadId],
}

/// A set of accesses, normalised: sorted by object, one entry per object, a write wherever any
/// access wrote.
///
/// Held inline up to [`INLINE_ACCESSES`] objects: DPOR keeps a footprint per explored thread
/// of every node and clones them into sleep sets, so a heap allocation each was a tenth of a
/// reduced run's work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    accesses: SmallVec<[Access; INLINE_ACCESSES]>,
}

/// The objects a footprint holds without a heap allocation (most steps touch two or three).
pub const INLINE_ACCESSES: usize = 6;

impl Footprint {
    /// The normalised set of `accesses`.
    pub fn of(accesses: &[Access]) -> Self {
        let mut f = Footprint { accesses: SmallVec::from_slice(accesses) };
        f.normalise();
        f
    }

    /// Empties the set, keeping its allocation.
    pub(crate) fn clear(&mut self) {
        self.accesses.clear();
    }

    /// Adds every access of `other`.
    pub fn union(&mut self, other: &[Access]) {
        self.accesses.extend_from_slice(other);
        self.normalise();
    }

    fn normalise(&mut self) {
        // Writes sort after reads of the same object; keeping the last entry per object keeps
        // the write.
        self.accesses.sort_unstable();
        self.accesses.dedup_by(|later, earlier| {
            if later.object == earlier.object {
                earlier.write |= later.write;
                true
            } else {
                false
            }
        });
    }

    /// The accesses, sorted by object.
    pub fn accesses(&self) -> &[Access] {
        &self.accesses
    }

    /// True when a step with this footprint and one with `other` may not commute.
    pub fn conflicts(&self, other: &Footprint) -> bool {
        let (mut a, mut b) = (self.accesses.iter().peekable(), other.accesses.iter().peekable());
        while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
            match x.object.cmp(&y.object) {
                std::cmp::Ordering::Less => {
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    if x.write || y.write {
                        return true;
                    }
                    a.next();
                    b.next();
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(n: u32) -> ObjectId {
        ObjectId(n)
    }

    #[test]
    fn normalising_keeps_one_entry_per_object_and_any_write() {
        let f =
            Footprint::of(&[Access::read(o(2)), Access::write(o(1)), Access::read(o(1)), Access::read(o(2))]);
        assert_eq!(f.accesses(), &[Access::write(o(1)), Access::read(o(2))]);
    }

    #[test]
    fn reads_commute_and_a_write_conflicts() {
        let r1 = Footprint::of(&[Access::read(o(1))]);
        let r1b = Footprint::of(&[Access::read(o(1)), Access::read(o(3))]);
        let w1 = Footprint::of(&[Access::write(o(1))]);
        let w2 = Footprint::of(&[Access::write(o(2))]);
        assert!(!r1.conflicts(&r1b));
        assert!(r1.conflicts(&w1) && w1.conflicts(&r1b));
        assert!(!w1.conflicts(&w2));
        assert!(!Footprint::default().conflicts(&w1));
    }
}
