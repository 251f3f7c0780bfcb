//! Condition producer/consumer (seed 004, the commented-out Condition example).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use racelab_primitives::{Condition, Lock};
use racelab_sim::{thread, Config};

use crate::{Expected, Scenario, Variant};

const MAX_NUM: usize = 1;
const ITEMS_PER_PRODUCER: usize = 1;

/// One producer and two consumers on one condition, as in the seed but bounded: the producer
/// puts `2 * ITEMS_PER_PRODUCER` items, each consumer takes `ITEMS_PER_PRODUCER`.
fn buffer(guard_with_while: bool) {
    let cond = Condition::named("condition", Lock::named("lock"));
    let queue: Rc<RefCell<VecDeque<usize>>> = Rc::new(RefCell::new(VecDeque::new()));
    let q = Rc::clone(&queue);
    let producer = thread::Builder::new().name("producer").spawn(move || {
        for num in 0..2 * ITEMS_PER_PRODUCER {
            let _g = cond.lock();
            if guard_with_while {
                while q.borrow().len() == MAX_NUM {
                    cond.wait();
                }
            } else if q.borrow().len() == MAX_NUM {
                cond.wait();
            }
            q.borrow_mut().push_back(num);
            cond.notify_all();
        }
    });
    let consumers: Vec<_> = (1..=2)
        .map(|i| {
            let q = Rc::clone(&queue);
            thread::Builder::new().name(format!("consumer-{i}")).spawn(move || {
                for _ in 0..ITEMS_PER_PRODUCER {
                    let _g = cond.lock();
                    if guard_with_while {
                        while q.borrow().is_empty() {
                            cond.wait();
                        }
                    } else if q.borrow().is_empty() {
                        cond.wait();
                    }
                    let popped = q.borrow_mut().pop_front();
                    assert!(popped.is_some(), "IndexError: pop from empty list");
                    cond.notify_all();
                }
            })
        })
        .collect();
    producer.join();
    for c in consumers {
        c.join();
    }
}

pub(crate) const CONDITION_BUFFER: Scenario = Scenario {
    id: "condition-buffer",
    title: "producer/consumer guarding Condition.wait() with `if`",
    source: "seed 004, the Condition producer/consumer (ProducerThread / ConsumerThread); python-semantics.md §16.7",
    python: r#"queue = []; MAX_NUM = 1
condition = Condition()
class ConsumerThread(Thread):
    def run(self):
        for _ in range(1):
            condition.acquire()
            if not queue:                # should be `while not queue:`
                condition.wait()
            num = queue.pop(0)           # IndexError when another consumer got there first
            condition.notify()           # (notify_all() here, so the producer is always woken)
            condition.release()"#,
    story: "A consumer that wakes from `wait()` does not get the lock back at once: it contends for it like \
            anyone else. The other consumer can take the lock first and empty the queue, so the woken \
            consumer pops from an empty list (a stolen wake-up). Re-checking the condition in a `while` \
            loop, or `wait_for`, fixes it.",
    variants: &[
        Variant {
            name: "if",
            summary: "`if` around wait(): a stolen wake-up pops from an empty list",
            expected: Expected::Bug("panic"),
            program: || buffer(false),
        },
        Variant {
            name: "while",
            summary: "`while` around wait(): the condition is re-checked after every wake-up",
            expected: Expected::Pass,
            program: || buffer(true),
        },
    ],
    // Unbounded search does not finish without partial-order reduction. With one spurious
    // wake-up allowed, one preemption is exhausted in about 36,000 runs (two take 510,000).
    default_config: || Config::dfs().preemption_bound(1),
};
