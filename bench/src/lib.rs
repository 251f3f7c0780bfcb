//! The racelab side of the programs the benches share, written once so every bench measures the
//! same program: the correct bounded buffer (one lock, one condition, `while` around every wait,
//! `notify_all` after every change) in the two sizes FACTS.md measured shuttle and loom on.
//! The data the lock guards is plain `Rc<RefCell<..>>`, so touching it is not a scheduling point,
//! as in the shuttle and loom versions.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// The release-points mode the benches give racelab: `RACELAB_BENCH_RELEASE_POINTS=auto|on|off`
/// (default `auto`, racelab's own default). `on` measures racelab as it was before a lock release
/// stopped being a scheduling point of its own, in the same binary.
pub fn release_points() -> racelab::ReleasePoints {
    match std::env::var("RACELAB_BENCH_RELEASE_POINTS") {
        Err(_) => racelab::ReleasePoints::Auto,
        Ok(v) => racelab::ReleasePoints::from_name(&v)
            .unwrap_or_else(|| panic!("RACELAB_BENCH_RELEASE_POINTS is auto, on or off, not {v:?}")),
    }
}

/// `config` with the benches' release-points mode ([`release_points`]).
pub fn with_release_points(config: racelab::Config) -> racelab::Config {
    config.release_points(release_points())
}

/// The runs a report's exploration made before it restarted with release points (0 if it did
/// not): runs to the first bug count them.
pub fn runs_before_restart(report: &racelab::Report) -> u64 {
    report
        .restarted()
        .and_then(|note| note.strip_prefix("run ")?.split(':').next()?.parse::<u64>().ok())
        .map_or(0, |run| run + 1)
}

/// A bounded buffer's shape.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Producer threads.
    pub producers: usize,
    /// Consumer threads.
    pub consumers: usize,
    /// Items each producer puts and each consumer takes.
    pub items: usize,
    /// The buffer's capacity.
    pub capacity: usize,
}

/// 2 producers × 5 items, 2 consumers × 5 items, capacity 2.
pub const LARGE: Shape = Shape { producers: 2, consumers: 2, items: 5, capacity: 2 };
/// 2 producers × 2 items, 2 consumers × 2 items, capacity 1.
pub const SMALL: Shape = Shape { producers: 2, consumers: 2, items: 2, capacity: 1 };

/// The bounded buffer of `shape` against racelab, as a program for `racelab::check`.
pub fn racelab_buffer(shape: Shape) -> impl Fn() + Send + Sync + 'static {
    use racelab::{thread, Condition, Lock};
    move || {
        let lock = Lock::named("mutex");
        let cond = Condition::named("changed", lock);
        let buffer: Rc<RefCell<VecDeque<usize>>> = Rc::new(RefCell::new(VecDeque::new()));
        let mut handles = Vec::new();
        for p in 0..shape.producers {
            let buffer = Rc::clone(&buffer);
            handles.push(thread::spawn(move || {
                for i in 0..shape.items {
                    let _g = cond.lock();
                    while buffer.borrow().len() == shape.capacity {
                        cond.wait();
                    }
                    buffer.borrow_mut().push_back(p * 100 + i);
                    cond.notify_all();
                }
            }));
        }
        for _ in 0..shape.consumers {
            let buffer = Rc::clone(&buffer);
            handles.push(thread::spawn(move || {
                for _ in 0..shape.items {
                    let _g = cond.lock();
                    while buffer.borrow().is_empty() {
                        cond.wait();
                    }
                    buffer.borrow_mut().pop_front();
                    cond.notify_all();
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        assert!(buffer.borrow().is_empty());
    }
}

/// The bounded buffer written with std's names (`Arc`, `Mutex`, `Condvar`, `thread::spawn`) against
/// the `sync` and `thread` modules given: one source for shuttle (`shuttle::sync`, `shuttle::thread`)
/// and racelab's std-shaped facade (`racelab::sync`, `racelab::thread`), so the benches run the
/// same program on both. Data in a `Mutex<VecDeque>` and one `Condvar`.
#[macro_export]
macro_rules! std_named_buffer {
    ($shape:expr, sync = $($sync:ident)::+, thread = $($thread:ident)::+) => {{
        let shape: $crate::Shape = $shape;
        move || {
            use $($sync)::+::{Condvar, Mutex};
            use $($thread)::+ as thread;
            let state = std::sync::Arc::new((Mutex::new(std::collections::VecDeque::new()), Condvar::new()));
            let mut handles = Vec::new();
            for p in 0..shape.producers {
                let state = std::sync::Arc::clone(&state);
                handles.push(thread::spawn(move || {
                    let (mutex, cond) = &*state;
                    for i in 0..shape.items {
                        let mut buf = mutex.lock().unwrap();
                        while buf.len() == shape.capacity {
                            buf = cond.wait(buf).unwrap();
                        }
                        buf.push_back(p * 100 + i);
                        cond.notify_all();
                    }
                }));
            }
            for _ in 0..shape.consumers {
                let state = std::sync::Arc::clone(&state);
                handles.push(thread::spawn(move || {
                    let (mutex, cond) = &*state;
                    for _ in 0..shape.items {
                        let mut buf = mutex.lock().unwrap();
                        while buf.is_empty() {
                            buf = cond.wait(buf).unwrap();
                        }
                        buf.pop_front();
                        cond.notify_all();
                    }
                }));
            }
            for h in handles {
                h.join().unwrap();
            }
            assert!(state.0.lock().unwrap().is_empty());
        }
    }};
}

/// The bounded buffer on racelab's std-shaped facade (see [`std_named_buffer!`]).
pub fn facade_buffer(shape: Shape) -> impl Fn() + Send + Sync + 'static {
    std_named_buffer!(shape, sync = racelab::sync, thread = racelab::thread)
}

pub mod bug_programs;
