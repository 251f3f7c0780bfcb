//! The seed's Condition producer/consumer (seed 004): `if` around `condition.wait()` is found
//! by exhaustive search with spurious wake-ups on (one consumer suffices), and, with two
//! consumers, with them off too (a stolen wake-up); the `while` version passes exhaustively
//! both ways once it wakes everyone with `notify_all()`: with the seed's `notify()` and two
//! consumers, racelab finds that a consumer can wake the other consumer instead of the
//! producer, and all three sleep forever (classic bug COND-4).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use racelab::{check, thread, Condition, Config, FailureKind, Report};

/// `MAX_NUM = 1`; the producer puts `consumers` items; each consumer takes one. The seed's
/// code: acquire, `if`/`while` guard, wait, act, `notify()`, release.
fn seed_program(consumers: usize, guard_with_while: bool) -> impl Fn() + Send + Sync + 'static {
    program(consumers, guard_with_while, false)
}

fn program(consumers: usize, guard_with_while: bool, notify_all: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let condition = Condition::named("condition", racelab::RLock::named("lock"));
        let queue: Rc<RefCell<VecDeque<usize>>> = Rc::new(RefCell::new(VecDeque::new()));
        let q = Rc::clone(&queue);
        let producer = thread::Builder::new()
            .name("producer".into())
            .spawn(move || {
                for num in 0..consumers {
                    condition.acquire();
                    if guard_with_while {
                        while q.borrow().len() == 1 {
                            condition.wait();
                        }
                    } else if q.borrow().len() == 1 {
                        condition.wait();
                    }
                    q.borrow_mut().push_back(num);
                    if notify_all {
                        condition.notify_all();
                    } else {
                        condition.notify();
                    }
                    condition.release();
                }
            })
            .unwrap();
        let handles: Vec<_> = (1..=consumers)
            .map(|i| {
                let q = Rc::clone(&queue);
                thread::Builder::new()
                    .name(format!("consumer-{i}"))
                    .spawn(move || {
                        condition.acquire();
                        if guard_with_while {
                            while q.borrow().is_empty() {
                                condition.wait();
                            }
                        } else if q.borrow().is_empty() {
                            condition.wait();
                        }
                        let num = q.borrow_mut().pop_front();
                        assert!(num.is_some(), "IndexError: pop from empty list");
                        if notify_all {
                            condition.notify_all();
                        } else {
                            condition.notify();
                        }
                        condition.release();
                    })
                    .unwrap()
            })
            .collect();
        producer.join().unwrap();
        for h in handles {
            h.join().unwrap();
        }
    }
}

fn assert_index_error(report: &Report) {
    let f = report.failure.as_ref().expect("the `if` bug is found");
    let FailureKind::Panic { message, .. } = &f.kind else { panic!("{}", f.kind) };
    assert!(message.contains("IndexError"), "{message}");
}

#[test]
fn if_guard_with_one_consumer_is_caught_by_a_spurious_wakeup() {
    let report = check(Config::dfs().spurious_wakeups(1), seed_program(1, false));
    assert_index_error(&report);
    let f = report.failure.unwrap();
    assert!(f.schedule.to_string().contains("s1"), "a spurious wake-up was chosen: {}", f.schedule);
    assert!(f.trace.to_string().contains("woken spuriously"), "{}", f.trace);
    // With CPython-exact semantics one consumer cannot hit it: the search passes.
    let exact = check(Config::dfs().spurious_wakeups(0), seed_program(1, false));
    exact.assert_passed();
    assert!(exact.exhausted);
}

#[test]
fn if_guard_with_two_consumers_is_caught_without_spurious_wakeups() {
    let report = check(Config::dfs().spurious_wakeups(0), seed_program(2, false));
    assert_index_error(&report);
}

#[test]
fn while_guard_passes_exhaustively_both_ways() {
    // With two consumers the unbounded search does not finish without partial-order
    // reduction; two preemptions are exhausted instead (one with a spurious wake-up allowed).
    for (consumers, spurious, bound) in [(1, 0, None), (1, 1, None), (2, 0, Some(2)), (2, 1, Some(1))] {
        let mut config = Config::dfs().spurious_wakeups(spurious);
        if let Some(b) = bound {
            config = config.preemption_bound(b);
        }
        let report = check(config, program(consumers, true, consumers > 1));
        report.assert_passed();
        assert!(report.exhausted, "consumers={consumers} spurious={spurious}: {report}");
        eprintln!("while, {consumers} consumers, spurious {spurious}, bound {bound:?}: {} runs", report.runs);
    }
}

#[test]
fn while_guard_with_notify_and_two_consumers_can_put_everyone_to_sleep() {
    let report = check(Config::dfs().spurious_wakeups(0), seed_program(2, true));
    let f = report.failure.expect("COND-4 is found");
    let FailureKind::Deadlock(d) = &f.kind else { panic!("{}", f.kind) };
    let names: Vec<&str> = d.blocked.iter().map(|b| b.thread.name.as_str()).collect();
    assert!(names.contains(&"producer"), "{names:?}");
    assert!(
        d.blocked.iter().all(|b| b.waits_on.name == "condition" || b.thread.name == "main"),
        "{}",
        f.kind
    );
}
