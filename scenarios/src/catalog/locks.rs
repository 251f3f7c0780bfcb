//! Locks (seed 000 "Lock", "RLock").

use std::time::Duration;

use racelab_primitives::{Lock, RLock, Shared};
use racelab_std::thread;

use crate::{as_is, Expected, Scenario, Variant};

fn two_workers(second_takes_b_first: bool) {
    let a = Lock::named("lock_a");
    let b = Lock::named("lock_b");
    let w1 = thread::Builder::new()
        .name("worker-1".into())
        .spawn(move || {
            let _ga = a.lock();
            let _gb = b.lock();
        })
        .unwrap();
    let w2 = thread::Builder::new()
        .name("worker-2".into())
        .spawn(move || {
            if second_takes_b_first {
                let _gb = b.lock();
                let _ga = a.lock();
            } else {
                let _ga = a.lock();
                let _gb = b.lock();
            }
        })
        .unwrap();
    w1.join().unwrap();
    w2.join().unwrap();
}

pub(crate) const LOCK_ORDER: Scenario = Scenario {
    id: "lock-order",
    title: "two threads take two locks in opposite orders",
    source: "classic bug LOCK-1",
    python: r#"lock_a, lock_b = Lock(), Lock()
def worker_1():
    with lock_a:
        with lock_b: pass
def worker_2():
    with lock_b:             # buggy: the opposite order (fixed: lock_a, then lock_b)
        with lock_a: pass
t1 = Thread(target=worker_1, name='worker-1'); t2 = Thread(target=worker_2, name='worker-2')
t1.start(); t2.start()
t1.join(); t2.join()"#,
    story: "worker-1 holds lock_a and wants lock_b while worker-2 holds lock_b and wants lock_a: each waits \
            for the other forever. It happens only when both take their first lock before either takes \
            its second, so it may pass a thousand test runs. Taking locks in one global order fixes it.",
    variants: &[
        Variant {
            name: "buggy",
            summary: "worker-2 takes lock_b first",
            expected: Expected::Bug("deadlock"),
            program: || two_workers(true),
            configure: as_is,
        },
        Variant {
            name: "fixed",
            summary: "both take lock_a, then lock_b",
            expected: Expected::Pass,
            program: || two_workers(false),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};

pub(crate) const LOCK_REENTRY: Scenario = Scenario {
    id: "lock-reentry",
    title: "a thread takes a Lock it already holds",
    source: "seed 000, Lock vs RLock; classic bug LOCK-2",
    python: r#"lock = Lock()                # rlock: RLock()
def worker():
    with lock:
        with lock:           # the same thread again: blocks forever on a Lock
            pass
t = Thread(target=worker, name='worker'); t.start()
t.join()"#,
    story: "A Lock has no owner, so it does not know the thread asking is the one holding it: the second \
            acquire waits for a release that only the waiting thread could do. An RLock counts its owner's \
            acquisitions and lets it in again.",
    variants: &[
        Variant {
            name: "lock",
            summary: "nested `with lock:` on a Lock",
            expected: Expected::Bug("deadlock"),
            program: || {
                let lock = Lock::named("lock");
                let t = thread::Builder::new()
                    .name("worker".into())
                    .spawn(move || {
                        let _outer = lock.lock();
                        let _inner = lock.lock();
                    })
                    .unwrap();
                t.join().unwrap();
            },
            configure: as_is,
        },
        Variant {
            name: "rlock",
            summary: "nested `with lock:` on an RLock",
            expected: Expected::Pass,
            program: || {
                let lock = RLock::named("lock");
                let t = thread::Builder::new()
                    .name("worker".into())
                    .spawn(move || {
                        let _outer = lock.lock();
                        let _inner = lock.lock();
                    })
                    .unwrap();
                t.join().unwrap();
            },
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};

fn early_return(with_guard: bool) {
    let lock = Lock::named("lock");
    let balance = Shared::named("balance", 0i64);
    let withdraw = move |amount: i64| {
        if with_guard {
            let _g = lock.lock();
            if balance.load() < amount {
                return false; // the guard releases
            }
            balance.update(|b| *b -= amount);
            true
        } else {
            lock.acquire();
            if balance.load() < amount {
                return false; // BUG: returns still holding the lock
            }
            balance.update(|b| *b -= amount);
            lock.release();
            true
        }
    };
    let w1 = thread::Builder::new().name("worker-1".into()).spawn(move || withdraw(10)).unwrap();
    let w2 = thread::Builder::new()
        .name("worker-2".into())
        .spawn(move || {
            thread::sleep(Duration::from_millis(1));
            withdraw(10)
        })
        .unwrap();
    w1.join().unwrap();
    w2.join().unwrap();
}

pub(crate) const EARLY_RETURN: Scenario = Scenario {
    id: "early-return",
    title: "an early return skips the release",
    source: "classic bug LOCK-5",
    python: r#"lock = Lock()
balance = 0
def withdraw(amount):
    global balance
    lock.acquire()            # with: the body inside `with lock:` instead
    if balance < amount:
        return False          # buggy: returns still holding the lock
    balance -= amount
    lock.release()
    return True
def later():
    time.sleep(0.001)
    withdraw(10)
t1 = Thread(target=withdraw, args=(10,), name='worker-1')
t2 = Thread(target=later, name='worker-2')
t1.start(); t2.start()
t1.join(); t2.join()"#,
    story: "The early return leaves the lock held, so the next thread to call withdraw waits forever. \
            `with lock:` (a guard in Rust) releases on every way out of the block.",
    variants: &[
        Variant {
            name: "buggy",
            summary: "acquire/release by hand, return in between",
            expected: Expected::Bug("deadlock"),
            program: || early_return(false),
            configure: as_is,
        },
        Variant {
            name: "with",
            summary: "`with lock:` releases on return",
            expected: Expected::Pass,
            program: || early_return(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};
