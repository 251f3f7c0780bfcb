//! Conditions (seed 004's Condition producer/consumer and the Condition reference notes).

use std::collections::VecDeque;
use std::time::Duration;

use racelab_primitives::{Condition, Lock, Shared, Watched};
use racelab_sim::Config;
use racelab_std::thread;

use crate::{as_is, Expected, Scenario, Variant};

const MAX_NUM: usize = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Guard {
    If,
    While,
    WaitFor,
}

/// The seed's producer/consumer on one condition, bounded: one producer puts one item per
/// consumer, each consumer takes one; `notify_all()` so only the guard is at fault.
fn buffer(guard: Guard, consumers: usize) {
    let cond = Condition::named("condition", Lock::named("lock"));
    let queue = Watched::named("queue", VecDeque::<usize>::new());
    let wait_until = move |ready: &dyn Fn() -> bool| match guard {
        Guard::If => {
            if !ready() {
                cond.wait();
            }
        }
        Guard::While => {
            while !ready() {
                cond.wait();
            }
        }
        Guard::WaitFor => {
            cond.wait_for(ready);
        }
    };
    let q = queue;
    let producer = thread::Builder::new()
        .name("producer".into())
        .spawn(move || {
            for num in 0..consumers {
                let _g = cond.lock();
                wait_until(&|| q.with(|q| q.len() < MAX_NUM));
                q.update(|q| q.push_back(num));
                cond.notify_all();
            }
        })
        .unwrap();
    let hs: Vec<_> = (1..=consumers)
        .map(|i| {
            let q = queue;
            thread::Builder::new()
                .name(format!("consumer-{i}"))
                .spawn(move || {
                    let _g = cond.lock();
                    wait_until(&|| q.with(|q| !q.is_empty()));
                    let popped = q.update(|q| q.pop_front());
                    assert!(popped.is_some(), "IndexError: pop from empty list");
                    cond.notify_all();
                })
                .unwrap()
        })
        .collect();
    producer.join().unwrap();
    for h in hs {
        h.join().unwrap();
    }
}

fn exact(config: Config) -> Config {
    config.spurious_wakeups(0)
}

pub(crate) const CONDITION_BUFFER: Scenario = Scenario {
    id: "condition-buffer",
    title: "producer/consumer guarding Condition.wait() with `if`",
    source: "seed 004, the Condition producer/consumer (ProducerThread / ConsumerThread); classic bug COND-1",
    python: r#"queue = []; MAX_NUM = 1
condition = Condition()
def producer():
    for num in range(2):                 # one item per consumer (if-spurious: one consumer)
        with condition:
            if len(queue) >= MAX_NUM:    # as the consumers' guard
                condition.wait()
            queue.append(num)
            condition.notify_all()
def consumer():                          # consumer-1 and consumer-2
    with condition:
        if not queue:                    # while: `while not queue:`; wait-for: condition.wait_for(lambda: queue)
            condition.wait()
        num = queue.pop(0)               # IndexError when another consumer got there first
        condition.notify_all()"#,
    story: "A consumer that wakes from `wait()` does not get the lock back at once: it contends for it like \
            anyone else. The other consumer can take the lock first and empty the queue, so the woken \
            consumer pops from an empty list (a stolen wake-up). A wait may also return with no notify at \
            all (the docs allow spurious wake-ups), which breaks the `if` even with one consumer. \
            Re-checking the condition in a `while` loop, or `wait_for`, fixes both kinds of wake-up.",
    variants: &[
        Variant {
            name: "if",
            summary: "`if` around wait(), two consumers: a stolen wake-up",
            expected: Expected::Bug("stolen-wakeup"),
            program: || buffer(Guard::If, 2),
            configure: exact,
        },
        Variant {
            name: "if-spurious",
            summary: "`if` around wait(), one consumer, spurious wake-ups allowed",
            expected: Expected::Bug("spurious-wakeup"),
            program: || buffer(Guard::If, 1),
            configure: as_is,
        },
        Variant {
            name: "while",
            summary: "`while` around wait(): re-checked after every wake-up",
            expected: Expected::Pass,
            program: || buffer(Guard::While, 2),
            configure: as_is,
        },
        Variant {
            name: "wait-for",
            summary: "`wait_for(predicate)`: the loop written for you",
            expected: Expected::Pass,
            program: || buffer(Guard::WaitFor, 2),
            configure: as_is,
        },
    ],
    // The plain search exhausts the `while` variant in 30,240 runs; partial-order reduction in 512.
    default_config: crate::portfolio,
};

/// One producer (two items) and two consumers (one item each) on one condition, capacity 1,
/// `while` loops: with `notify()` a consumer can wake the other consumer instead of the
/// producer, and then everyone sleeps.
fn mixed(notify_all: bool) {
    let cond = Condition::named("condition", Lock::named("lock"));
    let items = Shared::named("items", 0usize);
    let notify = move || if notify_all { cond.notify_all() } else { cond.notify() };
    let mut hs = vec![thread::Builder::new()
        .name("producer".into())
        .spawn(move || {
            for _ in 0..2 {
                let _g = cond.lock();
                while items.load() == MAX_NUM {
                    cond.wait();
                }
                items.update(|n| *n += 1);
                notify();
            }
        })
        .unwrap()];
    for i in 1..=2 {
        hs.push(
            thread::Builder::new()
                .name(format!("consumer-{i}"))
                .spawn(move || {
                    let _g = cond.lock();
                    while items.load() == 0 {
                        cond.wait();
                    }
                    items.update(|n| *n -= 1);
                    notify();
                })
                .unwrap(),
        );
    }
    for h in hs {
        h.join().unwrap();
    }
}

pub(crate) const NOTIFY_WRONG_KIND: Scenario = Scenario {
    id: "notify-one",
    title: "notify() with producers and consumers on one condition: everyone asleep",
    source: "seed 004 Condition notes (notify vs notify_all); classic bug COND-4",
    python: r#"condition = Condition()
items = 0; MAX_NUM = 1                 # producers wait for space, consumers for items
def producer():
    global items
    for _ in range(2):
        with condition:
            while items == MAX_NUM: condition.wait()
            items += 1
            condition.notify()         # notify-all: condition.notify_all()
def consumer():                        # consumer-1 and consumer-2
    global items
    with condition:
        while items == 0: condition.wait()
        items -= 1
        condition.notify()             # may wake the other consumer, not the producer"#,
    story: "With two kinds of waiters on one condition, `notify()` wakes one waiter of either kind. When a \
            consumer's notify wakes the other consumer instead of a producer, that consumer finds nothing \
            and waits again, and nobody is left to wake the producer: every thread sleeps. Use \
            `notify_all()`, or one condition per kind (as queue.Queue does).",
    variants: &[
        Variant {
            name: "notify",
            summary: "notify(): may wake the wrong kind",
            expected: Expected::Bug("misdirected-wakeup"),
            program: || mixed(false),
            configure: exact,
        },
        Variant {
            name: "notify-all",
            summary: "notify_all(): everyone re-checks",
            expected: Expected::Pass,
            program: || mixed(true),
            configure: exact,
        },
    ],
    default_config: crate::portfolio,
};

fn lost_notify(check_flag: bool) {
    let cond = Condition::named("ready", Lock::named("lock"));
    let flag = Shared::named("flag", false);
    let waiter = thread::Builder::new()
        .name("waiter".into())
        .spawn(move || {
            thread::sleep(Duration::from_millis(1)); // starts late
            let _g = cond.lock();
            if check_flag {
                while !flag.load() {
                    cond.wait();
                }
            } else {
                cond.wait();
            }
        })
        .unwrap();
    let notifier = thread::Builder::new()
        .name("notifier".into())
        .spawn(move || {
            let _g = cond.lock();
            flag.store(true);
            cond.notify();
        })
        .unwrap();
    notifier.join().unwrap();
    waiter.join().unwrap();
}

pub(crate) const LOST_NOTIFY: Scenario = Scenario {
    id: "lost-notify",
    title: "a notify before anyone waits is lost",
    source: "classic bug COND-3",
    python: r#"ready = Condition(Lock())
flag = False
def waiter():
    time.sleep(0.001)          # starts late
    with ready:
        ready.wait()           # buggy: no predicate (predicate: `while not flag: ready.wait()`)
def notifier():
    global flag
    with ready:
        flag = True
        ready.notify()         # nobody waiting yet: the notification is gone"#,
    story: "A condition does not remember notifications: a notify with nobody waiting does nothing. The \
            waiter that comes later waits for a notify that already happened. Wait on a predicate \
            (`while not ready: cond.wait()`), which is true by then.",
    variants: &[
        Variant {
            name: "buggy",
            summary: "wait() with no predicate",
            expected: Expected::Bug("lost-wakeup"),
            program: || lost_notify(false),
            configure: exact,
        },
        Variant {
            name: "predicate",
            summary: "`while not ready: wait()`",
            expected: Expected::Pass,
            program: || lost_notify(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};
