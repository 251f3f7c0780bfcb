//! A linearizability checker: record what a concurrent object's operations were asked and what
//! they answered, then ask whether some sequential order explains every answer.
//!
//! Why it exists: an assertion at the end of a run sees only the final state; a concurrent queue
//! can end with the right items and still have answered a `pop` with a value no sequential
//! queue could have returned at that moment. Linearizability (Herlihy and Wing, 1990) is the
//! usual correctness condition: every operation appears to take effect at one instant between
//! its invocation and its response, so the history is explained by *some* sequential order that
//! keeps every operation that returned before another started ahead of it.
//!
//! ```text
//!   Thread-1  [push(1) -> ()]
//!   Thread-2                   [pop() -> Some(1)]
//!   Thread-3                   [pop() -> Some(1)]   ← no order gives 1 twice: not linearizable
//! ```
//!
//! Recording is not a scheduling point: [`History::invoke`] and [`Call::returns`] append an
//! event where the thread stands, so the events are in the order in which they happen in the
//! run. The check ([`History::check`]) is Wing and Gong's backtracking search (1993) with
//! Lowe's memoisation (2017) of the pairs (model state, set of operations linearized) already
//! found to lead nowhere; it is exponential in the worst case and meant for histories of tens
//! of operations, and a budget of [`SEARCH_BUDGET`] configurations bounds it. An operation that
//! never returned (its thread was cut off or panicked) may have taken effect or not, with any
//! result.

use std::fmt::{self, Debug};
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// The memo of dead configurations: only asked whether it holds one, never iterated, so its
/// order cannot reach a result (what `clippy.toml`'s ban on `HashSet` guards against); hashing
/// asks less of a model's state than ordering would.
#[allow(clippy::disallowed_types, reason = "membership only, never iterated")]
type Memo<S> = std::collections::HashSet<(Vec<bool>, S)>;

/// Configurations (model state, operations linearized) the search may visit before it gives
/// up and says so.
pub const SEARCH_BUDGET: usize = 1_000_000;

/// One recorded operation.
#[derive(Clone, Debug)]
struct Operation<Op, Ret> {
    thread: String,
    op: Op,
    /// The response, once recorded.
    ret: Option<Ret>,
    /// Positions of the invocation and of the response in the history's event order.
    invoked: usize,
    returned: Option<usize>,
}

#[derive(Debug)]
struct Events<Op, Ret> {
    operations: Vec<Operation<Op, Ret>>,
    /// Events recorded so far (invocations and responses).
    clock: usize,
}

/// The history of a concurrent object: invocations and responses, in the order they happened.
/// A handle: clones record into the same history (share it with the threads that use the
/// object).
pub struct History<Op, Ret> {
    events: Arc<Mutex<Events<Op, Ret>>>,
}

impl<Op, Ret> Clone for History<Op, Ret> {
    fn clone(&self) -> Self {
        History { events: Arc::clone(&self.events) }
    }
}

impl<Op, Ret> Default for History<Op, Ret> {
    fn default() -> Self {
        History { events: Arc::new(Mutex::new(Events { operations: Vec::new(), clock: 0 })) }
    }
}

impl<Op: Debug, Ret: Debug> Debug for History<Op, Ret> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with(|e| f.debug_list().entries(&e.operations).finish())
    }
}

/// An operation invoked and not yet returned: record its response with [`Call::returns`].
/// Dropped without it, the operation stays pending (it may or may not have taken effect).
#[must_use = "record the operation's response with `returns`"]
pub struct Call<Op, Ret> {
    history: History<Op, Ret>,
    index: usize,
}

impl<Op, Ret> Call<Op, Ret> {
    /// Records the operation's response: it returned `ret`, now.
    pub fn returns(self, ret: Ret) {
        self.history.with(|e| {
            let now = e.clock;
            e.clock += 1;
            let o = &mut e.operations[self.index];
            assert!(o.returned.is_none(), "racelab invariant: an operation returned twice");
            o.ret = Some(ret);
            o.returned = Some(now);
        });
    }
}

impl<Op, Ret> History<Op, Ret> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Events<Op, Ret>) -> R) -> R {
        // One OS thread runs every green thread, and no lock is held across a scheduling
        // point: this mutex is never contended; it only makes the handle `Send`.
        f(&mut self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records that the current racelab thread invokes `op`, now. Not a scheduling point.
    /// Must run inside a simulation (the thread's name is recorded).
    pub fn invoke(&self, op: Op) -> Call<Op, Ret> {
        self.invoke_by(racelab_sim::rt::thread_name(racelab_sim::rt::current()), op)
    }

    /// Records that `thread` invokes `op`, now: for histories built by hand (or recorded
    /// outside racelab).
    pub fn invoke_by(&self, thread: impl Into<String>, op: Op) -> Call<Op, Ret> {
        let thread = thread.into();
        let index = self.with(|e| {
            let invoked = e.clock;
            e.clock += 1;
            e.operations.push(Operation { thread, op, ret: None, invoked, returned: None });
            e.operations.len() - 1
        });
        Call { history: self.clone(), index }
    }

    /// Records `op` around `f`, which performs it: invoked before `f` runs, returned with what
    /// `f` returns.
    pub fn call(&self, op: Op, f: impl FnOnce() -> Ret) -> Ret
    where
        Ret: Clone,
    {
        let call = self.invoke(op);
        let ret = f();
        call.returns(ret.clone());
        ret
    }

    /// How many operations were invoked.
    pub fn len(&self) -> usize {
        self.with(|e| e.operations.len())
    }

    /// True when nothing was invoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<Op: Clone + Debug, Ret: Clone + Debug + PartialEq> History<Op, Ret> {
    /// Checks the history against a sequential model: `init` is the object's state before the
    /// first operation, `apply` performs one operation on a state and returns what it answers.
    /// `Ok` when some order of the operations, keeping each one that returned before another
    /// was invoked ahead of it, gives every recorded answer.
    pub fn check<S, F>(&self, init: S, apply: F) -> Result<(), NotLinearizable>
    where
        S: Clone + Eq + Hash,
        F: Fn(&mut S, &Op) -> Ret,
    {
        let operations = self.with(|e| e.operations.clone());
        let end = self.with(|e| e.clock);
        Search::new(&operations, &apply).run(init).map_err(|failure| failure.report(&operations, end))
    }

    /// [`check`](Self::check), panicking with the report (the timeline and the operations that
    /// cannot be ordered) when the history is not linearizable: the run fails with it.
    #[track_caller]
    pub fn assert_linearizable<S, F>(&self, init: S, apply: F)
    where
        S: Clone + Eq + Hash,
        F: Fn(&mut S, &Op) -> Ret,
    {
        if let Err(e) = self.check(init, apply) {
            panic!("{e}");
        }
    }
}

/// Why a history is not linearizable, for people: the history as a timeline and the operations
/// that cannot be ordered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotLinearizable {
    /// The history, one row per thread, each operation an interval `[op -> answer]` from its
    /// invocation to its response (`...` for one that never returned).
    pub timeline: String,
    /// The longest order of operations the search could explain, in order (`op -> answer by
    /// thread`).
    pub explained: Vec<String>,
    /// The operations that cannot come next after it, each with why (the model answers
    /// something else, or an operation that returned before it started is not placed yet).
    pub cannot_be_ordered: Vec<String>,
    /// True when the search spent its budget ([`SEARCH_BUDGET`]) without deciding.
    pub gave_up: bool,
}

impl fmt::Display for NotLinearizable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.gave_up {
            writeln!(
                f,
                "linearizability: undecided: the search visited {SEARCH_BUDGET} configurations without finding an \
                 order; check a shorter history"
            )?;
        } else {
            writeln!(
                f,
                "not linearizable: no sequential order of these operations gives every recorded answer"
            )?;
        }
        writeln!(f, "history:")?;
        write!(f, "{}", self.timeline)?;
        if self.explained.is_empty() {
            writeln!(f, "no operation can go first:")?;
        } else {
            writeln!(f, "the longest order that explains the answers: {}", self.explained.join(", "))?;
            writeln!(f, "then none of these can come next:")?;
        }
        for c in &self.cannot_be_ordered {
            writeln!(f, "  {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for NotLinearizable {}

/// Wing and Gong's search with Lowe's memo.
struct Search<'a, Op, Ret, F> {
    operations: &'a [Operation<Op, Ret>],
    apply: &'a F,
    /// For each operation, the operations that returned before it was invoked.
    before: Vec<Vec<usize>>,
    visited: usize,
    /// The deepest point reached: the order, and the state there.
    best: Vec<usize>,
}

/// Where the search ended without an order.
struct Failure {
    best: Vec<usize>,
    /// Why each unplaced operation could not come next after `best`.
    reasons: Vec<(usize, String)>,
    gave_up: bool,
}

impl<'a, Op: Clone + Debug, Ret: Clone + Debug + PartialEq, F> Search<'a, Op, Ret, F> {
    fn new(operations: &'a [Operation<Op, Ret>], apply: &'a F) -> Self {
        let before = operations
            .iter()
            .map(|o| {
                (0..operations.len())
                    .filter(|&p| operations[p].returned.is_some_and(|r| r < o.invoked))
                    .collect()
            })
            .collect();
        Search { operations, apply, before, visited: 0, best: Vec::new() }
    }

    fn run<S: Clone + Eq + Hash>(mut self, init: S) -> Result<(), Failure>
    where
        F: Fn(&mut S, &Op) -> Ret,
    {
        let n = self.operations.len();
        let mut done = vec![false; n];
        let mut order = Vec::new();
        let mut dead: Memo<S> = Memo::default();
        let mut best_state = init.clone();
        match self.search(&init, &mut done, &mut order, &mut dead, &mut best_state) {
            Some(true) => Ok(()),
            found => {
                let gave_up = found.is_none();
                let reasons = self.reasons(&best_state);
                Err(Failure { best: self.best, reasons, gave_up })
            }
        }
    }

    /// True when the operations not in `done` can be ordered after `order`; `None` when the
    /// budget ran out.
    fn search<S: Clone + Eq + Hash>(
        &mut self,
        state: &S,
        done: &mut Vec<bool>,
        order: &mut Vec<usize>,
        dead: &mut Memo<S>,
        best_state: &mut S,
    ) -> Option<bool>
    where
        F: Fn(&mut S, &Op) -> Ret,
    {
        if order.len() > self.best.len() || (self.best.is_empty() && order.is_empty()) {
            self.best.clone_from(order);
            best_state.clone_from(state);
        }
        let complete = (0..done.len()).all(|i| done[i] || self.operations[i].returned.is_none());
        if complete {
            return Some(true);
        }
        self.visited += 1;
        if self.visited > SEARCH_BUDGET {
            return None;
        }
        for i in 0..done.len() {
            if done[i] || !self.before[i].iter().all(|&p| done[p]) {
                continue;
            }
            let o = &self.operations[i];
            let mut next = state.clone();
            let got = (self.apply)(&mut next, &o.op);
            if o.ret.as_ref().is_some_and(|r| *r != got) {
                continue;
            }
            done[i] = true;
            if !dead.contains(&(done.clone(), next.clone())) {
                order.push(i);
                match self.search(&next, done, order, dead, best_state) {
                    Some(true) => return Some(true),
                    None => return None,
                    Some(false) => {}
                }
                order.pop();
                dead.insert((done.clone(), next));
            }
            done[i] = false;
        }
        Some(false)
    }

    /// Why each completed operation not in the best order cannot come right after it.
    fn reasons<S: Clone>(&self, state: &S) -> Vec<(usize, String)>
    where
        F: Fn(&mut S, &Op) -> Ret,
    {
        let placed: Vec<bool> = (0..self.operations.len()).map(|i| self.best.contains(&i)).collect();
        let mut reasons = Vec::new();
        for (i, o) in self.operations.iter().enumerate() {
            if placed[i] || o.ret.is_none() {
                continue;
            }
            let waiting: Vec<usize> = self.before[i].iter().copied().filter(|&p| !placed[p]).collect();
            let why = if let Some(&p) = waiting.first() {
                format!("it started after {} returned, which cannot be placed", self.label(p))
            } else {
                let got = (self.apply)(&mut state.clone(), &o.op);
                format!("the sequential model answers {got:?} here")
            };
            reasons.push((i, why));
        }
        reasons
    }

    fn label(&self, i: usize) -> String {
        let o = &self.operations[i];
        match &o.ret {
            Some(r) => format!("{:?} -> {:?} by {}", o.op, r, o.thread),
            None => format!("{:?} (never returned) by {}", o.op, o.thread),
        }
    }
}

impl Failure {
    fn report<Op: Debug, Ret: Debug>(self, operations: &[Operation<Op, Ret>], end: usize) -> NotLinearizable {
        let label = |i: usize| {
            let o = &operations[i];
            match &o.ret {
                Some(r) => format!("{:?} -> {:?} by {}", o.op, r, o.thread),
                None => format!("{:?} (never returned) by {}", o.op, o.thread),
            }
        };
        NotLinearizable {
            timeline: timeline(operations, end),
            explained: self.best.iter().map(|&i| label(i)).collect(),
            cannot_be_ordered: self.reasons.iter().map(|(i, why)| format!("{}: {why}", label(*i))).collect(),
            gave_up: self.gave_up,
        }
    }
}

/// Draws the history: one row per thread (more when a hand-built history overlaps operations of
/// one thread), each operation `[op -> answer]` from the column of its invocation to the column
/// of its response. Columns follow the event order, spaced so that every label fits.
fn timeline<Op: Debug, Ret: Debug>(operations: &[Operation<Op, Ret>], end: usize) -> String {
    let labels: Vec<String> = operations
        .iter()
        .map(|o| match &o.ret {
            Some(r) => format!("{:?} -> {:?}", o.op, r),
            None => format!("{:?} ...", o.op),
        })
        .collect();
    // Column of each event: after the previous event, and a response far enough from its
    // invocation for the label.
    let mut at_event: Vec<Option<usize>> = vec![None; end + 1];
    let mut column = vec![0usize; end + 1];
    for (i, o) in operations.iter().enumerate() {
        at_event[o.invoked] = Some(i);
        if let Some(r) = o.returned {
            at_event[r] = Some(i);
        }
    }
    let mut x = 0;
    for e in 0..=end {
        if let Some(i) = at_event[e] {
            let o = &operations[i];
            if o.returned == Some(e) {
                x = x.max(column[o.invoked] + labels[i].len() + 1);
            }
        }
        column[e] = x;
        x += 2;
    }
    let width = column[end] + 1;
    // Rows: per thread, in order of first appearance; an operation goes in the first row of its
    // thread that is free over its interval.
    let mut rows: Vec<(String, Vec<char>)> = Vec::new();
    for (i, o) in operations.iter().enumerate() {
        let start = column[o.invoked];
        let stop = o.returned.map_or(width - 1, |r| column[r]);
        let row = rows
            .iter()
            .position(|(t, cells)| *t == o.thread && cells[start..=stop].iter().all(|&c| c == ' '));
        let row = match row {
            Some(r) => r,
            None => {
                rows.push((o.thread.clone(), vec![' '; width]));
                rows.len() - 1
            }
        };
        let cells = &mut rows[row].1;
        let text: Vec<char> = labels[i].chars().collect();
        cells[start] = '[';
        for (k, c) in cells.iter_mut().enumerate().take(stop).skip(start + 1) {
            *c = text.get(k - start - 1).copied().unwrap_or(if o.returned.is_some() { ' ' } else { '.' });
        }
        if o.returned.is_some() {
            cells[stop] = ']';
        }
    }
    let name_width = rows.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (t, cells) in rows {
        let line: String = cells.into_iter().collect();
        out.push_str(&format!("  {t:<name_width$}  {}\n", line.trim_end()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[derive(Clone, Debug, PartialEq)]
    enum Op {
        Push(u32),
        Pop,
    }

    fn queue(q: &mut VecDeque<u32>, op: &Op) -> Option<u32> {
        match op {
            Op::Push(v) => {
                q.push_back(*v);
                None
            }
            Op::Pop => q.pop_front(),
        }
    }

    #[test]
    fn overlapping_operations_may_take_effect_in_either_order() {
        let h = History::new();
        let a = h.invoke_by("t1", Op::Push(1));
        let b = h.invoke_by("t2", Op::Push(2));
        a.returns(None);
        b.returns(None);
        let c = h.invoke_by("t3", Op::Pop);
        c.returns(Some(2));
        assert_eq!(h.check(VecDeque::new(), queue), Ok(()));
    }

    #[test]
    fn real_time_order_is_kept_and_the_report_draws_the_timeline() {
        let h = History::new();
        h.invoke_by("t1", Op::Push(1)).returns(None);
        h.invoke_by("t2", Op::Push(2)).returns(None);
        h.invoke_by("t3", Op::Pop).returns(Some(2));
        let e = h.check(VecDeque::new(), queue).expect_err("2 was pushed after 1");
        assert!(!e.gave_up);
        assert_eq!(
            e.timeline,
            concat!(
                "  t1  [Push(1) -> None]\n",
                "  t2                    [Push(2) -> None]\n",
                "  t3                                      [Pop -> Some(2)]\n",
            )
        );
        assert_eq!(e.explained, vec!["Push(1) -> None by t1", "Push(2) -> None by t2"]);
        assert_eq!(
            e.cannot_be_ordered,
            vec!["Pop -> Some(2) by t3: the sequential model answers Some(1) here"]
        );
    }

    #[test]
    fn a_pending_operation_may_or_may_not_have_taken_effect() {
        let h = History::new();
        let pending = h.invoke_by("t1", Op::Push(7));
        h.invoke_by("t2", Op::Pop).returns(Some(7));
        drop(pending);
        assert_eq!(h.check(VecDeque::new(), queue), Ok(()));
        let h = History::new();
        let _pending = h.invoke_by("t1", Op::Push(7));
        h.invoke_by("t2", Op::Pop).returns(None);
        assert_eq!(h.check(VecDeque::new(), queue), Ok(()));
        let text =
            h.check(VecDeque::new(), |q: &mut VecDeque<u32>, op: &Op| queue(q, op).or(Some(0))).unwrap_err();
        assert!(text.timeline.contains("[Push(7) ..."), "{}", text.timeline);
    }
}
