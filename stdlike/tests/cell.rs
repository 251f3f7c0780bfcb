//! Data-race detection on `racelab_std::cell::UnsafeCell`: a race is reported whatever the
//! values, under every strategy; synchronization (a lock, spawn, join) silences it.

use std::sync::Arc;

use racelab_primitives::{Lock, Shared};
use racelab_sim::{check, replay, thread, Config, DiagnosisKind, FailureKind, Report};
use racelab_std::cell::UnsafeCell;

/// A counter of plain memory, shared the way std code shares one (`Arc` + `unsafe impl Sync`).
struct Counter(UnsafeCell<u64>);

// SAFETY: the tests are about whether the program synchronizes its accesses; racelab checks it.
unsafe impl Sync for Counter {}
// SAFETY: as above.
unsafe impl Send for Counter {}

impl Counter {
    fn increment(&self) {
        // SAFETY: the pointer is valid for the closure; exclusivity is what is under test.
        self.0.with_mut(|p| unsafe { *p += 1 });
    }

    fn get(&self) -> u64 {
        // SAFETY: as above.
        self.0.with(|p| unsafe { *p })
    }
}

/// Two threads increment without a lock; main joins them and checks the total.
fn racy_counter() {
    let counter = Arc::new(Counter(UnsafeCell::new(0)));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let c = Arc::clone(&counter);
            thread::spawn(move || c.increment())
        })
        .collect();
    for w in workers {
        w.join();
    }
    assert_eq!(counter.get(), 2, "lost update");
}

/// The same increments, each under a racelab `Lock`.
fn locked_counter() {
    let counter = Arc::new(Counter(UnsafeCell::new(0)));
    let lock = Lock::named("counter-lock");
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let c = Arc::clone(&counter);
            thread::spawn(move || {
                let _guard = lock.lock();
                c.increment();
            })
        })
        .collect();
    for w in workers {
        w.join();
    }
    let _guard = lock.lock();
    assert_eq!(counter.get(), 2, "lost update");
}

fn the_race(report: &Report) -> (&racelab_sim::RaceAccess, &racelab_sim::RaceAccess) {
    let failure = report.failure.as_ref().unwrap_or_else(|| panic!("a data race, got:\n{report}"));
    assert_eq!(failure.diagnosis.kind, DiagnosisKind::DataRace, "{report}");
    let FailureKind::DataRace(race) = &failure.kind else { panic!("a data race, got:\n{report}") };
    assert_eq!(race.object.name, "UnsafeCell-1");
    (&race.first, &race.second)
}

#[test]
fn an_unlocked_counter_races_although_its_value_always_comes_out_right() {
    // The values: with std's own UnsafeCell, racelab sees no access at all, and every
    // interleaving ends with the right total (an increment happens inside one step).
    struct Plain(std::cell::UnsafeCell<u64>);
    // SAFETY: as for Counter.
    unsafe impl Sync for Plain {}
    // SAFETY: as for Counter.
    unsafe impl Send for Plain {}
    let plain = check(Config::dfs(), || {
        let counter = Arc::new(Plain(std::cell::UnsafeCell::new(0)));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let c = Arc::clone(&counter);
                // SAFETY: one step at a time; this is the unchecked version.
                thread::spawn(move || unsafe { *c.0.get() += 1 })
            })
            .collect();
        for w in workers {
            w.join();
        }
        // SAFETY: both writers are joined.
        assert_eq!(unsafe { *counter.0.get() }, 2, "lost update");
    });
    assert!(plain.passed() && plain.exhausted, "{plain}");

    // The race: the checked cell reports it, under a sampling and an exhaustive strategy.
    for config in
        [Config::random(1).runs(100), Config::pct(1, 2).runs(100), Config::dfs(), Config::dfs().dpor(false)]
    {
        let report = check(config, racy_counter);
        let (first, second) = the_race(&report);
        assert!(first.write && second.write, "{report}");
        assert_ne!(first.thread.id, second.thread.id, "{report}");
        assert!(first.step <= second.step, "{report}");
        for a in [first, second] {
            assert!(a.location.starts_with("stdlike/tests/cell.rs:"), "{}", a.location);
            assert!(a.thread.name.starts_with("Thread-"), "{report}");
        }
        let text = report.to_string();
        assert!(text.contains("diagnosis: data-race: Thread-"), "{text}");
        assert!(text.contains("data race on UnsafeCell-1: a write by Thread-"), "{text}");
        assert!(text.contains("DATA RACE with a write by Thread-"), "{text}");
        let json = report.to_json();
        assert!(json.contains("\"kind\": \"data-race\"") && json.contains("\"second\""), "{json}");
        // The schedule replays it.
        let failure = report.failure.as_ref().expect("a failure");
        let again = replay(&failure.schedule, racy_counter);
        assert_eq!(again.failure.as_ref().map(|f| &f.kind), Some(&failure.kind), "{again}");
    }
}

#[test]
fn the_same_counter_under_a_lock_is_silent_over_an_exhaustive_search() {
    for config in [Config::dfs(), Config::dfs().dpor(false)] {
        let report = check(config, locked_counter);
        assert!(report.passed() && report.exhausted, "{report}");
    }
    check(Config::random(3).runs(500), locked_counter).assert_passed();
}

#[test]
fn a_write_after_the_release_races_with_the_next_holder() {
    // Thread-1 writes after unlocking, in the same step as the unlock: the release does not
    // cover it, whichever order the threads run in.
    let report = check(Config::dfs(), || {
        let counter = Arc::new(Counter(UnsafeCell::new(0)));
        let lock = Lock::new();
        let c = Arc::clone(&counter);
        let a = thread::spawn(move || {
            lock.acquire();
            lock.release();
            c.increment();
        });
        let c = Arc::clone(&counter);
        let b = thread::spawn(move || {
            let _guard = lock.lock();
            c.increment();
        });
        a.join();
        b.join();
    });
    the_race(&report);
}

#[test]
fn an_access_that_spans_a_release_is_checked_at_its_end() {
    // Thread-1 holds the pointer across a release: its write is after the release, so it
    // races with Thread-2's, taken under the lock (in every order: dfs finds it at once).
    let report = check(Config::dfs(), || {
        let counter = Arc::new(Counter(UnsafeCell::new(0)));
        let lock = Lock::new();
        lock.acquire();
        let c = Arc::clone(&counter);
        let a = thread::spawn(move || {
            c.0.with_mut(|p| {
                lock.release();
                thread::yield_now();
                // SAFETY: the pointer is valid; the race is the point.
                unsafe { *p += 1 }
            })
        });
        let c = Arc::clone(&counter);
        let b = thread::spawn(move || {
            let _guard = lock.lock();
            c.increment();
        });
        a.join();
        b.join();
    });
    the_race(&report);
}

#[test]
fn spawn_and_join_order_a_cell_passed_between_threads() {
    let report = check(Config::dfs(), || {
        // Written by main, moved into a thread that writes it, handed back through join.
        let cell = UnsafeCell::new(1u64);
        // SAFETY: one owner at a time.
        cell.with_mut(|p| unsafe { *p += 1 });
        let t = thread::spawn(move || {
            // SAFETY: as above.
            cell.with_mut(|p| unsafe { *p *= 10 });
            cell
        });
        let noise = thread::spawn(|| Shared::new(0u8).store(1));
        let cell = t.join();
        noise.join();
        // SAFETY: as above.
        assert_eq!(cell.with(|p| unsafe { *p }), 20);
        // Created in a thread and shared with its spawner through join: ordered too.
        let shared = thread::spawn(|| Arc::new(Counter(UnsafeCell::new(5)))).join();
        assert_eq!(shared.get(), 5);
        let mut owned = Arc::try_unwrap(shared).ok().expect("one owner").0;
        *owned.get_mut() += 1;
        assert_eq!(owned.into_inner(), 6);
    });
    assert!(report.passed() && report.exhausted, "{report}");
}

#[test]
fn dpor_explores_the_order_in_which_the_race_appears() {
    // Thread-2 writes only when it sees the flag down; Thread-1 writes, then raises it. In the
    // order spawned (Thread-1 first) there is no race; DPOR must reverse the flag accesses.
    let program = || {
        let counter = Arc::new(Counter(UnsafeCell::new(0)));
        let flag = Shared::named("flag", false);
        let c = Arc::clone(&counter);
        let a = thread::spawn(move || {
            c.increment();
            flag.store(true);
        });
        let c = Arc::clone(&counter);
        let b = thread::spawn(move || {
            if !flag.load() {
                c.increment();
            }
        });
        a.join();
        b.join();
    };
    for config in [Config::dfs(), Config::dfs().dpor(false), Config::random(5).runs(200)] {
        let exhaustive = matches!(config.strategy(), racelab_sim::StrategyConfig::Dfs { .. });
        let report = check(config, program);
        let (first, second) = the_race(&report);
        assert_ne!(first.thread.id, second.thread.id, "{report}");
        // The search's first run takes the threads in order and has no race.
        assert!(!exhaustive || report.failure.as_ref().is_some_and(|f| f.run >= 1), "{report}");
    }
    // Reading the flag up and then reading the cell is message passing: no race.
    let report = check(Config::dfs(), || {
        let counter = Arc::new(Counter(UnsafeCell::new(0)));
        let flag = Shared::named("flag", false);
        let c = Arc::clone(&counter);
        let a = thread::spawn(move || {
            c.increment();
            flag.store(true);
        });
        let c = Arc::clone(&counter);
        let b = thread::spawn(move || {
            if flag.load() {
                assert_eq!(c.get(), 1);
            }
        });
        a.join();
        b.join();
    });
    assert!(report.passed() && report.exhausted, "{report}");
}

/// One operation of a worker in the differential test below.
#[derive(Clone, Copy, Debug)]
enum CellOp {
    Read,
    Write,
    /// Raise the flag (a racelab `Shared`: synchronization).
    Raise,
    /// Write the cell only while the flag is down.
    WriteUnlessRaised,
    /// Read the cell only once the flag is up (message passing).
    ReadIfRaised,
    /// Write the cell under the lock.
    LockedWrite,
}

const CELL_OPS: [CellOp; 6] = [
    CellOp::Read,
    CellOp::Write,
    CellOp::Raise,
    CellOp::WriteUnlessRaised,
    CellOp::ReadIfRaised,
    CellOp::LockedWrite,
];

fn cell_program(workers: [[CellOp; 2]; 2]) -> impl Fn() + Send + Sync + 'static {
    move || {
        let counter = Arc::new(Counter(UnsafeCell::new(0)));
        let flag = Shared::new(false);
        let lock = Lock::new();
        let threads: Vec<_> = workers
            .iter()
            .map(|&ops| {
                let c = Arc::clone(&counter);
                thread::spawn(move || {
                    for (i, op) in ops.into_iter().enumerate() {
                        if i > 0 {
                            // A step boundary between operations, so that they interleave.
                            thread::yield_now();
                        }
                        match op {
                            CellOp::Read => {
                                c.get();
                            }
                            CellOp::Write => c.increment(),
                            CellOp::Raise => flag.store(true),
                            CellOp::WriteUnlessRaised => {
                                if !flag.load() {
                                    c.increment();
                                }
                            }
                            CellOp::ReadIfRaised => {
                                if flag.load() {
                                    c.get();
                                }
                            }
                            CellOp::LockedWrite => {
                                let _g = lock.lock();
                                c.increment();
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join();
        }
    }
}

#[test]
fn dpor_finds_a_race_exactly_when_the_plain_search_does() {
    // Every pair of two-operation workers: DPOR (cell accesses are reads and writes of the cell
    // in its footprints) must reach the same verdict as the search over every interleaving.
    let pairs: Vec<[CellOp; 2]> =
        CELL_OPS.iter().flat_map(|&a| CELL_OPS.iter().map(move |&b| [a, b])).collect();
    let (mut races, mut clean) = (0, 0);
    // Unordered pairs of workers: swapping the two changes only their names.
    for (i, &first) in pairs.iter().enumerate() {
        for &second in &pairs[i..] {
            let plain = check(Config::dfs().dpor(false).shrink(false), cell_program([first, second]));
            let dpor = check(Config::dfs().shrink(false), cell_program([first, second]));
            let verdict = |r: &Report| r.failure.as_ref().map(|f| f.kind.name());
            assert_eq!(verdict(&plain), verdict(&dpor), "{first:?} / {second:?}:\n{plain}\n{dpor}");
            assert!(plain.failure.is_some() || plain.exhausted, "{plain}");
            match verdict(&plain) {
                Some("data-race") => races += 1,
                None => clean += 1,
                other => panic!("{other:?}: {plain}"),
            }
        }
    }
    // Both verdicts occur, so the comparison means something.
    assert!(races > 100 && clean > 100, "{races} racy, {clean} clean");
}

/// A shared value written through an `RwLock` read guard (the bug) while another reader reads it.
struct Guarded(UnsafeCell<u32>, racelab_std::sync::RwLock<()>);

// SAFETY: as for Counter.
unsafe impl Sync for Guarded {}
// SAFETY: as for Counter.
unsafe impl Send for Guarded {}

fn written_under_a_read_guard() {
    let s = Arc::new(Guarded(UnsafeCell::new(0), racelab_std::sync::RwLock::new(())));
    let s2 = Arc::clone(&s);
    let writer = thread::spawn(move || {
        let _shared = s2.1.read().unwrap();
        // SAFETY: exclusivity is what is under test.
        s2.0.with_mut(|p| unsafe { *p = 1 });
    });
    {
        let _shared = s.1.read().unwrap();
        // SAFETY: as above.
        s.0.with(|p| unsafe { *p });
    }
    writer.join();
}

#[test]
fn a_write_under_a_read_guard_races_a_reader_that_holds_the_lock_too() {
    // Read guards are held together, so the write races the read. A read section with no
    // scheduling point of its own used to run whole, its unlock joined to its step as an
    // exclusive lock's may be: no two readers overlapped, and every search passed exhausted.
    for config in [Config::dfs(), Config::dfs().dpor(false), Config::random(0).runs(1_000)] {
        let report = check(config, written_under_a_read_guard);
        let failure = report.failure.as_ref().unwrap_or_else(|| panic!("a data race, got:\n{report}"));
        assert_eq!(failure.diagnosis.kind, DiagnosisKind::DataRace, "{report}");
    }
}
