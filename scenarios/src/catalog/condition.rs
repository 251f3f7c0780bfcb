//! Conditions (seed 004's Condition producer/consumer and the Condition reference notes;
//! python-semantics.md §16.7).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use racelab_primitives::{Condition, Lock, Shared};
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
    let queue: Rc<RefCell<VecDeque<usize>>> = Rc::new(RefCell::new(VecDeque::new()));
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
    let q = Rc::clone(&queue);
    let producer = thread::Builder::new()
        .name("producer")
        .spawn(move || {
            for num in 0..consumers {
                let _g = cond.lock();
                wait_until(&|| q.borrow().len() < MAX_NUM);
                q.borrow_mut().push_back(num);
                cond.notify_all();
            }
        })
        .unwrap();
    let hs: Vec<_> = (1..=consumers)
        .map(|i| {
            let q = Rc::clone(&queue);
            thread::Builder::new()
                .name(format!("consumer-{i}"))
                .spawn(move || {
                    let _g = cond.lock();
                    wait_until(&|| !q.borrow().is_empty());
                    let popped = q.borrow_mut().pop_front();
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
    source: "seed 004, the Condition producer/consumer (ProducerThread / ConsumerThread); python-semantics.md §16.7 COND-1",
    python: r#"queue = []; MAX_NUM = 1
condition = Condition()
class ConsumerThread(Thread):
    def run(self):
        condition.acquire()
        if not queue:                # should be `while not queue:`
            condition.wait()
        num = queue.pop(0)           # IndexError when another consumer got there first
        condition.notify()
        condition.release()"#,
    story: "A consumer that wakes from `wait()` does not get the lock back at once: it contends for it like \
            anyone else. The other consumer can take the lock first and empty the queue, so the woken \
            consumer pops from an empty list (a stolen wake-up). A wait may also return with no notify at \
            all (the docs allow spurious wake-ups), which breaks the `if` even with one consumer. \
            Re-checking the condition in a `while` loop, or `wait_for`, fixes both.",
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
    default_config: Config::dfs,
};

/// One producer (two items) and two consumers (one item each) on one condition, capacity 1,
/// `while` loops: with `notify()` a consumer can wake the other consumer instead of the
/// producer, and then everyone sleeps.
fn mixed(notify_all: bool) {
    let cond = Condition::named("condition", Lock::named("lock"));
    let items = Shared::named("items", 0usize);
    let notify = move || if notify_all { cond.notify_all() } else { cond.notify() };
    let mut hs = vec![thread::Builder::new()
        .name("producer")
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
    source: "seed 004 Condition notes (notify vs notify_all); python-semantics.md §16.7 COND-4",
    python: r#"cond = Condition()            # producers wait for space, consumers for items
def producer():
    with cond:
        while len(items) == MAX: cond.wait()
        items.append(x); cond.notify()     # may wake another producer
def consumer():
    with cond:
        while not items: cond.wait()
        items.pop(); cond.notify()         # may wake another consumer"#,
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
    default_config: Config::dfs,
};

fn lost_notify(check_flag: bool) {
    let cond = Condition::named("ready", Lock::named("lock"));
    let flag = Shared::named("flag", false);
    let waiter = thread::Builder::new()
        .name("waiter")
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
        .name("notifier")
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
    source: "python-semantics.md §16.7 COND-3",
    python: r#"def waiter():
    with cond:
        cond.wait()            # no predicate: waits even if the event already happened
def notifier():
    with cond:
        ready = True
        cond.notify()          # nobody waiting yet: the notification is gone"#,
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
    default_config: Config::dfs,
};
