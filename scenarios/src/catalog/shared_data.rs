//! Shared data: which operations are atomic (seed 000, "atomic operations on built-in types").

use std::cell::RefCell;
use std::rc::Rc;

use racelab_primitives::{Lock, Shared};
use racelab_std::thread;

use crate::{as_is, Expected, Scenario, Variant};

const THREADS: usize = 2;
const INCREMENTS: u64 = 3;

fn run_counter(increment: fn(Shared<u64>, Lock)) {
    let counter = Shared::named("counter", 0u64);
    let lock = Lock::named("counter_lock");
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            thread::Builder::new()
                .name(format!("worker-{}", i + 1))
                .spawn(move || {
                    for _ in 0..INCREMENTS {
                        increment(counter, lock);
                    }
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let total = counter.load();
    let expected = THREADS as u64 * INCREMENTS;
    assert!(total == expected, "lost update: counter is {total}, expected {expected}");
}

pub(crate) const COUNTER: Scenario = Scenario {
    id: "counter",
    title: "counter += 1 from two threads loses updates",
    source: "seed 000, atomic operations on built-in types; classic bug ATOM-1",
    python: r#"counter = 0
counter_lock = Lock()
def worker():
    global counter
    for _ in range(3):
        counter += 1          # buggy: load, then store (two steps)
        # atomic: one indivisible update, as list.append is under the GIL
        # locked: `with counter_lock:` around `counter += 1`
threads = [Thread(target=worker, name=f'worker-{i}') for i in (1, 2)]
for t in threads: t.start()
for t in threads: t.join()
assert counter == 6, 'lost update'"#,
    story: "`counter += 1` reads the counter, adds one and writes it back. When both threads read the \
            same value before either writes, one increment overwrites the other and the total comes out \
            short. An atomic update (like `list.append` under the GIL) or a lock around the read and the \
            write fixes it.",
    variants: &[
        Variant {
            name: "buggy",
            summary: "load then store: two steps with a gap",
            expected: Expected::Bug("lost-update"),
            program: || {
                run_counter(|c, _| {
                    let v = c.load();
                    c.store(v + 1);
                })
            },
            configure: as_is,
        },
        Variant {
            name: "atomic",
            summary: "one atomic update",
            expected: Expected::Pass,
            program: || run_counter(|c, _| c.update(|v| *v += 1)),
            configure: as_is,
        },
        Variant {
            name: "locked",
            summary: "load then store, inside `with lock:`",
            expected: Expected::Pass,
            program: || {
                run_counter(|c, lock| {
                    let _g = lock.lock();
                    let v = c.load();
                    c.store(v + 1);
                })
            },
            configure: as_is,
        },
    ],
    // The plain search exhausts the locked variant in 5,618 runs; partial-order reduction in 60.
    default_config: crate::portfolio,
};

fn appenders(append: fn(Shared<Vec<u32>>, u32)) {
    let results = Shared::named("results", Vec::new());
    let hs: Vec<_> = (0..3u32)
        .map(|i| {
            thread::Builder::new().name(format!("worker-{i}")).spawn(move || append(results, i)).unwrap()
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let mut got = results.load();
    got.sort_unstable();
    assert!(got == vec![0, 1, 2], "lost data: results are {got:?}, expected [0, 1, 2]");
}

pub(crate) const LIST_APPEND: Scenario = Scenario {
    id: "list-append",
    title: "appending to a shared list from many threads",
    source: "seed 000, atomic operations (L.append(x) is atomic)",
    python: r#"results = []
def worker(i):
    global results
    results = results + [i]    # copy-extend: read the list, build a copy, write it back
    # append: results.append(i), one atomic step under the GIL
threads = [Thread(target=worker, args=(i,), name=f'worker-{i}') for i in range(3)]
for t in threads: t.start()
for t in threads: t.join()
assert sorted(results) == [0, 1, 2], 'lost data'"#,
    story: "`list.append` is one atomic step under the GIL, so appends from many threads never lose an \
            item (only their order varies). Rebuilding the list (`results = results + [i]`) reads it, \
            builds a copy and writes it back: two threads that read the same list each write back a copy \
            without the other's item.",
    variants: &[
        Variant {
            name: "copy-extend",
            summary: "`results = results + [i]`: read, then write back",
            expected: Expected::Bug("lost-data"),
            program: || {
                appenders(|r, i| {
                    let mut copy = r.load();
                    copy.push(i);
                    r.store(copy);
                })
            },
            configure: as_is,
        },
        Variant {
            name: "append",
            summary: "`results.append(i)`: one atomic step",
            expected: Expected::Pass,
            program: || appenders(|r, i| r.update(|v| v.push(i))),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};

fn poppers(locked: bool) {
    let items = Shared::named("l", vec![1u32]);
    let lock = Lock::named("lock");
    let popped = Rc::new(RefCell::new(0));
    let hs: Vec<_> = (1..=2)
        .map(|i| {
            let popped = Rc::clone(&popped);
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    let _g = locked.then(|| lock.lock());
                    if !items.with(|l| l.is_empty()) {
                        let v = items.update(|l| l.pop());
                        assert!(v.is_some(), "IndexError: pop from empty list");
                        *popped.borrow_mut() += 1;
                    }
                })
                .unwrap()
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

pub(crate) const CHECK_THEN_ACT: Scenario = Scenario {
    id: "check-then-act",
    title: "`if l: l.pop()` from two threads",
    source: "seed 000, atomic operations; classic bug ATOM-2",
    python: r#"l = [1]
lock = Lock()
def worker():
    # locked: both lines inside `with lock:`
    if l:            # check
        l.pop()      # act: IndexError if the other thread popped in between
t1 = Thread(target=worker, name='worker-1'); t2 = Thread(target=worker, name='worker-2')
t1.start(); t2.start()
t1.join(); t2.join()"#,
    story: "Each step is atomic, but the check and the act are two steps: both threads can see the list \
            non-empty, then one pops the last item and the other pops from an empty list. Holding a lock \
            across the check and the act makes them one.",
    variants: &[
        Variant {
            name: "buggy",
            summary: "check and pop as two separate steps",
            expected: Expected::Bug("assertion"),
            program: || poppers(false),
            configure: as_is,
        },
        Variant {
            name: "locked",
            summary: "check and pop under one lock",
            expected: Expected::Pass,
            program: || poppers(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};
