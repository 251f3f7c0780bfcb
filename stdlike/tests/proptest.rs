//! `racelab_std::proptest`: inputs and interleavings varied together, a failure shrunk to a
//! minimal case whose printed lines replay it.

#![cfg(feature = "proptest")]

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestError, TestRng, TestRunner};
use racelab_primitives::{Lock, Shared};
use racelab_sim::{replay, thread, DiagnosisKind, Schedule};
use racelab_std::cell::UnsafeCell;
use racelab_std::proptest::{interleavings, run, Interleaving};

/// `threads` threads each add 1 `increments` times, a load and a store apart.
fn lost_update(threads: usize, increments: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        let counter = Shared::named("counter", 0u64);
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                thread::spawn(move || {
                    for _ in 0..increments {
                        let v = counter.load();
                        counter.store(v + 1);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join();
        }
        assert_eq!(counter.load(), (threads * increments) as u64, "lost update");
    }
}

/// The same with the load and store under a lock.
fn locked(threads: usize, increments: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        let counter = Shared::named("counter", 0u64);
        let lock = Lock::new();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                thread::spawn(move || {
                    for _ in 0..increments {
                        let _g = lock.lock();
                        let v = counter.load();
                        counter.store(v + 1);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join();
        }
        assert_eq!(counter.load(), (threads * increments) as u64, "lost update");
    }
}

fn runner() -> TestRunner {
    let config = ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// The schedule in the `racelab::replay(&"..."` line of a failure message.
fn replay_line_schedule(message: &str) -> Schedule {
    let line = message.lines().find(|l| l.starts_with("replay: racelab::replay(&\"")).expect("a replay line");
    let text = line.trim_start_matches("replay: racelab::replay(&\"").split('"').next().expect("quoted");
    text.parse().expect("a schedule that parses")
}

#[test]
fn a_lost_update_shrinks_to_one_switch_and_replays() {
    let strategy = ((1usize..4, 1usize..4), interleavings());
    let result =
        runner().run(&strategy, |((threads, increments), il)| run(&il, lost_update(threads, increments)));
    let Err(TestError::Fail(reason, ((threads, increments), minimal))) = result else {
        panic!("the lost update is found: {result:?}")
    };
    let message = reason.message().to_string();
    // Minimal: one preemption between a load and its store, over at least two threads. (proptest
    // shrinks the sizes before the interleaving and does not go back, so `increments` may stay
    // at what the first failing interleaving needed.)
    assert!(threads >= 2, "{message}");
    assert_eq!(minimal.switches(), 1, "{minimal:?}\n{message}");
    assert!(minimal.choices().iter().all(|&c| c <= 1), "{minimal:?}");
    assert!(message.contains("diagnosis: lost-update"), "{message}");
    assert!(format!("{minimal:?}").starts_with("Interleaving::new(vec!["));
    // The printed lines replay it: the interleaving, and the recorded schedule.
    let again = racelab_std::proptest::check(&minimal, lost_update(threads, increments));
    let failure = again.failure.expect("the minimal case fails again");
    assert_eq!(failure.diagnosis.kind, DiagnosisKind::LostUpdate);
    let replayed = replay(&replay_line_schedule(&message), lost_update(threads, increments));
    let replayed = replayed.failure.expect("the replay line fails too");
    assert_eq!((replayed.kind, replayed.trace), (failure.kind, failure.trace));
}

/// A counter of plain memory, shared without a lock.
struct Racy(UnsafeCell<u64>);
// SAFETY: racelab checks the accesses; the race is the point.
unsafe impl Sync for Racy {}
// SAFETY: as above.
unsafe impl Send for Racy {}

#[test]
fn a_data_race_needs_no_switch_at_all() {
    let strategy = (1usize..4, interleavings());
    let result = runner().run(&strategy, |(threads, il)| {
        run(&il, move || {
            let c = Arc::new(Racy(UnsafeCell::new(0)));
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let c = Arc::clone(&c);
                    // SAFETY: see Racy.
                    thread::spawn(move || c.0.with_mut(|p| unsafe { *p += 1 }))
                })
                .collect();
            for w in workers {
                w.join();
            }
        })
    });
    let Err(TestError::Fail(reason, (threads, minimal))) = result else {
        panic!("the race is found: {result:?}")
    };
    assert_eq!((threads, minimal), (2, Interleaving::new(vec![])), "{}", reason.message());
    assert!(reason.message().contains("diagnosis: data-race"), "{}", reason.message());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_locked_counter_is_exact_in_every_interleaving_tried(
        threads in 1usize..4,
        increments in 1usize..3,
        interleaving in interleavings(),
    ) {
        run(&interleaving, locked(threads, increments))?;
    }
}
