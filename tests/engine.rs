//! Engine behaviour through the public API: deadlocks, lost updates, daemons, time, panics.

use std::time::Duration;

use racelab::{
    check, replay, thread, Choice, ChoiceKind, Config, FailureKind, Lock, Report, Schedule, Shared,
};

fn lock_order_program() {
    let a = Lock::named("a");
    let b = Lock::named("b");
    let t1 = thread::Builder::new()
        .name("worker-1".into())
        .spawn(move || {
            let _ga = a.lock();
            let _gb = b.lock();
        })
        .unwrap();
    let t2 = thread::Builder::new()
        .name("worker-2".into())
        .spawn(move || {
            let _gb = b.lock();
            let _ga = a.lock();
        })
        .unwrap();
    t1.join().unwrap();
    t2.join().unwrap();
}

fn assert_lock_cycle(report: &Report) {
    let failure = report.failure.as_ref().expect("the deadlock is found");
    let FailureKind::Deadlock(d) = &failure.kind else { panic!("expected a deadlock, got {}", failure.kind) };
    let mut in_cycle: Vec<(String, String)> =
        d.cycle.iter().map(|(t, o)| (t.name.clone(), o.name.clone())).collect();
    in_cycle.sort();
    assert_eq!(
        in_cycle,
        vec![("worker-1".to_string(), "b".to_string()), ("worker-2".to_string(), "a".to_string())],
        "{report}"
    );
    let text = report.to_string();
    for needle in
        ["worker-1 waits on Lock `b`", "worker-2 waits on Lock `a`", "held by worker-1", "held by worker-2"]
    {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
}

#[test]
fn lock_order_deadlock_found_by_random_within_100_runs_for_20_seeds() {
    for seed in 0..20 {
        let report = check(Config::random(seed).runs(100), lock_order_program);
        assert_lock_cycle(&report);
        assert!(report.runs <= 100);
    }
}

#[test]
fn lock_order_deadlock_found_by_dfs_and_replayed() {
    let report = check(Config::dfs(), lock_order_program);
    assert_lock_cycle(&report);
    let failure = report.failure.as_ref().unwrap();
    let again = replay(&failure.schedule, lock_order_program);
    assert_lock_cycle(&again);
    assert_eq!(again.failure.as_ref().unwrap().trace, failure.trace);
}

fn counter_program(atomic: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let counter = Shared::named("counter", 0u64);
        let workers: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    for _ in 0..3 {
                        if atomic {
                            counter.update(|v| *v += 1);
                        } else {
                            let v = counter.load();
                            counter.store(v + 1);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(counter.load(), 6, "lost update");
    }
}

#[test]
fn load_then_store_counter_loses_updates_under_dfs() {
    let report = check(Config::dfs().dpor(false), counter_program(false));
    let failure = report.failure.as_ref().expect("dfs finds the lost update");
    match &failure.kind {
        FailureKind::Panic { thread, message, .. } => {
            assert_eq!(thread.name, "main");
            assert!(message.contains("lost update"), "{message}");
        }
        other => panic!("expected a failed assertion, got {other}"),
    }
    // Pinned: a change here means the scheduling points or the search order changed.
    assert_eq!(report.runs, 29, "executions until the lost update");
    // With partial-order reduction the search skips reorderings of the threads' private steps.
    let reduced = check(Config::dfs(), counter_program(false));
    assert_eq!(reduced.failure.map(|f| f.diagnosis.kind.name()), Some("lost-update"));
    assert_eq!(
        reduced.runs, 1,
        "executions until the lost update, with DPOR (its first run interleaves round robin)"
    );
}

#[test]
fn update_counter_passes_dfs_exhaustively() {
    let report = check(Config::dfs().dpor(false), counter_program(true));
    report.assert_passed();
    assert!(report.exhausted, "{report}");
    // main spawns 2 threads doing 3 atomic updates each, then joins and loads: the number of
    // interleavings is fixed by the program. Pinned, so a change in scheduling points shows.
    assert_eq!(report.runs, 308, "executions to exhaust the search");
    // With DPOR: the 20 orders of the six updates (all on one cell), times where main's two
    // joins fall relative to the threads' last steps (blocking or not): 60 classes, none
    // explored twice.
    let reduced = check(Config::dfs(), counter_program(true));
    reduced.assert_passed();
    assert!(reduced.exhausted);
    assert_eq!((reduced.runs, reduced.redundant_runs), (60, 0));
}

#[test]
fn panics_are_reported_with_thread_message_and_step() {
    let report = check(Config::random(1).runs(10), || {
        thread::Builder::new()
            .name("boom".into())
            .spawn(|| {
                thread::yield_now();
                let v: Option<u8> = std::hint::black_box(None);
                v.expect("nothing there");
            })
            .unwrap();
    });
    let f = report.failure.expect("the panic is a failure");
    let FailureKind::Panic { thread, message, location } = &f.kind else { panic!("{}", f.kind) };
    assert_eq!(thread.name, "boom");
    assert_eq!(message, "nothing there");
    assert!(location.as_deref().unwrap_or("").contains("tests/engine.rs"), "{location:?}");
    assert!(f.step > 0);
}

#[test]
fn join_returns_the_thread_value() {
    let report = check(Config::dfs(), || {
        let handles: Vec<_> = (0..3u64).map(|i| thread::spawn(move || i * 10)).collect();
        let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(values, vec![0, 10, 20]);
    });
    report.assert_passed();
    assert!(report.exhausted);
}

#[test]
fn sleeping_a_thousand_seconds_is_instant_and_exact() {
    let report = check(Config::random(3).runs(1), || {
        for _ in 0..1000 {
            thread::sleep(Duration::from_secs(1));
        }
        assert_eq!(racelab::engine::rt::now().elapsed(), Duration::from_secs(1000));
    });
    report.assert_passed();
}

#[test]
fn timed_acquire_times_out_on_the_virtual_clock() {
    let report = check(Config::dfs(), || {
        let lock = Lock::named("held");
        lock.acquire();
        let t = thread::spawn(move || {
            let got = lock.acquire_timeout(Duration::from_secs(5));
            (got, racelab::engine::rt::now().elapsed())
        });
        let (got, at) = t.join().unwrap();
        assert!(!got);
        assert_eq!(at, Duration::from_secs(5));
    });
    report.assert_passed();
}

#[test]
fn daemon_threads_are_cut_off_at_exit() {
    let report = check(Config::dfs(), || {
        thread::Builder::new()
            .name("ticker".into())
            .daemon(true)
            .spawn(|| loop {
                thread::sleep(Duration::from_secs(1));
            })
            .unwrap();
        thread::sleep(Duration::from_millis(2500));
    });
    report.assert_passed();
    assert_eq!(report.runs_with_daemons_cut_off, report.runs);
}

#[test]
fn non_daemon_thread_keeps_the_program_alive() {
    // Counted outside the simulation: a run that cut the thread off would not count.
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&finished);
    let report = check(Config::dfs(), move || {
        let done = Shared::named("done", false);
        let counter = std::sync::Arc::clone(&counter);
        thread::spawn(move || {
            thread::sleep(Duration::from_secs(2));
            done.store(true);
            assert!(done.load());
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        // main returns at once; the run waits for the non-daemon thread, as Python does.
    });
    report.assert_passed();
    assert!(report.exhausted && report.runs >= 1, "{report}");
    assert_eq!(report.runs_with_daemons_cut_off, 0);
    assert_eq!(
        finished.load(std::sync::atomic::Ordering::SeqCst),
        report.runs,
        "the non-daemon thread finished in every run"
    );
}

#[test]
fn releasing_an_unlocked_lock_is_a_runtime_error() {
    let report = check(Config::random(0).runs(1), || {
        Lock::new().release();
    });
    let f = report.failure.expect("misuse is reported");
    let FailureKind::Misuse { exception, message, thread } = &f.kind else { panic!("{}", f.kind) };
    assert_eq!(
        (exception.as_str(), message.as_str(), thread.name.as_str()),
        ("RuntimeError", "release unlocked lock", "main")
    );
}

#[test]
fn spin_loop_hits_the_step_limit_and_names_the_flag() {
    let report = check(Config::random(0).runs(1).max_steps(500), || {
        let flag = Shared::named("flag", false);
        while !flag.load() {}
    });
    let f = report.failure.expect("step limit");
    assert_eq!(f.kind.name(), "step-limit");
    let text = f.kind.to_string();
    assert!(text.contains("--max-steps") && text.contains("spin loop"), "{text}");
}

#[test]
fn thread_locals_are_per_thread() {
    let report = check(Config::dfs(), || {
        let local = thread::Local::<String>::new();
        local.set("main".into());
        let t = thread::spawn(move || {
            assert_eq!(local.get(), None);
            local.set("worker".into());
            local.get()
        });
        assert_eq!(t.join().unwrap().as_deref(), Some("worker"));
        assert_eq!(local.get().as_deref(), Some("main"));
    });
    report.assert_passed();
}

#[test]
fn malformed_and_mismatched_schedules_get_clear_errors() {
    let e = "v1 t1 q7".parse::<racelab::Schedule>().unwrap_err();
    assert!(e.to_string().contains("token 3 `q7`"), "{e}");

    // A schedule asking for a thread that does not exist at that point.
    let schedule: racelab::Schedule = "v1 t9".parse().unwrap();
    let report = replay(&schedule, lock_order_program);
    let f = report.failure.expect("divergence reported");
    let FailureKind::Divergence { message } = &f.kind else { panic!("{}", f.kind) };
    assert!(message.contains("decision 1: the schedule says `t9`"), "{message}");

    // A schedule longer than the run.
    let report = replay(&"v1 t0*50".parse().unwrap(), || {});
    let f = report.failure.expect("divergence reported");
    assert!(f.kind.to_string().contains("the run is over"), "{}", f.kind);
}

#[test]
fn condition_notify_wakes_a_waiter() {
    let report = check(Config::dfs(), || {
        let lock = Lock::named("m");
        let cond = racelab::Condition::named("ready", lock);
        let flag = Shared::named("flag", false);
        let waiter = thread::spawn(move || {
            let _g = cond.lock();
            while !flag.load() {
                cond.wait();
            }
        });
        {
            let _g = cond.lock();
            flag.store(true);
            cond.notify();
        }
        waiter.join().unwrap();
    });
    report.assert_passed();
    assert!(report.exhausted);
}

#[test]
fn objects_from_another_run_are_caught() {
    use std::sync::Mutex;
    let stash: &'static Mutex<Option<Lock>> = Box::leak(Box::new(Mutex::new(None)));
    let report = check(Config::random(0).runs(2), move || {
        let mut s = stash.lock().unwrap();
        match *s {
            None => *s = Some(Lock::new()),
            Some(old) => {
                drop(s);
                old.acquire();
            }
        }
    });
    let f = report.failure.expect("stale object caught");
    assert!(f.kind.to_string().contains("created in another run"), "{}", f.kind);
}

#[test]
fn the_reported_failure_does_not_depend_on_jobs_and_shards_cover_the_runs() {
    let program = || {
        let counter = Shared::named("counter", 0u64);
        let ws: Vec<_> = (0..4)
            .map(|_| {
                thread::spawn(move || {
                    thread::yield_now();
                    let v = counter.load();
                    counter.store(v + 1);
                })
            })
            .collect();
        for w in ws {
            w.join().unwrap();
        }
        // Fails only in some interleavings, so the lowest failing run index matters.
        assert!(counter.load() >= 2, "lost update: three of four increments lost");
    };
    // `random` and `pos`: the two strategies whose runs are independent.
    let strategies: [fn(u64) -> Config; 2] = [Config::random, Config::pos];
    let mut lowest_runs = Vec::new();
    for (seed, make) in [1, 2, 3, 4].into_iter().flat_map(|s| strategies.map(|m| (s, m))) {
        let base = check(make(seed).runs(2_000).shrink(false), program);
        let first = base.failure.as_ref().expect("found sequentially");
        lowest_runs.push(first.run);
        for jobs in [2, 3] {
            let par = check(make(seed).runs(2_000).shrink(false).jobs(jobs), program);
            let f = par.failure.as_ref().expect("found in parallel");
            assert_eq!(
                (f.run, &f.schedule, &f.trace),
                (first.run, &first.schedule, &first.trace),
                "jobs={jobs}"
            );
            // The counts too: the runs up to and including the failure, whatever ran past it.
            assert_eq!(
                (par.runs, par.steps, par.runs_with_daemons_cut_off),
                (base.runs, base.steps, base.runs_with_daemons_cut_off),
                "jobs={jobs}"
            );
            assert_eq!(par.runs, first.run + 1);
        }
        let lowest = (0..2)
            .filter_map(|k| check(make(seed).runs(2_000).shrink(false).shard(k, 2), program).failure)
            .map(|f| f.run)
            .min();
        assert_eq!(lowest, Some(first.run), "two shards together find the same lowest run");
    }
    assert!(
        lowest_runs.iter().any(|&r| r > 2),
        "the test needs failures past the first runs: {lowest_runs:?}"
    );
    // A passing exploration runs every run exactly once across jobs.
    let report = check(Config::random(9).runs(1_000).jobs(2), || {});
    assert_eq!(report.runs, 1_000);
}

#[test]
fn parallel_reports_are_the_same_bytes_but_for_the_wall_time() {
    let program = || {
        let counter = Shared::named("counter", 0u64);
        let ws: Vec<_> = (0..3)
            .map(|_| {
                thread::spawn(move || {
                    let v = counter.load();
                    counter.store(v + 1);
                })
            })
            .collect();
        for w in ws {
            w.join().unwrap();
        }
        assert!(counter.load() >= 2, "lost update");
    };
    let strip = |mut r: Report| {
        r.elapsed_micros = 0;
        r.settings = r.settings.replace(" jobs=2", " jobs=1");
        r
    };
    for seed in 0..4 {
        let one = check(Config::random(seed).runs(3_000).jobs(1), program);
        let two = check(Config::random(seed).runs(3_000).jobs(2), program);
        assert!(one.failure.is_some(), "seed {seed}: the program fails somewhere");
        assert_eq!(strip(two), strip(one), "seed {seed}");
        // The portfolio too (DPOR on one job, POS on the others), its failure shrunk.
        let one = check(Config::portfolio(seed).jobs(1), program);
        for jobs in [2, 4] {
            let many = check(Config::portfolio(seed).jobs(jobs), program);
            let many = Report { settings: many.settings.replace(&format!(" jobs={jobs}"), ""), ..many };
            assert!(one.failure.as_ref().is_some_and(|f| f.shrunk_from.is_some() || f.preemptions <= 1));
            assert_eq!(strip(many), strip(one.clone()), "seed {seed}, {jobs} jobs");
        }
    }
}

/// Two threads add `step` to a counter without a lock: a lost update. With different steps the
/// threads make the same decisions but the values (and so the trace) differ.
fn adding(step: u32) -> impl Fn() + Send + Sync + 'static {
    move || {
        let counter = Shared::named("counter", 0u32);
        let ws: Vec<_> =
            (0..2).map(|_| thread::spawn(move || counter.store(counter.load() + step))).collect();
        for w in ws {
            w.join().unwrap();
        }
        assert_eq!(counter.load(), 2 * step, "lost update");
    }
}

#[test]
fn huge_shards_end_instead_of_wrapping() {
    // jobs × shards overflows u64: the stride used to wrap to 0 and run index 0 forever.
    let report = check(Config::random(0).jobs(2).shard(0, 1 << 63), || {});
    assert_eq!(report.runs, 1);
    let report = check(Config::random(0).runs(50).jobs(3).shard(1, 6_148_914_691_236_517_206), || {});
    assert_eq!(report.runs, 1, "the shard holds run 1 only");
    let report = check(Config::random(0).runs(u64::MAX).jobs(2).shard(u64::MAX - 1, u64::MAX), || {});
    assert_eq!(report.runs, 1, "the shard holds run u64::MAX - 1 only");
}

#[test]
fn a_traced_run_is_traced_with_jobs_too() {
    let program = || {
        let t = thread::spawn(thread::yield_now);
        thread::yield_now();
        t.join().unwrap();
    };
    let one = check(Config::random(5).runs(20).trace_run(7), program).traced.expect("run 7 traced");
    let two =
        check(Config::random(5).runs(20).jobs(2).trace_run(7), program).traced.expect("traced with jobs");
    assert_eq!(two, one);
    let sharded = check(Config::random(5).runs(20).shard(1, 2).trace_run(7), program);
    assert_eq!(sharded.traced.as_ref(), Some(&one));
    let elsewhere = check(Config::random(5).runs(20).shard(0, 2).trace_run(7), program);
    assert_eq!(elsewhere.traced, None, "run 7 is not in shard 0 of 2");
}

#[test]
fn out_of_range_settings_are_reported_not_panicked() {
    for (config, setting) in [
        (Config::dfs().stack_size(usize::MAX), "Config::stack_size"),
        (Config::dfs().stack_size(1 << 40), "Config::stack_size"),
        (Config::dfs().stack_size(1024), "Config::stack_size"),
        (Config::random(0).jobs(usize::MAX), "Config::jobs"),
        (Config::dfs().max_steps(0), "Config::max_steps"),
    ] {
        let error = config.validate().expect_err(setting);
        assert!(error.to_string().starts_with(setting), "{error}");
        let report = check(config, || unreachable!("nothing runs under a refused configuration"));
        assert_eq!(report.runs, 0);
        let failure = report.failure.expect("a refused configuration is reported");
        assert_eq!(failure.kind.name(), "invalid-config");
        assert!(failure.kind.to_string().contains(setting), "{}", failure.kind);
    }
    let range = Config::dfs().stack_size(1 << 40).validate().unwrap_err().to_string();
    assert!(range.contains("from 16384 (16 KiB) to 67108864 (64 MiB) bytes"), "{range}");
    // The edges of the ranges run.
    for config in [Config::dfs().stack_size(16 * 1024), Config::dfs().stack_size(64 * 1024 * 1024)] {
        assert!(check(config, || thread::spawn(|| ()).join().unwrap()).passed());
    }
    assert!(check(Config::random(0).runs(300).jobs(256), || ()).passed());
}

#[test]
fn choices_are_never_truncated() {
    // One option past u32::MAX used to be recorded as `r0`-ish garbage: a nondeterminism report
    // under random/pct, and a dfs that stopped after one run.
    for config in
        [Config::random(1).runs(5), Config::pct(1, 3).runs(5), Config::dfs(), Config::dfs().dpor(false)]
    {
        let report = check(config.clone(), || {
            let n = u32::MAX as usize + 3;
            let v = thread::choose(n);
            assert!(v < n);
        });
        let f = report.failure.unwrap_or_else(|| panic!("{config}: a misuse"));
        assert_eq!(f.kind.name(), "misuse", "{config}: {}", f.kind);
        assert!(
            f.kind.to_string().contains(
                "ValueError: racelab::choose(4294967298): a choice takes from 1 to 4294967295 options"
            ),
            "{}",
            f.kind
        );
        assert_eq!(f.run, 0);
        let zero = check(config.clone(), || {
            thread::choose(0);
        });
        assert_eq!(zero.failure.map(|f| f.kind.name()), Some("misuse"), "{config}: choose(0)");
    }
    // The largest choice allowed is deterministic under sampling: it replays.
    let big = || {
        let v = thread::choose(u32::MAX as usize);
        assert!(v != 7, "unlucky");
    };
    let report = check(Config::random(3).runs(50).trace_run(20), big);
    assert!(report.passed(), "{report}");
    let traced = report.traced.expect("run 20 traced");
    assert!(replay(&traced.schedule, big).passed());
    // Exhaustive search walks a huge choice one value per run, allocating nothing per option
    // (it used to allocate 12 GB for three billion options).
    let report = check(Config::dfs().dpor(false).runs(9), || {
        assert!(thread::choose(3_000_000_000) != 7, "found");
    });
    let f = report.failure.expect("value 7 is run 7");
    assert_eq!((f.run, f.schedule.choices()), (7, &[Choice::new(ChoiceKind::Random, 7)][..]));
    let report = check(Config::dfs().runs(9), || {
        assert!(thread::choose(3_000_000_000) != 7, "found");
    });
    assert_eq!(report.failure.map(|f| f.run), Some(7), "with reduction too");
}

#[test]
fn a_failing_replay_with_decisions_left_over_is_a_divergence() {
    let program = || {
        let lock = Lock::new();
        let t = thread::spawn(move || {
            lock.acquire();
            lock.acquire(); // a self-deadlock
        });
        t.join().unwrap();
    };
    let found = check(Config::dfs(), program).failure.expect("self-deadlock");
    assert_eq!(found.kind.name(), "deadlock");
    let exact = replay(&found.schedule, program);
    assert_eq!(exact.failure.map(|f| f.kind.name()), Some("deadlock"));
    let decisions = racelab::Schedule::from_choices(found.schedule.choices().to_vec());
    let longer: racelab::Schedule = format!("{decisions} t0 t1").parse().unwrap();
    let f = replay(&longer, program).failure.expect("reported");
    assert_eq!(f.kind.name(), "divergence", "{}", f.kind);
    let message = f.kind.to_string();
    assert!(message.contains("the run ended with a deadlock") && message.contains("(`t0 t1`)"), "{message}");
}

#[test]
fn a_replay_that_gives_another_trace_under_the_same_decisions_says_so() {
    let failure = check(Config::dfs(), adding(1)).failure.expect("the lost update is found");
    let hash = failure.schedule.trace_hash().expect("a printed schedule carries its trace's hash");
    assert_eq!(hash, failure.trace.hash());
    assert!(failure.schedule.to_string().ends_with(&format!(" #{hash:08x}")), "{}", failure.schedule);
    // The same program: no note.
    let same = replay(&failure.schedule, adding(1));
    assert_eq!(same.replay_differs, None);
    assert_eq!(same.failure.as_ref().map(|f| &f.trace), Some(&failure.trace));
    // Same decisions, other values: the replay still follows the schedule, and says so.
    let other = replay(&failure.schedule, adding(5));
    assert_eq!(other.failure.as_ref().map(|f| f.kind.name()), Some("panic"));
    let note = other.replay_differs.as_deref().expect("the changed trace is noticed");
    assert!(
        note.starts_with("this program behaves differently than when the schedule was recorded"),
        "{note}"
    );
    assert!(note.contains(&format!("#{hash:08x} then")), "{note}");
    assert!(other.to_string().contains("note: this program behaves differently"), "{other}");
    // A schedule without the hash (as pasted before it existed) replays without a note.
    let bare = Schedule::from_choices(failure.schedule.choices().to_vec());
    assert_eq!(replay(&bare, adding(5)).replay_differs, None);
}

#[test]
fn pos_finds_the_catalog_bugs_random_finds() {
    // Partial Order Sampling over a lock-order deadlock and a lost update: found within a few
    // runs, every seed, and the failure replays.
    for seed in 0..10 {
        let report = check(Config::pos(seed).runs(200), lock_order_program);
        let f = report.failure.clone().unwrap_or_else(|| panic!("seed {seed}: {report}"));
        assert_eq!(f.kind.name(), "deadlock");
        assert!(report.settings.starts_with(&format!("strategy=pos seed={seed} ")), "{}", report.settings);
        assert_eq!(replay(&f.schedule, lock_order_program).failure.map(|g| g.trace), Some(f.trace));
    }
}

/// Four workers take items from a queue and count them with a load and a store: a lost update.
/// Runs without a preemption already have many free choices (each worker blocks on the queue
/// in turn), which is what fills a bounded search's budget at bound 0. With `draw`, the first
/// worker to take an item draws a number it does not use.
fn pool_counting(draw: bool) {
    use racelab::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use racelab::sync::Arc;
    let queue = racelab::Queue::<Option<u32>>::new(0);
    let count = Arc::new(AtomicUsize::new(0));
    let drawn = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (count, drawn) = (Arc::clone(&count), Arc::clone(&drawn));
            thread::spawn(move || {
                while let Some(_item) = queue.get() {
                    if draw && !drawn.swap(true, Ordering::SeqCst) {
                        racelab::choose(1000);
                    }
                    let seen = count.load(Ordering::SeqCst);
                    count.store(seen + 1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for item in 0..8 {
        queue.put(Some(item));
    }
    for _ in 0..4 {
        queue.put(None);
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(count.load(Ordering::SeqCst), 8, "lost update");
}

fn pool_with_a_lost_update() {
    pool_counting(false);
}

#[test]
fn a_failure_the_bounded_search_cannot_shrink_within_its_budget_is_shrunk_greedily() {
    // An outside trial's thread-pool program kept a run of 51 preemptions: the bounded search
    // spent its whole budget at bound 0. The greedy pass takes preemptions out one at a time.
    // 1,000 runs: 900 for the bounded search, which does not get past bound 0, and 100 for the
    // greedy pass.
    let config = Config::random(3).runs(200).shrink_budget(1_000, 10_000_000);
    let report = check(config.clone(), pool_with_a_lost_update);
    let failure = report.failure.expect("the lost update is found");
    let from = failure.shrunk_from.as_ref().expect("shrunk");
    let cut = failure.shrink_cut_short.as_deref().expect("the bounded search ran out of its 900 runs");
    assert_eq!(cut, "its run budget (900 runs), before a greedy pass took preemptions out one at a time");
    assert!(
        failure.preemptions < from.preemptions && failure.preemptions <= 2,
        "{} preemptions, from {}",
        failure.preemptions,
        from.preemptions
    );
    assert!(failure.kind.to_string().contains("lost update"), "{}", failure.kind);
    // With the greedy pass's share at 1 run it cannot shrink: the budget is a bound on both.
    let tight = check(Config::random(3).runs(200).shrink_budget(18, 10_000_000), pool_with_a_lost_update);
    let tight = tight.failure.expect("found");
    assert_eq!(tight.shrink_cut_short.as_deref(), Some("its run budget (17 runs)"), "no greedy run to spare");
    // The smaller run replays, and the whole procedure is deterministic.
    let again = replay(&failure.schedule, pool_with_a_lost_update);
    assert_eq!(again.failure.map(|f| f.trace.to_string()), Some(failure.trace.to_string()));
    let second = check(config, pool_with_a_lost_update).failure.expect("found again");
    assert_eq!(second.schedule.to_string(), failure.schedule.to_string());
}

#[test]
fn the_greedy_pass_keeps_the_values_the_run_drew() {
    // A reviewer's reproducer: the draws' values sat at fixed places among the relative choices,
    // and once a preemption went, a draw read another place (83 became 3).
    let random = |s: &Schedule| -> Vec<u32> {
        s.choices().iter().filter(|c| c.kind == ChoiceKind::Random).map(|c| c.value).collect()
    };
    let report = check(Config::random(3).runs(200).shrink_budget(1_000, 10_000_000), || pool_counting(true));
    let failure = report.failure.expect("the lost update is found");
    let from = failure.shrunk_from.as_ref().expect("shrunk");
    assert!(failure.preemptions < from.preemptions, "{} from {}", failure.preemptions, from.preemptions);
    assert!(failure.shrink_cut_short.as_deref().is_some_and(|c| c.contains("greedy pass")), "{failure:?}");
    assert_eq!(random(&from.schedule).len(), 1, "{}", from.schedule);
    assert_eq!(random(&failure.schedule), random(&from.schedule));
}
