//! Processes (seed 004, multiprocessing Process + Queue with a reader that can only be
//! terminated).

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
    source: "seed 004, multiprocessing Process + Queue, write/read, pr.terminate(); classic bug MP-4",
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
    source: "classic bug MP-1",
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

/// `os.fork()` in a threaded program. The child is a copy of the parent with one thread, the one
/// that forked: every lock keeps the state it had at the fork, so a lock another thread held then
/// is held in the child by a thread that does not exist there, and nobody will release it. Green
/// threads cannot be copied, so this models the copy: the child process gets its own lock, held
/// (by a stand-in for the missing thread, which ends at once) exactly when the parent's was held
/// at the moment of the fork.
fn fork_with_threads(fork_first: bool, fresh_lock_in_child: bool) {
    let lock = Lock::named("log_lock");
    let fork = move || {
        // The fork is one step: the lock's state is copied as it is at that moment.
        racelab_sim::rt::schedule_point();
        let held_at_fork = lock.locked();
        racelab_sim::rt::event("fork", None, || {
            if held_at_fork { "child: log_lock copied held" } else { "child: log_lock copied free" }
                .to_string()
        });
        Process::start("child", move || {
            let copy = if fresh_lock_in_child {
                Lock::named("child_lock")
            } else {
                let copy = Lock::named("log_lock (the child's copy)");
                if held_at_fork {
                    // The worker held it at the fork; in the child it never runs again.
                    thread::Builder::new()
                        .name("worker (not in the child)".to_string())
                        .spawn(move || copy.acquire())
                        .expect("spawn")
                        .join()
                        .expect("the stand-in only takes the lock");
                }
                copy
            };
            let _g = copy.lock(); // the child logs
        })
    };
    let early_child = fork_first.then(fork);
    let worker = thread::Builder::new()
        .name("worker".to_string())
        .spawn(move || {
            for _ in 0..2 {
                let _g = lock.lock(); // logging under the handler's lock
            }
        })
        .expect("spawn");
    let child = early_child.unwrap_or_else(fork);
    child.join();
    worker.join().expect("the worker only logs");
}

pub(crate) const FORK: Scenario = Scenario {
    id: "fork",
    title: "os.fork() while another thread holds a lock: the child waits for it forever",
    source: "seed 004 (os.fork), and the fork() documentation's warning about threads",
    python: r#"lock = threading.Lock()          # say, a logging handler's lock
def worker():
    for _ in range(2):
        with lock: ...               # log
t = threading.Thread(target=worker, name="worker"); t.start()   # before-threads: fork first
pid = os.fork()                   # the child has one thread: this one
if pid == 0:
    with lock: ...               # held by worker at the fork? in the child nobody will release it
    os._exit(0)                  # fresh-lock: the child makes a new Lock instead
os.waitpid(pid, 0); t.join()"#,
    story: "fork() copies the whole memory of a threaded process but only the thread that called it: a \
            lock the worker held at that moment is held in the child by a thread that does not exist there, \
            and the child's first `with lock` waits forever (so does the parent, waiting for the child). \
            Fork before starting threads, or give the child fresh locks (or use the spawn start method).",
    variants: &[
        Variant {
            name: "after-threads",
            summary: "fork while the worker may be logging",
            expected: Expected::Bug("deadlock"),
            program: || fork_with_threads(false, false),
            configure: as_is,
        },
        Variant {
            name: "before-threads",
            summary: "fork before starting the worker",
            expected: Expected::Pass,
            program: || fork_with_threads(true, false),
            configure: as_is,
        },
        Variant {
            name: "fresh-lock",
            summary: "the child uses a lock of its own",
            expected: Expected::Pass,
            program: || fork_with_threads(false, true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};
