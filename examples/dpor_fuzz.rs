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
//! outcome the plain bounded search reaches, as it must unbounded (CI runs bounds 1 and 2).
//!
//! With `--jobs N` it compares DPOR on one job with DPOR on N instead: the same report (runs,
//! steps, verdict, the shrunk failure) and the same outcomes (`--jobs 2`: CI runs a batch).

// A driver outside the simulation: it reads the OS clock for its own time budget only.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

#[path = "../tests/support/program_fuzz.rs"]
mod program_fuzz;

use program_fuzz::{compare_bounded, compare_jobs, minimise, Comparison, Program};

fn main() {
    let mut args = std::env::args().skip(1);
    // Runs per search: a program whose plain search needs more is skipped (counted).
    let (mut seconds, mut from, mut count, mut cap) = (60u64, 1_000_000u64, u64::MAX, 20_000u64);
    let mut bound: Option<u32> = None;
    let mut jobs: Option<usize> = None;
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--seconds", Some(v)) => seconds = v,
            ("--from", Some(v)) => from = v,
            ("--cap", Some(v)) if v > 0 => cap = v,
            ("--bound", Some(v)) => bound = u32::try_from(v).ok(),
            ("--jobs", Some(v)) if (2..=256).contains(&v) => jobs = usize::try_from(v).ok(),
            ("--count", Some(v)) => {
                count = v;
                seconds = u64::MAX / 4;
            }
            _ => {
                eprintln!("dpor_fuzz: usage: dpor_fuzz [--seconds N | --count N] [--from SEED] [--cap RUNS] [--bound B | --jobs N]");
                std::process::exit(2);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(seconds.min(u64::MAX / 4));
    if let Some(jobs) = jobs {
        let (mut compared, mut runs, mut seed) = (0u64, 0u64, from);
        while Instant::now() < deadline && seed - from < count {
            match compare_jobs(&Program::generate(seed), cap, jobs) {
                Ok(r) => {
                    compared += 1;
                    runs += r;
                }
                Err(diff) => {
                    println!("seed {seed}: DPOR on 1 and {jobs} jobs differ: {diff}");
                    println!("{}", Program::generate(seed).to_rust());
                    std::process::exit(1);
                }
            }
            seed += 1;
        }
        println!(
            "seeds {from}..{seed}: {compared} programs, the same report on 1 and {jobs} jobs ({runs} runs)"
        );
        return;
    }
    let (mut compared, mut skipped, mut plain, mut dpor) = (0u64, 0u64, 0u64, 0u64);
    let mut seed = from;
    while Instant::now() < deadline && seed - from < count {
        let program = Program::generate(seed);
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
                println!("minimised:\n{}", small.to_rust());
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
