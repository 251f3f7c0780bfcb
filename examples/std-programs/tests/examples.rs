//! Each example, buggy and fixed, under racelab: the buggy versions' reports name the bug (the
//! test asserts on the report, it does not expect a panic), the fixed versions pass an
//! exhaustive search.

use racelab::sync::Arc;
use racelab::{check, thread, Config, FailureKind, Report};
use racelab_examples::bounded_queue::{OneCondvarQueue, TwoCondvarQueue};
use racelab_examples::counter::{CasCounter, RacyCounter};
use racelab_examples::publish::Publish;
use racelab_examples::stack::Stack;

/// Two producers and two consumers, one item each, over a queue of capacity 1 (enough for the
/// wrong-side wake-up, and small enough to explore every schedule of the fixed queue).
macro_rules! queue_program {
    ($queue:ty) => {
        || {
            let q = Arc::new(<$queue>::new(1));
            let mut handles = Vec::new();
            for p in 0..2 {
                let q = Arc::clone(&q);
                handles.push(thread::spawn(move || {
                    q.put(p + 1);
                    0
                }));
            }
            for _ in 0..2 {
                let q = Arc::clone(&q);
                handles.push(thread::spawn(move || q.take()));
            }
            let total: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(total, 3);
        }
    };
}

fn deadlock(report: &Report) -> &racelab::Deadlock {
    match &report.failure.as_ref().expect("the bug must be found").kind {
        FailureKind::Deadlock(d) => d,
        other => panic!("expected a deadlock, got {other:?}\n{report}"),
    }
}

#[test]
fn one_condvar_with_notify_one_deadlocks_when_it_wakes_the_wrong_side() {
    let report = check(Config::dfs().spurious_wakeups(0), queue_program!(OneCondvarQueue<i32>));
    let d = deadlock(&report);
    // A producer (Thread-1, Thread-2) and a consumer (Thread-3, Thread-4) both wait on the one
    // Condvar, which only a notification sent to the wrong side can bring about; nobody holds
    // the mutex, and main waits in a join.
    let on_condvar: Vec<&str> =
        d.blocked.iter().filter(|b| b.waits_on.kind == "Condvar").map(|b| b.thread.name.as_str()).collect();
    let producer = on_condvar.iter().any(|t| ["Thread-1", "Thread-2"].contains(t));
    let consumer = on_condvar.iter().any(|t| ["Thread-3", "Thread-4"].contains(t));
    assert!(producer && consumer, "both sides wait: {on_condvar:?}\n{report}");
    assert!(d.blocked.iter().all(|b| b.holds.is_empty()), "{report}");
    assert!(d.blocked.iter().all(|b| b.waits_on.kind == "Condvar" || b.thread.name == "main"), "{report}");
    let text = report.to_string();
    assert!(text.contains("notify_one"), "the trace shows the notify_one that woke the wrong side:\n{text}");
}

#[test]
fn one_condvar_per_side_never_deadlocks() {
    let report = check(Config::dfs(), queue_program!(TwoCondvarQueue<i32>));
    report.assert_passed();
    assert!(report.exhausted, "{report}");
}

fn tickets(racy: bool) -> Report {
    check(Config::dfs(), move || {
        let (a, b) = if racy {
            let c = Arc::new(RacyCounter::new());
            let c2 = Arc::clone(&c);
            let t = thread::spawn(move || c2.ticket());
            (c.ticket(), t.join().unwrap())
        } else {
            let c = Arc::new(CasCounter::new());
            let c2 = Arc::clone(&c);
            let t = thread::spawn(move || c2.ticket());
            (c.ticket(), t.join().unwrap())
        };
        assert_ne!(a, b, "two threads got the same ticket");
    })
}

#[test]
fn a_load_then_store_counter_hands_out_a_ticket_twice() {
    let report = tickets(true);
    match &report.failure.as_ref().expect("the lost update must be found").kind {
        FailureKind::Panic { message, .. } => assert!(message.contains("the same ticket"), "{message}"),
        other => panic!("expected the duplicate-ticket assertion, got {other:?}"),
    }
}

#[test]
fn a_compare_exchange_counter_never_does() {
    let report = tickets(false);
    report.assert_passed();
    assert!(report.exhausted, "{report}");
}

/// Thread A pops once; thread B pops twice and pushes its first back; then main pops what is
/// left. Every slot must be owned once: A's, B's second, and main's are all different.
fn aba(tagged: bool) -> Report {
    check(Config::dfs(), move || {
        let stack = Arc::new(if tagged { Stack::tagged(3) } else { Stack::untagged(3) });
        let (s1, s2) = (Arc::clone(&stack), Arc::clone(&stack));
        let a = thread::spawn(move || s1.pop());
        let b = thread::spawn(move || {
            let first = s2.pop();
            let second = s2.pop();
            if let Some(f) = first {
                s2.push(f);
            }
            second
        });
        let mut owned: Vec<usize> = [a.join().unwrap(), b.join().unwrap()].into_iter().flatten().collect();
        while let Some(slot) = stack.pop() {
            owned.push(slot);
        }
        let mut sorted = owned.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2], "a slot handed out twice or lost: {owned:?}");
    })
}

#[test]
fn an_untagged_treiber_stack_hands_a_slot_out_twice() {
    let report = aba(false);
    match &report.failure.as_ref().expect("the ABA interleaving must be found").kind {
        FailureKind::Panic { message, .. } => {
            assert!(message.contains("a slot handed out twice or lost"), "{message}")
        }
        other => panic!("expected the ownership assertion, got {other:?}"),
    }
    // The failure is shrunk to the few preemptions the ABA needs.
    let failure = report.failure.as_ref().expect("checked above");
    assert!(failure.preemptions <= 3, "{report}");
}

#[test]
fn a_tagged_treiber_stack_never_does() {
    let report = aba(true);
    report.assert_passed();
    assert!(report.exhausted, "{report}");
}

/// A writer publishes 42 while a reader reads whatever is published.
fn publish_program(make: fn() -> Publish) -> impl Fn() + Send + Sync + 'static {
    move || {
        let p = Arc::new(make());
        let reader = {
            let p = Arc::clone(&p);
            thread::spawn(move || p.read())
        };
        p.publish(42);
        let seen = reader.join().unwrap();
        assert!(matches!(seen, None | Some(0) | Some(42)), "{seen:?}");
    }
}

#[test]
fn publishing_the_flag_before_the_data_is_a_data_race() {
    let report = check(Config::dfs(), publish_program(Publish::flag_first));
    let failure = report.failure.as_ref().expect("the race is found");
    let FailureKind::DataRace(race) = &failure.kind else { panic!("expected a data race, got {report}") };
    assert!(race.first.write != race.second.write || race.first.write, "{race}");
    assert_eq!(failure.diagnosis.kind.name(), "data-race");
    assert!(report.to_string().contains("data race on UnsafeCell-1"), "{report}");
}

#[test]
fn publishing_the_data_before_the_flag_is_race_free_in_every_interleaving() {
    let report = check(Config::dfs(), publish_program(Publish::data_first));
    report.assert_passed();
    assert!(report.exhausted, "{report}");
}
