//! The buggy programs (and correct twins) of the runs-to-bug bench, written once with std's names
//! and instantiated on racelab's facade, shuttle and loom by [`bug_programs!`](macro@crate::bug_programs), so every tool runs
//! the same source. Shared state lives in `std::sync::Arc` on every side (loom's own `Arc` would
//! make every clone and drop a point loom explores, which racelab and shuttle do not have).
//!
//! Each program panics (a failed assertion, or the tool's deadlock report) when its bug shows.
//! Sizes are the smallest that keep the bug's shape: the point is how many runs each search needs
//! to hit a schedule that exists, not how long a run is.

/// Defines, in the module where it is expanded, one `pub fn` per program and `PROGRAMS`, the
/// list of `(name, program, buggy)` (`buggy: false` for a correct twin), against the `sync` and
/// `thread` modules given.
#[macro_export]
macro_rules! bug_programs {
    (sync = $($sync:ident)::+, thread = $($thread:ident)::+) => {
        use std::sync::Arc;
        use $($sync)::+::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
        use $($sync)::+::{Condvar, Mutex};
        use $($thread)::+ as thread;

        /// Every program, with its name and whether it has a bug.
        pub const PROGRAMS: &[(&str, fn(), bool)] = &[
            ("lock order: two threads, two locks, opposite order", lock_order, true),
            ("dining philosophers: 3 forks, left then right", philosophers, true),
            ("lost wake-up: flag checked outside the lock", lost_wakeup, true),
            ("lost wake-up after a run-up: 8 private critical sections first", lost_wakeup_run_up, true),
            ("lost update: load then store, 2 threads x 3", lost_update, true),
            ("two preemptions: a reader sees the 1 of a writer's 1, 2", two_preemptions, true),
            ("four constraints: a reader sees x=1 then x=2 of 1,2,3", four_constraints, true),
            ("check-then-act: 6 threads withdraw 10 from 30", check_then_act, true),
            ("stolen wake-up: `if` buffer, 2 producers + 2 consumers", stolen_wakeup, true),
            ("work-stealing deque, pop without CAS, 1 stealer", wsq_buggy_1, true),
            ("work-stealing deque, pop without CAS, 2 stealers", wsq_buggy_2, true),
            ("work-stealing deque, correct, 1 stealer", wsq_correct_1, false),
            ("one preemption, then a free choice: the checker before main", preempt_then_choose, true),
        ];

        pub fn lock_order() {
            let a = Arc::new(Mutex::new(()));
            let b = Arc::new(Mutex::new(()));
            let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
            let t = thread::spawn(move || {
                let _b = b2.lock().unwrap();
                let _a = a2.lock().unwrap();
            });
            {
                let _a = a.lock().unwrap();
                let _b = b.lock().unwrap();
            }
            t.join().unwrap();
        }

        pub fn philosophers() {
            let forks: Arc<Vec<Mutex<()>>> = Arc::new((0..3).map(|_| Mutex::new(())).collect());
            let handles: Vec<_> = (0..3)
                .map(|i| {
                    let forks = Arc::clone(&forks);
                    thread::spawn(move || {
                        let _left = forks[i].lock().unwrap();
                        let _right = forks[(i + 1) % 3].lock().unwrap();
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }

        pub fn lost_wakeup() {
            let state = Arc::new((Mutex::new(()), Condvar::new(), AtomicBool::new(false)));
            let s2 = Arc::clone(&state);
            let waiter = thread::spawn(move || {
                let (m, c, flag) = &*s2;
                if !flag.load(SeqCst) {
                    // checked outside the lock: the notify may come before the wait
                    let g = m.lock().unwrap();
                    let _g = c.wait(g).unwrap();
                }
            });
            {
                let (m, c, flag) = &*state;
                let _g = m.lock().unwrap();
                flag.store(true, SeqCst);
                c.notify_one();
            }
            waiter.join().unwrap();
        }

        pub fn lost_wakeup_run_up() {
            let state = Arc::new((Mutex::new(()), Condvar::new(), AtomicBool::new(false)));
            let private = Arc::new(Mutex::new(0u32));
            let s2 = Arc::clone(&state);
            let waiter = thread::spawn(move || {
                let (m, c, flag) = &*s2;
                if !flag.load(SeqCst) {
                    let g = m.lock().unwrap();
                    let _g = c.wait(g).unwrap();
                }
            });
            // The notifier's own work first: nothing here touches what the waiter uses.
            for _ in 0..8 {
                *private.lock().unwrap() += 1;
            }
            {
                let (m, c, flag) = &*state;
                let _g = m.lock().unwrap();
                flag.store(true, SeqCst);
                c.notify_one();
            }
            waiter.join().unwrap();
        }

        pub fn lost_update() {
            let c = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let c = Arc::clone(&c);
                    thread::spawn(move || {
                        for _ in 0..3 {
                            let v = c.load(SeqCst);
                            c.store(v + 1, SeqCst);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(c.load(SeqCst), 6, "an update was lost");
        }

        pub fn two_preemptions() {
            let x = Arc::new(AtomicUsize::new(0));
            let x2 = Arc::clone(&x);
            let writer = thread::spawn(move || {
                x2.store(1, SeqCst);
                x2.store(2, SeqCst);
            });
            let seen = x.load(SeqCst);
            writer.join().unwrap();
            assert_ne!(seen, 1, "saw the writer between its stores");
        }

        pub fn four_constraints() {
            let x = Arc::new(AtomicUsize::new(0));
            let x2 = Arc::clone(&x);
            let writer = thread::spawn(move || {
                for v in 1..=3 {
                    x2.store(v, SeqCst);
                }
            });
            let first = x.load(SeqCst);
            let second = x.load(SeqCst);
            writer.join().unwrap();
            assert!(!(first == 1 && second == 2), "saw the writer between its stores twice");
        }

        pub fn check_then_act() {
            let balance = Arc::new(Mutex::new(30i64));
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let balance = Arc::clone(&balance);
                    thread::spawn(move || {
                        let enough = *balance.lock().unwrap() >= 10;
                        if enough {
                            *balance.lock().unwrap() -= 10;
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert!(*balance.lock().unwrap() >= 0, "overdrawn");
        }

        pub fn stolen_wakeup() {
            let state = Arc::new((Mutex::new(std::collections::VecDeque::new()), Condvar::new()));
            let mut handles = Vec::new();
            for _ in 0..2 {
                let s = Arc::clone(&state);
                handles.push(thread::spawn(move || {
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
                handles.push(thread::spawn(move || {
                    let (m, c) = &*s;
                    for _ in 0..2 {
                        let mut q = m.lock().unwrap();
                        if q.is_empty() {
                            q = c.wait(q).unwrap();
                        }
                        assert!(q.pop_front().is_some(), "pop from an empty buffer");
                        c.notify_all();
                    }
                }));
            }
            for h in handles {
                h.join().unwrap();
            }
        }

        /// A Chase-Lev work-stealing deque of capacity 4 on sequentially consistent atomics: the
        /// owner pushes and pops at the bottom, stealers take from the top. `cas_on_last`: the
        /// owner's pop of the last item races the stealers with a compare-and-swap on `top` (the
        /// correct deque); without it the owner takes the last item unconditionally.
        pub struct Deque {
            top: AtomicUsize,
            bottom: AtomicUsize,
            items: [AtomicUsize; 4],
            cas_on_last: bool,
        }

        const EMPTY: usize = usize::MAX;

        impl Deque {
            pub fn new(cas_on_last: bool) -> Self {
                Deque {
                    top: AtomicUsize::new(1),
                    bottom: AtomicUsize::new(1),
                    items: [AtomicUsize::new(EMPTY), AtomicUsize::new(EMPTY), AtomicUsize::new(EMPTY), AtomicUsize::new(EMPTY)],
                    cas_on_last,
                }
            }

            pub fn push(&self, x: usize) {
                let b = self.bottom.load(SeqCst);
                self.items[b % 4].store(x, SeqCst);
                self.bottom.store(b + 1, SeqCst);
            }

            pub fn pop(&self) -> Option<usize> {
                let b = self.bottom.load(SeqCst) - 1;
                self.bottom.store(b, SeqCst);
                let t = self.top.load(SeqCst);
                if t > b {
                    self.bottom.store(b + 1, SeqCst);
                    return None;
                }
                let x = self.items[b % 4].load(SeqCst);
                if t < b {
                    return Some(x);
                }
                // The last item: a stealer may be taking it too.
                let won = if self.cas_on_last {
                    self.top.compare_exchange(t, t + 1, SeqCst, SeqCst).is_ok()
                } else {
                    self.top.store(t + 1, SeqCst);
                    true
                };
                self.bottom.store(b + 1, SeqCst);
                won.then_some(x)
            }

            pub fn steal(&self) -> Option<usize> {
                let t = self.top.load(SeqCst);
                let b = self.bottom.load(SeqCst);
                if t >= b {
                    return None;
                }
                let x = self.items[t % 4].load(SeqCst);
                self.top.compare_exchange(t, t + 1, SeqCst, SeqCst).ok().map(|_| x)
            }
        }

        /// The owner pushes two items and pops until empty while `stealers` steal once each;
        /// every item must be taken exactly once.
        fn work_stealing(stealers: usize, cas_on_last: bool) {
            let deque = Arc::new(Deque::new(cas_on_last));
            let taken = Arc::new(Mutex::new(Vec::new()));
            let handles: Vec<_> = (0..stealers)
                .map(|_| {
                    let (deque, taken) = (Arc::clone(&deque), Arc::clone(&taken));
                    thread::spawn(move || {
                        if let Some(x) = deque.steal() {
                            taken.lock().unwrap().push(x);
                        }
                    })
                })
                .collect();
            deque.push(10);
            deque.push(20);
            while let Some(x) = deque.pop() {
                taken.lock().unwrap().push(x);
            }
            for h in handles {
                h.join().unwrap();
            }
            let mut taken = taken.lock().unwrap().clone();
            taken.sort_unstable();
            assert_eq!(taken, vec![10, 20], "an item was lost or taken twice");
        }

        /// A bug one preemption deep whose schedule then needs a switch that is not a preemption:
        /// main is preempted after spawning both threads and before its own write, the setter
        /// runs to its end, and the checker, not main, must go next. No schedule with fewer
        /// preemptions has it (the checker must see the setter's flag and not main's write).
        pub fn preempt_then_choose() {
            let state = Arc::new(Mutex::new((false, false))); // (setter's flag, main's write)
            let seen = Arc::clone(&state);
            let checker = thread::spawn(move || {
                let g = seen.lock().unwrap();
                assert!(!(g.0 && !g.1), "the checker saw the setter's flag before main's write");
            });
            let set = Arc::clone(&state);
            let setter = thread::spawn(move || set.lock().unwrap().0 = true);
            state.lock().unwrap().1 = true;
            checker.join().unwrap();
            setter.join().unwrap();
        }

        pub fn wsq_buggy_1() {
            work_stealing(1, false);
        }

        pub fn wsq_buggy_2() {
            work_stealing(2, false);
        }

        pub fn wsq_correct_1() {
            work_stealing(1, true);
        }
    };
}
