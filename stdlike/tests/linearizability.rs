//! The linearizability checker on queues: a hand-built history no queue can give, a correct
//! queue's histories over many seeds, and a buggy queue caught under exploration.

use std::collections::VecDeque;
use std::sync::Arc;

use racelab_primitives::Lock;
use racelab_sim::{check, thread, Config, FailureKind, Report};
use racelab_std::cell::UnsafeCell;
use racelab_std::linearizability::History;

#[derive(Clone, Debug, PartialEq)]
enum Op {
    Push(u32),
    Pop,
}

/// The sequential model: a FIFO queue. `Push` answers `None`.
fn fifo(q: &mut VecDeque<u32>, op: &Op) -> Option<u32> {
    match op {
        Op::Push(v) => {
            q.push_back(*v);
            None
        }
        Op::Pop => q.pop_front(),
    }
}

#[test]
fn a_history_no_queue_can_give_is_rejected_with_its_timeline() {
    // Push(1) returned before Push(2) was invoked, so a FIFO queue must give 1 first; the pop
    // that overlaps nothing answers 2.
    let h = History::new();
    h.invoke_by("producer", Op::Push(1)).returns(None);
    h.invoke_by("producer", Op::Push(2)).returns(None);
    let pop = h.invoke_by("consumer-a", Op::Pop);
    let other = h.invoke_by("consumer-b", Op::Pop);
    pop.returns(Some(2));
    other.returns(Some(2));
    let e = h.check(VecDeque::new(), fifo).expect_err("2 twice and 1 never");
    assert!(!e.gave_up);
    let text = e.to_string();
    assert!(text.starts_with("not linearizable: no sequential order"), "{text}");
    // One row per thread; the two pops overlap.
    assert_eq!(
        e.timeline,
        concat!(
            "  producer    [Push(1) -> None] [Push(2) -> None]\n",
            "  consumer-a                                      [Pop -> Some(2)]\n",
            "  consumer-b                                        [Pop -> Some(2)]\n",
        ),
        "{text}"
    );
    assert_eq!(e.explained, vec!["Push(1) -> None by producer", "Push(2) -> None by producer"]);
    assert_eq!(
        e.cannot_be_ordered,
        vec![
            "Pop -> Some(2) by consumer-a: the sequential model answers Some(1) here",
            "Pop -> Some(2) by consumer-b: the sequential model answers Some(1) here",
        ]
    );
    // The same pops answering 1 and 2 are linearizable, in either order of their responses.
    let h = History::new();
    h.invoke_by("producer", Op::Push(1)).returns(None);
    h.invoke_by("producer", Op::Push(2)).returns(None);
    let pop = h.invoke_by("consumer-a", Op::Pop);
    let other = h.invoke_by("consumer-b", Op::Pop);
    other.returns(Some(1));
    pop.returns(Some(2));
    assert_eq!(h.check(VecDeque::new(), fifo), Ok(()));
}

/// A queue of plain memory under a racelab `Lock`; `buggy` splits `pop` into a check and an
/// act, each under the lock but not one critical section.
struct Queue {
    lock: Lock,
    items: UnsafeCell<VecDeque<u32>>,
    buggy: bool,
}

// SAFETY: every access to `items` holds `lock` (racelab's race detector checks it).
unsafe impl Sync for Queue {}
// SAFETY: as above.
unsafe impl Send for Queue {}

impl Queue {
    fn push(&self, v: u32) {
        let _g = self.lock.lock();
        // SAFETY: under the lock.
        self.items.with_mut(|q| unsafe { (*q).push_back(v) });
    }

    fn pop(&self) -> Option<u32> {
        if !self.buggy {
            let _g = self.lock.lock();
            // SAFETY: under the lock.
            return self.items.with_mut(|q| unsafe { (*q).pop_front() });
        }
        // Check...
        let front = {
            let _g = self.lock.lock();
            // SAFETY: under the lock.
            self.items.with(|q| unsafe { (*q).front().copied() })
        };
        // ...then act: another pop may have taken `front` in between.
        let _g = self.lock.lock();
        // SAFETY: under the lock.
        self.items.with_mut(|q| unsafe { (*q).pop_front() });
        front
    }
}

/// Two producers and two consumers on one queue; main checks the history at the end.
fn program(buggy: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let queue =
            Arc::new(Queue { lock: Lock::named("queue"), items: UnsafeCell::new(VecDeque::new()), buggy });
        let history: History<Op, Option<u32>> = History::new();
        let mut threads = Vec::new();
        for p in 0..2u32 {
            let (q, h) = (Arc::clone(&queue), history.clone());
            threads.push(thread::spawn(move || {
                for v in [p * 10 + 1, p * 10 + 2] {
                    h.call(Op::Push(v), || {
                        q.push(v);
                        None
                    });
                }
            }));
        }
        for _ in 0..2 {
            let (q, h) = (Arc::clone(&queue), history.clone());
            threads.push(thread::spawn(move || {
                h.call(Op::Pop, || q.pop());
            }));
        }
        for t in threads {
            t.join();
        }
        assert_eq!(history.len(), 6);
        history.assert_linearizable(VecDeque::new(), fifo);
    }
}

fn not_linearizable(report: &Report) -> String {
    let f = report.failure.as_ref().unwrap_or_else(|| panic!("a failure, got:\n{report}"));
    let FailureKind::Panic { message, thread, .. } = &f.kind else { panic!("a panic, got:\n{report}") };
    assert_eq!(thread.name, "main", "{report}");
    assert!(message.starts_with("not linearizable: "), "{report}");
    message.clone()
}

#[test]
fn the_correct_queue_is_linearizable_over_many_seeds() {
    for seed in 0..20 {
        check(Config::random(seed).runs(200), program(false)).assert_passed();
    }
    check(Config::pct(7, 3).runs(500), program(false)).assert_passed();
}

#[test]
fn the_check_then_act_queue_is_caught_under_exploration() {
    for config in [Config::random(0).runs(2_000), Config::dfs()] {
        let report = check(config, program(true));
        let message = not_linearizable(&report);
        // Two pops answered with one item (the other consumer's check saw the same front).
        assert!(message.contains("[Pop -> Some("), "{message}");
        assert!(message.contains("then none of these can come next:"), "{message}");
        assert!(message.contains("the sequential model answers"), "{message}");
    }
}
