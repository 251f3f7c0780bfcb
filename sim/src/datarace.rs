//! Data-race detection for plain memory (`racelab::cell::UnsafeCell`), under every strategy.
//!
//! Why it exists: a racelab primitive's every access is a step, so its conflicts are explored;
//! plain memory behind an `UnsafeCell` is read and written *inside* a step, with no scheduling
//! point, and a program whose increments come out right in every interleaving racelab runs may
//! still race (the compiler and the CPU may tear, reorder or cache them). So each cell access is
//! checked against happens-before: two accesses from different threads, at least one a write,
//! that no synchronization orders are a data race, even in a run whose values came out right.
//!
//! Happens-before is the synchronization order, the same relation `strategy/races.rs` computes
//! over step footprints for DPOR after a run, but kept online, per access, so that it works
//! under every strategy (random, pct, dfs, replay) and at a finer grain than a step (a write
//! after a release in the same step is not covered by that release):
//!
//! - program order, through each thread's vector clock;
//! - spawn and every other wake-up: the woken thread's clock takes the waker's;
//! - accesses to racelab objects (`rt::read`/`rt::write`, holder changes, thread ends): a
//!   thread that reads an object takes the clock of its last writer; one that writes it takes
//!   the last writer's and every reader's since. Two reads do not synchronize. The pseudo-objects
//!   (the id allocator, the spurious wake-up budget) are no synchronization and are skipped;
//! - reference counts (a racelab `Arc`'s), as std's atomics order them: a drop releases, the
//!   last drop (and an unwrap that found the value unshared) acquires every release before it,
//!   so a value's destructor comes after every access made through the other handles; a clone
//!   is no synchronization;
//! - a jump of the virtual clock (nothing could run before it): everything before it;
//! - a `terminate()`: the terminator takes the terminated thread's clock, as DPOR's footprints
//!   have it (the terminated thread's steps read its own end, which the terminator writes).
//!
//! After a thread publishes its clock (any of the above) its own entry ticks, so what it does
//! afterwards is not covered by what it published: the epoch FastTrack (Flanagan and Freund,
//! PLDI 2009) uses. A cell remembers its last write and the reads since (one per thread).
//!
//! The detector starts in a run when the run creates its first cell, with every clock fresh:
//! whether two accesses made after that are ordered depends only on the steps between them,
//! all after the start, so a program without cells pays one branch per access and nothing else.

use std::panic::Location;

use crate::footprint;
use crate::ids::{ObjectId, ThreadId};

/// A vector clock that grows with the threads it has heard of (missing entries are 0).
#[derive(Clone, Debug, Default)]
struct VClock(Vec<u32>);

impl VClock {
    fn get(&self, t: ThreadId) -> u32 {
        self.0.get(t.index()).copied().unwrap_or(0)
    }

    fn join(&mut self, other: &VClock) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (x, &y) in self.0.iter_mut().zip(&other.0) {
            *x = (*x).max(y);
        }
    }

    fn tick(&mut self, t: ThreadId) {
        if self.0.len() <= t.index() {
            self.0.resize(t.index() + 1, 0);
        }
        let e = &mut self.0[t.index()];
        *e =
            e.checked_add(1).expect("racelab invariant: fewer than 2^32 synchronizations per thread and run");
    }
}

/// Entries `a` and `b` (different) of `v`, both mutable, without copying either.
fn two<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b, "racelab invariant: a clock joined with itself");
    if a < b {
        let (low, high) = v.split_at_mut(b);
        (&mut low[a], &mut high[0])
    } else {
        let (low, high) = v.split_at_mut(a);
        (&mut high[0], &mut low[b])
    }
}

/// One access to a cell, as a race report names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Site {
    pub thread: ThreadId,
    /// The thread's own clock entry when it accessed the cell.
    epoch: u32,
    pub step: u64,
    pub write: bool,
    pub location: &'static Location<'static>,
}

/// What a cell remembers: its last write and the reads since, at most one per thread.
#[derive(Clone, Debug, Default)]
struct Shadow {
    write: Option<Site>,
    reads: Vec<Site>,
}

/// A racelab object's synchronization clocks: its last writer's, and its readers' since.
#[derive(Clone, Debug, Default)]
struct ObjectClocks {
    write: VClock,
    reads: VClock,
    /// Set for a cell: its accesses are checked, never synchronization.
    cell: Option<Shadow>,
}

/// What an access to a reference count means for happens-before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountSync {
    /// Nothing (a clone, a read of the count).
    None,
    /// The thread publishes what it did so far (a drop that was not the last).
    Release,
    /// The thread takes every release made before (the last drop, an unwrap that succeeded).
    Acquire,
}

/// The happens-before state of one run, and every cell's accesses.
#[derive(Debug, Default)]
pub(crate) struct Detector {
    active: bool,
    threads: Vec<VClock>,
    objects: Vec<ObjectClocks>,
    /// The releases made to each reference count (numbered apart from objects).
    counts: std::collections::BTreeMap<ObjectId, VClock>,
}

impl Detector {
    /// True once the run has created a cell.
    #[inline]
    pub fn active(&self) -> bool {
        self.active
    }

    /// Forgets the run (a new one starts without cells).
    pub fn reset(&mut self) {
        self.active = false;
        self.threads.clear();
        self.objects.clear();
        self.counts.clear();
    }

    /// Starts detecting in a run that has `threads` threads: each starts at epoch 1, unordered
    /// with every other.
    pub fn activate(&mut self, threads: usize) {
        if self.active {
            return;
        }
        self.active = true;
        for i in 0..threads {
            self.add_thread(ThreadId(i as u32));
        }
    }

    /// A new thread, at epoch 1; its spawner's clock comes with the wake-up that follows.
    pub fn add_thread(&mut self, t: ThreadId) {
        if self.threads.len() <= t.index() {
            self.threads.resize_with(t.index() + 1, VClock::default);
        }
        self.threads[t.index()].tick(t);
    }

    fn object(&mut self, o: ObjectId) -> &mut ObjectClocks {
        if self.objects.len() <= o.index() {
            self.objects.resize_with(o.index() + 1, ObjectClocks::default);
        }
        &mut self.objects[o.index()]
    }

    /// Thread `t` read (or wrote) racelab object `o`.
    pub fn sync(&mut self, t: ThreadId, o: ObjectId, write: bool) {
        if o == footprint::ALLOCATOR || o == footprint::SPURIOUS_BUDGET {
            return;
        }
        let mut clock = std::mem::take(&mut self.threads[t.index()]);
        let obj = self.object(o);
        debug_assert!(obj.cell.is_none(), "racelab invariant: a cell accessed as a racelab object");
        clock.join(&obj.write);
        if write {
            clock.join(&obj.reads);
            obj.write.clone_from(&clock);
            obj.reads.0.clear();
        } else {
            obj.reads.join(&clock);
        }
        clock.tick(t);
        self.threads[t.index()] = clock;
    }

    /// Thread `t` accessed reference count `count` (see [`CountSync`]).
    pub fn count_sync(&mut self, t: ThreadId, count: ObjectId, sync: CountSync) {
        match sync {
            CountSync::None => {}
            CountSync::Release => {
                let clock = &mut self.threads[t.index()];
                self.counts.entry(count).or_default().join(clock);
                clock.tick(t);
            }
            CountSync::Acquire => {
                if let Some(released) = self.counts.get(&count) {
                    self.threads[t.index()].join(released);
                }
            }
        }
    }

    /// `from` made `to` runnable: `to` goes on after everything `from` did so far.
    pub fn wake(&mut self, from: ThreadId, to: ThreadId) {
        if from == to || from.index() >= self.threads.len() || to.index() >= self.threads.len() {
            return;
        }
        let (source, target) = two(&mut self.threads, from.index(), to.index());
        target.join(source);
        source.tick(from);
    }

    /// `by` terminated `t`: it takes `t`'s clock (see the module documentation).
    pub fn absorb(&mut self, by: ThreadId, t: ThreadId) {
        if by == t || t.index() >= self.threads.len() || by.index() >= self.threads.len() {
            return;
        }
        let (theirs, mine) = two(&mut self.threads, t.index(), by.index());
        mine.join(theirs);
    }

    /// The virtual clock jumped: everything before happens before everything after.
    pub fn clock_jump(&mut self) {
        let mut all = VClock::default();
        for c in &self.threads {
            all.join(c);
        }
        for (i, c) in self.threads.iter_mut().enumerate() {
            c.clone_from(&all);
            c.tick(ThreadId(i as u32));
        }
    }

    /// A new cell `o`, created by `t`: its creation is its first write.
    pub fn new_cell(&mut self, t: ThreadId, o: ObjectId, step: u64, location: &'static Location<'static>) {
        let epoch = self.threads[t.index()].get(t);
        let site = Site { thread: t, epoch, step, write: true, location };
        self.object(o).cell = Some(Shadow { write: Some(site), reads: Vec::new() });
    }

    /// Thread `t` accesses cell `o`. Returns the earlier access it races with, if any (the
    /// access is then not recorded: the run ends there).
    pub fn cell_access(
        &mut self,
        t: ThreadId,
        o: ObjectId,
        write: bool,
        step: u64,
        location: &'static Location<'static>,
    ) -> Result<Site, (Site, Site)> {
        let clock = &self.threads[t.index()];
        let site = Site { thread: t, epoch: clock.get(t), step, write, location };
        let covered = |s: &Site| s.thread == t || clock.get(s.thread) >= s.epoch;
        let shadow =
            self.objects[o.index()].cell.as_mut().expect("racelab invariant: a cell access to a non-cell");
        if let Some(w) = shadow.write.filter(|w| !covered(w)) {
            return Err((w, site));
        }
        if write {
            if let Some(r) = shadow.reads.iter().find(|r| !covered(r)) {
                return Err((*r, site));
            }
            shadow.write = Some(site);
            shadow.reads.clear();
        } else if let Some(r) = shadow.reads.iter_mut().find(|r| r.thread == t) {
            *r = site;
        } else {
            shadow.reads.push(site);
        }
        Ok(site)
    }

    /// Thread `t`'s own epoch: it changes when `t` synchronizes.
    pub fn epoch(&self, t: ThreadId) -> u32 {
        self.threads[t.index()].get(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> &'static Location<'static> {
        Location::caller()
    }

    const CELL: ObjectId = ObjectId(5);
    const LOCK: ObjectId = ObjectId(6);

    fn two_threads() -> Detector {
        let mut d = Detector::default();
        d.activate(2);
        d.new_cell(ThreadId(0), CELL, 0, here());
        d
    }

    #[test]
    fn unordered_writes_race_and_a_lock_orders_them() {
        let (a, b) = (ThreadId(0), ThreadId(1));
        let mut d = two_threads();
        assert!(d.cell_access(a, CELL, true, 1, here()).is_ok());
        let (first, second) = d.cell_access(b, CELL, true, 2, here()).expect_err("a race");
        assert_eq!((first.thread, second.thread, first.step, second.step), (a, b, 1, 2));

        let mut d = two_threads();
        d.sync(a, LOCK, true);
        assert!(d.cell_access(a, CELL, true, 1, here()).is_ok());
        d.sync(a, LOCK, true); // release
        d.sync(b, LOCK, true); // acquire: takes the release's clock
        assert!(d.cell_access(b, CELL, true, 2, here()).is_ok());
    }

    #[test]
    fn a_write_after_the_release_is_not_covered_by_it() {
        let (a, b) = (ThreadId(0), ThreadId(1));
        let mut d = two_threads();
        d.sync(a, LOCK, true); // release
        assert!(d.cell_access(a, CELL, true, 1, here()).is_ok());
        d.sync(b, LOCK, true); // acquire
        assert!(d.cell_access(b, CELL, false, 2, here()).is_err());
    }

    #[test]
    fn reads_do_not_synchronize_nor_race_and_a_write_races_with_them() {
        let (a, b) = (ThreadId(0), ThreadId(1));
        let mut d = two_threads();
        // The creation (a write by a) orders nothing for b: b's read races with it.
        assert!(d.cell_access(b, CELL, false, 1, here()).is_err());
        let mut d = two_threads();
        d.sync(a, LOCK, true);
        d.sync(b, LOCK, false); // b sees the creation
        assert!(d.cell_access(b, CELL, false, 1, here()).is_ok());
        assert!(d.cell_access(a, CELL, false, 2, here()).is_ok());
        // Two reads of an object order nothing: a's write races with b's read.
        d.sync(b, LOCK, false);
        d.sync(a, LOCK, false);
        let (first, _) = d.cell_access(a, CELL, true, 3, here()).expect_err("a race");
        assert_eq!(first.thread, b);
    }

    #[test]
    fn wake_ups_clock_jumps_and_terminations_order() {
        let (a, b) = (ThreadId(0), ThreadId(1));
        let mut d = two_threads();
        d.wake(a, b);
        assert!(d.cell_access(b, CELL, true, 1, here()).is_ok());
        assert!(d.cell_access(a, CELL, true, 2, here()).is_err());
        let mut d = two_threads();
        d.clock_jump();
        assert!(d.cell_access(b, CELL, true, 1, here()).is_ok());
        // The allocator orders nothing.
        d.sync(b, footprint::ALLOCATOR, true);
        d.sync(a, footprint::ALLOCATOR, true);
        assert!(d.cell_access(a, CELL, true, 2, here()).is_err());
        // A terminator takes the terminated thread's clock (either index order).
        let mut k = two_threads();
        assert!(k.cell_access(b, CELL, true, 1, here()).is_err(), "b has not seen the creation");
        let mut k = two_threads();
        assert!(k.cell_access(a, CELL, true, 1, here()).is_ok());
        k.absorb(b, a);
        assert!(k.cell_access(b, CELL, true, 2, here()).is_ok());
        k.absorb(a, b);
        assert!(k.cell_access(a, CELL, false, 3, here()).is_ok());
    }
}
