//! Semaphores (seed 000 "Semaphore"/"BoundedSemaphore"; seed 004's commented-out example).

use std::time::Duration;

use racelab_primitives::{Semaphore, Shared};
use racelab_sim::Config;
use racelab_std::thread;

use crate::{as_is, Expected, Scenario, Variant};

const LIMIT: usize = 3;

/// Four workers share a pool of three, twice; `extra_release` is the seed's stray `release()`
/// between the two rounds.
fn pool(sem: Semaphore, extra_release: bool) {
    let inside = Shared::named("inside", 0usize);
    round(sem, inside, 1);
    if extra_release {
        sem.release(); // the seed's "semaphore.release()" after the joins
    }
    round(sem, inside, 5);
}

fn round(sem: Semaphore, inside: Shared<usize>, first: usize) {
    let hs: Vec<_> = (first..first + 4)
        .map(|i| {
            thread::Builder::new()
                .name(format!("t{i}"))
                .spawn(move || {
                    sem.acquire();
                    let now = inside.update(|n| {
                        *n += 1;
                        *n
                    });
                    assert!(now <= LIMIT, "{now} threads inside a pool limited to {LIMIT}");
                    thread::sleep(Duration::from_secs(1));
                    inside.update(|n| *n -= 1);
                    sem.release();
                })
                .unwrap()
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

pub(crate) const SEMAPHORE_POOL: Scenario = Scenario {
    id: "semaphore-pool",
    title: "a pool limited to 3 by a Semaphore, and one release too many",
    source: "seed 004, the commented-out Semaphore/BoundedSemaphore example; classic bug SEM-1",
    python: r#"semaphore = Semaphore(3)      # bounded: BoundedSemaphore(3)
inside = 0
def fun():
    global inside
    semaphore.acquire()
    inside += 1               # one atomic update in the model
    assert inside <= 3
    time.sleep(1)
    inside -= 1
    semaphore.release()
def four_threads():
    threads = [Thread(target=fun) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
four_threads()
semaphore.release()           # extra-release and bounded: one release too many (limit: no such line)
four_threads()                # four threads now fit in a pool meant for three"#,
    story: "A Semaphore's counter is only initial + releases - acquires: an extra release raises the limit \
            for good, and four threads get into a pool meant for three. A BoundedSemaphore refuses the extra \
            release with ValueError: the bug shows up where it is made.",
    variants: &[
        Variant {
            name: "extra-release",
            summary: "Semaphore(3) released once too often: four inside",
            expected: Expected::Bug("assertion"),
            program: || pool(Semaphore::named("semaphore", LIMIT as i64), true),
            configure: as_is,
        },
        Variant {
            name: "bounded",
            summary: "BoundedSemaphore(3): the extra release is a ValueError",
            expected: Expected::Bug("misuse"),
            program: || pool(Semaphore::bounded_named("semaphore", LIMIT as i64), true),
            configure: as_is,
        },
        Variant {
            name: "limit",
            summary: "no extra release: never more than three inside",
            expected: Expected::Pass,
            program: || pool(Semaphore::named("semaphore", LIMIT as i64), false),
            configure: as_is,
        },
    ],
    default_config: || Config::random(0).runs(2_000),
};
