//! A program written only with std's names: `Mutex`, `Condvar`, `Arc`, `AtomicUsize`,
//! `thread::spawn` and `join().unwrap()`. `tests/same_code/main.rs` compiles this very file twice,
//! once where `sync` and `thread` are std's and once where they are racelab's: switching those
//! two `use` lines (in the including module) is the whole port.

use super::sync::atomic::{AtomicUsize, Ordering};
use super::sync::{Arc, Condvar, Mutex};
use super::thread;
use std::collections::VecDeque;

/// A bounded blocking queue: two producers put 3 items each, two consumers take 3 each.
/// Returns the sum of what the consumers took (0+1+2 + 10+11+12 = 36) and how many they took.
pub fn bounded_queue() -> (usize, usize) {
    let queue = Arc::new((Mutex::new(VecDeque::new()), Condvar::new(), Condvar::new()));
    let taken = Arc::new(AtomicUsize::new(0));
    let mut producers = Vec::new();
    for p in 0..2 {
        let queue = Arc::clone(&queue);
        producers.push(thread::spawn(move || {
            let (items, not_full, not_empty) = &*queue;
            for i in 0..3 {
                let mut items = not_full.wait_while(items.lock().unwrap(), |q| q.len() == 2).unwrap();
                items.push_back(p * 10 + i);
                drop(items);
                // Notified after unlocking, as std allows.
                not_empty.notify_one();
            }
        }));
    }
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let (queue, taken) = (Arc::clone(&queue), Arc::clone(&taken));
        consumers.push(thread::spawn(move || {
            let (items, not_full, not_empty) = &*queue;
            let mut sum = 0;
            for _ in 0..3 {
                let mut guard = items.lock().unwrap();
                while guard.is_empty() {
                    guard = not_empty.wait(guard).unwrap();
                }
                sum += guard.pop_front().unwrap();
                not_full.notify_one();
                taken.fetch_add(1, Ordering::SeqCst);
            }
            sum
        }));
    }
    for p in producers {
        p.join().unwrap();
    }
    let sum = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    (sum, taken.load(Ordering::SeqCst))
}

/// A counter incremented by a load and a store instead of `fetch_add`: two threads, so the
/// result is 2, or 1 when their steps interleave (rare on a real machine).
pub fn racy_counter() -> usize {
    let counter = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                let v = counter.load(Ordering::SeqCst);
                counter.store(v + 1, Ordering::SeqCst);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    counter.load(Ordering::SeqCst)
}
