//! Events (seed 004's Event producer/consumer).

use std::time::Duration;

use racelab_primitives::{Event, Queue, Shared};
use racelab_std::thread;

use crate::{as_is, Expected, Scenario, Variant};

const ITEMS: u32 = 3;

/// The seed: two consumers `wait()`, pop one item, then `clear()` (a failed pop skips the clear
/// and waits again at once); one producer appends and sets,
/// then sleeps a second. Bounded to three items; consumers are daemons and main checks, after
/// the producer is done and a grace period, that every item was consumed.
fn seed_event() {
    // The seed sleeps a second between items, which on the virtual clock lets the consumers
    // settle every time; under load a sleep is no guarantee, so the producer here only yields.
    let event = Event::named("event");
    let l = Shared::named("l", Vec::<u32>::new());
    let consumed = Shared::named("consumed", 0u32);
    for name in ["consumer1", "consumer2"] {
        thread::Builder::new()
            .name(name.into())
            .daemon(true)
            .spawn(move || loop {
                if event.wait() {
                    // The seed clears only after a pop that succeeded: its `clear()` is inside the
                    // `try`, after `l.pop()`; an IndexError skips it.
                    if l.update(|l| l.pop()).is_some() {
                        consumed.update(|c| *c += 1);
                        event.clear();
                    } // except IndexError: pass
                }
            })
            .unwrap();
    }
    let producer = thread::Builder::new()
        .name("producer1".into())
        .spawn(move || {
            for integer in 0..ITEMS {
                l.update(|l| l.push(integer));
                event.set();
                thread::yield_now();
            }
        })
        .unwrap();
    producer.join().unwrap();
    thread::sleep(Duration::from_secs(5));
    let (done, left) = (consumed.load(), l.load());
    assert!(done == ITEMS, "lost data: {done} of {ITEMS} items consumed, {left:?} left in the list");
}

fn fixed_queue() {
    let q = Queue::named("queue", 0);
    let consumed = Shared::named("consumed", 0u32);
    for name in ["consumer1", "consumer2"] {
        thread::Builder::new()
            .name(name.into())
            .daemon(true)
            .spawn(move || loop {
                let _integer: u32 = q.get();
                consumed.update(|c| *c += 1);
                q.task_done();
            })
            .unwrap();
    }
    let producer = thread::Builder::new()
        .name("producer1".into())
        .spawn(move || {
            for integer in 0..ITEMS {
                q.put(integer);
                thread::sleep(Duration::from_secs(1));
            }
        })
        .unwrap();
    producer.join().unwrap();
    q.join();
    let done = consumed.load();
    assert!(done == ITEMS, "lost data: {done} of {ITEMS} items consumed");
}

pub(crate) const EVENT_CONSUMERS: Scenario = Scenario {
    id: "event-consumers",
    title: "two consumers share one Event and clear() it (the seed's Event producer/consumer)",
    source: "seed 004, the Event-based producer/consumer with consumer1/consumer2; classic bug EVT-1",
    python: r#"event = Event()
l = []
consumed = 0
def consumer():                        # consumer1 and consumer2, daemon threads
    global consumed
    while True:
        if event.wait():
            try:
                l.pop()
                consumed += 1
                event.clear()              # only after a pop that succeeded
            except IndexError:
                pass
def producer():                        # producer1
    for integer in range(3):
        l.append(integer)
        event.set()
        # the seed sleeps 1 s here; the model only yields
producer1.start(); producer1.join()
time.sleep(5)
assert consumed == 3, 'lost data'
# queue: the consumers do `q.get(); consumed += 1; q.task_done()`,
#        the producer `q.put(integer); time.sleep(1)`, and main `q.join()`"#,
    story: "An Event is a flag, not a count. Both consumers wake on one set(); one pops and clears the \
            flag, possibly after the producer has appended again and set it: that set is erased and its \
            item sits in the list with nobody woken for it. The other finds the list empty, the seed \
            swallows the IndexError, and it spins on the flag that is still set. Items are lost or \
            delayed, and the seed hides the symptom. A Queue hands each item to exactly one consumer.",
    variants: &[
        Variant {
            name: "seed",
            summary: "wait, pop one, clear (producer without its sleep): items are left behind",
            expected: Expected::Bug("lost-data"),
            program: seed_event,
            configure: as_is,
        },
        Variant {
            name: "queue",
            summary: "a Queue instead of an Event and a list",
            expected: Expected::Pass,
            program: fixed_queue,
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};

fn pulse(wait_before_pulse: bool) {
    let ev = Event::named("ev");
    let waiter = thread::Builder::new()
        .name("waiter".into())
        .spawn(move || {
            if !wait_before_pulse {
                thread::sleep(Duration::from_secs(1)); // prepare(): still busy during the pulse
            }
            ev.wait()
        })
        .unwrap();
    let notifier = thread::Builder::new()
        .name("notifier".into())
        .spawn(move || {
            thread::sleep(Duration::from_millis(500));
            ev.set();
            ev.clear();
        })
        .unwrap();
    notifier.join().unwrap();
    waiter.join().unwrap();
}

pub(crate) const EVENT_PULSE: Scenario = Scenario {
    id: "event-pulse",
    title: "a set()/clear() pulse misses a late waiter",
    source: "classic bug EVT-2",
    python: r#"ev = Event()
def waiter():
    time.sleep(1)          # late: still busy during the pulse (early: no sleep)
    ev.wait()              # blocks: the pulse is gone
def notifier():
    time.sleep(0.5)
    ev.set(); ev.clear()   # a pulse"#,
    story: "A pulse wakes the threads already waiting, but a thread that arrives after the clear sees a \
            cleared flag and waits for a set that already came and went. Leave the event set, or use a \
            Condition with a predicate or a Queue.",
    variants: &[
        Variant {
            name: "late",
            summary: "the waiter arrives after the pulse",
            expected: Expected::Bug("lost-wakeup"),
            program: || pulse(false),
            configure: as_is,
        },
        Variant {
            name: "early",
            summary: "the waiter is waiting during the pulse: it wakes",
            expected: Expected::Pass,
            program: || pulse(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};
