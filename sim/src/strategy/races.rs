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

use std::collections::BTreeMap;

use crate::footprint::Access;
use crate::ids::{ObjectId, ThreadId};

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
pub(crate) struct Analysis {
    /// `clocks[s][t]`: how many steps of thread `t` happen before step `s` or are it.
    clocks: Vec<Vec<u32>>,
    /// `local[s]`: step `s`'s 1-based position in its thread.
    local: Vec<u32>,
    threads: Vec<ThreadId>,
    /// Races `(a, b)`, `a < b`, with `b` at or after the analysed suffix.
    pub races: Vec<(usize, usize)>,
}

impl Analysis {
    /// Computes happens-before over `steps` and the races whose later step is at index
    /// `fresh_from` or beyond (earlier races were found by the runs that share the prefix).
    pub fn of(steps: &[Step], fresh_from: usize) -> Self {
        let width = steps
            .iter()
            .flat_map(|s| std::iter::once(s.thread).chain(s.woke.iter().copied()))
            .map(|t| t.index() + 1)
            .max()
            .unwrap_or(0);
        let mut clocks: Vec<Vec<u32>> = Vec::with_capacity(steps.len());
        let mut local = Vec::with_capacity(steps.len());
        let mut count = vec![0u32; width];
        let mut last_of: Vec<Option<usize>> = vec![None; width];
        let mut woken_by: Vec<Option<usize>> = vec![None; width];
        let mut floor = vec![0u32; width];
        let mut all = vec![0u32; width];
        // The floor each clock jump set, with the index of the first step after it.
        let mut jump_floors: Vec<(usize, Vec<u32>)> = Vec::new();
        // Per object: the last write, and the reads since.
        let mut history: BTreeMap<ObjectId, (Option<usize>, Vec<usize>)> = BTreeMap::new();
        let mut races = Vec::new();
        let mut deps: Vec<usize> = Vec::new();
        for (j, step) in steps.iter().enumerate() {
            let t = step.thread.index();
            if step.after_clock_jump {
                floor.clone_from(&all);
                jump_floors.push((j, floor.clone()));
            }
            let mut base = match step.floor_of {
                Some(k) => jump_floors
                    .iter()
                    .rev()
                    .find(|(at, _)| *at <= k)
                    .map_or_else(|| vec![0u32; width], |(_, f)| f.clone()),
                None => floor.clone(),
            };
            for pred in [last_of[t], woken_by[t].take()].into_iter().flatten() {
                join(&mut base, &clocks[pred]);
            }
            deps.clear();
            for a in &step.accesses {
                if let Some((last_write, reads)) = history.get(&a.object) {
                    deps.extend(last_write);
                    if a.write {
                        deps.extend(reads);
                    }
                }
            }
            deps.sort_unstable();
            deps.dedup();
            let mut clock = base.clone();
            for &d in &deps {
                join(&mut clock, &clocks[d]);
            }
            count[t] += 1;
            clock[t] = count[t];
            if j >= fresh_from {
                for &d in &deps {
                    let owner = steps[d].thread.index();
                    if owner == t || base[owner] >= local[d] {
                        continue;
                    }
                    let through_another = deps.iter().any(|&e| e != d && clocks[e][owner] >= local[d]);
                    if !through_another {
                        races.push((d, j));
                    }
                }
            }
            for a in &step.accesses {
                let entry = history.entry(a.object).or_default();
                if a.write {
                    *entry = (Some(j), Vec::new());
                } else if entry.1.last() != Some(&j) {
                    entry.1.push(j);
                }
            }
            join(&mut all, &clock);
            clocks.push(clock);
            local.push(count[t]);
            last_of[t] = Some(j);
            for w in &step.woke {
                woken_by[w.index()] = Some(j);
            }
        }
        let threads = steps.iter().map(|s| s.thread).collect();
        Analysis { clocks, local, threads, races }
    }

    /// True when step `a` happens before step `b` (or is it).
    pub fn happens_before(&self, a: usize, b: usize) -> bool {
        self.clocks[b][self.threads[a].index()] >= self.local[a]
    }

    /// The threads that can start the reversal of race `(a, b)`: take the steps after `a` that
    /// do not happen after it, then `b`; a thread is an initial when its first step there has
    /// no predecessor there (Abdulla et al.'s `I_{E'}(notdep(e, E).e')`).
    pub fn initials(&self, a: usize, b: usize) -> Vec<ThreadId> {
        let width = self.clocks[b].len();
        // For each thread, the local index of its first step in the sequence, if any.
        let mut first_local: Vec<Option<u32>> = vec![None; width];
        let mut initials = Vec::new();
        for k in (a + 1..b).filter(|&k| !self.happens_before(a, k)).chain(std::iter::once(b)) {
            let t = self.threads[k];
            if first_local[t.index()].is_some() {
                continue;
            }
            let has_predecessor = first_local
                .iter()
                .enumerate()
                .any(|(s, first)| first.is_some_and(|f| self.clocks[k][s] >= f));
            first_local[t.index()] = Some(self.local[k]);
            if !has_predecessor {
                initials.push(t);
            }
        }
        initials
    }
}

fn join(into: &mut [u32], other: &[u32]) {
    for (x, &y) in into.iter_mut().zip(other) {
        *x = (*x).max(y);
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
        assert_eq!(a.initials(0, 2), vec![ThreadId(2)]);
        assert_eq!(a.initials(1, 2), vec![ThreadId(3)]);
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
    fn races_before_the_fresh_suffix_are_skipped() {
        let steps = [step(1, &[Access::write(x())]), step(2, &[Access::write(x())])];
        assert!(Analysis::of(&steps, 2).races.is_empty());
        assert_eq!(Analysis::of(&steps, 1).races, vec![(0, 1)]);
    }
}
