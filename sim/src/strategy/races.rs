//! Happens-before and races in one finished run: the analysis that drives DPOR.
//!
//! A run is a sequence of steps. Step `a` *happens before* step `b` when `b` could not be moved
//! before `a` by swapping adjacent independent steps: same thread (program order), `a` woke
//! `b`'s thread (it could not run before), the virtual clock jumped between them (it only jumps
//! when nothing can run, so everything before a jump precedes everything after), or a chain of
//! dependent steps links them. Vector clocks compute the relation in one pass.
//!
//! Two steps of different threads *race* when they are dependent and nothing else orders them:
//! `a` happens before `b` only through their own conflict. Reversing a race gives a run that is
//! not equivalent to this one, which is what DPOR must go and explore.
//!
//! A vector clock per step costs `steps × threads`; with thousands of threads that is
//! gigabytes. Wide runs' clocks are therefore stored in chunks of [`CHUNK`] entries shared
//! between clocks (a chunked [`Clock`] is a vector of reference-counted chunks): a step's clock
//! differs from the clocks it joins in a few chunks only (its own thread's, those its
//! dependencies advanced), and those are the only ones it allocates. Narrow runs (most) keep
//! their clocks inline and allocate nothing per step.

use std::collections::BTreeMap;
use std::rc::Rc;

use smallvec::SmallVec;

use crate::footprint::{self, Access};
use crate::ids::{ObjectId, ThreadId};

/// The threads that can start a race's reversal ([`Analysis::initials`]): a few, inline.
pub(crate) type Initials = SmallVec<[ThreadId; 4]>;

/// One step of a run as the analysis sees it.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub thread: ThreadId,
    pub accesses: Vec<Access>,
    pub woke: Vec<ThreadId>,
    /// Runnable threads it made wait again (not used by the analysis: the search handles them).
    pub disabled: Vec<ThreadId>,
    /// Threads it terminated.
    pub killed: Vec<ThreadId>,
    /// The clock jumped (everything was blocked) just before this step.
    pub after_clock_jump: bool,
    /// For the pending step of a thread cut off by `terminate()`: the step that terminated it.
    /// Clock jumps after that step do not order the pending step: it was possible before them.
    pub floor_of: Option<usize>,
}

/// The happens-before relation of one run and its races.
#[derive(Clone, Debug)]
pub(crate) struct Analysis {
    /// `clocks[s].get(t)`: how many steps of thread `t` happen before step `s` or are it.
    clocks: Vec<Clock>,
    /// Threads the clocks cover.
    width: usize,
    /// `local[s]`: step `s`'s 1-based position in its thread.
    local: Vec<u32>,
    threads: Vec<ThreadId>,
    /// Races `(a, b)`, `a < b`, with `b` at or after the analysed suffix.
    pub races: Vec<(usize, usize)>,
    /// The per-object history of the pass, kept for the next run's pass to reuse its vectors.
    history: History,
    /// The pass's working vectors, kept for the same reason.
    scratch: Scratch,
}

/// The vectors one pass works in, emptied and reused by the next run's pass: DPOR analyses
/// every run, and allocating them afresh each time was a visible part of a reduced run's cost.
#[derive(Clone, Debug, Default)]
struct Scratch {
    /// Per thread: its steps so far.
    count: Vec<u32>,
    /// Per thread: its last step so far.
    last_of: Vec<Option<usize>>,
    /// Per thread: the step that last woke it, until its next step.
    woken_by: Vec<Option<usize>>,
    /// The floor each clock jump set, with the index of the first step after it.
    jump_floors: Vec<(usize, Clock)>,
    /// The earlier steps a step depends on directly.
    deps: Vec<usize>,
}

impl Analysis {
    /// Computes happens-before over `steps` and the races whose later step is at index
    /// `fresh_from` or beyond (earlier races were found by the runs that share the prefix).
    #[cfg(test)]
    pub fn of(steps: &[Step], fresh_from: usize) -> Self {
        Self::after(None, steps, fresh_from)
    }

    /// [`Analysis::of`], reusing `previous` (the analysis of the last run, whose steps before
    /// `fresh_from` are this run's: the search replayed them) for the clocks of those steps. Only
    /// the cheap bookkeeping of the prefix is redone; its clocks, which cost most of the
    /// analysis (joins and allocations), are kept.
    pub fn after(mut previous: Option<Analysis>, steps: &[Step], fresh_from: usize) -> Self {
        let width = steps
            .iter()
            .flat_map(|s| std::iter::once(s.thread).chain(s.woke.iter().copied()))
            .map(|t| t.index() + 1)
            .max()
            .unwrap_or(0);
        use std::mem::take;
        let (mut history, mut scratch, mut races, mut threads) = previous
            .as_mut()
            .map(|p| (take(&mut p.history), take(&mut p.scratch), take(&mut p.races), take(&mut p.threads)))
            .unwrap_or_default();
        history.reset();
        races.clear();
        let (mut clocks, mut local) = match previous {
            Some(p) if Clock::same_layout(p.width, width) && p.clocks.len() >= fresh_from => {
                debug_assert!(
                    threads.iter().zip(steps).take(fresh_from).all(|(a, b)| *a == b.thread),
                    "racelab invariant: a reused analysis prefix is this run's"
                );
                let (mut clocks, mut local) = (p.clocks, p.local);
                clocks.truncate(fresh_from);
                local.truncate(fresh_from);
                (clocks, local)
            }
            _ => (Vec::with_capacity(steps.len()), Vec::with_capacity(steps.len())),
        };
        let reused = clocks.len();
        let Scratch { count, last_of, woken_by, jump_floors, deps } = &mut scratch;
        count.clear();
        count.resize(width, 0);
        last_of.clear();
        last_of.resize(width, None);
        woken_by.clear();
        woken_by.resize(width, None);
        jump_floors.clear();
        let mut floor = Clock::zero(width);
        let mut all = Clock::zero(width);
        for (j, step) in steps.iter().enumerate() {
            let t = step.thread.index();
            if step.after_clock_jump {
                floor.clone_from(&all);
                jump_floors.push((j, floor.clone()));
            }
            if j < reused {
                // The bookkeeping the steps below do, without their clocks.
                woken_by[t] = None;
                record_accesses(&mut history, j, step);
                all.join(&clocks[j]);
                count[t] += 1;
                debug_assert_eq!(local[j], count[t], "racelab invariant: a reused clock is this step's");
                last_of[t] = Some(j);
                for w in &step.woke {
                    woken_by[w.index()] = Some(j);
                }
                continue;
            }
            let mut base = match step.floor_of {
                Some(k) => jump_floors
                    .iter()
                    .rev()
                    .find(|(at, _)| *at <= k)
                    .map_or_else(|| Clock::zero(width), |(_, f)| f.clone()),
                None => floor.clone(),
            };
            for pred in [last_of[t], woken_by[t].take()].into_iter().flatten() {
                base.join(&clocks[pred]);
            }
            deps.clear();
            for a in step.accesses.iter().filter(|a| !footprint::is_wake_only(a.object)) {
                if let Some(seen) = history.get(a.object) {
                    deps.extend(seen.last_write);
                    if a.write {
                        deps.extend(&seen.reads);
                    }
                }
            }
            deps.sort_unstable();
            deps.dedup();
            let mut clock = base.clone();
            for &d in deps.iter() {
                clock.join(&clocks[d]);
            }
            count[t] += 1;
            clock.set(t, count[t]);
            if j >= fresh_from {
                for &d in deps.iter() {
                    let owner = steps[d].thread.index();
                    if owner == t || base.get(owner) >= local[d] {
                        continue;
                    }
                    let through_another = deps.iter().any(|&e| e != d && clocks[e].get(owner) >= local[d]);
                    if !through_another {
                        races.push((d, j));
                    }
                }
            }
            record_accesses(&mut history, j, step);
            all.join(&clock);
            clocks.push(clock);
            local.push(count[t]);
            last_of[t] = Some(j);
            for w in &step.woke {
                woken_by[w.index()] = Some(j);
            }
        }
        threads.clear();
        threads.extend(steps.iter().map(|s| s.thread));
        Analysis { clocks, width, local, threads, races, history, scratch }
    }

    /// True when step `a` happens before step `b` (or is it).
    pub fn happens_before(&self, a: usize, b: usize) -> bool {
        self.clocks[b].get(self.threads[a].index()) >= self.local[a]
    }

    /// The threads that can start the reversal of race `(a, b)`: take the steps after `a` that
    /// do not happen after it, then `b`; a thread is an initial when its first step there has
    /// no predecessor there (Abdulla et al.'s `I_{E'}(notdep(e, E).e')`).
    pub fn initials(&self, a: usize, b: usize) -> Initials {
        let width = self.width;
        // For each thread, the local index of its first step in the sequence, if any. (Inline
        // up to the width of an inline clock: this runs for every race of every run.)
        let mut first_local: SmallVec<[Option<u32>; INLINE]> = smallvec::smallvec![None; width];
        // The threads with a step in the sequence so far, with that first step's local index:
        // a step has a predecessor there exactly when one of these first steps happens before
        // it (program order carries the rest), so only they are looked at, not every thread.
        let mut seen: SmallVec<[(usize, u32); INLINE]> = SmallVec::new();
        let mut initials = Initials::new();
        for k in (a + 1..b).filter(|&k| !self.happens_before(a, k)).chain(std::iter::once(b)) {
            let t = self.threads[k];
            if first_local[t.index()].is_some() {
                continue;
            }
            let has_predecessor = seen.iter().any(|&(s, f)| self.clocks[k].get(s) >= f);
            first_local[t.index()] = Some(self.local[k]);
            seen.push((t.index(), self.local[k]));
            if !has_predecessor {
                initials.push(t);
            }
        }
        initials
    }
}

/// Notes step `j`'s accesses in `history`: per object, the last write and the reads since.
fn record_accesses(history: &mut History, j: usize, step: &Step) {
    // Wake-only twins make no race (see `footprint::wake_twin`).
    for a in step.accesses.iter().filter(|a| !footprint::is_wake_only(a.object)) {
        let seen = history.entry(a.object);
        if a.write {
            seen.last_write = Some(j);
            seen.reads.clear();
        } else if seen.reads.last() != Some(&j) {
            seen.reads.push(j);
        }
    }
}

/// One object's accesses so far in a pass: its last write, and the reads since.
#[derive(Clone, Debug, Default)]
struct Seen {
    last_write: Option<usize>,
    reads: Vec<usize>,
}

/// Object numbers from here up are pseudo-objects ([`crate::footprint::ALLOCATOR`], reference
/// counts and the like), kept apart from the dense table.
const PSEUDO_FROM: u32 = crate::footprint::COUNTS_FROM;

/// [`Seen`] per object. Objects are numbered from 0 in creation order in each run, so a table
/// indexed by number serves them; pseudo-objects (numbered from the top half of the range) are
/// kept apart, in a map. Kept between runs (emptied, not freed) so that a pass allocates
/// nothing.
#[derive(Clone, Debug, Default)]
struct History {
    dense: Vec<Seen>,
    pseudo: BTreeMap<ObjectId, Seen>,
}

impl History {
    /// Forgets every access, keeping the vectors.
    fn reset(&mut self) {
        for seen in self.dense.iter_mut().chain(self.pseudo.values_mut()) {
            seen.last_write = None;
            seen.reads.clear();
        }
    }

    fn get(&self, object: ObjectId) -> Option<&Seen> {
        if object.0 >= PSEUDO_FROM {
            self.pseudo.get(&object)
        } else {
            self.dense.get(object.0 as usize)
        }
    }

    fn entry(&mut self, object: ObjectId) -> &mut Seen {
        if object.0 >= PSEUDO_FROM {
            self.pseudo.entry(object).or_default()
        } else {
            let at = object.0 as usize;
            if at >= self.dense.len() {
                self.dense.resize_with(at + 1, Seen::default);
            }
            &mut self.dense[at]
        }
    }
}

/// Entries per shared chunk of a [`Clock`].
pub(crate) const CHUNK: usize = 64;

/// Up to this many threads a clock is stored inline: a run of a few threads then allocates
/// nothing per step (an inline clock is smaller than one chunk, and most runs are that narrow).
const INLINE: usize = 8;

/// A vector clock: inline for narrow runs, else shared chunks (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) enum Clock {
    /// At most [`INLINE`] threads; entries past the run's threads are 0.
    Inline([u32; INLINE]),
    /// Chunks shared between clocks; `width` is the threads covered: entries past it in the
    /// last chunk are always 0, and joins skip them (a run of 70 threads compares 70 entries,
    /// not 128).
    Chunked { chunks: Vec<Rc<[u32; CHUNK]>>, width: usize },
}

impl Clock {
    /// The zero clock over `width` threads; chunked, its chunks are all one shared chunk.
    pub(crate) fn zero(width: usize) -> Self {
        if width <= INLINE {
            return Clock::Inline([0; INLINE]);
        }
        let zero = Rc::new([0; CHUNK]);
        Clock::Chunked { chunks: vec![zero; width.div_ceil(CHUNK)], width }
    }

    /// Two widths whose clocks have the same layout (an analysis reuses clocks only then).
    fn same_layout(a: usize, b: usize) -> bool {
        (a <= INLINE && b <= INLINE) || (a > INLINE && b > INLINE && a.div_ceil(CHUNK) == b.div_ceil(CHUNK))
    }

    pub(crate) fn get(&self, t: usize) -> u32 {
        match self {
            Clock::Inline(entries) => entries[t],
            Clock::Chunked { chunks, .. } => chunks[t / CHUNK][t % CHUNK],
        }
    }

    pub(crate) fn set(&mut self, t: usize, value: u32) {
        match self {
            Clock::Inline(entries) => entries[t] = value,
            Clock::Chunked { chunks, width } => {
                debug_assert!(t < *width, "racelab invariant: a clock entry past the run's threads");
                Rc::make_mut(&mut chunks[t / CHUNK])[t % CHUNK] = value;
            }
        }
    }

    /// Entry-wise maximum with `other`. A chunk that comes out equal to one of the two is
    /// shared with it, not copied.
    pub(crate) fn join(&mut self, other: &Clock) {
        match (self, other) {
            (Clock::Inline(mine), Clock::Inline(theirs)) => {
                for (x, &y) in mine.iter_mut().zip(theirs) {
                    *x = (*x).max(y);
                }
            }
            (
                Clock::Chunked { chunks, width },
                Clock::Chunked { chunks: other_chunks, width: other_width },
            ) => {
                debug_assert_eq!(chunks.len(), other_chunks.len(), "clocks of one run have one width");
                let width = (*width).max(*other_width);
                for (i, (mine, theirs)) in chunks.iter_mut().zip(other_chunks).enumerate() {
                    if Rc::ptr_eq(mine, theirs) {
                        continue;
                    }
                    let used = (width - i * CHUNK).min(CHUNK);
                    let (mut mine_covers, mut theirs_covers) = (true, true);
                    for (x, y) in mine[..used].iter().zip(&theirs[..used]) {
                        mine_covers &= x >= y;
                        theirs_covers &= y >= x;
                    }
                    if theirs_covers {
                        *mine = Rc::clone(theirs);
                    } else if !mine_covers {
                        let joined = Rc::make_mut(mine);
                        for (x, &y) in joined[..used].iter_mut().zip(&theirs[..used]) {
                            *x = (*x).max(y);
                        }
                    }
                }
            }
            _ => unreachable!("racelab invariant: clocks of one run have one layout"),
        }
    }

    /// Chunks this clock holds alone (allocated for it, not shared), for the memory test.
    #[cfg(test)]
    fn unshared(&self) -> usize {
        match self {
            Clock::Inline(_) => 0,
            Clock::Chunked { chunks, .. } => chunks.iter().filter(|c| Rc::strong_count(c) == 1).count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(t: u32, accesses: &[Access]) -> Step {
        Step {
            thread: ThreadId(t),
            accesses: accesses.to_vec(),
            woke: Vec::new(),
            disabled: Vec::new(),
            killed: Vec::new(),
            after_clock_jump: false,
            floor_of: None,
        }
    }

    fn x() -> ObjectId {
        ObjectId(7)
    }

    #[test]
    fn a_write_races_with_each_concurrent_read_and_reads_do_not_race() {
        let steps =
            [step(1, &[Access::read(x())]), step(2, &[Access::read(x())]), step(3, &[Access::write(x())])];
        let a = Analysis::of(&steps, 0);
        assert_eq!(a.races, vec![(0, 2), (1, 2)]);
        // Reversing (0, 2) needs the other read first: it happens before the write.
        assert_eq!(a.initials(0, 2).as_slice(), [ThreadId(2)]);
        assert_eq!(a.initials(1, 2).as_slice(), [ThreadId(3)]);
    }

    #[test]
    fn only_the_last_of_a_chain_of_writes_races() {
        let steps =
            [step(1, &[Access::write(x())]), step(2, &[Access::write(x())]), step(3, &[Access::write(x())])];
        let a = Analysis::of(&steps, 0);
        assert_eq!(a.races, vec![(0, 1), (1, 2)]);
        assert!(a.happens_before(0, 2));
    }

    #[test]
    fn a_wakeup_orders_without_a_race_and_a_clock_jump_orders_everything() {
        let mut waker = step(1, &[Access::write(x())]);
        waker.woke = vec![ThreadId(2)];
        let steps = [waker, step(2, &[Access::write(x())])];
        let a = Analysis::of(&steps, 0);
        assert!(a.races.is_empty());
        let mut late = step(2, &[]);
        late.after_clock_jump = true;
        let a = Analysis::of(&[step(1, &[]), late], 0);
        assert!(a.happens_before(0, 1));
    }

    #[test]
    fn clocks_share_their_chunks() {
        // 1,000 threads each write one cell once, in order: every step depends on the one
        // before, so every clock is dense; stored whole, that is 1,000 × 1,000 entries.
        let steps: Vec<Step> = (0..1_000).map(|t| step(t, &[Access::write(x())])).collect();
        let a = Analysis::of(&steps, 0);
        assert!(a.happens_before(0, 999) && a.happens_before(500, 501) && !a.happens_before(501, 500));
        let unshared: usize = a.clocks.iter().map(Clock::unshared).sum();
        // One new chunk per step at most (its own thread's), plus the chunks the last clock
        // keeps, instead of 16 chunks per step.
        assert!(unshared <= 1_000 + 16, "{unshared} chunks allocated");
        let mut c = Clock::zero(130);
        c.set(129, 7);
        let mut d = Clock::zero(130);
        d.set(1, 3);
        d.join(&c);
        assert_eq!((d.get(1), d.get(129), d.get(64)), (3, 7, 0));
    }

    /// Steps from a small generator: a few threads, three objects, wake-ups and clock jumps.
    fn random_steps(seed: u64, n: usize) -> Vec<Step> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        (0..n)
            .map(|_| {
                let accesses: Vec<Access> = (0..next(3))
                    .map(|_| {
                        let o = ObjectId(next(3) as u32);
                        if next(2) == 0 {
                            Access::read(o)
                        } else {
                            Access::write(o)
                        }
                    })
                    .collect();
                let mut s = step(next(4) as u32, &accesses);
                if next(5) == 0 {
                    s.woke = vec![ThreadId(next(4) as u32)];
                }
                s.after_clock_jump = next(9) == 0;
                s
            })
            .collect()
    }

    #[test]
    fn reusing_the_last_runs_prefix_gives_the_analysis_from_scratch() {
        for seed in 0..300u64 {
            let previous = random_steps(seed, 30);
            let k = (seed % 31) as usize;
            let mut current: Vec<Step> = previous[..k].to_vec();
            current.extend(random_steps(seed + 1_000, 25));
            let reused = Analysis::after(Some(Analysis::of(&previous, 0)), &current, k);
            let fresh = Analysis::of(&current, k);
            assert_eq!(reused.races, fresh.races, "seed {seed}");
            for a in 0..current.len() {
                for b in 0..current.len() {
                    assert_eq!(
                        reused.happens_before(a, b),
                        fresh.happens_before(a, b),
                        "seed {seed}: {a} -> {b}"
                    );
                }
            }
            for &(a, b) in &fresh.races {
                assert_eq!(reused.initials(a, b), fresh.initials(a, b), "seed {seed}");
            }
        }
    }

    #[test]
    fn inline_and_chunked_clocks_give_the_same_analysis() {
        for seed in 0..200u64 {
            let narrow = random_steps(seed, 40);
            // The same steps, plus one wake-up of an idle thread 70 at the very end, which makes
            // the run wide enough for chunked clocks and orders nothing before it.
            let mut wide = narrow.clone();
            wide.last_mut().expect("40 steps").woke.push(ThreadId(70));
            let (n, w) = (Analysis::of(&narrow, 0), Analysis::of(&wide, 0));
            assert!(matches!(n.clocks[0], Clock::Inline(_)) && matches!(w.clocks[0], Clock::Chunked { .. }));
            assert_eq!(n.races, w.races, "seed {seed}");
            for a in 0..narrow.len() {
                for b in 0..narrow.len() {
                    assert_eq!(n.happens_before(a, b), w.happens_before(a, b), "seed {seed}: {a} -> {b}");
                }
            }
            for &(a, b) in &n.races {
                assert_eq!(n.initials(a, b), w.initials(a, b), "seed {seed}");
            }
        }
    }

    #[test]
    fn races_before_the_fresh_suffix_are_skipped() {
        let steps = [step(1, &[Access::write(x())]), step(2, &[Access::write(x())])];
        assert!(Analysis::of(&steps, 2).races.is_empty());
        assert_eq!(Analysis::of(&steps, 1).races, vec![(0, 1)]);
    }
}
