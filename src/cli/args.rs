//! Raw command-line arguments, as clap reads them. Nothing here is validated beyond syntax;
//! `plan` turns them into something that can run.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// racelab: find, explain and replay concurrency bugs in the built-in scenario catalog.
#[derive(Debug, Parser)]
#[command(name = "racelab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the scenarios: ids, titles, variants and expected verdicts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a scenario: its story, the Python it models, its variants.
    Show {
        /// Scenario id, e.g. `lock-order`.
        scenario: String,
        /// Also print the Rust that models it (the catalog's source for this scenario).
        #[arg(long)]
        rust: bool,
    },
    /// Explore scenarios for bugs.
    Check {
        /// `<scenario>` (every variant) or `<scenario>/<variant>`; several may be given.
        targets: Vec<String>,
        /// Check every variant of every scenario.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        explore: ExploreArgs,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        teach: TeachArgs,
    },
    /// Replay one run of a scenario variant, with its full trace.
    Replay {
        /// `<scenario>/<variant>`.
        target: String,
        /// The schedule to follow, as printed by `check` (e.g. "v1 t2 t0 t1").
        #[arg(long)]
        schedule: Option<String>,
        /// Replay run `--run` of the exploration given by the strategy flags instead.
        #[command(flatten)]
        explore: ExploreArgs,
        /// With --seed: which run of the exploration to show (counted from 0).
        #[arg(long, allow_negative_numbers = true, value_parser = whole_u64, value_name = "N")]
        run: Option<u64>,
        /// Print the report, trace included, as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        teach: TeachArgs,
    },
    /// Be the scheduler: step the threads of a variant yourself until you reach its bug.
    Play {
        /// `<scenario>/<variant>`.
        target: String,
        /// Scripted moves instead of typed ones, e.g. `1,2,2,1` (the numbers shown in brackets:
        /// a thread's id, or an option of a choice racelab would make); `u` undoes, `h` hints.
        #[arg(long, allow_hyphen_values = true)]
        moves: Option<String>,
        /// Spurious Condition.wait wake-ups racelab may offer per run (default: the variant's).
        #[arg(long, allow_negative_numbers = true, value_parser = whole_u32, value_name = "N")]
        spurious_wakeups: Option<u32>,
        /// Let you pick which waiter a notify or a release wakes (else the oldest, as CPython).
        #[arg(long)]
        adversarial_wakeups: bool,
    },
    /// Merge the `--json` output of `check --shard K/N` runs into one verdict: the lowest
    /// failing run and the coverage one unsharded run gives.
    Merge {
        /// Files holding the output of every shard (e.g. shard-*.json).
        files: Vec<std::path::PathBuf>,
        /// Print the merged result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What `check` and `replay` add for a class.
#[derive(Debug, Args, Clone, Default)]
pub struct TeachArgs {
    /// Tell the failing run in plain sentences, a line per step that matters, the steps that
    /// decide the bug marked with `*`, and the fix in one sentence.
    #[arg(long)]
    pub explain: bool,
    /// Write the run (check: the failure found) as a timeline to FILE: one self-contained HTML
    /// page, a lane per thread, to step through with the arrow keys.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyName {
    /// Uniformly random decisions from a seed.
    Random,
    /// Probabilistic Concurrency Testing (priorities with change points) from a seed.
    Pct,
    /// Partial Order Sampling (random priorities per step, redrawn for racing steps) from a seed.
    Pos,
    /// Exhaustive depth-first search.
    Dfs,
    /// Exhaustive DPOR and Partial Order Sampling (from the seed) in turn, DPOR first.
    Portfolio,
}

#[derive(Debug, Args, Clone)]
pub struct ExploreArgs {
    /// How decisions are made. Default: the scenario's own (dfs), or random when --seed is given.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyName>,
    /// Seed for random and pct (default 0).
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u64)]
    pub seed: Option<u64>,
    /// Maximum number of runs (random/pct default 1000; dfs default 1000000).
    #[arg(long, allow_negative_numbers = true, value_parser = positive_u64)]
    pub runs: Option<u64>,
    /// PCT bug depth (default 3).
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u32)]
    pub depth: Option<u32>,
    /// dfs: at most this many preemptions per run.
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u32, value_name = "B")]
    pub preemption_bound: Option<u32>,
    /// dfs: at most this many delays per run against round-robin scheduling.
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u32, value_name = "D")]
    pub delay_bound: Option<u32>,
    /// Stop exploring after SECS seconds of wall time (checked between runs; shrinking a bug gets
    /// at most as long again, and at most 10 s). The verdict then says the exploration was cut.
    #[arg(long, allow_negative_numbers = true, value_name = "SECS")]
    pub max_time: Option<f64>,
    /// Maximum scheduling steps per run (default 100000).
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u64)]
    pub max_steps: Option<u64>,
    /// Seconds of wall time a thread may run without a scheduling point before the watchdog stops
    /// it and reports the run (default 10; 0 turns the watchdog off).
    #[arg(long, allow_negative_numbers = true, value_name = "SECS")]
    pub watchdog: Option<f64>,
    /// Spurious Condition.wait wake-ups allowed per run (default 1; 0 is CPython-exact).
    #[arg(long, allow_negative_numbers = true, value_parser = whole_u32, value_name = "N")]
    pub spurious_wakeups: Option<u32>,
    /// Let notify and semaphore releases wake any waiter, not the oldest (the docs allow it).
    #[arg(long)]
    pub adversarial_wakeups: bool,
    /// Explore on N OS threads (random, pos, pct, the portfolio, and dfs with DPOR and no bound; default 1). The report does not depend on N.
    #[arg(long, allow_negative_numbers = true, value_parser = whole_usize, value_name = "N")]
    pub jobs: Option<usize>,
    /// Run only shard K of N, e.g. `--shard 0/4`: random and pos run indices i with i % N == K; dfs
    /// (DPOR, no bound) the subtrees s with s % N == K of the search cut at a fixed depth.
    #[arg(long, allow_hyphen_values = true, value_name = "K/N")]
    pub shard: Option<String>,
    /// Report a failing run as found, without shrinking it to fewer preemptions and steps.
    #[arg(long)]
    pub no_shrink: bool,
    /// Exhaustive dfs without partial-order reduction: every interleaving, not one per class of
    /// equivalent ones.
    #[arg(long, conflicts_with = "dpor")]
    pub no_dpor: bool,
    /// Partial-order reduction for dfs (the default, with or without --preemption-bound; not
    /// with --delay-bound).
    #[arg(long)]
    pub dpor: bool,
    /// A scheduling point before each lock release: auto (default: none until a run looks at a
    /// lock without waiting for it, then every run again with them), on, or off (never; exact
    /// only for programs that never look).
    #[arg(long, value_enum, value_name = "MODE")]
    pub release_points: Option<ReleasePointsName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReleasePointsName {
    /// None until a run observes a lock (try_acquire, locked...), then restart with them.
    Auto,
    /// A point before every release.
    On,
    /// No point before a release, and no restart.
    Off,
}

/// A whole number of type `T`, with an error that says the range instead of clap's "invalid
/// digit" (and, with `allow_negative_numbers`, instead of "to pass '-1' as a value, use '-- -1'").
fn whole<T: std::str::FromStr>(text: &str, max: impl std::fmt::Display) -> Result<T, String> {
    text.parse().map_err(|_| format!("expected a whole number from 0 to {max}"))
}

fn whole_u64(text: &str) -> Result<u64, String> {
    whole(text, u64::MAX)
}

/// A count that must be at least 1 (`--runs`).
fn positive_u64(text: &str) -> Result<u64, String> {
    text.parse()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| format!("expected a whole number from 1 to {}", u64::MAX))
}

fn whole_u32(text: &str) -> Result<u32, String> {
    whole(text, u32::MAX)
}

fn whole_usize(text: &str) -> Result<usize, String> {
    whole(text, usize::MAX)
}
