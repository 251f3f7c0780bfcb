//! Locks (seed 000 "Lock"; python-semantics.md §16.3).

use racelab_primitives::Lock;
use racelab_sim::{thread, Config};

use crate::{Expected, Scenario, Variant};

fn two_workers(second_takes_b_first: bool) {
    let a = Lock::named("lock_a");
    let b = Lock::named("lock_b");
    let w1 = thread::Builder::new().name("worker-1").spawn(move || {
        let _ga = a.lock();
        let _gb = b.lock();
    });
    let w2 = thread::Builder::new().name("worker-2").spawn(move || {
        if second_takes_b_first {
            let _gb = b.lock();
            let _ga = a.lock();
        } else {
            let _ga = a.lock();
            let _gb = b.lock();
        }
    });
    w1.join();
    w2.join();
}

pub(crate) const LOCK_ORDER: Scenario = Scenario {
    id: "lock-order",
    title: "two threads take two locks in opposite orders",
    source: "python-semantics.md §16.3 LOCK-1",
    python: r#"a, b = Lock(), Lock()
def worker_1():
    with a:
        with b: pass
def worker_2():
    with b:              # opposite order
        with a: pass
t1 = Thread(target=worker_1); t2 = Thread(target=worker_2)
t1.start(); t2.start(); t1.join(); t2.join()"#,
    story: "worker-1 holds lock_a and wants lock_b while worker-2 holds lock_b and wants lock_a: each waits \
            for the other forever. It happens only when both take their first lock before either takes \
            its second, so it may pass a thousand test runs. Taking locks in one global order fixes it.",
    variants: &[
        Variant {
            name: "buggy",
            summary: "worker-2 takes lock_b first",
            expected: Expected::Bug("deadlock"),
            program: || two_workers(true),
        },
        Variant {
            name: "fixed",
            summary: "both take lock_a, then lock_b",
            expected: Expected::Pass,
            program: || two_workers(false),
        },
    ],
    default_config: Config::dfs,
};
