//! Memory of an exhaustive search with many threads. Alone in its test binary (one test), so
//! the process's peak resident memory (`VmHWM`) is this test's.
//!
//! Each node of the search stack used to keep the list of every runnable thread, and DPOR a
//! full vector clock per step: memory grew with `steps × threads`, the square of the thread
//! count (10,000 threads: 2.4 GB for one run). The runnable sets are now stored as their
//! changes and clocks share chunks; 3,000 threads peaked near 230 MB before and stay far below
//! the bound asserted here.

use racelab::{check, thread, Config, Shared};

/// Peak resident memory of this process in KiB (0 where /proc is missing: the test then checks
/// nothing about memory, and says so).
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn many_threads(n: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        let counter = Shared::named("counter", 0usize);
        let ws: Vec<_> = (0..n)
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
    }
}

#[test]
fn a_search_over_thousands_of_threads_stays_small() {
    let before = peak_kib();
    assert!(before > 0 || !std::path::Path::new("/proc/self/status").exists(), "VmHWM unreadable");
    for config in [Config::dfs(), Config::dfs().dpor(false)] {
        let report = check(config.runs(1).stack_size(16 * 1024), many_threads(3_000));
        assert_eq!(report.runs, 1);
        assert!(report.steps >= 9_000, "{report}");
    }
    let grew_mib = peak_kib().saturating_sub(before) / 1024;
    eprintln!("peak grew by {grew_mib} MiB");
    assert!(grew_mib < 100, "the searches took {grew_mib} MiB more (before the fix: about 230)");
}
