//! Runs until the first bug, racelab vs shuttle 0.9.9, on the same four buggy programs, over
//! 20 seeds: the figures of FACTS.md ("Runs until the first bug"), measured side by side.
//!
//! Run: `cargo bench -p racelab-bench --bench runs_to_bug`.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark prints its table

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const SEEDS: u64 = 20;

/// A bug's name, its racelab program and its shuttle program.
type Program = (&'static str, fn(), fn());
const MAX_RUNS: u64 = 10_000;

// ----- racelab versions -----

fn r_lock_order() {
    use racelab::{thread, Lock};
    let (a, b) = (Lock::new(), Lock::new());
    let t1 = thread::spawn(move || {
        let _a = a.lock();
        let _b = b.lock();
    });
    let t2 = thread::spawn(move || {
        let _b = b.lock();
        let _a = a.lock();
    });
    t1.join().unwrap();
    t2.join().unwrap();
}

fn r_lost_wakeup() {
    use racelab::{thread, Condition, Lock, Shared};
    let cond = Condition::new(Lock::new());
    let flag = Shared::new(false);
    let waiter = thread::spawn(move || {
        if !flag.load() {
            // checked outside the lock
            let _g = cond.lock();
            cond.wait();
        }
    });
    {
        let _g = cond.lock();
        flag.store(true);
        cond.notify();
    }
    waiter.join().unwrap();
}

fn r_lost_update() {
    use racelab::{thread, Shared};
    let c = Shared::new(0u64);
    let ts: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..3 {
                    let v = c.load();
                    c.store(v + 1);
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(c.load(), 6);
}

fn r_stolen_wakeup() {
    use racelab::{thread, Condition, Lock};
    let cond = Condition::new(Lock::new());
    let q: Rc<RefCell<VecDeque<u32>>> = Rc::new(RefCell::new(VecDeque::new()));
    let mut ts = Vec::new();
    for _ in 0..2 {
        let q1 = Rc::clone(&q);
        ts.push(thread::spawn(move || {
            for i in 0..2 {
                let _g = cond.lock();
                if q1.borrow().len() == 1 {
                    cond.wait();
                }
                q1.borrow_mut().push_back(i);
                cond.notify_all();
            }
        }));
        let q2 = Rc::clone(&q);
        ts.push(thread::spawn(move || {
            for _ in 0..2 {
                let _g = cond.lock();
                if q2.borrow().is_empty() {
                    cond.wait();
                }
                assert!(q2.borrow_mut().pop_front().is_some(), "pop from empty");
                cond.notify_all();
            }
        }));
    }
    for t in ts {
        t.join().unwrap();
    }
}

// ----- shuttle versions (same logic) -----

fn s_lock_order() {
    use shuttle::sync::Mutex;
    let (a, b) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
    let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
    let t1 = shuttle::thread::spawn(move || {
        let _a = a.lock().unwrap();
        let _b = b.lock().unwrap();
    });
    let t2 = shuttle::thread::spawn(move || {
        let _b = b2.lock().unwrap();
        let _a = a2.lock().unwrap();
    });
    t1.join().unwrap();
    t2.join().unwrap();
}

fn s_lost_wakeup() {
    use shuttle::sync::atomic::AtomicBool;
    use shuttle::sync::{Condvar, Mutex};
    let state = Arc::new((Mutex::new(()), Condvar::new(), AtomicBool::new(false)));
    let s2 = Arc::clone(&state);
    let waiter = shuttle::thread::spawn(move || {
        let (m, c, flag) = &*s2;
        if !flag.load(Ordering::SeqCst) {
            let g = m.lock().unwrap();
            let _g = c.wait(g).unwrap();
        }
    });
    {
        let (m, c, flag) = &*state;
        let _g = m.lock().unwrap();
        flag.store(true, Ordering::SeqCst);
        c.notify_one();
    }
    waiter.join().unwrap();
}

fn s_lost_update() {
    use shuttle::sync::atomic::AtomicU64;
    let c = Arc::new(AtomicU64::new(0));
    let ts: Vec<_> = (0..2)
        .map(|_| {
            let c = Arc::clone(&c);
            shuttle::thread::spawn(move || {
                for _ in 0..3 {
                    let v = c.load(Ordering::SeqCst);
                    c.store(v + 1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(c.load(Ordering::SeqCst), 6);
}

fn s_stolen_wakeup() {
    use shuttle::sync::{Condvar, Mutex};
    let state = Arc::new((Mutex::new(VecDeque::new()), Condvar::new()));
    let mut ts = Vec::new();
    for _ in 0..2 {
        let s = Arc::clone(&state);
        ts.push(shuttle::thread::spawn(move || {
            let (m, c) = &*s;
            for i in 0..2u32 {
                let mut q = m.lock().unwrap();
                if q.len() == 1 {
                    q = c.wait(q).unwrap();
                }
                q.push_back(i);
                c.notify_all();
            }
        }));
        let s = Arc::clone(&state);
        ts.push(shuttle::thread::spawn(move || {
            let (m, c) = &*s;
            for _ in 0..2 {
                let mut q = m.lock().unwrap();
                if q.is_empty() {
                    q = c.wait(q).unwrap();
                }
                assert!(q.pop_front().is_some(), "pop from empty");
                c.notify_all();
            }
        }));
    }
    for t in ts {
        t.join().unwrap();
    }
}

/// Runs until racelab's first failure (1-based) under `config`, or `None` within `MAX_RUNS`.
fn racelab_runs(program: fn(), config: racelab::Config) -> Option<u64> {
    let config = config.runs(MAX_RUNS).shrink(false).spurious_wakeups(0);
    racelab::check(config, program).failure.map(|f| f.run + 1)
}

/// Runs until shuttle's first failure (1-based), or `None` within `MAX_RUNS`.
fn shuttle_runs(program: fn(), seed: u64, pct: bool) -> Option<u64> {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let body = move || {
        counter.fetch_add(1, Ordering::SeqCst);
        program();
    };
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let config = shuttle::Config::new();
        if pct {
            let s = shuttle::scheduler::PctScheduler::new_from_seed(seed, 3, MAX_RUNS as usize);
            shuttle::Runner::new(s, config).run(body);
        } else {
            let s = shuttle::scheduler::RandomScheduler::new_from_seed(seed, MAX_RUNS as usize);
            shuttle::Runner::new(s, config).run(body);
        }
    }))
    .is_err();
    failed.then(|| count.load(Ordering::SeqCst) as u64)
}

fn summary(mut v: Vec<Option<u64>>) -> String {
    let missed = v.iter().filter(|x| x.is_none()).count();
    v.sort_by_key(|x| x.unwrap_or(u64::MAX));
    let show = |x: Option<u64>| x.map_or("-".to_string(), |n| n.to_string());
    let s = format!("{} / {} / {}", show(v[0]), show(v[v.len() / 2]), show(v[v.len() - 1]));
    if missed > 0 {
        format!("{s} ({missed} missed)")
    } else {
        s
    }
}

fn main() {
    // Both tools report a bug by panicking at some level; keep the table readable.
    std::panic::set_hook(Box::new(|_| {}));
    let programs: [Program; 4] = [
        ("lock order (two locks, opposite order)", r_lock_order, s_lock_order),
        ("lost wake-up (flag checked outside the lock)", r_lost_wakeup, s_lost_wakeup),
        ("lost update (load then store, 2 x 3)", r_lost_update, s_lost_update),
        ("stolen wake-up (`if` buffer, 2 producers + 2 consumers)", r_stolen_wakeup, s_stolen_wakeup),
    ];
    println!("runs until the first bug over {SEEDS} seeds, min / median / max (racelab: CPython-exact, no shrinking)");
    println!(
        "{:<56} {:>16} {:>16} {:>16} {:>16} {:>16}",
        "bug", "racelab random", "shuttle random", "racelab pct3", "shuttle pct3", "racelab pos"
    );
    for (name, ours, theirs) in programs {
        let mut cols = Vec::new();
        for pct in [false, true] {
            let config = |s| if pct { racelab::Config::pct(s, 3) } else { racelab::Config::random(s) };
            cols.push(summary((0..SEEDS).map(|s| racelab_runs(ours, config(s))).collect()));
            cols.push(summary((0..SEEDS).map(|s| shuttle_runs(theirs, s, pct)).collect()));
        }
        cols.push(summary((0..SEEDS).map(|s| racelab_runs(ours, racelab::Config::pos(s))).collect()));
        println!(
            "{name:<56} {:>16} {:>16} {:>16} {:>16} {:>16}",
            cols[0], cols[1], cols[2], cols[3], cols[4]
        );
    }
}
