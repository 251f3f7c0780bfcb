//! The std-shaped facade's cost: executions per second of the same bounded buffer written three
//! ways, side by side in one process, rounds interleaved so that the machine's state at any
//! moment weighs on all three alike:
//!
//! - **facade**: `racelab::sync::{Mutex<VecDeque>, Condvar}` (std's code, `use` switched);
//! - **native**: racelab's `Lock` + `Condition` over `Rc<RefCell<VecDeque>>`;
//! - **shuttle**: `shuttle::sync::{Mutex, Condvar}` (0.9.9), the same code as the facade's.
//!
//! 2 producers × 5 items, 2 consumers × 5 items, capacity 2, `notify_all` after every change,
//! `while` around every wait; racelab with spurious wake-ups off (shuttle has none). The
//! targets of issue 11: the facade within 20% of native, and at least twice shuttle.
//!
//! Run: `cargo bench -p racelab-bench --bench facade` (add `-- --quick` for a short run).
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // a benchmark prints and reads the wall clock

use std::time::Instant;

use racelab_bench::{facade_buffer, racelab_buffer, Shape, LARGE};

/// The bounded buffer on shuttle: the same source as racelab's facade (`std_named_buffer!`).
fn shuttle_buffer(shape: Shape) -> impl Fn() + Send + Sync + 'static {
    racelab_bench::std_named_buffer!(shape, sync = shuttle::sync, thread = shuttle::thread)
}

/// Executions per second of one timed racelab batch, and its steps per run.
fn time_racelab<F: Fn() + Send + Sync + 'static>(program: F, runs: u64, seed: u64, pct: bool) -> (f64, f64) {
    let config = if pct { racelab::Config::pct(seed, 3) } else { racelab::Config::random(seed) };
    let config = racelab_bench::with_release_points(config.spurious_wakeups(0).runs(runs));
    let start = Instant::now();
    let report = racelab::check(config, program);
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
    let quick = std::env::args().any(|a| a == "--quick");
    let (runs, rounds) = if quick { (5_000, 3) } else { (50_000, 7) };
    println!("bounded buffer 2x5/2x5, capacity 2: executions per second (median of {rounds} interleaved rounds of {runs} runs)");
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>15} {:>16} {:>12} {:>12}",
        "strategy",
        "facade",
        "native",
        "shuttle",
        "facade/native",
        "facade/shuttle",
        "steps facade",
        "steps native"
    );
    for pct in [false, true] {
        let (mut facade, mut native, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
        let (mut steps_facade, mut steps_native) = (0.0, 0.0);
        for round in 0..rounds {
            let (eps, s) = time_racelab(facade_buffer(LARGE), runs, round, pct);
            facade.push(eps);
            steps_facade = s;
            let (eps, s) = time_racelab(racelab_buffer(LARGE), runs, round, pct);
            native.push(eps);
            steps_native = s;
            theirs.push(time_shuttle(LARGE, runs, pct));
        }
        let (f, n, t) = (median(facade), median(native), median(theirs));
        let name = if pct { "pct d=3" } else { "random" };
        println!(
            "{name:<10} {f:>10.0} {n:>10.0} {t:>10.0} {:>14.2}x {:>15.2}x {steps_facade:>12.1} {steps_native:>12.1}",
            f / n,
            f / t
        );
    }
}
