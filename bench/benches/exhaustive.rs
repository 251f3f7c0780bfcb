//! Exhaustive search, racelab vs loom 0.7.2, on the same three correct programs at preemption
//! bounds 1, 2 and unbounded: how many executions each needs to prove the program correct and
//! how long that takes, side by side in one process. FACTS.md measured loom alone on the small
//! bounded buffer (89,476 executions at bound 1, 12.4 M at bound 2, unbounded not done in 26
//! minutes); this puts racelab's bounded dfs and its unbounded dfs with partial-order reduction
//! next to it.
//!
//! The programs, one source instantiated on both libraries (`programs!`: racelab's std-shaped
//! facade and loom, shared state in `std::sync::Arc` on both sides, data in the `Mutex`):
//! - the `while` bounded buffer: 2 producers × 2 items, 2 consumers × 2 items, capacity 1, one
//!   lock and one condition, `while` around every wait, `notify_all` after every change (`SMALL`
//!   of the throughput bench);
//! - a locked counter: 2 threads × 3 increments (lock, read, write, unlock), main joins and
//!   checks 6;
//! - consistent lock order: 2 threads each take lock a then lock b, bump a counter, release both.
//!
//! Reading and writing the data a lock guards is not a scheduling point in either. Timings under a
//! second are the median of 5 repetitions. racelab
//! runs with spurious wake-ups off, as loom's `Condvar` has none. At a preemption bound racelab
//! is measured twice: its default reduced bounded dfs (source-DPOR with conservative
//! backtracking and no sleep sets under the bound: every outcome of the plain bounded search, see
//! `sim/src/strategy/dpor.rs`) and the plain one (`dpor(false)`, every interleaving within the
//! bound). Unbounded, both are complete (racelab with source-DPOR and sleep sets).
//!
//! Each side is capped so the whole bench ends in about 10 minutes on 2 cores: racelab at
//! 3,000,000 runs (`.runs(cap)`; the report says whether the search was exhausted), loom at 150 s
//! by `max_duration`. loom looks at `max_duration` only every `checkpoint_interval` executions
//! (set to 1,000 here) and then returns exactly as when it is done, so whether it completed is
//! read from the "Completed in N iterations" event it logs only when its search is exhausted.
//! loom's `max_branches` (default 1,000) is not a cap: a run with more branch points panics;
//! 1,000 is enough for these programs, and a panic would show in the table. Override with
//! `-- --loom-seconds S --racelab-runs N --loom-max-branches B --program buffer|counter|lock-order
//! --bounds 0,1,2,none --racelab-only` or `EXHAUSTIVE_LOOM_SECONDS`, `EXHAUSTIVE_RACELAB_RUNS`,
//! `EXHAUSTIVE_LOOM_MAX_BRANCHES`, `EXHAUSTIVE_PROGRAM`, `EXHAUSTIVE_BOUNDS`.
//!
//! Run: `cargo bench -p racelab-bench --bench exhaustive`. `RACELAB_BENCH_RELEASE_POINTS=on` runs
//! racelab with a scheduling point before every lock release, as before the default changed.
//! `-- --dpor-jobs` and `-- --portfolio-jobs` time the buffer on 1 and 2 jobs; `-- --shards N`
//! explores the buffer's DPOR split into N shards one after the other, as N machines would,
//! and prints each shard's runs and time next to the unsharded search.
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // a benchmark prints and reads the wall clock

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Executions of the loom model closure so far (loom runs the closure once per execution).
static LOOM_EXECUTIONS: AtomicU64 = AtomicU64::new(0);

// ----- the programs, one source for both tools -----

/// The three programs against the `sync` and `thread` modules given, with shared state in
/// `std::sync::Arc` on both sides: loom's own `Arc` would make every clone and drop a point loom
/// explores (and a leak it checks), which racelab's programs do not have, so the comparison would
/// not be like for like. Data guarded by a lock lives in the `Mutex`.
macro_rules! programs {
    ($($sync:ident)::+, $($thread:ident)::+) => {
        /// The `while` buffer, 2 producers × 2 items, 2 consumers × 2 items, capacity 1.
        pub fn buffer() {
            count();
            racelab_bench::std_named_buffer!(racelab_bench::SMALL, sync = $($sync)::+, thread = $($thread)::+)()
        }

        pub fn counter() {
            use $($sync)::+::Mutex;
            use $($thread)::+ as thread;
            count();
            let value = std::sync::Arc::new(Mutex::new(0u64));
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let value = std::sync::Arc::clone(&value);
                    thread::spawn(move || {
                        for _ in 0..3 {
                            let mut g = value.lock().unwrap();
                            let v = *g;
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            for t in ts {
                t.join().unwrap();
            }
            assert_eq!(*value.lock().unwrap(), 6);
        }

        pub fn lock_order() {
            use $($sync)::+::Mutex;
            use $($thread)::+ as thread;
            count();
            let locks = std::sync::Arc::new((Mutex::new(()), Mutex::new(0u64)));
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let locks = std::sync::Arc::clone(&locks);
                    thread::spawn(move || {
                        let (a, b) = &*locks;
                        let _a = a.lock().unwrap();
                        let mut count = b.lock().unwrap();
                        *count += 1;
                    })
                })
                .collect();
            for t in ts {
                t.join().unwrap();
            }
            assert_eq!(*locks.1.lock().unwrap(), 2);
        }
    };
}

mod on_racelab {
    /// racelab counts its runs itself.
    fn count() {}
    programs!(racelab::sync, racelab::thread);
}

mod on_loom {
    /// loom runs the closure once per execution: count them.
    fn count() {
        super::LOOM_EXECUTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    programs!(loom::sync, loom::thread);
}

// ----- measuring -----

/// One side's result for one program and bound.
struct Outcome {
    executions: u64,
    /// Executions known to be distinct interleavings (racelab with partial-order reduction).
    distinct: Option<u64>,
    secs: f64,
    complete: bool,
    /// Why the search did not finish normally (a failure, a panic), if it did not.
    error: Option<String>,
}

fn run_racelab(program: fn(), bound: Option<u32>, dpor: bool, cap: u64) -> Outcome {
    let mut config =
        racelab_bench::with_release_points(racelab::Config::dfs().spurious_wakeups(0).runs(cap).dpor(dpor));
    if let Some(b) = bound {
        config = config.preemption_bound(b);
    }
    let start = Instant::now();
    let report = racelab::check(config, program);
    let secs = start.elapsed().as_secs_f64();
    let error = report.failure.as_ref().map(|f| format!("racelab failure: {}", f.kind.name()));
    let distinct = (report.redundant_runs > 0).then_some(report.runs - report.redundant_runs);
    let executions = report.runs + racelab_bench::runs_before_restart(&report);
    Outcome { executions, distinct, secs, complete: report.exhausted, error }
}

/// The buffer explored to exhaustion on one job and on two, in interleaved rounds: the default
/// exploration (the portfolio: DPOR's half on one OS thread, POS on the other) with
/// `--portfolio-jobs`, DPOR alone (other jobs explore subtrees the main search adopts) with
/// `--dpor-jobs`. The two reports must be the same but for the wall time.
fn jobs_comparison(portfolio: bool) {
    let name = if portfolio { "portfolio" } else { "DPOR (dfs)" };
    println!("{name} to exhaustion on the `while` buffer 2x2 (spurious wake-ups off), --jobs 1 vs 2");
    let run = |jobs: usize| {
        let config = if portfolio { racelab::Config::portfolio(0) } else { racelab::Config::dfs() };
        let config = config.spurious_wakeups(0).runs(10_000_000).jobs(jobs);
        let start = Instant::now();
        let report = racelab::check(config, on_racelab::buffer);
        (report, start.elapsed().as_secs_f64())
    };
    let rounds: u32 = setting("--rounds", "EXHAUSTIVE_ROUNDS", 3);
    for round in 1..=rounds {
        let (one, t1) = run(1);
        let (two, t2) = run(2);
        assert!(one.exhausted && two.exhausted, "round {round}: not exhausted");
        assert_eq!((one.runs, one.steps), (two.runs, two.steps), "round {round}: the reports differ");
        println!(
            "round {round}: {} runs (exhausted) | jobs 1 {t1:.2} s | jobs 2 {t2:.2} s | speed-up {:.2}x",
            thousands(one.runs),
            t1 / t2
        );
    }
}

/// The buffer's DPOR split into `--shards N` shards (`Config::shard`), each explored here in
/// turn as a machine of a cluster would explore it: each shard's runs and time, the slowest
/// shard (the wall time on N machines) against the unsharded search on one job, and the runs
/// over all shards against the unsharded ones (every awake thread is explored above the cut).
fn shards_comparison(shards: u64) {
    println!("DPOR (dfs) to exhaustion on the `while` buffer 2x2 (spurious wake-ups off), unsharded vs {shards} shards");
    let config = || racelab::Config::dfs().spurious_wakeups(0).runs(10_000_000);
    let rounds: u32 = setting("--rounds", "EXHAUSTIVE_ROUNDS", 1);
    for round in 1..=rounds {
        let start = Instant::now();
        let whole = racelab::check(config(), on_racelab::buffer);
        let t_whole = start.elapsed().as_secs_f64();
        assert!(whole.exhausted && whole.passed(), "round {round}: the unsharded search");
        let (mut runs, mut slowest, mut total) = (0, 0.0f64, 0.0);
        let mut per_shard = Vec::new();
        for k in 0..shards {
            let start = Instant::now();
            let part = racelab::check(config().shard(k, shards), on_racelab::buffer);
            let t = start.elapsed().as_secs_f64();
            assert!(part.exhausted && part.passed(), "round {round}: shard {k}");
            runs += part.runs;
            slowest = slowest.max(t);
            total += t;
            per_shard.push(format!("{} runs {t:.1} s", thousands(part.runs)));
        }
        println!(
            "round {round}: unsharded {} runs {t_whole:.2} s | {shards} shards {} runs, {total:.1} s in all, slowest {slowest:.2} s \
             (speed-up on {shards} machines {:.2}x) | {}",
            thousands(whole.runs),
            thousands(runs),
            t_whole / slowest,
            per_shard.join(", ")
        );
    }
}

/// A `tracing` subscriber that listens only to loom's `loom::model` events and notes the one
/// loom logs when its search is exhausted ("Completed in N iterations"). Every other callsite
/// (loom's per-execution spans, its runtime's trace events) is disabled, so it costs nothing.
struct CompletionWatch {
    completed: Arc<AtomicBool>,
}

/// Reads an event's `message` field.
struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl CompletionWatch {
    fn wanted(metadata: &tracing::Metadata<'_>) -> bool {
        metadata.is_event() && metadata.target() == "loom::model"
    }
}

impl tracing::Subscriber for CompletionWatch {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if Self::wanted(metadata) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        Self::wanted(metadata)
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        if message.0.starts_with("Completed in") {
            self.completed.store(true, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn run_loom(program: fn(), bound: Option<usize>, seconds: u64, max_branches: usize) -> Outcome {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = bound;
    builder.max_duration = Some(Duration::from_secs(seconds));
    builder.max_branches = max_branches;
    // loom looks at `max_duration` only every `checkpoint_interval` executions (default 20,000).
    builder.checkpoint_interval = 1_000;
    let completed = Arc::new(AtomicBool::new(false));
    let watch = CompletionWatch { completed: Arc::clone(&completed) };
    LOOM_EXECUTIONS.store(0, Ordering::SeqCst);
    let start = Instant::now();
    let outcome = tracing::subscriber::with_default(watch, || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.check(program)))
    });
    let secs = start.elapsed().as_secs_f64();
    let error = outcome.err().map(|p| {
        let message = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("loom panicked: {message}")
    });
    Outcome {
        executions: LOOM_EXECUTIONS.load(Ordering::SeqCst),
        distinct: None,
        secs,
        complete: completed.load(Ordering::SeqCst),
        error,
    }
}

/// A measurement that took under a second is repeated (5 times in all) and its median time
/// kept: a single sub-millisecond timing on a shared machine says little. The executions are
/// the same every time (both searches are deterministic).
fn repeated(mut measure: impl FnMut() -> Outcome) -> Outcome {
    let first = measure();
    if first.secs >= 1.0 || first.error.is_some() {
        return first;
    }
    let mut secs = vec![first.secs];
    for _ in 1..5 {
        let again = measure();
        assert_eq!(again.executions, first.executions, "a search that is not deterministic");
        secs.push(again.secs);
    }
    secs.sort_by(f64::total_cmp);
    Outcome { secs: secs[secs.len() / 2], ..first }
}

// ----- output -----

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

/// Seconds, as milliseconds below one second.
fn time_cell(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.1} ms", secs * 1000.0)
    } else {
        format!("{secs:.2} s")
    }
}

fn executions_cell(o: &Outcome) -> String {
    match o.distinct {
        Some(d) => format!("{} ({} distinct)", thousands(o.executions), thousands(d)),
        None => thousands(o.executions),
    }
}

fn complete_cell(o: &Outcome, capped_by: &str) -> String {
    if let Some(e) = &o.error {
        format!("no: {e}")
    } else if o.complete {
        "yes".to_string()
    } else {
        format!("no: stopped after {capped_by}")
    }
}

/// `loom / racelab`, a bound when one side did not complete: racelab's figure is then a lower
/// bound (racelab stopped) or loom's is (loom stopped).
fn ratio(loom: &Outcome, loom_value: f64, ours: &Outcome, our_value: f64) -> String {
    let r = loom_value / our_value;
    match (loom.complete && loom.error.is_none(), ours.complete && ours.error.is_none()) {
        (true, true) => format!("{r:.2}x"),
        (false, true) => format!(">= {r:.2}x"),
        (true, false) => format!("<= {r:.2}x"),
        (false, false) => "n/a (neither complete)".to_string(),
    }
}

/// A setting from `--flag value` on the command line, else the environment variable, else the
/// default. (`cargo bench` adds `--bench` to the arguments: unknown arguments are ignored.)
fn setting<T: std::str::FromStr>(flag: &str, env: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    match from_args.or_else(|| std::env::var(env).ok()) {
        Some(v) => v.parse().unwrap_or_else(|_| panic!("{flag} / {env}: cannot parse {v:?}")),
        None => default,
    }
}

/// `--bounds 0,1,2,none`: the preemption bounds to measure, `none` for unbounded.
fn parse_bounds(list: &str) -> Vec<Option<u32>> {
    list.split(',')
        .map(|b| match b.trim() {
            "none" => None,
            n => Some(n.parse().unwrap_or_else(|_| panic!("--bounds: {n:?} is neither a number nor `none`"))),
        })
        .collect()
}

/// A program's name, its racelab version and its loom version.
type Program = (&'static str, fn(), fn());

fn main() {
    if std::env::args().any(|a| a == "--profile-racelab") {
        // For a profiler: racelab's unbounded DPOR alone on the buffer, 300,000 runs unless
        // `--racelab-runs` says otherwise (30,000 is enough for valgrind's instruction counts).
        let runs: u64 = setting("--racelab-runs", "EXHAUSTIVE_RACELAB_RUNS", 300_000);
        let o = run_racelab(on_racelab::buffer, None, true, runs);
        println!("racelab DPOR alone: {} executions in {:.2} s", o.executions, o.secs);
        return;
    }
    let shards: u64 = setting("--shards", "EXHAUSTIVE_SHARDS", 0);
    if shards > 0 {
        shards_comparison(shards);
        return;
    }
    for (flag, portfolio) in [("--portfolio-jobs", true), ("--dpor-jobs", false)] {
        if std::env::args().any(|a| a == flag) {
            jobs_comparison(portfolio);
            return;
        }
    }
    let loom_seconds: u64 = setting("--loom-seconds", "EXHAUSTIVE_LOOM_SECONDS", 150);
    let racelab_runs: u64 = setting("--racelab-runs", "EXHAUSTIVE_RACELAB_RUNS", 3_000_000);
    let loom_max_branches: usize = setting("--loom-max-branches", "EXHAUSTIVE_LOOM_MAX_BRANCHES", 1_000);
    let only: String = setting("--program", "EXHAUSTIVE_PROGRAM", String::new());
    let racelab_only = std::env::args().any(|a| a == "--racelab-only");
    let bounds = parse_bounds(&setting("--bounds", "EXHAUSTIVE_BOUNDS", "1,2,none".to_string()));
    let programs: [Program; 3] = [
        ("`while` buffer 2x2, capacity 1", on_racelab::buffer, on_loom::buffer),
        ("locked counter 2x3", on_racelab::counter, on_loom::counter),
        ("lock order a then b, 2 threads", on_racelab::lock_order, on_loom::lock_order),
    ];
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("exhaustive search, racelab dfs (spurious wake-ups off) vs loom 0.7.2, one OS thread each");
    println!(
        "cores: {cores}; caps: racelab {} runs, loom {loom_seconds} s (max_branches {loom_max_branches})",
        thousands(racelab_runs)
    );
    println!("ratios are loom / racelab: above 1 racelab needs fewer executions or less time");
    println!();
    println!(
        "| program | bound | racelab executions | racelab time | complete? | loom executions | loom time \
         | complete? | execution ratio | time ratio |"
    );
    println!("| --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: |");
    for (name, ours, theirs) in programs {
        if !only.is_empty() && !name.to_lowercase().contains(&only.replace('-', " ")) {
            continue;
        }
        for &bound in &bounds {
            let l = if racelab_only {
                Outcome {
                    executions: 0,
                    distinct: None,
                    secs: 0.0,
                    complete: false,
                    error: Some("not run".into()),
                }
            } else {
                repeated(|| run_loom(theirs, bound.map(|b| b as usize), loom_seconds, loom_max_branches))
            };
            // Bounded, racelab's default is the reduced search (complete within the bound);
            // `dpor(false)` is the plain one, every interleaving within the bound.
            let sides: &[bool] = if bound.is_some() { &[false, true] } else { &[true] };
            for &dpor in sides {
                let r = repeated(|| run_racelab(ours, bound, dpor, racelab_runs));
                let bound_cell = match (bound, dpor) {
                    (None, _) => "unbounded (racelab: DPOR)".to_string(),
                    (Some(b), false) => format!("{b} (racelab: plain)"),
                    (Some(b), true) => format!("{b} (racelab: DPOR, default)"),
                };
                println!(
                    "| {name} | {bound_cell} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    executions_cell(&r),
                    time_cell(r.secs),
                    complete_cell(&r, &format!("{} runs", thousands(racelab_runs))),
                    executions_cell(&l),
                    time_cell(l.secs),
                    complete_cell(&l, &format!("{:.0} s", l.secs)),
                    ratio(&l, l.executions as f64, &r, r.executions as f64),
                    ratio(&l, l.secs, &r, r.secs),
                );
            }
        }
    }
}
