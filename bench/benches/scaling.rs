//! Does random exploration scale with `jobs`, and does its memory stay flat over a long run?
//! racelab's executions per second on the large bounded buffer of the throughput bench
//! (2 producers × 5 items, 2 consumers × 5 items, capacity 2, `while`, `notify_all`) with random
//! scheduling, spurious wake-ups off, on 1 and on 2 OS threads, 1,000,000 runs each; and the
//! process's peak resident memory (`VmHWM` of /proc/self/status) before, after the first
//! 100,000 runs and at the end of each measurement, with the current RSS (`VmRSS`) at the same
//! two points. A flat profile has the same figures after 100,000 and after 1,000,000 runs.
//!
//! Run: `cargo bench -p racelab-bench --bench scaling` (`-- --runs N` to change the number of
//! runs per measurement; the memory probe stays at 100,000 runs, or a tenth of N if smaller).
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // a benchmark prints and reads the wall clock

use std::time::Instant;

/// Peak and current resident set size in KiB (`VmHWM`, `VmRSS`), 0 where unreadable.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One measurement: `runs` random runs on `jobs` OS threads.
struct Measurement {
    jobs: usize,
    runs: u64,
    secs: f64,
    hwm_before: u64,
    /// (runs done, VmHWM, VmRSS) at the first progress report at or past the probe point.
    probe: Option<(u64, u64, u64)>,
    hwm_after: u64,
    rss_after: u64,
}

fn measure(jobs: usize, runs: u64, probe_at: u64) -> Measurement {
    let config = racelab::Config::random(0).runs(runs).jobs(jobs).spurious_wakeups(0);
    let (hwm_before, _) = memory_kib();
    let mut probe = None;
    let start = Instant::now();
    let report = racelab::check_with_progress(
        config,
        racelab_bench::racelab_buffer(racelab_bench::LARGE),
        &mut |done| {
            if probe.is_none() && done >= probe_at {
                let (hwm, rss) = memory_kib();
                probe = Some((done, hwm, rss));
            }
        },
    );
    let secs = start.elapsed().as_secs_f64();
    report.assert_passed();
    let (hwm_after, rss_after) = memory_kib();
    Measurement { jobs, runs: report.runs, secs, hwm_before, probe, hwm_after, rss_after }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: u64 = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--runs takes a number"))
        .unwrap_or(1_000_000);
    let probe_at = (runs / 10).min(100_000);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let racelab_bench::Shape { producers, consumers, items, capacity } = racelab_bench::LARGE;
    println!(
        "racelab random exploration of the bounded buffer ({producers} producers x {items}, {consumers} consumers \
         x {items}, capacity {capacity}), spurious wake-ups off, seed 0"
    );
    println!("cores: {cores}; {} runs per measurement; memory is the whole process's", thousands(runs));
    println!();
    println!(
        "| jobs | runs | time | executions/s | speedup | VmHWM before | runs at probe | VmHWM at probe \
         | VmRSS at probe | VmHWM at end | VmRSS at end |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut base = None;
    for jobs in [1, 2] {
        let m = measure(jobs, runs, probe_at);
        let eps = m.runs as f64 / m.secs;
        let speedup = eps / *base.get_or_insert(eps);
        let (probe_runs, probe_hwm, probe_rss) = m.probe.unwrap_or((0, 0, 0));
        println!(
            "| {} | {} | {:.2} s | {eps:.0} | {speedup:.2}x | {} | {} | {} | {} | {} | {} |",
            m.jobs,
            thousands(m.runs),
            m.secs,
            mib(m.hwm_before),
            thousands(probe_runs),
            mib(probe_hwm),
            mib(probe_rss),
            mib(m.hwm_after),
            mib(m.rss_after),
        );
    }
}
