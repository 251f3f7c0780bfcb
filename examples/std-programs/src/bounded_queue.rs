//! A bounded blocking queue: `put` waits while it is full, `take` while it is empty.
//!
//! [`OneCondvarQueue`] is the bug: producers and consumers wait on the same `Condvar`, and
//! `notify_one` wakes *a* waiter, not necessarily one of the other side. With capacity 1, two
//! producers and two consumers, one item each:
//!
//! ```text
//! consumer-1, consumer-2: empty, wait      producer-1: put, notify_one -> wakes consumer-1
//! producer-2: full, wait                   producer-1: done
//! consumer-1: take, notify_one -> wakes consumer-2, not producer-2 (the wrong side)
//! consumer-2: empty, wait                  consumer-1: done
//! -> producer-2 and consumer-2 wait on the Condvar, and nobody is left to notify: deadlock
//! ```
//!
//! [`TwoCondvarQueue`] fixes it with one `Condvar` per side: a put wakes a taker, a take wakes
//! a putter, so every notification reaches a thread that can make progress.

use std::collections::VecDeque;

use racelab::sync::{Condvar, Mutex};

/// The buggy queue: one `Condvar` for both sides.
pub struct OneCondvarQueue<T> {
    items: Mutex<VecDeque<T>>,
    changed: Condvar,
    capacity: usize,
}

impl<T> OneCondvarQueue<T> {
    /// An empty queue holding at most `capacity` items.
    pub fn new(capacity: usize) -> Self {
        OneCondvarQueue { items: Mutex::new(VecDeque::new()), changed: Condvar::new(), capacity }
    }

    /// Adds `item`, waiting while the queue is full.
    pub fn put(&self, item: T) {
        let mut items = self.items.lock().unwrap();
        while items.len() == self.capacity {
            items = self.changed.wait(items).unwrap();
        }
        items.push_back(item);
        self.changed.notify_one(); // the bug: may wake another producer
    }

    /// Removes the oldest item, waiting while the queue is empty.
    pub fn take(&self) -> T {
        let mut items = self.items.lock().unwrap();
        while items.is_empty() {
            items = self.changed.wait(items).unwrap();
        }
        let item = items.pop_front().expect("not empty");
        self.changed.notify_one(); // the bug: may wake another consumer
        item
    }
}

/// The fixed queue: a `Condvar` per side.
pub struct TwoCondvarQueue<T> {
    items: Mutex<VecDeque<T>>,
    not_full: Condvar,
    not_empty: Condvar,
    capacity: usize,
}

impl<T> TwoCondvarQueue<T> {
    /// An empty queue holding at most `capacity` items.
    pub fn new(capacity: usize) -> Self {
        TwoCondvarQueue {
            items: Mutex::new(VecDeque::new()),
            not_full: Condvar::new(),
            not_empty: Condvar::new(),
            capacity,
        }
    }

    /// Adds `item`, waiting while the queue is full.
    pub fn put(&self, item: T) {
        let mut items =
            self.not_full.wait_while(self.items.lock().unwrap(), |q| q.len() == self.capacity).unwrap();
        items.push_back(item);
        drop(items);
        self.not_empty.notify_one();
    }

    /// Removes the oldest item, waiting while the queue is empty.
    pub fn take(&self) -> T {
        let mut items = self.not_empty.wait_while(self.items.lock().unwrap(), |q| q.is_empty()).unwrap();
        let item = items.pop_front().expect("not empty");
        drop(items);
        self.not_full.notify_one();
        item
    }
}
