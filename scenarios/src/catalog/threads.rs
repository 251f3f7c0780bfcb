//! Threads: return values, daemons, join(timeout), thread-locals (seed 000 "return values";
//! seed 004's daemon, join(timeout) and threading.local notes,
//! §16.9, §16.10).

use std::time::Duration;

use racelab_primitives::{Shared, ThreadPool};
use racelab_std::thread::{self, Local};

use crate::{as_is, Expected, Scenario, Variant};

fn foo(bar: &str) -> String {
    format!("foo{bar}")
}

pub(crate) const RETURN_VALUES: Scenario = Scenario {
    id: "return-values",
    title: "getting a return value from a thread, the seed's three ways, and reading too early",
    source: "seed 000, 返回值 (ThreadPool.apply_async, a mutable results list, a Thread whose join returns); classic bug RET-1",
    python: r#"def foo(bar):
    return 'foo' + bar

# read-before-join: three threads each fill results[i]; main reads too early
results = [None] * 3
def worker(i):
    results[i] = foo('world!')
threads = [Thread(target=worker, args=(i,)) for i in range(3)]
for t in threads: t.start()
seen = list(results)              # before join(): some are still None
for t in threads: t.join()
assert all(r is not None for r in seen), 'lost data'
# results-list: the same, but `seen = list(results)` after the joins

# pool: ThreadPool.apply_async(...).get() waits for the result
pool = ThreadPool(processes=1)
async_result = pool.apply_async(foo, ('foo',))
assert async_result.get() == 'foofoo'
pool.close(); pool.join()

# join-returns: a Thread whose join() hands back the return value
class ThreadWithReturnValue(Thread):
    def run(self):
        self._return = self._target(*self._args)
    def join(self):
        Thread.join(self)
        return self._return
t = ThreadWithReturnValue(target=foo, args=('bar',)); t.start()
assert t.join() == 'foobar'"#,
    story: "All three ways work once the thread is done: `get()` and `join()` wait for it. Reading the \
            shared results list before joining the threads sees `None` wherever a thread has not written \
            yet.",
    variants: &[
        Variant {
            name: "read-before-join",
            summary: "read the results list, then join",
            expected: Expected::Bug("lost-data"),
            program: || {
                let results = Shared::named("results", vec![None::<String>; 3]);
                let hs: Vec<_> = (0..3)
                    .map(|i| thread::spawn(move || results.update(|r| r[i] = Some(foo("world!")))))
                    .collect();
                let seen = results.load();
                for h in hs {
                    h.join().unwrap();
                }
                assert!(seen.iter().all(Option::is_some), "lost data: results read before join: {seen:?}");
            },
            configure: as_is,
        },
        Variant {
            name: "pool",
            summary: "ThreadPool.apply_async(...).get()",
            expected: Expected::Pass,
            program: || {
                let pool = ThreadPool::new(1);
                let r = pool.apply_async(|| foo("foo"));
                assert_eq!(r.get(), "foofoo");
                pool.close();
                pool.join();
            },
            configure: as_is,
        },
        Variant {
            name: "results-list",
            summary: "each thread writes results[i]; read after join",
            expected: Expected::Pass,
            program: || {
                let results = Shared::named("results", vec![None::<String>; 3]);
                let hs: Vec<_> = (0..3)
                    .map(|i| thread::spawn(move || results.update(|r| r[i] = Some(foo("world!")))))
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
                assert!(results.load().iter().all(Option::is_some));
            },
            configure: as_is,
        },
        Variant {
            name: "join-returns",
            summary: "join() hands back the return value",
            expected: Expected::Pass,
            program: || {
                let t = thread::spawn(|| foo("bar"));
                assert_eq!(t.join().unwrap(), "foobar");
            },
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};

fn daemon(join_it: bool) {
    let output = Shared::named("stdout", Vec::<String>::new());
    let d = thread::Builder::new()
        .name("daemon".into())
        .daemon(true)
        .spawn(move || {
            output.update(|o| o.push("daemon starting".into()));
            thread::sleep(Duration::from_secs(2));
            output.update(|o| o.push("daemon exiting".into())); // lost unless joined
        })
        .unwrap();
    let n = thread::Builder::new()
        .name("non-daemon".into())
        .spawn(move || {
            output.update(|o| o.push("non-daemon starting".into()));
            output.update(|o| o.push("non-daemon exiting".into()));
        })
        .unwrap();
    if join_it {
        d.join().unwrap();
    }
    n.join().unwrap();
}

pub(crate) const DAEMON: Scenario = Scenario {
    id: "daemon",
    title: "a daemon thread is cut off when the program ends",
    source: "seed 004, daemon vs non-daemon threads (logging 'Exiting'); classic bug DAEMON-1",
    python: r#"stdout = []
def daemon():
    stdout.append('daemon starting')
    time.sleep(2)
    stdout.append('daemon exiting')      # never happens unless joined
def non_daemon():
    stdout.append('non-daemon starting')
    stdout.append('non-daemon exiting')
d = Thread(name='daemon', target=daemon, daemon=True)
t = Thread(name='non-daemon', target=non_daemon)
d.start(); t.start()
# joined: d.join()
t.join()"#,
    story: "Python waits for non-daemon threads at exit, not for daemons: they are killed wherever they \
            are, so the daemon's last line never appears. Join the daemon (or make it non-daemon) when \
            its work must finish.",
    variants: &[
        Variant {
            name: "not-joined",
            summary: "main returns while the daemon sleeps",
            expected: Expected::Bug("daemon-cut-off"),
            program: || daemon(false),
            configure: |c| c.fail_on_daemon_cut_off(true),
        },
        Variant {
            name: "joined",
            summary: "d.join() before exiting",
            expected: Expected::Pass,
            program: || daemon(true),
            configure: |c| c.fail_on_daemon_cut_off(true),
        },
    ],
    default_config: crate::portfolio,
};

fn join_timeout(check_alive: bool) {
    let result = Shared::named("result", None::<u32>);
    let worker = thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            thread::sleep(Duration::from_secs(2));
            result.store(Some(42));
        })
        .unwrap();
    let mut finished = worker.join_timeout(Duration::from_secs(1));
    if check_alive {
        while !finished {
            finished = worker.join_timeout(Duration::from_secs(1));
        }
    }
    let r = result.load();
    assert!(r.is_some(), "join(timeout) returned while worker was still running: result is None");
}

pub(crate) const JOIN_TIMEOUT: Scenario = Scenario {
    id: "join-timeout",
    title: "join(timeout) returns while the thread still runs",
    source: "seed 004, join(timeout) and is_alive(); classic bugs DAEMON-3 and RET-2",
    python: r#"result = None
def worker():
    global result
    time.sleep(2)
    result = 42
t = Thread(target=worker, name='worker'); t.start()
t.join(1)                 # returns after 1 s whether or not t finished
# is-alive: while t.is_alive(): t.join(1)
assert result is not None # None: t needs 2 s"#,
    story: "`join(timeout)` always returns None; it does not say whether the thread finished. Check \
            `is_alive()` after it, or join without a timeout.",
    variants: &[
        Variant {
            name: "buggy",
            summary: "reads the result after join(1)",
            expected: Expected::Bug("assertion"),
            program: || join_timeout(false),
            configure: as_is,
        },
        Variant {
            name: "is-alive",
            summary: "joins again while is_alive()",
            expected: Expected::Pass,
            program: || join_timeout(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};

fn locals(use_local: bool) {
    let local = Local::<String>::new();
    let global = Shared::named("global_name", String::new());
    let hs: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|name| {
            thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    if use_local {
                        local.set(name.to_string());
                    } else {
                        global.store(name.to_string());
                    }
                    thread::yield_now();
                    let mine = if use_local { local.get().unwrap_or_default() } else { global.load() };
                    assert!(mine == name, "{name} reads back {mine:?}: another thread overwrote it");
                })
                .unwrap()
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

pub(crate) const THREAD_LOCAL: Scenario = Scenario {
    id: "thread-local",
    title: "per-thread data in a global vs in threading.local()",
    source: "seed 004, threading.local",
    python: r#"global_name = ''
mydata = threading.local()
def worker(name):                  # threads alice and bob
    global global_name
    global_name = name             # local: mydata.name = name
    time.sleep(0)                  # let the other thread run
    assert global_name == name     # local: mydata.name == name"#,
    story: "A `threading.local()` gives each thread its own attributes; a plain global is one value all \
            threads share, so a thread can read back another thread's name.",
    variants: &[
        Variant {
            name: "global",
            summary: "a shared global variable",
            expected: Expected::Bug("assertion"),
            program: || locals(false),
            configure: as_is,
        },
        Variant {
            name: "local",
            summary: "threading.local()",
            expected: Expected::Pass,
            program: || locals(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};
