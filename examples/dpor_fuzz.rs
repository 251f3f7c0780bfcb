//! The DPOR differential fuzzer, for as long as you like (CI runs a fixed batch of it in
//! `tests/dpor.rs`): random programs over racelab's API, each explored exhaustively by the plain
//! search and by DPOR, which must reach the same outcomes. On a difference it prints the
//! minimised program as Rust source and exits 1.
//!
//! ```sh
//! cargo run --release --example dpor_fuzz -- --seconds 600 --from 1000000
//! cargo run --release --example dpor_fuzz -- --count 2000 --from 1000 --cap 5000   # what CI runs
//! cargo run --release --example dpor_fuzz -- --count 1000 --bound 1   # under a preemption bound
//! ```
//!
//! With `--bound B` both searches run under the same preemption bound: DPOR must reach every
//! outcome the plain bounded search reaches, as it must unbounded (CI runs bounds 1 and 2, and 0 to
//! 2 with `--yields`).
//!
//! With `--jobs N` it compares DPOR on one job with DPOR on N instead: the same report (runs,
//! steps, verdict, the shrunk failure) and the same outcomes (`--jobs 2`: CI runs a batch).
//!
//! With `--shards N` it compares DPOR split into N shards (`Config::shard`) with the unsharded
//! search and with the split search on one shard: the same verdict, the outcomes of the shards
//! together the unsharded search's, their runs adding up to the one-shard split's, and the
//! lowest failure, numbered as `racelab merge` numbers it, the one-shard split's (CI runs
//! batches with `--shards 3` and `--shards 4`). `--cut S` cuts the split where it has `S`
//! subtrees instead of 512 (`Config::shard_cut`): most generated programs have fewer, so only a
//! small cut puts DPOR to work below it (CI runs `--cut 3` and `--cut 8`).
//!
//! With `--release-points` it compares something else, under the plain search: the default
//! mode (no scheduling point before a lock release until a run observes a lock, then a restart
//! with them) must reach the outcomes of the search with a point before every release. It
//! counts the programs that observed a lock (try_lock, terminate, a lock read at the end) and
//! those of them that the search without release points and without restart gets wrong.
//!
//! ```sh
//! cargo run --release --example dpor_fuzz -- --count 1000 --release-points
//! ```
//!
//! With `--std`, in any mode, only the seeds whose program has a Condition are taken, with
//! every Condition replaced by a racelab-std `Condvar` whose waits may use a second mutex and
//! whose notifies may go without the mutex (`Program::generate_std`): what a `Condvar` notify
//! under its mutex, which has no scheduling point of its own, must keep.
//!
//! With `--yields`, the programs have a yield after about a third of their operations
//! (`Program::generate_yielding`): under a bound, where switching at a yield is free and keeping
//! the yielding thread going is the preemption, DPOR must still reach the plain search's outcomes.

// A driver outside the simulation: it reads the OS clock for its own time budget only.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

#[path = "../tests/support/program_fuzz.rs"]
mod program_fuzz;

use program_fuzz::{
    compare_bounded, compare_jobs, compare_release_points, compare_shards, minimise, minimise_while,
    Comparison, PointsComparison, Program,
};

fn main() {
    let mut args = std::env::args().skip(1);
    // Runs per search: a program whose plain search needs more is skipped (counted).
    let (mut seconds, mut from, mut count, mut cap) = (60u64, 1_000_000u64, u64::MAX, 20_000u64);
    let mut bound: Option<u32> = None;
    let mut jobs: Option<usize> = None;
    let mut shards: Option<u64> = None;
    let mut cut: Option<u64> = None;
    let mut release_points = false;
    let mut std_condvar = false;
    let mut yielding = false;
    while let Some(flag) = args.next() {
        if flag == "--yields" {
            yielding = true;
            continue;
        }
        if flag == "--release-points" {
            release_points = true;
            continue;
        }
        if flag == "--std" {
            std_condvar = true;
            continue;
        }
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--seconds", Some(v)) => seconds = v,
            ("--from", Some(v)) => from = v,
            ("--cap", Some(v)) if v > 0 => cap = v,
            ("--bound", Some(v)) => bound = u32::try_from(v).ok(),
            ("--jobs", Some(v)) if (2..=256).contains(&v) => jobs = usize::try_from(v).ok(),
            ("--shards", Some(v)) if (1..=64).contains(&v) => shards = Some(v),
            ("--cut", Some(v)) if v >= 1 => cut = Some(v),
            ("--count", Some(v)) => {
                count = v;
                seconds = u64::MAX / 4;
            }
            _ => {
                eprintln!(
                    "dpor_fuzz: usage: dpor_fuzz [--seconds N | --count N] [--from SEED] [--cap RUNS] \
                     [--bound B | --jobs N | --shards N [--cut S] | --release-points] [--std | --yields]"
                );
                std::process::exit(2);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(seconds.min(u64::MAX / 4));
    let generate: fn(u64) -> Option<Program> = if std_condvar {
        Program::generate_std
    } else if yielding {
        |seed| Some(Program::generate_yielding(seed))
    } else {
        |seed| Some(Program::generate(seed))
    };
    if let Some(shards) = shards {
        let (mut compared, mut skipped, mut runs, mut whole_runs, mut failed, mut seed) =
            (0u64, 0u64, 0, 0, 0, from);
        let mut other_distinct = 0u64;
        while Instant::now() < deadline && seed - from < count {
            let Some(program) = generate(seed) else {
                seed += 1;
                continue;
            };
            match compare_shards(&program, cap, shards, cut) {
                Ok(Some(r)) => {
                    compared += 1;
                    runs += r.runs;
                    whole_runs += r.whole_runs;
                    failed += u64::from(r.failed);
                    other_distinct += u64::from(r.other_distinct);
                }
                Ok(None) => skipped += 1,
                Err(diff) => {
                    println!("seed {seed}: DPOR on {shards} shards differs: {diff}");
                    println!("{}", program.to_rust());
                    std::process::exit(1);
                }
            }
            seed += 1;
        }
        println!(
            "seeds {from}..{seed}: {compared} programs, the shards agree with the unsharded search ({failed} failed; \
             {runs} runs over the shards, {whole_runs} unsharded; {other_distinct} with another count of runs not \
             cut short as redundant); {skipped} skipped (past the cap)"
        );
        return;
    }
    if let Some(jobs) = jobs {
        let (mut compared, mut runs, mut restarted, mut failed, mut seed) = (0u64, 0u64, 0u64, 0u64, from);
        while Instant::now() < deadline && seed - from < count {
            let Some(program) = generate(seed) else {
                seed += 1;
                continue;
            };
            match compare_jobs(&program, cap, jobs) {
                Ok(r) => {
                    compared += 1;
                    runs += r.runs;
                    restarted += u64::from(r.restarted);
                    failed += u64::from(r.failed);
                }
                Err(diff) => {
                    println!("seed {seed}: DPOR on 1 and {jobs} jobs differ: {diff}");
                    println!("{}", program.to_rust());
                    std::process::exit(1);
                }
            }
            seed += 1;
        }
        println!(
            "seeds {from}..{seed}: {compared} programs, the same report on 1 and {jobs} jobs ({runs} runs; \
             {failed} failed, {restarted} restarted with release points)"
        );
        return;
    }
    if release_points {
        if bound.is_some() {
            eprintln!("dpor_fuzz: --release-points compares unbounded searches: drop --bound");
            std::process::exit(2);
        }
        fuzz_release_points(generate, from, count, cap, deadline);
        return;
    }
    let (mut compared, mut skipped, mut plain, mut dpor) = (0u64, 0u64, 0u64, 0u64);
    let mut seed = from;
    while Instant::now() < deadline && seed - from < count {
        let Some(program) = generate(seed) else {
            seed += 1;
            continue;
        };
        match compare_bounded(&program, cap, bound) {
            Comparison::Agree { plain_runs, dpor_runs } => {
                compared += 1;
                plain += plain_runs;
                dpor += dpor_runs;
            }
            Comparison::Skipped => skipped += 1,
            Comparison::Differ { plain, dpor } => {
                println!("seed {seed}: DPOR and the plain search differ\nplain: {plain:?}\nDPOR:  {dpor:?}");
                let small = minimise(&program, cap, bound);
                println!("minimised:\n{}", small.to_rust_bounded(bound));
                std::process::exit(1);
            }
        }
        seed += 1;
    }
    println!(
        "seeds {from}..{seed}{}: {compared} programs compared, {skipped} skipped (plain search over {cap} runs); \
         plain {plain} runs, DPOR {dpor} runs ({:.1}x fewer)",
        bound.map(|b| format!(", preemption bound {b}")).unwrap_or_default(),
        plain as f64 / dpor.max(1) as f64
    );
}

/// `--release-points`: the plain search in the default mode against the search with a point
/// before every release, on programs `from..from + count` (or until `deadline`).
fn fuzz_release_points(
    generate: fn(u64) -> Option<Program>,
    from: u64,
    count: u64,
    cap: u64,
    deadline: Instant,
) {
    let (mut compared, mut skipped, mut on, mut auto) = (0u64, 0u64, 0u64, 0u64);
    let (mut restarted, mut off_misses, mut unobserved_on, mut unobserved_auto) = (0u64, 0u64, 0u64, 0u64);
    let mut seed = from;
    while Instant::now() < deadline && seed - from < count {
        let Some(program) = generate(seed) else {
            seed += 1;
            continue;
        };
        match compare_release_points(&program, cap) {
            PointsComparison::Agree { on_runs, auto_runs, restarted: r, off_misses: m } => {
                compared += 1;
                on += on_runs;
                auto += auto_runs;
                restarted += u64::from(r);
                off_misses += u64::from(m);
                if !r {
                    unobserved_on += on_runs;
                    unobserved_auto += auto_runs;
                }
            }
            PointsComparison::Skipped => skipped += 1,
            PointsComparison::Differ { on, other, mode } => {
                println!(
                    "seed {seed}: release points on and {} differ\non:   {on:?}\n{}: {other:?}",
                    mode.name(),
                    mode.name()
                );
                let small = minimise_while(&program, |c| {
                    matches!(compare_release_points(c, cap), PointsComparison::Differ { .. })
                });
                println!("minimised:\n{}", small.to_rust());
                std::process::exit(1);
            }
        }
        seed += 1;
    }
    println!(
        "seeds {from}..{seed}, plain search: {compared} programs compared, {skipped} skipped (over {cap} runs \
         with release points); {restarted} observed a lock and restarted ({off_misses} of them miss outcomes \
         without the restart); runs with release points {on}, in the default mode {auto} (runs before a \
         restart included); on the {} programs that never observed: {unobserved_on} runs with release points, \
         {unobserved_auto} without ({:.2}x fewer)",
        compared - restarted,
        unobserved_on as f64 / unobserved_auto.max(1) as f64
    );
}
