//! Classics: dining philosophers, a barrier with the wrong party count, the Timer cancel race
//!.

use std::time::Duration;

use racelab_primitives::{Barrier, Lock, Shared, Timer};
use racelab_std::thread;

use crate::{as_is, Expected, Scenario, Variant};

const PHILOSOPHERS: usize = 3;

fn dine(ordered: bool) {
    let forks: Vec<Lock> = (0..PHILOSOPHERS).map(|i| Lock::named(format!("fork-{i}"))).collect();
    let hs: Vec<_> = (0..PHILOSOPHERS)
        .map(|i| {
            let (left, right) = (i, (i + 1) % PHILOSOPHERS);
            let (first, second) = if ordered { (left.min(right), left.max(right)) } else { (left, right) };
            let (a, b) = (forks[first], forks[second]);
            thread::Builder::new()
                .name(format!("philosopher-{i}"))
                .spawn(move || {
                    let _f1 = a.lock();
                    let _f2 = b.lock();
                })
                .unwrap()
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

pub(crate) const PHILOSOPHERS_SCENARIO: Scenario = Scenario {
    id: "dining-philosophers",
    title: "three philosophers each take their left fork, then their right",
    source: "classic bug LOCK-1 (lock order), with three threads",
    python: r#"forks = [Lock() for _ in range(3)]
def philosopher(i):
    first, second = i, (i + 1) % 3          # ordered: min(i, (i + 1) % 3) first
    with forks[first]:
        with forks[second]:
            pass                            # eat
for i in range(3): Thread(target=philosopher, args=(i,), name=f'philosopher-{i}').start()"#,
    story: "If every philosopher picks up the left fork before anyone picks up a right one, each waits for \
            a neighbour: a cycle of three. Taking the lower-numbered fork first breaks the cycle.",
    variants: &[
        Variant {
            name: "left-first",
            summary: "left fork, then right: a cycle",
            expected: Expected::Bug("deadlock"),
            program: || dine(false),
            configure: as_is,
        },
        Variant {
            name: "ordered",
            summary: "lower-numbered fork first",
            expected: Expected::Pass,
            program: || dine(true),
            configure: as_is,
        },
    ],
    // The plain search explores the ordered variant in 36,966 runs; partial-order reduction in 92.
    default_config: crate::portfolio,
};

fn barrier(parties: usize) {
    let b = Barrier::builder().name("start_line").build(parties);
    let hs: Vec<_> = (1..=2)
        .map(|i| thread::Builder::new().name(format!("runner-{i}")).spawn(move || b.wait()).unwrap())
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

pub(crate) const BARRIER_PARTIES: Scenario = Scenario {
    id: "barrier-parties",
    title: "Barrier(3) with only two threads",
    source: "classic bug BAR-1",
    python: r#"start_line = Barrier(3)      # two: Barrier(2)
def runner():
    start_line.wait()        # the third party never comes
t1 = Thread(target=runner, name='runner-1'); t2 = Thread(target=runner, name='runner-2')
t1.start(); t2.start()
t1.join(); t2.join()"#,
    story: "A barrier releases its parties only when all of them have arrived. With one party too many, \
            the two that came wait forever (with a timeout, the barrier breaks instead).",
    variants: &[
        Variant {
            name: "three",
            summary: "Barrier(3), two threads",
            expected: Expected::Bug("deadlock"),
            program: || barrier(3),
            configure: as_is,
        },
        Variant {
            name: "two",
            summary: "Barrier(2), two threads",
            expected: Expected::Pass,
            program: || barrier(2),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};

/// `late` records whether the function ran after `cancel()` had been called.
fn timer(guarded: bool) {
    let late = Shared::named("fired_after_cancel", false);
    let cancelled = Shared::named("cancelled", false);
    let lock = Lock::named("lock");
    let t = Timer::named("timer", Duration::from_secs(1), move || {
        let _g = guarded.then(|| lock.lock());
        if guarded && cancelled.load() {
            return; // cancelled: do nothing
        }
        late.store(cancelled.load());
    });
    thread::sleep(Duration::from_secs(1)); // cancel right at the deadline
    {
        let _g = guarded.then(|| lock.lock());
        cancelled.store(true);
        t.cancel();
    }
    t.join();
    assert!(!late.load(), "the timer's function ran after cancel() was called");
}

pub(crate) const TIMER_CANCEL: Scenario = Scenario {
    id: "timer-cancel",
    title: "Timer.cancel() right at the deadline comes too late",
    source: "classic bug TIMER-1",
    python: r#"cancelled = False; fired_after_cancel = False
lock = Lock()
def fire():
    global fired_after_cancel
    # flag: `with lock:` around the body, and first `if cancelled: return`
    fired_after_cancel = cancelled
t = Timer(1.0, fire); t.start()
time.sleep(1.0)
cancelled = True          # flag: these two lines inside `with lock:`
t.cancel()                # the timer may already have decided to run fire()
t.join()
assert not fired_after_cancel
# Timer.run itself: self.finished.wait(interval); if not self.finished.is_set(): self.function()
# Timer.cancel itself: self.finished.set()"#,
    story: "A Timer waits, then checks whether it was cancelled, then calls the function: two steps. A \
            cancel() that lands after the check does nothing and the function runs anyway. When it must \
            not run after cancelling, the function itself checks a flag under a lock that cancel also takes.",
    variants: &[
        Variant {
            name: "buggy",
            summary: "cancel() and trust it",
            expected: Expected::Bug("assertion"),
            program: || timer(false),
            configure: as_is,
        },
        Variant {
            name: "flag",
            summary: "the function checks a cancelled flag under a lock",
            expected: Expected::Pass,
            program: || timer(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};
