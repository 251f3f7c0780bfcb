//! Processes (seed 004, multiprocessing Process + Queue with a reader that can only be
//! terminated; python-semantics.md §16.12).

use std::time::Duration;

use racelab_primitives::{Lock, Process, ProcessQueue, Shared};
use racelab_std::thread;

use crate::{as_is, Expected, Scenario, Variant};

fn writer_reader(sentinel: bool) {
    let q = ProcessQueue::<Option<String>>::named("q", 0);
    let received = Shared::named("received", 0u32);
    let writer = Process::start("writer", move || {
        for value in ["A", "B"] {
            q.put(&Some(value.to_string()));
        }
        if sentinel {
            q.put(&None);
        }
    });
    let reader = Process::start("reader", move || {
        while let Some(_value) = q.get() {
            received.update(|r| *r += 1);
        }
    });
    writer.join();
    if sentinel {
        reader.join();
    } else {
        reader.terminate(); // "The reader can only be terminate()d"
    }
    let (got, left) = (received.load(), q.qsize());
    assert!(got as usize + left == 2, "lost data: 2 messages sent, {got} received, {left} still queued");
}

pub(crate) const MP_READER: Scenario = Scenario {
    id: "mp-terminate-reader",
    title: "a Process reader that can only be terminate()d loses a message",
    source: "seed 004, multiprocessing Process + Queue, write/read, pr.terminate(); python-semantics.md §16.12 MP-4",
    python: r#"received = Value('i', 0)
def write(q):
    for value in ['A', 'B']:
        q.put(value)
    # sentinel: q.put(None)
def read(q):
    while True:
        value = q.get(True)      # sentinel: if value is None: return
        received.value += 1
q = multiprocessing.Queue()
pw = Process(target=write, args=(q,)); pr = Process(target=read, args=(q,))
pw.start(); pr.start()
pw.join()
pr.terminate()                   # the reader is in an endless loop: kill it (sentinel: pr.join())
assert received.value + q.qsize() == 2, 'lost data'"#,
    story: "terminate() kills the reader between any two of its steps. If it lands after the reader took \
            a message off the pipe and before it was unpickled, that message is gone: neither received nor \
            in the queue. Send a sentinel and join the reader instead.",
    variants: &[
        Variant {
            name: "terminate",
            summary: "the seed: pr.terminate() while the reader reads",
            expected: Expected::Bug("lost-data"),
            program: || writer_reader(false),
            configure: as_is,
        },
        Variant {
            name: "sentinel",
            summary: "the writer sends None; the reader returns; join it",
            expected: Expected::Pass,
            program: || writer_reader(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};

fn lock_holder(wait_for_release: bool) {
    let lock = Lock::named("shared_lock");
    let worker = Process::start("worker", move || {
        let _g = lock.lock();
        thread::sleep(Duration::from_secs(1)); // the critical section
    });
    if wait_for_release {
        worker.join();
    } else {
        thread::sleep(Duration::from_millis(500));
        worker.terminate();
    }
    let _g = lock.lock(); // blocks forever if the worker died holding it
}

pub(crate) const MP_LOCK: Scenario = Scenario {
    id: "mp-terminate-lock",
    title: "terminating a process that holds a lock leaves it held forever",
    source: "python-semantics.md §16.12 MP-1",
    python: r#"lock = multiprocessing.Lock()
def worker():
    with lock:
        time.sleep(1)
p = Process(target=worker); p.start()
time.sleep(0.5); p.terminate()   # join: p.join() instead
with lock: ...                   # blocks forever: the dead process never released it"#,
    story: "terminate() does not run the worker's `with` exit: the lock it held stays held by a process \
            that no longer exists, and everyone else waits forever. Stop workers cooperatively (a flag, a \
            sentinel) and join them.",
    variants: &[
        Variant {
            name: "terminate",
            summary: "terminate() inside the critical section",
            expected: Expected::Bug("deadlock"),
            program: || lock_holder(false),
            configure: as_is,
        },
        Variant {
            name: "join",
            summary: "let the worker finish, then take the lock",
            expected: Expected::Pass,
            program: || lock_holder(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};
