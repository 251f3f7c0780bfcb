//! Runs until the first bug, racelab vs shuttle 0.9.9 vs loom 0.7.2, on the same programs
//! (`racelab_bench::bug_programs!`: one source, instantiated on each tool's `sync` and `thread`).
//!
//! Sampling: median (and min / max) runs to the first failure over 20 seeds for racelab's
//! random, PCT depth 2 and 3, POS and its default portfolio, against shuttle's random and PCT
//! depth 2 and 3. Systematic: the 1-based index of the first failing execution of racelab's DPOR
//! (unbounded; bounded at 1 and 2 preemptions) and of loom (unbounded, bound 1, bound 2), and on a
//! correct twin the executions to exhaust the space. Every search stops at `MAX_RUNS`.
//!
//! Run: `cargo bench -p racelab-bench --bench runs_to_bug` (`-- --only <substring>` for one
//! program, `-- --sampling` or `-- --systematic` for half the table, `-- --steps` for how often
//! each tool stops to schedule per run, `-- --racelab-only` to leave shuttle and loom out,
//! `-- --delays` to add racelab's delay-bounded search at 1, 2 and 3 delays to the systematic
//! half).
#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark prints its table

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Seeds per sampling cell, unless `--seeds N` says otherwise.
const SEEDS: u64 = 20;
const MAX_RUNS: u64 = 10_000;
const MAX_SYSTEMATIC_RUNS: u64 = 200_000;

mod on_racelab {
    racelab_bench::bug_programs!(sync = racelab::sync, thread = racelab::thread);
}
mod on_shuttle {
    racelab_bench::bug_programs!(sync = shuttle::sync, thread = shuttle::thread);
}
mod on_loom {
    racelab_bench::bug_programs!(sync = loom::sync, thread = loom::thread);
}

/// Runs until racelab's first failure (1-based), or `None` within the config's runs.
fn racelab_runs(program: fn(), config: racelab::Config) -> Option<u64> {
    let config = racelab_bench::with_release_points(config.shrink(false).spurious_wakeups(0));
    let report = racelab::check(config, program);
    let before = racelab_bench::runs_before_restart(&report);
    report.failure.map(|f| before + f.run + 1)
}

/// Runs until shuttle's first failure (1-based), or `None` within `MAX_RUNS`.
fn shuttle_runs(program: fn(), seed: u64, pct_depth: Option<usize>) -> Option<u64> {
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    let body = move || {
        counter.fetch_add(1, Ordering::SeqCst);
        program();
    };
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let config = shuttle::Config::new();
        match pct_depth {
            Some(depth) => {
                let s = shuttle::scheduler::PctScheduler::new_from_seed(seed, depth, MAX_RUNS as usize);
                shuttle::Runner::new(s, config).run(body);
            }
            None => {
                let s = shuttle::scheduler::RandomScheduler::new_from_seed(seed, MAX_RUNS as usize);
                shuttle::Runner::new(s, config).run(body);
            }
        }
    }))
    .is_err();
    failed.then(|| count.load(Ordering::SeqCst))
}

/// shuttle's random scheduler, counting what it is asked: every call, and those with a choice.
struct CountingScheduler {
    inner: shuttle::scheduler::RandomScheduler,
    calls: Arc<AtomicU64>,
    choices: Arc<AtomicU64>,
}

impl shuttle::scheduler::Scheduler for CountingScheduler {
    fn new_execution(&mut self) -> Option<shuttle::scheduler::Schedule> {
        self.inner.new_execution()
    }

    fn next_task(
        &mut self,
        runnable: &[&shuttle::scheduler::Task],
        current: Option<shuttle::scheduler::TaskId>,
        is_yielding: bool,
    ) -> Option<shuttle::scheduler::TaskId> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if runnable.len() > 1 {
            self.choices.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.next_task(runnable, current, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
}

/// A program's name, its racelab build and its shuttle build.
type SamePrograms<'a> = (&'a str, fn(), fn());

/// `--steps`: per run, on average over up to 1,000 random runs of each program (until the first
/// failure), how often each tool stops to schedule: racelab's steps, and shuttle's calls to its
/// scheduler, all of them and those with more than one runnable task. Uniform random sampling
/// finds a narrow window more often when the threads around it take fewer steps, so this helps
/// explain differences in runs to the first bug.
fn print_steps(programs: &[SamePrograms<'_>]) {
    const RUNS: u64 = 1_000;
    println!("stops per run, mean over up to {RUNS} random runs (until the first failure)");
    println!("{:<66} {:>14} {:>14} {:>14}", "program", "racelab steps", "shuttle calls", "shuttle choice");
    for (name, ours, theirs) in programs {
        let config = racelab::Config::random(0).runs(RUNS).shrink(false).spurious_wakeups(0);
        let report = racelab::check(racelab_bench::with_release_points(config), *ours);
        let (calls, choices, runs) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let scheduler = CountingScheduler {
            inner: shuttle::scheduler::RandomScheduler::new_from_seed(0, RUNS as usize),
            calls: Arc::clone(&calls),
            choices: Arc::clone(&choices),
        };
        let (program, counter) = (*theirs, Arc::clone(&runs));
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shuttle::Runner::new(scheduler, shuttle::Config::new()).run(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                program();
            })
        }));
        let mean = |n: u64, d: u64| n as f64 / d.max(1) as f64;
        let shuttle_runs = runs.load(Ordering::SeqCst);
        println!(
            "{name:<66} {:>14.1} {:>14.1} {:>14.1}",
            mean(report.steps, report.runs),
            mean(calls.load(Ordering::SeqCst), shuttle_runs),
            mean(choices.load(Ordering::SeqCst), shuttle_runs)
        );
    }
}

static LOOM_RUNS: AtomicU64 = AtomicU64::new(0);

/// loom's executions until its first failure, or until it finished (`Err(executions)`).
fn loom_runs(program: fn(), bound: Option<usize>) -> Result<u64, u64> {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = bound;
    builder.max_permutations = Some(MAX_SYSTEMATIC_RUNS as usize);
    builder.checkpoint_interval = 1_000;
    builder.max_branches = 100_000;
    LOOM_RUNS.store(0, Ordering::SeqCst);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        builder.check(move || {
            LOOM_RUNS.fetch_add(1, Ordering::SeqCst);
            program();
        })
    }))
    .is_err();
    let n = LOOM_RUNS.load(Ordering::SeqCst);
    if failed {
        Ok(n)
    } else {
        Err(n)
    }
}

fn summary(mut v: Vec<Option<u64>>) -> String {
    let missed = v.iter().filter(|x| x.is_none()).count();
    v.sort_by_key(|x| x.unwrap_or(u64::MAX));
    let show = |x: Option<u64>| x.map_or("-".to_string(), |n| n.to_string());
    let n = v.len();
    // The median of an even count is the mean of the two middle values.
    let median = match (v[n / 2 - 1], v[n / 2]) {
        (Some(a), Some(b)) => format!("{}", (a + b) as f64 / 2.0),
        _ => show(v[n / 2]),
    };
    let s = format!("{} / {} / {}", show(v[0]), median, show(v[n - 1]));
    if missed > 0 {
        format!("{s} ({missed} missed)")
    } else {
        s
    }
}

/// The first failing run of a systematic racelab search, or how many runs it took to exhaust
/// (`done N`) or that it stopped (`none in N`).
fn racelab_systematic(program: fn(), config: racelab::Config) -> String {
    let config = racelab_bench::with_release_points(
        config.runs(MAX_SYSTEMATIC_RUNS).shrink(false).spurious_wakeups(0),
    );
    let report = racelab::check(config, program);
    let before = racelab_bench::runs_before_restart(&report);
    match report.failure {
        Some(f) => (before + f.run + 1).to_string(),
        None if report.exhausted => format!("done {}", before + report.runs),
        None => format!("none in {}", before + report.runs),
    }
}

fn loom_systematic(program: fn(), threads: usize, bound: Option<usize>) -> String {
    if threads > 5 {
        return "n/a (>5 threads)".to_string();
    }
    match loom_runs(program, bound) {
        Ok(n) => n.to_string(),
        Err(n) if n >= MAX_SYSTEMATIC_RUNS => format!("none in {n}"),
        Err(n) => format!("done {n}"),
    }
}

/// Threads of each program, main included (loom runs at most 5).
fn threads(name: &str) -> usize {
    if name.starts_with("check-then-act") {
        7
    } else {
        5
    }
}

fn main() {
    // Every tool reports a bug by panicking at some level; keep the table readable.
    std::panic::set_hook(Box::new(|_| {}));
    let args: Vec<String> = std::env::args().collect();
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let seeds: u64 = args
        .iter()
        .position(|a| a == "--seeds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(SEEDS);
    let racelab_only = args.iter().any(|a| a == "--racelab-only");
    let delays = args.iter().any(|a| a == "--delays");
    let sampling = !args.iter().any(|a| a == "--systematic");
    let systematic = !args.iter().any(|a| a == "--sampling");
    let programs: Vec<_> = on_racelab::PROGRAMS
        .iter()
        .zip(on_shuttle::PROGRAMS)
        .zip(on_loom::PROGRAMS)
        .filter(|(((name, _, _), _), _)| only.as_ref().is_none_or(|o| name.contains(o.as_str())))
        .map(|(((name, ours, buggy), (_, shuttle, _)), (_, loom, _))| (*name, *ours, *shuttle, *loom, *buggy))
        .collect();
    if args.iter().any(|a| a == "--steps") {
        let pairs: Vec<_> = programs.iter().map(|&(name, ours, theirs, _, _)| (name, ours, theirs)).collect();
        print_steps(&pairs);
        return;
    }
    if sampling {
        println!("runs until the first bug over {seeds} seeds, min / median / max, at most {MAX_RUNS} runs");
        let heads =
            ["random", "pct2", "pct3", "pos", "portfolio", "shuttle random", "shuttle pct2", "shuttle pct3"];
        print!("{:<58}", "program");
        for h in heads {
            print!(" {h:>20}");
        }
        println!();
        for (name, ours, shuttle, _, buggy) in &programs {
            if !buggy {
                continue;
            }
            let racelab_cols: [fn(u64) -> racelab::Config; 5] = [
                |s| racelab::Config::random(s).runs(MAX_RUNS),
                |s| racelab::Config::pct(s, 2).runs(MAX_RUNS),
                |s| racelab::Config::pct(s, 3).runs(MAX_RUNS),
                |s| racelab::Config::pos(s).runs(MAX_RUNS),
                |s| racelab::Config::portfolio(s).runs(MAX_RUNS),
            ];
            let mut cells: Vec<String> = racelab_cols
                .iter()
                .map(|make| summary((0..seeds).map(|s| racelab_runs(*ours, make(s))).collect()))
                .collect();
            for depth in [None, Some(2), Some(3)] {
                if racelab_only {
                    cells.push(String::new());
                    continue;
                }
                cells.push(summary((0..seeds).map(|s| shuttle_runs(*shuttle, s, depth)).collect()));
            }
            print!("{name:<58}");
            for c in cells {
                print!(" {c:>20}");
            }
            println!();
        }
    }
    if systematic {
        println!();
        println!("systematic: first failing execution (or `done N`: exhausted in N), at most {MAX_SYSTEMATIC_RUNS}");
        let mut heads = vec!["dpor", "dpor b1", "dpor b2", "dfs b1", "dfs b2", "loom", "loom b1", "loom b2"];
        if delays {
            heads.extend(["delay 1", "delay 2", "delay 3"]);
        }
        print!("{:<58}", "program");
        for h in heads {
            print!(" {h:>16}");
        }
        println!();
        for (name, ours, _, loom, _) in &programs {
            let mut cells = vec![racelab_systematic(*ours, racelab::Config::dfs())];
            for b in [1, 2] {
                cells.push(racelab_systematic(*ours, racelab::Config::dfs().preemption_bound(b).dpor(true)));
            }
            for b in [1, 2] {
                cells.push(racelab_systematic(*ours, racelab::Config::dfs().preemption_bound(b).dpor(false)));
            }
            for b in [None, Some(1), Some(2)] {
                cells.push(if racelab_only {
                    String::new()
                } else {
                    loom_systematic(*loom, threads(name), b)
                });
            }
            if delays {
                for d in 1..=3 {
                    cells.push(racelab_systematic(*ours, racelab::Config::dfs().delay_bound(d)));
                }
            }
            print!("{name:<58}");
            for c in cells {
                print!(" {c:>16}");
            }
            println!();
        }
    }
}
