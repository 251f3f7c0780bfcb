//! Shared data: which operations are atomic (seed 000, "atomic operations on built-in types").

use racelab_primitives::{Lock, Shared};
use racelab_sim::{thread, Config};

use crate::{Expected, Scenario, Variant};

const THREADS: usize = 2;
const INCREMENTS: u64 = 3;

fn run_counter(increment: fn(Shared<u64>, Lock)) {
    let counter = Shared::named("counter", 0u64);
    let lock = Lock::named("counter_lock");
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            thread::Builder::new().name(format!("worker-{}", i + 1)).spawn(move || {
                for _ in 0..INCREMENTS {
                    increment(counter, lock);
                }
            })
        })
        .collect();
    for w in workers {
        w.join();
    }
    let total = counter.load();
    assert_eq!(
        total,
        THREADS as u64 * INCREMENTS,
        "lost update: counter is {total}, expected {}",
        THREADS as u64 * INCREMENTS
    );
}

pub(crate) const COUNTER: Scenario = Scenario {
    id: "counter",
    title: "counter += 1 from two threads loses updates",
    source: "seed 000, atomic operations on built-in types; python-semantics.md §16.2 ATOM-1",
    python: r#"counter = 0
def worker():
    global counter
    for _ in range(3):
        counter += 1          # LOAD, ADD, STORE: three steps

threads = [Thread(target=worker) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
assert counter == 6"#,
    story: "`counter += 1` reads the counter, adds one and writes it back. When both threads read the \
            same value before either writes, one increment overwrites the other and the total comes out \
            short. An atomic update (like `list.append` under the GIL) or a lock around the read and the \
            write fixes it.",
    variants: &[
        Variant {
            name: "buggy",
            summary: "load then store: two steps with a gap",
            expected: Expected::Bug("panic"),
            program: || {
                run_counter(|c, _| {
                    let v = c.load();
                    c.store(v + 1);
                })
            },
        },
        Variant {
            name: "atomic",
            summary: "one atomic update",
            expected: Expected::Pass,
            program: || run_counter(|c, _| c.update(|v| *v += 1)),
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
        },
    ],
    // The locked variant has too many interleavings for a search without partial-order
    // reduction; three preemptions cover every way two increments can interleave.
    default_config: || Config::dfs().preemption_bound(3),
};
