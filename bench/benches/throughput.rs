//! Executions per second on the same program under racelab and shuttle, side by side in one
//! process, so the figure is a ratio measured on the same machine at the same moment.
//!
//! The program is the correct bounded buffer from the engine issue: 2 producers putting 5 items
//! each, 2 consumers taking 5 items each, capacity 2, one lock and one condition, `while` loops
//! around every wait, `notify_all` after every change. Both versions keep the buffer as plain
//! data guarded by the lock (no scheduling points inside the critical section), so both make
//! the same scheduling decisions. racelab runs with spurious wake-ups off (CPython-exact), as
//! shuttle has none.
//!
//! Run: `cargo bench -p racelab-bench --bench throughput` (add `-- --quick` for a short run).
//! `-- --jobs-speedup` measures racelab alone on 1 and 2 jobs instead (random, pos and pct; the
//! reports must be the same), interleaved rounds.
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // a benchmark prints and reads the wall clock

use std::time::Instant;

use racelab_bench::{racelab_buffer, Shape, LARGE, SMALL};

/// The bounded buffer on shuttle: the same source as racelab's facade (`std_named_buffer!`).
fn shuttle_buffer(shape: Shape) -> impl Fn() + Send + Sync + 'static {
    racelab_bench::std_named_buffer!(shape, sync = shuttle::sync, thread = shuttle::thread)
}

/// racelab's executions per second on 1 and on 2 jobs, in interleaved rounds, for the
/// strategies whose jobs keep the one-job report.
fn jobs_speedup(runs: u64, rounds: u64) {
    println!("bounded buffer 2x5 items, capacity 2: racelab executions per second on 1 and 2 jobs (median of {rounds} batches of {runs} runs)");
    type Make = fn(u64) -> racelab::Config;
    let strategies: [(&str, Make); 3] = [
        ("random", racelab::Config::random),
        ("pos", racelab::Config::pos),
        ("pct d=3", |s| racelab::Config::pct(s, 3)),
    ];
    for (name, make) in strategies {
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let mut reports = Vec::new();
            for (jobs, rates) in [(1, &mut one), (2, &mut two)] {
                let config =
                    racelab_bench::with_release_points(make(round).spurious_wakeups(0)).runs(runs).jobs(jobs);
                let start = Instant::now();
                let report = racelab::check(config, racelab_buffer(LARGE));
                rates.push(runs as f64 / start.elapsed().as_secs_f64());
                reports.push((report.runs, report.steps));
            }
            assert_eq!(reports[0], reports[1], "{name}, round {round}: the reports differ");
        }
        let (o, t) = (median(one), median(two));
        println!("{name:<10} 1 job {o:>10.0}/s   2 jobs {t:>10.0}/s   {:.2}x", t / o);
    }
}

/// Executions per second of one timed batch.
fn time_racelab(shape: Shape, runs: u64, seed: u64, pct: bool) -> (f64, f64) {
    let config = if pct { racelab::Config::pct(seed, 3) } else { racelab::Config::random(seed) };
    // shuttle has no spurious wake-ups: compare CPython-exact semantics with it.
    let config = racelab_bench::with_release_points(config.spurious_wakeups(0));
    let start = Instant::now();
    let report = racelab::check(config.runs(runs), racelab_buffer(shape));
    let secs = start.elapsed().as_secs_f64();
    report.assert_passed();
    (runs as f64 / secs, report.steps as f64 / runs as f64)
}

fn time_shuttle(shape: Shape, runs: u64, pct: bool) -> f64 {
    let f = shuttle_buffer(shape);
    let start = Instant::now();
    if pct {
        shuttle::check_pct(f, runs as usize, 3);
    } else {
        shuttle::check_random(f, runs as usize);
    }
    runs as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--profile-racelab") {
        // For a profiler: racelab alone, long enough to sample (or `--runs N`: 20,000 is
        // enough for valgrind's instruction counts).
        let args: Vec<String> = std::env::args().collect();
        let runs =
            args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)).map_or(200_000, |n| {
                n.parse().unwrap_or_else(|_| panic!("--runs: {n:?} is not a number of runs"))
            });
        let (eps, _) = time_racelab(LARGE, runs, 0, false);
        println!("racelab alone: {eps:.0} executions/s");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (runs, rounds) = if quick { (5_000, 3) } else { (50_000, 5) };
    if std::env::args().any(|a| a == "--jobs-speedup") {
        jobs_speedup(runs, rounds);
        return;
    }
    println!(
        "bounded buffer, executions per second (median of {rounds} batches of {runs} runs, one OS thread)"
    );
    println!(
        "{:<44} {:>12} {:>12} {:>8} {:>12}",
        "program / strategy", "racelab", "shuttle", "ratio", "steps/run"
    );
    for (label, shape) in [("2x5 items, capacity 2", LARGE), ("2x2 items, capacity 1", SMALL)] {
        for pct in [false, true] {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            let mut steps = 0.0;
            for round in 0..rounds {
                let (eps, s) = time_racelab(shape, runs, round, pct);
                ours.push(eps);
                steps = s;
                theirs.push(time_shuttle(shape, runs, pct));
            }
            let (o, t) = (median(ours), median(theirs));
            let name = format!("{label}, {}", if pct { "pct d=3" } else { "random" });
            println!("{name:<44} {o:>12.0} {t:>12.0} {:>7.2}x {steps:>12.1}", o / t);
        }
    }
}
