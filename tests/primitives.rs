//! Litmus tests: under exhaustive `dfs`, the exact set of outcomes each primitive can reach;
//! and every misuse of Python's threading API that applies, reported with Python's name.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use racelab::engine::rt;
use racelab::{
    check, thread, Barrier, Condition, Config, Event, FailureKind, Lock, Queue, QueueError, RLock, Report,
    Semaphore, Shared, ThreadPool,
};

/// Every outcome `program` returns over an exhaustive search; the search must complete and
/// every run pass.
fn outcomes(config: Config, program: impl Fn() -> String + Send + Sync + 'static) -> BTreeSet<String> {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let sink = Arc::clone(&seen);
    let report = check(config, move || {
        let o = program();
        sink.lock().unwrap().insert(o);
    });
    report.assert_passed();
    assert!(report.exhausted, "the search must be exhaustive: {report}");
    let set = seen.lock().unwrap().clone();
    set
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn exact() -> Config {
    Config::dfs().spurious_wakeups(0)
}

/// Runs `program` once and returns its misuse: (exception, message).
fn misuse(program: impl Fn() + Send + Sync + 'static) -> (String, String) {
    let report = check(Config::random(0).runs(1), program);
    match report.failure.map(|f| f.kind) {
        Some(FailureKind::Misuse { exception, message, .. }) => (exception, message),
        other => panic!("expected a misuse, got {other:?}"),
    }
}

fn order_of_two(
    acquire: fn(Lock, Semaphore),
    release: fn(Lock, Semaphore),
) -> impl Fn() -> String + Send + Sync {
    move || {
        let lock = Lock::new();
        let sem = Semaphore::new(1);
        let order = Rc::new(RefCell::new(String::new()));
        let hs: Vec<_> = ["A", "B"]
            .into_iter()
            .map(|name| {
                let order = Rc::clone(&order);
                thread::spawn(move || {
                    acquire(lock, sem);
                    order.borrow_mut().push_str(name);
                    release(lock, sem);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let o = order.borrow().clone();
        o
    }
}

#[test]
fn semaphore_of_one_gives_exactly_the_two_orders() {
    let got = outcomes(
        exact(),
        order_of_two(
            |_, s| {
                s.acquire();
            },
            |_, s| s.release(),
        ),
    );
    assert_eq!(got, set(&["AB", "BA"]));
}

#[test]
fn lock_gives_exactly_the_two_orders() {
    let got = outcomes(
        exact(),
        order_of_two(
            |l, _| {
                l.acquire();
            },
            |l, _| l.release(),
        ),
    );
    assert_eq!(got, set(&["AB", "BA"]));
}

#[test]
fn event_pulse_wakes_the_waiter_but_not_a_later_arrival() {
    let got = outcomes(exact(), || {
        let e = Event::named("e");
        let early = thread::spawn(move || e.wait());
        thread::sleep(Duration::from_secs(1)); // the early waiter is waiting by now
        e.set();
        e.clear();
        let late = thread::spawn(move || e.wait_timeout(Duration::from_secs(5)));
        format!("early={} late={}", early.join().unwrap(), late.join().unwrap())
    });
    assert_eq!(got, set(&["early=true late=false"]));
}

#[test]
fn notify_one_with_two_waiters_wakes_exactly_one() {
    let got = outcomes(exact(), || {
        let cond = Condition::named("c", Lock::named("m"));
        let woken = Shared::named("woken", 0u32);
        for _ in 0..2 {
            thread::Builder::new()
                .daemon(true)
                .spawn(move || {
                    let _g = cond.lock();
                    cond.wait();
                    woken.update(|w| *w += 1);
                })
                .unwrap();
        }
        thread::sleep(Duration::from_secs(1));
        {
            let _g = cond.lock();
            cond.notify();
        }
        thread::sleep(Duration::from_secs(1));
        format!("woken={}", woken.load())
    });
    assert_eq!(got, set(&["woken=1"]));
}

#[test]
fn a_timed_out_waiter_can_still_consume_a_notify() {
    // The waiter's 1 s timeout and main's notify at 1 s land on the same instant: both
    // orders happen, and when the timeout fires first, the notify is spent on the waiter.
    let got = outcomes(exact(), || {
        let cond = Condition::named("c", Lock::named("m"));
        let waiter = thread::spawn(move || {
            let _g = cond.lock();
            cond.wait_timeout(Duration::from_secs(1))
        });
        thread::sleep(Duration::from_secs(1));
        {
            let _g = cond.lock();
            cond.notify();
        }
        format!("notified={}", waiter.join().unwrap())
    });
    assert_eq!(got, set(&["notified=false", "notified=true"]));
}

#[test]
fn spurious_wakeups_happen_only_when_allowed() {
    let program = || {
        let cond = Condition::named("c", Lock::named("m"));
        let waiter = thread::Builder::new()
            .daemon(true)
            .spawn(move || {
                let _g = cond.lock();
                cond.wait();
                "returned"
            })
            .unwrap();
        thread::sleep(Duration::from_secs(1));
        if waiter.is_finished() {
            waiter.join().unwrap().to_string()
        } else {
            "still waiting".to_string()
        }
    };
    assert_eq!(outcomes(exact(), program), set(&["still waiting"]));
    assert_eq!(outcomes(Config::dfs().spurious_wakeups(1), program), set(&["returned", "still waiting"]));
}

#[test]
fn rlock_is_reentrant_and_owned() {
    let got = outcomes(exact(), || {
        let r = RLock::named("r");
        let _a = r.lock();
        let _b = r.lock();
        let other = thread::spawn(move || r.try_acquire());
        format!("other got it: {}", other.join().unwrap())
    });
    assert_eq!(got, set(&["other got it: false"]));
}

#[test]
fn condition_over_rlock_releases_every_level_while_waiting() {
    let got = outcomes(exact(), || {
        let r = RLock::named("r");
        let cond = Condition::named("c", r);
        let ready = Shared::named("ready", false);
        let waiter = thread::spawn(move || {
            let _a = cond.lock();
            let _b = cond.lock(); // two levels
            while !ready.load() {
                cond.wait();
            }
            r.is_owned()
        });
        {
            let _g = cond.lock(); // only possible if the wait released both levels
            ready.store(true);
            cond.notify_all();
        }
        format!("owned after wait: {}", waiter.join().unwrap())
    });
    assert_eq!(got, set(&["owned after wait: true"]));
}

#[test]
fn queue_orders() {
    let got = outcomes(exact(), || {
        let fifo = Queue::new(0);
        let lifo = Queue::lifo(0);
        let prio = Queue::priority(0);
        for v in [3, 1, 2] {
            fifo.put(v);
            lifo.put(v);
            prio.put(v);
        }
        let drain = |q: Queue<i32>| (0..3).map(|_| q.get().to_string()).collect::<Vec<_>>().join("");
        format!("{} {} {}", drain(fifo), drain(lifo), drain(prio))
    });
    assert_eq!(got, set(&["312 213 123"]));
}

#[test]
fn queue_get_with_timeout_returns_empty_at_virtual_five_seconds() {
    let got = outcomes(exact(), || {
        let q: Queue<u8> = Queue::named("q", 10);
        let r = q.get_timeout(Duration::from_secs(5));
        format!("{r:?} at {}", rt::now())
    });
    assert_eq!(got, set(&["Err(Empty) at 5.000s"]));
}

#[test]
fn bounded_queue_blocks_producers_and_task_done_releases_join() {
    let got = outcomes(exact(), || {
        let q = Queue::named("q", 1);
        let consumer = thread::spawn(move || {
            let mut sum = 0;
            for _ in 0..3 {
                sum += q.get();
                q.task_done();
            }
            sum
        });
        for v in 1..=3 {
            q.put(v);
        }
        q.join();
        format!("sum={}", consumer.join().unwrap())
    });
    assert_eq!(got, set(&["sum=6"]));
}

#[test]
fn forgetting_task_done_hangs_join_and_the_report_says_why() {
    let report = check(exact(), || {
        let q = Queue::named("jobs", 0);
        thread::Builder::new()
            .name("worker".into())
            .daemon(true)
            .spawn(move || loop {
                let _item: u8 = q.get();
            })
            .unwrap();
        q.put(1);
        q.join();
    });
    let f = report.failure.expect("join hangs");
    let FailureKind::Deadlock(d) = &f.kind else { panic!("{}", f.kind) };
    let main = d.blocked.iter().find(|b| b.thread.name == "main").expect("main is blocked");
    assert_eq!(main.waits_on.name, "jobs");
    assert!(main.note.as_deref().unwrap_or("").contains("task_done() is missing"), "{:?}", main.note);
}

#[test]
fn barrier_releases_every_party_with_distinct_indices() {
    let got = outcomes(exact(), || {
        let b = Barrier::builder().name("b").build(3);
        let hs: Vec<_> = (0..2).map(|_| thread::spawn(move || b.wait())).collect();
        let mut idx = vec![b.wait()];
        idx.extend(hs.into_iter().map(|h| h.join().unwrap()));
        idx.sort_unstable();
        format!("{idx:?}")
    });
    assert_eq!(got, set(&["[0, 1, 2]"]));
}

#[test]
fn barrier_with_too_many_parties_deadlocks_and_a_timeout_breaks_it() {
    let report = check(exact(), || {
        let b = Barrier::builder().name("start_line").build(3);
        let h = thread::spawn(move || b.wait());
        b.wait();
        h.join().unwrap();
    });
    let f = report.failure.expect("two of three parties wait forever");
    let FailureKind::Deadlock(d) = &f.kind else { panic!("{}", f.kind) };
    assert!(d.blocked.iter().any(|b| b.waits_on.name == "start_line"), "{}", f.kind);

    let got = outcomes(exact(), || {
        let b = Barrier::builder().name("b").timeout(Duration::from_secs(1)).build(3);
        let h = thread::spawn(move || b.try_wait(None).map_err(|m| m.exception));
        let mine = b.try_wait(None).map_err(|m| m.exception);
        format!("{mine:?} {:?} broken={}", h.join().unwrap(), b.broken())
    });
    assert_eq!(
        got,
        set(&[r#"Err("threading.BrokenBarrierError") Err("threading.BrokenBarrierError") broken=true"#])
    );
}

#[test]
fn thread_pool_returns_values_and_keeps_task_panics() {
    let got = outcomes(exact().preemption_bound(2), || {
        let pool = ThreadPool::new(2);
        let a = pool.apply_async(|| 40 + 2);
        let b = pool.apply_async(|| -> u8 { panic!("task failed") });
        let squares = pool.map(|x: u32| x * x, [1, 2, 3]);
        b.wait();
        let out = format!("{} {:?} {:?}", a.get(), b.successful(), squares);
        pool.close();
        pool.join();
        out
    });
    assert_eq!(got, set(&["42 Ok(false) [1, 4, 9]"]));
}

#[test]
fn semaphore_over_release_silently_raises_the_limit_but_bounded_refuses() {
    let got = outcomes(exact(), || {
        let s = Semaphore::new(1);
        s.acquire();
        s.release();
        s.release(); // the seed's extra release
        format!("value={}", s.value())
    });
    assert_eq!(got, set(&["value=2"]));
    let (e, m) = misuse(|| {
        let s = Semaphore::bounded(1);
        s.release();
    });
    assert_eq!((e.as_str(), m.as_str()), ("ValueError", "Semaphore released too many times"));
}

fn assert_misuse(expected: (&str, &str), program: impl Fn() + Send + Sync + 'static) {
    let (e, m) = misuse(program);
    assert_eq!((e.as_str(), m.as_str()), expected);
}

#[test]
fn every_applicable_misuse_is_reported_with_pythons_exception() {
    assert_misuse(("RuntimeError", "release unlocked lock"), || Lock::new().release());
    assert_misuse(("RuntimeError", "cannot release un-acquired lock"), || RLock::new().release());
    assert_misuse(("RuntimeError", "cannot release un-acquired lock"), || {
        let r = RLock::new();
        r.acquire();
        thread::spawn(move || r.release()).join().unwrap();
    });
    assert_misuse(("RuntimeError", "cannot wait on un-acquired lock"), || {
        Condition::new(Lock::new()).wait();
    });
    assert_misuse(("RuntimeError", "cannot notify on un-acquired lock"), || {
        Condition::new(Lock::new()).notify()
    });
    assert_misuse(("RuntimeError", "cannot notify on un-acquired lock"), || {
        Condition::default().notify_all()
    });
    assert_misuse(("ValueError", "semaphore initial value must be >= 0"), || {
        Semaphore::new(-1);
    });
    assert_misuse(("ValueError", "n must be one or more"), || Semaphore::new(1).release_n(0));
    assert_misuse(("ValueError", "Semaphore released too many times"), || Semaphore::bounded(2).release());
    assert_misuse(("ValueError", "parties must be > 0"), || {
        Barrier::new(0);
    });
    assert_misuse(("threading.BrokenBarrierError", ""), || {
        let b = Barrier::new(2);
        b.abort();
        b.wait();
    });
    assert_misuse(("RuntimeError", "cannot join current thread"), || {
        let slot: Rc<RefCell<Option<thread::JoinHandle<()>>>> = Rc::new(RefCell::new(None));
        let inner = Rc::clone(&slot);
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_secs(1));
            let me = inner.borrow_mut().take().unwrap();
            // Python's `join()` (std's `join` panics as std does: `stdlike/tests/thread.rs`).
            me.wait();
        });
        *slot.borrow_mut() = Some(h);
        thread::sleep(Duration::from_secs(2));
    });
    assert_misuse(("queue.ShutDown", ""), || {
        let q = Queue::new(0);
        q.shutdown(false);
        q.put(1u8);
    });
    assert_misuse(("ValueError", "task_done() called too many times"), || Queue::<u8>::new(0).task_done());
    assert_misuse(("ValueError", "Pool is still running"), || ThreadPool::new(1).join());
    assert_misuse(("ValueError", "Pool not running"), || {
        let pool = ThreadPool::new(1);
        pool.close();
        pool.apply_async(|| 1);
    });
    let report: Report = check(Config::random(0).runs(1), || {
        let pool = ThreadPool::new(1);
        let r = pool.apply_async(|| {
            thread::sleep(Duration::from_secs(10));
            1
        });
        assert_eq!(r.successful().unwrap_err().exception, "ValueError");
        assert_eq!(
            r.get_timeout(Duration::from_secs(1)).unwrap_err().exception,
            "multiprocessing.TimeoutError"
        );
        assert_eq!(Queue::<u8>::new(1).get_nowait(), Err(QueueError::Empty));
        let full = Queue::new(1);
        full.put(1u8);
        assert_eq!(full.put_nowait(2).unwrap_err().error, QueueError::Full);
    });
    report.assert_passed();
}

#[test]
fn timer_cancel_race_both_outcomes() {
    // cancel() at the very instant the interval ends: before the timer checks, the function is
    // skipped; after the check, it runs anyway (TIMER-1).
    let got = outcomes(exact(), || {
        let fired = Shared::named("fired", false);
        let timer = racelab::Timer::named("timer", Duration::from_secs(1), move || fired.store(true));
        thread::sleep(Duration::from_secs(1));
        timer.cancel();
        let ran = timer.join();
        format!("ran={ran} fired={}", fired.load())
    });
    assert_eq!(got, set(&["ran=false fired=false", "ran=true fired=true"]));
}

#[test]
fn a_lost_notification_is_named_in_the_deadlock_report() {
    let report = check(exact(), || {
        let cond = Condition::named("ready", Lock::named("m"));
        let waiter = thread::Builder::new()
            .name("waiter".into())
            .spawn(move || {
                thread::sleep(Duration::from_secs(1)); // arrives late
                let _g = cond.lock();
                cond.wait(); // no flag checked: the notify already happened
            })
            .unwrap();
        {
            let _g = cond.lock();
            cond.notify();
        }
        waiter.join().unwrap();
    });
    let f = report.failure.expect("the waiter sleeps forever");
    let text = f.kind.to_string();
    assert!(text.contains("waiter waits on Condition `ready`; its last notify (step"), "{text}");
    assert!(text.contains("by main) woke nobody"), "{text}");
}

#[test]
fn adversarial_wakeups_let_notify_pick_any_waiter() {
    let program = || {
        let cond = Condition::named("c", Lock::named("m"));
        let first = Shared::named("first", String::new());
        for name in ["old", "young"] {
            thread::Builder::new()
                .name(name.into())
                .daemon(true)
                .spawn(move || {
                    thread::sleep(Duration::from_secs(if name == "old" { 1 } else { 2 }));
                    let _g = cond.lock();
                    cond.wait();
                    first.update(|f| {
                        if f.is_empty() {
                            f.push_str(name)
                        }
                    });
                })
                .unwrap();
        }
        thread::sleep(Duration::from_secs(3));
        {
            let _g = cond.lock();
            cond.notify();
        }
        thread::sleep(Duration::from_secs(1));
        first.load()
    };
    assert_eq!(outcomes(exact(), program), set(&["old"]));
    assert_eq!(outcomes(exact().adversarial_wakeups(true), program), set(&["old", "young"]));
}

#[test]
fn terminating_a_process_that_holds_a_lock_leaves_it_held() {
    let report = check(exact(), || {
        let lock = Lock::named("shared_lock");
        let worker = racelab::Process::start("worker", move || {
            let _g = lock.lock();
            thread::sleep(Duration::from_secs(10));
        });
        thread::sleep(Duration::from_secs(1));
        worker.terminate();
        assert_eq!(worker.exitcode(), Some(-15));
        lock.acquire(); // MP-1: nobody will ever release it
    });
    let f = report.failure.expect("main waits forever");
    let text = f.kind.to_string();
    assert!(text.contains("main waits on Lock `shared_lock` (held by worker (terminated))"), "{text}");
}

#[test]
fn terminating_the_reader_can_lose_a_message() {
    // MP-4: the reader takes the message off the pipe, and is cut off before it is unpickled.
    let got = outcomes(exact(), || {
        let q = racelab::ProcessQueue::named("mp_queue", 0);
        let delivered = Shared::named("delivered", 0u32);
        let reader = racelab::Process::start("reader", move || loop {
            let _msg: String = q.get();
            delivered.update(|d| *d += 1);
        });
        q.put(&"hello".to_string());
        reader.terminate();
        let left = q.qsize();
        format!("delivered={} left={left}", delivered.load())
    });
    assert_eq!(got, set(&["delivered=0 left=0", "delivered=0 left=1", "delivered=1 left=0"]));
    // "delivered=0 left=0": the message left the pipe and never arrived.
}

/// A primitive's state is open only inside an `rt::read`/`rt::write` closure, and a thread may
/// not switch while it is: a scheduling point there is reported as a panic of the run (naming
/// the rule), never a hang or a state borrowed by another thread; and a second access to the
/// same state inside the first is refused by name.
#[test]
fn a_thread_cannot_switch_or_reenter_while_a_state_is_open() {
    let report = check(Config::dfs(), || {
        let (a, b) = (Shared::named("a", 0), Shared::named("b", 0));
        a.update(|v| *v += b.load());
    });
    let failure = report.failure.expect("the switch inside the closure is reported");
    assert!(
        matches!(&failure.kind, FailureKind::Panic { message, .. }
            if message.contains("a scheduling point inside rt::read/rt::write")),
        "{:?}",
        failure.kind
    );
    let report = check(Config::dfs(), || {
        let obj = rt::register("Mine", Some("mine".into()), 0u8);
        rt::write(obj, |_: &mut u8| rt::read(obj, |v: &u8| *v));
    });
    let failure = report.failure.expect("the nested access is reported");
    assert!(
        matches!(&failure.kind, FailureKind::Panic { message, .. }
            if message.contains("the state of mine was accessed again")),
        "{:?}",
        failure.kind
    );
}

#[test]
fn an_over_release_is_told_with_every_release_of_its_semaphore_and_a_fix_for_it() {
    // `--explain` told the acquires and the failing release only, as if the semaphore had been
    // taken twice and released once; and its fix was the general "follow the primitive's rules".
    let report = check(Config::random(0).runs(1), || {
        let sem = Semaphore::bounded(1);
        let worker = thread::spawn(move || {
            sem.acquire();
            sem.release();
            sem.release();
        });
        worker.join().unwrap();
    });
    let failure = report.failure.expect("the second release raises ValueError");
    let story = racelab_sim::narrate::narrate(&failure, None);
    let text = story.to_string();
    let releases: Vec<&str> = text.lines().filter(|l| l.contains("releases")).collect();
    assert_eq!(releases.len(), 1, "the release before the failing one:\n{text}");
    assert!(releases[0].contains("its value is now 1"), "{text}");
    assert!(
        text.contains("* step") && text.contains("raises ValueError: Semaphore released too many times"),
        "{text}"
    );
    assert!(story.fix.starts_with("release a BoundedSemaphore once for each acquire"), "{}", story.fix);
}
