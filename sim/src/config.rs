//! Settings of a check, taken at the edge and echoed back in every report.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::schedule::Schedule;
use crate::strategy::{Dfs, Dpor, Guided, Pct, Portfolio, Pos, Random, Replay, Strategy};

/// Which strategy makes a check's decisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrategyConfig {
    /// Uniformly random decisions from a seeded ChaCha8 stream.
    Random {
        /// The seed.
        seed: u64,
    },
    /// Probabilistic Concurrency Testing of the given bug depth.
    Pct {
        /// The seed.
        seed: u64,
        /// The bug depth `d`: `d - 1` priority change points per run.
        depth: u32,
    },
    /// Partial Order Sampling (Yuan, Yang, Gu, CAV 2018): random priorities per event,
    /// redrawn for the events that race with each step.
    Pos {
        /// The seed.
        seed: u64,
    },
    /// Exhaustive DPOR and POS from `seed`, run for run in turn (see `strategy::Portfolio`).
    Portfolio {
        /// The sampler's seed.
        seed: u64,
    },
    /// Exhaustive depth-first search.
    Dfs {
        /// At most this many preemptions per run, when set.
        preemption_bound: Option<u32>,
        /// At most this many delays against round-robin scheduling per run, when set.
        delay_bound: Option<u32>,
    },
    /// One run following a recorded schedule.
    Replay(Schedule),
    /// One run following relative choices (`racelab::proptest`): decision `i` takes option
    /// `choices[i]`, capped at the last, and 0 past the end; at a thread decision 0 is no
    /// preemption: the last thread goes on, or after its yield the next thread (see
    /// `strategy::Guided`).
    Guided(Vec<u32>),
}

/// How a check explores: strategy and limits. Build one with [`Config::random`],
/// [`Config::pct`], [`Config::dfs`] or [`Config::replay`], then adjust with the builder methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) strategy: StrategyConfig,
    pub(crate) runs: u64,
    pub(crate) max_steps: u64,
    pub(crate) stack_size: usize,
    pub(crate) trace_run: Option<u64>,
    pub(crate) semantics: Semantics,
    pub(crate) shrink: bool,
    /// Runs and steps shrinking may spend (see [`Config::shrink_budget`]).
    pub(crate) shrink_runs: u64,
    pub(crate) shrink_steps: u64,
    /// Wall time shrinking may take at most (see [`Config::shrink_budget`]).
    pub(crate) shrink_time: Duration,
    /// Partial-order reduction for `dfs`: `None` is the default (on unless bounded).
    pub(crate) dpor: Option<bool>,
    pub(crate) jobs: usize,
    /// `Some((k, n))`: run only shard `k` of `n` (see [`Config::shard`]).
    pub(crate) shard: Option<(u64, u64)>,
    /// A sharded dfs is cut where it has this many subtrees (see [`Config::shard_cut`]).
    pub(crate) shard_cut: u64,
    /// Wall-time budget of the exploration, and separately of shrinking a failure.
    pub(crate) max_time: Option<Duration>,
    /// `assert_passed` fails a `dfs` that stopped before exhausting its search.
    pub(crate) require_exhaustive: bool,
    pub(crate) stop: Option<StopFlag>,
    /// Wall time a green thread may run without a scheduling point; `None`: no watchdog.
    pub(crate) watchdog: Option<Duration>,
    pub(crate) release_points: ReleasePoints,
}

/// Whether a lock release is a scheduling point: [`Config::release_points`].
///
/// A release only enables other threads, so a point before it adds interleavings that change no
/// outcome (Lipton's reduction: a release is a left mover) and costs a step in every run.
/// Moving a release to the step before it changes what another thread can see only for a thread
/// that looks at the lock without waiting for it: an *observer*. The observers are
/// `try_acquire`/`acquire(blocking=False)`, `locked()`, a `Condition` check of a plain `Lock` by a
/// thread that does not hold it, a `Lock` release by a thread that did not acquire it,
/// racelab-std's `try_lock`, `try_read`, `try_write`, a racelab-std `Condvar` waited on with a
/// second mutex in one run (a notify under its first mutex has no point of its own either, see
/// its `notify_point`), and `terminate` of another thread that has not finished (cut off just
/// before its release it would keep the lock for good; racelab does not tell where it stands, so
/// every such terminate counts), and whatever depends on a racelab-std `Arc`'s reference counts
/// (a read of them, a last drop whose destructor does racelab operations): with release points,
/// a clone, drop or read of a count has a point before it too. Example: A writes `x` under the lock and
/// releases it; B reads `x`, then `try_lock`s. "B saw the new `x` and `try_lock` failed" needs A
/// preempted between its write and its release.
///
/// Not observers: a blocking acquire waits until the lock is free, so it cannot run between
/// the step before a release and the release. A timed acquire neither: it gives up only when
/// the virtual clock reaches its deadline, and the clock moves only when every thread is
/// blocked or sleeping, while the thread about to release is runnable (a holder that sleeps
/// inside its critical section wakes at a clock jump like the timed-out waiter, and the scheduler
/// orders the two either way; the release then comes with its wake-up step). `is_owned` (only the
/// caller changes whether it owns the lock), the poison flag (a panicking thread's guard
/// releases without a point anyway). A nested `RLock` level's release (count above one) is no
/// release at all: it frees nothing and only its owner sees the count, so it commutes with every
/// step of another thread and goes without a point as well. A condition `wait`'s release is part
/// of the wait, whose point stays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReleasePoints {
    /// No point before a release until a run executes an observer; then the exploration starts
    /// again from its first run with a point before every release (the report says which
    /// operation, in which run), with its whole budget of runs and time again. A run that failed
    /// before is reported as it is: every run without release points is a real execution. The
    /// default.
    #[default]
    Auto,
    /// A point before every release, from the first run (what racelab did before the mode).
    On,
    /// No point before a release, and no restart: faster, but exact only for programs without
    /// observers (a measurement setting, or to rerun shards that must agree).
    Off,
}

impl ReleasePoints {
    /// The name in settings lines and on the command line: `auto`, `on`, `off`.
    pub fn name(self) -> &'static str {
        match self {
            ReleasePoints::Auto => "auto",
            ReleasePoints::On => "on",
            ReleasePoints::Off => "off",
        }
    }

    /// The mode called `name` (see [`ReleasePoints::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        [ReleasePoints::Auto, ReleasePoints::On, ReleasePoints::Off].into_iter().find(|m| m.name() == name)
    }
}

/// A flag another thread (a Ctrl-C handler, a supervisor) raises to stop an exploration early.
/// The exploration looks at it between runs, never inside one, and returns the report of what
/// it did so far with [`Report::interrupted`](crate::Report::interrupted) set. Clones share the
/// flag.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag not raised yet.
    pub fn new() -> Self {
        StopFlag::default()
    }

    /// Asks every exploration holding this flag to stop after its current run.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once [`StopFlag::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl PartialEq for StopFlag {
    /// The same flag (clones of one `StopFlag`), not merely the same state.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for StopFlag {}

/// Where primitives may go beyond what CPython does today but Python's documentation allows
/// (both scheduler choices, recorded in the schedule like any other), and what ends a run.
/// A schedule carries the settings that differ from the defaults, so that a replay needs
/// nothing else (see [`Schedule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Semantics {
    /// At most this many spurious wake-ups of `Condition.wait` per run (0: CPython-exact).
    /// A spurious wake-up makes `wait` return as if notified; it catches a wait guarded by
    /// `if` instead of `while`.
    pub spurious_wakeups: u32,
    /// When true, `notify` and semaphore releases may wake any waiter, not the oldest
    /// (the docs promise no order; CPython is FIFO).
    pub adversarial_wakeups: bool,
    /// When true, a run that ends with daemon threads still alive fails (`daemon-cut-off`):
    /// for programs whose daemons must finish their work (Python kills them mid-line).
    pub fail_on_daemon_cut_off: bool,
    /// What a panic in a thread spawned with the std-shaped `racelab::thread` does.
    pub thread_panics: ThreadPanics,
}

/// What a panic in a thread spawned with the std-shaped `racelab::thread` (`spawn`, `Builder`,
/// `scope`) does to the run. Main's panic, a misuse, and a panic in a thread of the
/// Python-shaped engine layer (`racelab_sim::thread`, whose `join` returns `T`) always fail the
/// run at the panic.
///
/// The default fails the run where the thread panicked, as shuttle and loom do: the report then
/// shows the panic's own message, location and trace, where a program that `join().unwrap()`s
/// would otherwise report only main's `unwrap` on an `Err`. A program that tests its own panics
/// (`assert!(h.join().is_err())`) asks for std's behaviour with [`ThreadPanics::Join`]. It is a
/// setting of the check, not of each spawn, so the program's code stays std's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum ThreadPanics {
    /// The run fails at the panic (default).
    #[default]
    FailRun,
    /// As std: `join` returns `Err` with the panic's payload, and `scope` panics when a scoped
    /// thread it joins panicked. A thread that panicked and that nobody joined by the end of the
    /// run still fails the run then, with its panic (as shuttle fails on any panic).
    Join,
    /// As [`ThreadPanics::Join`], but a panicked thread nobody joins is ignored (std's detached
    /// thread; Python prints the exception and goes on).
    JoinOrIgnore,
}

impl ThreadPanics {
    /// The name in settings lines and schedules: `fail`, `join`, `join-or-ignore`.
    pub fn name(self) -> &'static str {
        match self {
            ThreadPanics::FailRun => "fail",
            ThreadPanics::Join => "join",
            ThreadPanics::JoinOrIgnore => "join-or-ignore",
        }
    }

    /// The policy called `name` (see [`ThreadPanics::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        [ThreadPanics::FailRun, ThreadPanics::Join, ThreadPanics::JoinOrIgnore]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

/// Default spurious wake-up budget per run.
pub const DEFAULT_SPURIOUS_WAKEUPS: u32 = 1;

impl Semantics {
    /// The defaults: one spurious wake-up per run, FIFO wake-ups, daemons cut off silently,
    /// thread panics fail the run.
    pub const DEFAULT: Semantics = Semantics {
        spurious_wakeups: DEFAULT_SPURIOUS_WAKEUPS,
        adversarial_wakeups: false,
        fail_on_daemon_cut_off: false,
        thread_panics: ThreadPanics::FailRun,
    };
}

impl Default for Semantics {
    fn default() -> Self {
        Semantics::DEFAULT
    }
}

/// Default runs for `random` and `pct`.
pub const DEFAULT_RUNS: u64 = 1_000;
/// Default cap on the runs of an exhaustive search.
pub const DEFAULT_DFS_RUNS: u64 = 1_000_000;
/// Default cap on the steps of one run.
pub const DEFAULT_MAX_STEPS: u64 = 100_000;
/// Wall-time budget of shrinking a failure, unless [`Config::max_time`] gives a smaller one.
pub const DEFAULT_SHRINK_TIME: Duration = Duration::from_secs(10);
/// Default size of a green thread's stack.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// The smallest green-thread stack [`Config::validate`] accepts: 16 KiB.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// The largest green-thread stack [`Config::validate`] accepts: 64 MiB, eight times a Linux main
/// thread's. Every thread of a run maps one, so a larger size only turns deep recursion into
/// an allocation failure.
pub const MAX_STACK_SIZE: usize = 64 * 1024 * 1024;
/// The most OS threads [`Config::jobs`] may ask for. Runs are short and CPU-bound, so more jobs
/// than cores only add switching; 256 covers the largest machines and stops a typo (or
/// `usize::MAX`) from spawning threads until the OS refuses.
pub const MAX_JOBS: usize = 256;

/// A setting [`Config::validate`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The builder method of the setting, e.g. `stack_size`.
    pub setting: &'static str,
    /// What was wrong and the range allowed.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Config::{}: {}", self.setting, self.message)
    }
}

impl std::error::Error for ConfigError {}
/// Default wall time a green thread may run without a scheduling point.
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(10);

impl Config {
    fn with(strategy: StrategyConfig, runs: u64) -> Self {
        let trace_run = matches!(strategy, StrategyConfig::Replay(_)).then_some(0);
        // A guided run is shrunk by its property-testing framework, which needs the failure of
        // exactly the run its choices make.
        let shrink = !matches!(strategy, StrategyConfig::Replay(_) | StrategyConfig::Guided(_));
        Config {
            strategy,
            runs,
            max_steps: DEFAULT_MAX_STEPS,
            stack_size: DEFAULT_STACK_SIZE,
            trace_run,
            semantics: Semantics::default(),
            shrink,
            shrink_runs: crate::explore::SHRINK_BUDGET,
            shrink_steps: crate::explore::SHRINK_MAX_STEPS,
            shrink_time: DEFAULT_SHRINK_TIME,
            dpor: None,
            jobs: 1,
            shard: None,
            shard_cut: crate::strategy::SHARD_SUBTREES,
            max_time: None,
            require_exhaustive: false,
            stop: None,
            watchdog: Some(DEFAULT_WATCHDOG),
            release_points: ReleasePoints::Auto,
        }
    }

    /// Random scheduling from `seed`, [`DEFAULT_RUNS`] runs.
    pub fn random(seed: u64) -> Self {
        Self::with(StrategyConfig::Random { seed }, DEFAULT_RUNS)
    }

    /// PCT scheduling of bug depth `depth` (at least 1; 3 is a good start) from `seed`.
    pub fn pct(seed: u64, depth: u32) -> Self {
        Self::with(StrategyConfig::Pct { seed, depth }, DEFAULT_RUNS)
    }

    /// Partial Order Sampling from `seed`, [`DEFAULT_RUNS`] runs: every pending step gets a
    /// random priority, the highest runs, and the steps that race with it are drawn again.
    pub fn pos(seed: u64) -> Self {
        Self::with(StrategyConfig::Pos { seed }, DEFAULT_RUNS)
    }

    /// The portfolio, capped at [`DEFAULT_DFS_RUNS`] runs: exhaustive DPOR and Partial Order
    /// Sampling from `seed` in turn, DPOR first. It proves what DPOR can finish ("every
    /// interleaving explored") and finds quickly what sampling finds quickly; a failure's report
    /// says which half found it.
    pub fn portfolio(seed: u64) -> Self {
        Self::with(StrategyConfig::Portfolio { seed }, DEFAULT_DFS_RUNS)
    }

    /// Exhaustive search, capped at [`DEFAULT_DFS_RUNS`] runs (the report says whether the
    /// search completed).
    pub fn dfs() -> Self {
        Self::with(StrategyConfig::Dfs { preemption_bound: None, delay_bound: None }, DEFAULT_DFS_RUNS)
    }

    /// One run that follows `schedule`.
    /// The schedule's settings (the primitive semantics it was recorded under, see
    /// [`Schedule::semantics`]) are the replay's; builder calls after this one override them.
    /// The schedule's release-points mode is the replay's too.
    pub fn replay(schedule: Schedule) -> Self {
        let semantics = schedule.semantics();
        let release_points = if schedule.release_points() { ReleasePoints::On } else { ReleasePoints::Off };
        let mut config = Self::with(StrategyConfig::Replay(schedule), 1);
        config.semantics = semantics;
        config.release_points = release_points;
        config
    }

    /// One run that follows relative `choices` (see [`StrategyConfig::Guided`]): what
    /// `racelab::proptest` generates and shrinks. Its failure's schedule replays as any.
    pub fn guided(choices: Vec<u32>) -> Self {
        Self::with(StrategyConfig::Guided(choices), 1)
    }

    /// At most `runs` runs.
    pub fn runs(mut self, runs: u64) -> Self {
        self.runs = runs;
        self
    }

    /// Stops the exploration after the run that exceeds `limit` of wall time (what loom's
    /// `LOOM_MAX_DURATION` and shuttle's `max_time` do); the report then says so
    /// ([`Report::out_of_time`](crate::Report::out_of_time)) and a `dfs` is not exhausted.
    /// Shrinking a failure gets its own budget of at most `limit` (and at most
    /// [`DEFAULT_SHRINK_TIME`]). Time is read between runs only: one run is bounded by
    /// [`Config::max_steps`], not by this.
    pub fn max_time(mut self, limit: Duration) -> Self {
        self.max_time = Some(limit);
        self
    }

    /// The wall-time budget, when set.
    pub fn time_limit(&self) -> Option<Duration> {
        self.max_time
    }

    /// For `dfs`: makes [`Report::assert_passed`](crate::Report::assert_passed) fail when the
    /// search stopped (at its run limit, its time limit, or interrupted) before exploring every
    /// interleaving, instead of passing with a warning on standard error. Default off.
    pub fn require_exhaustive(mut self, on: bool) -> Self {
        self.require_exhaustive = on;
        self
    }

    /// Stops the exploration between runs once `flag` is raised (see [`StopFlag`]).
    pub fn stop_flag(mut self, flag: StopFlag) -> Self {
        self.stop = Some(flag);
        self
    }

    /// At most `max_steps` scheduling steps per run; a run that takes more fails with a
    /// step-limit report (a spin loop, a livelock, or a program that needs a larger limit).
    pub fn max_steps(mut self, max_steps: u64) -> Self {
        self.max_steps = max_steps;
        self
    }

    /// For `dfs`: at most `bound` preemptions per run. Ignored by other strategies.
    pub fn preemption_bound(mut self, bound: u32) -> Self {
        if let StrategyConfig::Dfs { preemption_bound, .. } = &mut self.strategy {
            *preemption_bound = Some(bound);
        }
        self
    }

    /// For `dfs`: at most `bound` delays per run against round-robin scheduling (delay bounding,
    /// Emmi et al., POPL 2011). Ignored by other strategies.
    pub fn delay_bound(mut self, bound: u32) -> Self {
        if let StrategyConfig::Dfs { delay_bound, .. } = &mut self.strategy {
            *delay_bound = Some(bound);
        }
        self
    }

    /// For `dfs`: explore one run per class of equivalent interleavings (dynamic partial-order
    /// reduction) instead of every interleaving. On by default, with or without a preemption
    /// bound: under a bound it reaches every outcome the plain bounded search reaches (see the
    /// README's Guarantees), in fewer runs. `dpor(false)` runs the plain search. A delay bound
    /// always uses the plain search.
    pub fn dpor(mut self, on: bool) -> Self {
        self.dpor = Some(on);
        self
    }

    /// True when this configuration runs an exhaustive search with partial-order reduction.
    pub fn uses_dpor(&self) -> bool {
        match self.strategy {
            StrategyConfig::Dfs { delay_bound: None, .. } => self.dpor.unwrap_or(true),
            _ => false,
        }
    }

    /// After a failure, search for a smaller failing run with the same diagnosis: fewest
    /// preemptions first (iterative preemption bounding, as CHESS), then fewest steps; the report
    /// then holds the smaller run and says what it was shrunk from. Default on (off for replays).
    pub fn shrink(mut self, on: bool) -> Self {
        self.shrink = on;
        self
    }

    /// What shrinking may spend: at most `runs` runs and `steps` steps replayed, over every bound
    /// and its greedy fallback together (which has a tenth of the runs and a quarter of the
    /// steps; defaults [`SHRINK_BUDGET`](crate::SHRINK_BUDGET) and
    /// [`SHRINK_MAX_STEPS`](crate::SHRINK_MAX_STEPS)). These budgets are counted, so a shrink they
    /// stop stops at the same run every time; the wall-time budget ([`Config::max_time`], at most
    /// [`DEFAULT_SHRINK_TIME`]) is a safety net that depends on the machine. A front-end whose runs
    /// are slow (racelab-py's) sets smaller ones, so that the counted budget is spent first.
    pub fn shrink_budget(mut self, runs: u64, steps: u64) -> Self {
        self.shrink_runs = runs;
        self.shrink_steps = steps;
        self
    }

    /// The wall time shrinking may take at most (default [`DEFAULT_SHRINK_TIME`]; a smaller
    /// [`Config::max_time`] lowers it): the safety net behind [`Config::shrink_budget`]. A
    /// front-end with slow runs raises it, so that the counted budget, not the machine's load,
    /// decides where a long shrink stops.
    pub fn shrink_time(mut self, limit: Duration) -> Self {
        self.shrink_time = limit;
        self
    }

    /// Explores on `jobs` OS threads (default 1, at most [`MAX_JOBS`]). Applies to `random` and
    /// `pos`, whose runs are independent (run `i` draws from stream `i` of the seed), to `pct`,
    /// whose jobs make runs ahead with the run length known so far and the ones made with
    /// another are made again in order (not with `trace_run`), to the
    /// `portfolio`, whose DPOR half runs on one job while the others make its sampled runs, and
    /// to an unbounded `dfs` with DPOR, whose other jobs explore subtrees ahead of the main search,
    /// which adopts them in its own order; other strategies run on one thread. The report (verdict, failure, `runs`, `steps`) does not depend on `jobs`:
    /// the failure is the lowest failing run index, and the counts cover the runs up to it.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs;
        self
    }

    /// Runs only shard `index` of `count` of the exploration: a CI matrix or a batch of machines
    /// splits one exploration into `count` processes, each reporting its own part, and
    /// `racelab merge` gives the verdict of the whole. `count` must be at least 1 and `index`
    /// below it ([`Config::validate`] refuses anything else).
    ///
    /// - `random` and `pos`: the run indices `i` with `i % count == index`; the lowest failing
    ///   index over the shards is the one an unsharded run reports.
    /// - `dfs` with DPOR and no bound: the search tree is cut at a fixed depth into subtrees,
    ///   numbered in the search's order, and the shard explores subtree `s` when
    ///   `s % count == index` (see the README's `--shard`). The cut depends on the program only,
    ///   not on `count`, so every split of it makes the same runs, in the same order once
    ///   merged; `shard(0, 1)` makes them all on one process. Above the cut every thread is
    ///   explored, so the search makes more redundant runs than an unsharded one (its other
    ///   runs are the unsharded search's on every catalog variant; a few more or fewer where
    ///   clock jumps, threads cut off or data choices weaken the sleep sets). A sharded dfs
    ///   takes a point before every lock release ([`ReleasePoints::On`]) unless told `Off`:
    ///   in the default mode each shard would restart on its own runs, and the shards could
    ///   not be merged. `runs` is each shard's own limit.
    pub fn shard(mut self, index: u64, count: u64) -> Self {
        self.shard = Some((index, count));
        self
    }

    /// For tests of the split itself: cut a sharded dfs at the first depth with `subtrees`
    /// subtrees instead of 512, so that small programs get subtrees searched with DPOR below the
    /// cut (with 512, most of the differential fuzzer's programs lie wholly above it). The
    /// shards of one exploration must share it; `racelab merge` knows nothing of it.
    #[doc(hidden)]
    pub fn shard_cut(mut self, subtrees: u64) -> Self {
        self.shard_cut = subtrees.max(1);
        self
    }

    /// The shard this configuration runs (`Config::shard`), if it was given one.
    pub fn shard_of(&self) -> Option<(u64, u64)> {
        self.shard
    }

    /// The shard this configuration runs, `(0, 1)` when it is not sharded.
    pub(crate) fn shard_or_whole(&self) -> (u64, u64) {
        self.shard.unwrap_or((0, 1))
    }

    /// The configuration a sharded dfs runs: with release points unless told `Off` (see
    /// [`Config::shard`]); any other configuration as it is.
    pub(crate) fn as_explored(&self) -> Config {
        let mut config = self.clone();
        if self.splits_dfs() && self.release_points == ReleasePoints::Auto {
            config.release_points = ReleasePoints::On;
        }
        config
    }

    /// True for an unbounded `dfs` with DPOR split into shards ([`Config::shard`]).
    pub(crate) fn splits_dfs(&self) -> bool {
        self.shard.is_some() && self.splits_dfs_search()
    }

    /// True when this is a search [`Config::shard`] can split: `dfs` with DPOR and no bound.
    pub fn splits_dfs_search(&self) -> bool {
        self.uses_dpor() && matches!(self.strategy, StrategyConfig::Dfs { preemption_bound: None, .. })
    }

    /// At most `n` spurious `Condition.wait` wake-ups per run (default 1; 0 is CPython-exact).
    pub fn spurious_wakeups(mut self, n: u32) -> Self {
        self.semantics.spurious_wakeups = n;
        self
    }

    /// Lets `notify` and semaphore releases wake any waiter instead of the oldest (default
    /// off: CPython's FIFO order).
    pub fn adversarial_wakeups(mut self, on: bool) -> Self {
        self.semantics.adversarial_wakeups = on;
        self
    }

    /// Makes a run that ends with daemon threads still alive a `daemon-cut-off` failure
    /// (default off: Python cuts daemons off silently, and the report only counts it).
    pub fn fail_on_daemon_cut_off(mut self, on: bool) -> Self {
        self.semantics.fail_on_daemon_cut_off = on;
        self
    }

    /// What a panic in a thread spawned with the std-shaped `racelab::thread` does (default
    /// [`ThreadPanics::FailRun`]; see [`ThreadPanics`] for why).
    pub fn thread_panics(mut self, policy: ThreadPanics) -> Self {
        self.semantics.thread_panics = policy;
        self
    }

    /// Every primitive semantics setting at once (as a schedule carries them).
    pub fn with_semantics(mut self, semantics: Semantics) -> Self {
        self.semantics = semantics;
        self
    }

    /// The primitive semantics in force.
    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    /// Whether a lock release is a scheduling point (default [`ReleasePoints::Auto`]: not until
    /// a run observes a lock without waiting for it, then every run again with them; see
    /// [`ReleasePoints`] for why this keeps every outcome). A replay takes its schedule's mode.
    pub fn release_points(mut self, mode: ReleasePoints) -> Self {
        self.release_points = mode;
        self
    }

    /// The release-points mode asked for.
    pub fn release_points_mode(&self) -> ReleasePoints {
        self.release_points
    }

    /// True when this exploration's runs take a scheduling point before every lock release
    /// now ([`ReleasePoints::On`]; `Auto` starts without them).
    pub(crate) fn points_before_releases(&self) -> bool {
        self.release_points == ReleasePoints::On
    }

    /// Records the schedule and trace of run `run` (counted from 0) into
    /// [`Report::traced`](crate::Report::traced), whether it passes or fails: to watch a
    /// particular run, or to check that a seed replays. A replay traces its one run anyway.
    pub fn trace_run(mut self, run: u64) -> Self {
        self.trace_run = Some(run);
        self
    }

    /// The size of each green thread's stack (default 256 KiB; from [`MIN_STACK_SIZE`] to
    /// [`MAX_STACK_SIZE`]). Raise it for deep recursion. A thread that overflows it is stopped
    /// and the run fails with a `stack-overflow` report (Linux x86_64 and aarch64; elsewhere the
    /// overflow kills the process). Each stack also reserves a protected 64 KiB zone below this
    /// size.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Checks every setting against its range. [`check`](crate::check) calls it first and
    /// reports a refused configuration as a failure of kind
    /// [`InvalidConfig`](crate::FailureKind::InvalidConfig) without running anything; the CLI
    /// calls it to print the error instead.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.runs == 0 {
            // It used to pass, "no bug found in 0 runs": a check that checked nothing.
            return Err(ConfigError {
                setting: "runs",
                message: "runs(0) checks nothing: a check needs at least 1 run".into(),
            });
        }
        if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&self.stack_size) {
            return Err(ConfigError {
                setting: "stack_size",
                message: format!(
                    "a green-thread stack of {} bytes is out of range: it must be from {MIN_STACK_SIZE} (16 KiB) \
                     to {MAX_STACK_SIZE} (64 MiB) bytes",
                    self.stack_size
                ),
            });
        }
        if self.jobs == 0 || self.jobs > MAX_JOBS {
            return Err(ConfigError {
                setting: "jobs",
                message: format!("{} jobs is out of range: from 1 to {MAX_JOBS}", self.jobs),
            });
        }
        if self.shrink_runs == 0 || self.shrink_steps == 0 {
            return Err(ConfigError {
                setting: "shrink_budget",
                message:
                    "a shrink budget of 0 runs or 0 steps: turn shrinking off with shrink(false) instead"
                        .into(),
            });
        }
        if self.max_time.is_some_and(|t| t.is_zero()) {
            // It used to pass, "passed (not exhaustive): 0 runs", as runs(0) did.
            return Err(ConfigError {
                setting: "max_time",
                message: "max_time(0) stops before the first run: give a positive limit, or none".into(),
            });
        }
        if let StrategyConfig::Pct { depth: 0, .. } = self.strategy {
            return Err(ConfigError {
                setting: "depth",
                message:
                    "pct depth 0 has no meaning: the depth is the bug's, at least 1 (d - 1 change points)"
                        .into(),
            });
        }
        if self.max_steps == 0 {
            return Err(ConfigError {
                setting: "max_steps",
                message: "the step limit must be at least 1".into(),
            });
        }
        if let Some((index, count)) = self.shard {
            self.validate_shard(index, count)?;
        }
        Ok(())
    }

    fn validate_shard(&self, index: u64, count: u64) -> Result<(), ConfigError> {
        let refuse = |message: String| Err(ConfigError { setting: "shard", message });
        if count == 0 || index >= count {
            return refuse(format!(
                "shard {index} of {count} does not exist: the count must be at least 1 and the index below it \
                 (shards 0 to {} of {count})",
                count.saturating_sub(1)
            ));
        }
        match &self.strategy {
            StrategyConfig::Random { .. } | StrategyConfig::Pos { .. } => Ok(()),
            StrategyConfig::Dfs { preemption_bound: None, delay_bound: None } if self.uses_dpor() => {
                if self.jobs > 1 {
                    return refuse(
                        "a sharded dfs runs on one job: run more shards instead of more jobs per shard".into(),
                    );
                }
                if self.trace_run.is_some() {
                    return refuse("a sharded dfs cannot trace a run by its number: replay the failure's schedule".into());
                }
                Ok(())
            }
            StrategyConfig::Dfs { .. } => refuse(
                "only an unbounded dfs with DPOR is split into shards: drop the bound (or the delay bound, or \
                 dpor(false)), or use random or pos"
                    .into(),
            ),
            StrategyConfig::Pct { .. } | StrategyConfig::Portfolio { .. } => refuse(
                "pct and the portfolio cannot be split into shards (their runs depend on the runs before): use \
                 random, pos, or an unbounded dfs"
                    .into(),
            ),
            StrategyConfig::Replay(_) | StrategyConfig::Guided(_) => {
                refuse("a replay is one run: it takes no shard".into())
            }
        }
    }

    /// The watchdog: a green thread that runs `limit` of wall time without a scheduling point
    /// (a loop that touches no racelab primitive, a wait in the OS such as a `std::sync::Mutex`)
    /// is stopped and the run fails with a `watchdog` report (default 10 s; `Duration::ZERO`
    /// turns it off). Wall time never decides anything in a run: the watchdog only stops a
    /// thread that would otherwise hang the check.
    pub fn watchdog(mut self, limit: Duration) -> Self {
        self.watchdog = (!limit.is_zero()).then_some(limit);
        self
    }

    /// The watchdog's limit, `None` when it is off.
    pub fn watchdog_limit(&self) -> Option<Duration> {
        self.watchdog
    }

    /// The strategy settings.
    pub fn strategy(&self) -> &StrategyConfig {
        &self.strategy
    }

    /// The seed, for seeded strategies.
    pub fn seed(&self) -> Option<u64> {
        match self.strategy {
            StrategyConfig::Random { seed }
            | StrategyConfig::Pct { seed, .. }
            | StrategyConfig::Pos { seed }
            | StrategyConfig::Portfolio { seed } => Some(seed),
            _ => None,
        }
    }

    /// The run limit.
    pub fn max_runs(&self) -> u64 {
        self.runs
    }

    /// The per-run step limit.
    pub fn step_limit(&self) -> u64 {
        self.max_steps
    }

    pub(crate) fn build_strategy(&self) -> Box<dyn Strategy> {
        match &self.strategy {
            StrategyConfig::Random { seed } => Box::new(Random::new(*seed)),
            StrategyConfig::Pct { seed, depth } => Box::new(Pct::new(*seed, *depth)),
            StrategyConfig::Pos { seed } => Box::new(Pos::new(*seed)),
            StrategyConfig::Portfolio { seed } => Box::new(Portfolio::new(*seed)),
            StrategyConfig::Dfs { .. } if self.splits_dfs() => {
                let (index, count) = self.shard_or_whole();
                Box::new(Dpor::sharded(index, count, self.shard_cut))
            }
            StrategyConfig::Dfs { preemption_bound, .. } if self.uses_dpor() => {
                Box::new(Dpor::new().preemption_bound(*preemption_bound))
            }
            StrategyConfig::Dfs { preemption_bound, delay_bound: None } => {
                Box::new(Dfs::new(*preemption_bound))
            }
            StrategyConfig::Dfs { preemption_bound, delay_bound: Some(d) } => {
                Box::new(Dfs::new(*preemption_bound).delay_bound(*d))
            }
            StrategyConfig::Replay(s) => Box::new(Replay::new(s)),
            StrategyConfig::Guided(choices) => Box::new(Guided::new(choices)),
        }
    }
}

impl fmt::Display for Config {
    /// Every effective setting, `key=value`, in a fixed order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.strategy {
            StrategyConfig::Random { seed } => write!(f, "strategy=random seed={seed}")?,
            StrategyConfig::Pct { seed, depth } => write!(f, "strategy=pct seed={seed} depth={depth}")?,
            StrategyConfig::Pos { seed } => write!(f, "strategy=pos seed={seed}")?,
            StrategyConfig::Portfolio { seed } => write!(f, "strategy=portfolio seed={seed}")?,
            StrategyConfig::Dfs { preemption_bound, delay_bound } => {
                match preemption_bound {
                    None => write!(f, "strategy=dfs preemption-bound=none")?,
                    Some(b) => write!(f, "strategy=dfs preemption-bound={b}")?,
                }
                if let Some(d) = delay_bound {
                    write!(f, " delay-bound={d}")?;
                }
                write!(f, " dpor={}", if self.uses_dpor() { "on" } else { "off" })?;
            }
            StrategyConfig::Replay(s) => write!(f, "strategy=replay schedule=\"{s}\"")?,
            StrategyConfig::Guided(choices) => {
                let list: Vec<String> = choices.iter().map(u32::to_string).collect();
                write!(f, "strategy=guided choices=\"{}\"", list.join(" "))?;
            }
        }
        let on_jobs = matches!(self.strategy, StrategyConfig::Portfolio { .. })
            || (matches!(self.strategy, StrategyConfig::Pct { .. }) && self.trace_run.is_none())
            || (self.uses_dpor()
                && matches!(self.strategy, StrategyConfig::Dfs { preemption_bound: None, .. }));
        if on_jobs && self.jobs > 1 {
            write!(f, " jobs={}", self.jobs)?;
        }
        if crate::parallel::independent_runs(self) {
            write!(f, " jobs={}", self.jobs)?;
        }
        if let Some((k, n)) = self.shard.filter(|&(_, n)| n > 1 || self.splits_dfs()) {
            write!(f, " shard={k}/{n}")?;
        }
        write!(
            f,
            " runs={} max-steps={} spurious-wakeups={} adversarial-wakeups={}",
            self.runs,
            self.max_steps,
            self.semantics.spurious_wakeups,
            if self.semantics.adversarial_wakeups { "on" } else { "off" }
        )?;
        // Echoed only when changed, so that reports of the default settings stay as they were.
        if self.semantics.fail_on_daemon_cut_off {
            write!(f, " daemon-cut-off=fail")?;
        }
        if self.semantics.thread_panics != ThreadPanics::FailRun {
            write!(f, " thread-panics={}", self.semantics.thread_panics.name())?;
        }
        if let Some(t) = self.max_time {
            write!(f, " max-time={}s", fmt_secs(t))?;
        }
        // Echoed only when asked for (a replay's schedule carries it), so that reports of the
        // default settings stay as they were; an exploration that restarted says so here.
        if self.release_points != ReleasePoints::Auto && !matches!(self.strategy, StrategyConfig::Replay(_)) {
            write!(f, " release-points={}", self.release_points.name())?;
        }
        if self.require_exhaustive {
            write!(f, " require-exhaustive=on")?;
        }
        // Echoed only when changed, so that reports of the default settings stay as they were.
        match self.watchdog {
            Some(d) if d == DEFAULT_WATCHDOG => Ok(()),
            Some(d) => write!(f, " watchdog={}s", fmt_secs(d)),
            None => write!(f, " watchdog=off"),
        }
    }
}

/// Seconds, without a fraction when whole (`60`, `0.5`).
pub(crate) fn fmt_secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}", d.as_secs_f64())
    }
}
