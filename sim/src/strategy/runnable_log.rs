//! The runnable sets along a search stack, stored as their changes.
//!
//! An exhaustive search keeps one node per decision of the current run, and each thread
//! decision was taken among a set of runnable threads the search must remember: to check that
//! the replayed prefix offers the same choice, and to know which threads a node can still
//! explore. A vector per node costs `decisions × threads`: 10,000 threads that each take a few
//! steps make 40,000 decisions among up to 10,000 threads, gigabytes. Between two consecutive
//! decisions the set changes by a thread or two (one spawned, blocked, woken or finished), so
//! this log keeps, per thread, the spans of stack positions where it was runnable: memory grows
//! with the number of changes, and a membership test is a binary search.

use crate::ids::ThreadId;

/// For each thread, the spans `[from, to)` of stack positions of thread decisions where it was
/// runnable, in order; an open span has `to == OPEN`. See the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunnableLog {
    spans: Vec<Vec<(usize, usize)>>,
    /// The runnable set at the last recorded position, sorted.
    last: Vec<ThreadId>,
    /// The last recorded position, if any.
    last_at: Option<usize>,
}

const OPEN: usize = usize::MAX;

impl RunnableLog {
    /// Records `runnable` (sorted) as the set at stack position `at`, past every position
    /// recorded so far.
    pub(crate) fn push(&mut self, at: usize, runnable: &[ThreadId]) {
        assert!(
            self.last_at.is_none_or(|l| l < at),
            "racelab invariant: runnable sets recorded out of order"
        );
        debug_assert!(runnable.windows(2).all(|w| w[0] < w[1]), "runnable sets are sorted");
        let (mut i, mut j) = (0, 0);
        while i < self.last.len() || j < runnable.len() {
            let (old, new) = (self.last.get(i).copied(), runnable.get(j).copied());
            match (old, new) {
                (Some(o), Some(n)) if o == n => {
                    i += 1;
                    j += 1;
                }
                (Some(o), None) => {
                    self.close(o, at);
                    i += 1;
                }
                (Some(o), Some(n)) if o < n => {
                    self.close(o, at);
                    i += 1;
                }
                (_, Some(n)) => {
                    self.open(n, at);
                    j += 1;
                }
                (None, None) => unreachable!("the loop ends first"),
            }
        }
        self.last.clear();
        self.last.extend_from_slice(runnable);
        self.last_at = Some(at);
    }

    fn open(&mut self, t: ThreadId, at: usize) {
        if self.spans.len() <= t.index() {
            self.spans.resize_with(t.index() + 1, Vec::new);
        }
        self.spans[t.index()].push((at, OPEN));
    }

    fn close(&mut self, t: ThreadId, at: usize) {
        let span = self.spans[t.index()].last_mut().expect("racelab invariant: closing a span never opened");
        assert_eq!(span.1, OPEN, "racelab invariant: closing a closed span");
        span.1 = at;
    }

    /// Forgets every position at or past `len` (the stack was cut to `len` nodes).
    pub(crate) fn truncate(&mut self, len: usize) {
        if self.last_at.is_none_or(|l| l < len) {
            return;
        }
        self.last.clear();
        for (t, spans) in self.spans.iter_mut().enumerate() {
            while spans.last().is_some_and(|&(from, _)| from >= len) {
                spans.pop();
            }
            if let Some(span) = spans.last_mut() {
                if span.1 >= len {
                    span.1 = OPEN;
                    self.last.push(ThreadId(t as u32));
                }
            }
        }
        // What is left are positions below `len`; the next push is at `len` or beyond.
        self.last_at = self.spans.iter().any(|s| !s.is_empty()).then(|| len - 1);
    }

    /// True when `t` was runnable at position `at`.
    pub(crate) fn contains(&self, at: usize, t: ThreadId) -> bool {
        let Some(spans) = self.spans.get(t.index()) else { return false };
        let i = spans.partition_point(|&(from, _)| from <= at);
        i > 0 && at < spans[i - 1].1
    }

    /// The runnable set at position `at`, sorted (costs a search per thread ever seen).
    pub(crate) fn set_at(&self, at: usize) -> Vec<ThreadId> {
        (0..self.spans.len() as u32).map(ThreadId).filter(|&t| self.contains(at, t)).collect()
    }

    /// True when `runnable` (sorted, of length `len` recorded with it) is the set at `at`.
    pub(crate) fn same_at(&self, at: usize, len: usize, runnable: &[ThreadId]) -> bool {
        runnable.len() == len && runnable.iter().all(|&t| self.contains(at, t))
    }

    /// Spans stored, over every thread: what the log costs.
    #[cfg(test)]
    pub(crate) fn spans(&self) -> usize {
        self.spans.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u32]) -> Vec<ThreadId> {
        v.iter().map(|&t| ThreadId(t)).collect()
    }

    #[test]
    fn sets_come_back_as_recorded_and_after_a_truncation() {
        let sets = [vec![0], vec![0, 1, 2], vec![1, 2], vec![2, 3], vec![0, 3]];
        let mut log = RunnableLog::default();
        // Position 1 is a data decision: nothing recorded there.
        let positions = [0, 2, 3, 4, 6];
        for (set, &at) in sets.iter().zip(&positions) {
            log.push(at, &ids(set));
        }
        for (set, &at) in sets.iter().zip(&positions) {
            assert_eq!(log.set_at(at), ids(set), "at {at}");
            assert!(log.same_at(at, set.len(), &ids(set)));
        }
        assert!(!log.same_at(3, 2, &ids(&[1, 3])));
        log.truncate(4);
        for (set, &at) in sets.iter().zip(&positions).take(3) {
            assert_eq!(log.set_at(at), ids(set), "at {at} after truncating");
        }
        log.push(4, &ids(&[1]));
        log.push(5, &ids(&[1, 5]));
        assert_eq!(log.set_at(3), ids(&[1, 2]));
        assert_eq!(log.set_at(4), ids(&[1]));
        assert_eq!(log.set_at(5), ids(&[1, 5]));
    }

    #[test]
    fn memory_follows_the_changes_not_the_sets() {
        // 5,000 threads become runnable one by one, then finish one by one: 10,000 positions
        // whose sets hold 12.5 million ids in all, recorded as 5,000 spans.
        let n = 5_000u32;
        let mut log = RunnableLog::default();
        let mut at = 0;
        for k in 1..=n {
            log.push(at, &ids(&(0..k).collect::<Vec<_>>()));
            at += 1;
        }
        for k in 1..n {
            log.push(at, &ids(&(k..n).collect::<Vec<_>>()));
            at += 1;
        }
        assert_eq!(log.spans(), n as usize);
        assert!(
            log.contains(n as usize + 10, ThreadId(n - 1)) && !log.contains(n as usize + 10, ThreadId(3))
        );
    }
}
