//! Reports: what a check or a replay found, as values.
//!
//! A bug in the program under test is never a panic of the caller: it is a [`Failure`] in the
//! [`Report`], carrying the run that failed, its [`Schedule`], its [`Trace`] and a diagnosis
//! that names threads and objects. A report displays as a readable text; its parts are plain
//! public fields for programs, and the whole serializes to JSON.

use std::fmt;

use serde::Serialize;

use crate::clock::VirtualTime;
use crate::diagnosis::Diagnosis;
use crate::ids::{ObjectId, ThreadId};
use crate::schedule::Schedule;
use crate::trace::Trace;

/// A thread, by id and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadRef {
    /// The thread's id (`t0` is main).
    pub id: ThreadId,
    /// The thread's name.
    pub name: String,
    /// True when the thread was cut off by `terminate()` (a process-style worker).
    pub terminated: bool,
}

impl fmt::Display for ThreadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terminated {
            write!(f, "{} (terminated)", self.name)
        } else {
            write!(f, "{}", self.name)
        }
    }
}

/// A simulated object, by kind and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    /// The object's id within its run.
    pub id: ObjectId,
    /// Its kind: `Lock`, `Condition`, `Thread`, `Shared`...
    pub kind: String,
    /// Its name: given at creation, or the kind and a number (`Lock-2`).
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.starts_with(&self.kind) {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{} `{}`", self.kind, self.name)
        }
    }
}

/// One thread that can never run again in a deadlock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockedThread {
    /// The blocked thread.
    pub thread: ThreadRef,
    /// What it waits on.
    pub waits_on: ObjectRef,
    /// Who holds that object (empty: nobody, e.g. a condition nobody will notify).
    pub held_by: Vec<ThreadRef>,
    /// What the blocked thread itself holds.
    pub holds: Vec<ObjectRef>,
    /// What the object's history says about why nobody will wake the thread, when the
    /// primitive knows ("last notify at step 41 woke nobody").
    pub note: Option<String>,
    /// True for a thread that waits on nothing: a sleep that ends past the end of the virtual
    /// clock (`waits_on` is then its own thread).
    pub sleeps: bool,
}

/// The kinds of object a thread can hold: only these are "held by nobody" in a deadlock.
const HELD_KINDS: [&str; 6] = ["Lock", "RLock", "Mutex", "RwLock", "Semaphore", "BoundedSemaphore"];

/// Every live thread is blocked and no timeout is pending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deadlock {
    /// Every blocked thread, in id order.
    pub blocked: Vec<BlockedThread>,
    /// A wait-for cycle, if there is one: each thread waits on the object, which the next
    /// thread in the list holds (the last waits on what the first holds).
    pub cycle: Vec<(ThreadRef, ObjectRef)>,
}

/// A destructor that panicked while racelab unwound a suspended thread at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TeardownPanic {
    /// The thread being unwound.
    pub thread: ThreadRef,
    /// The destructor's panic message.
    pub message: String,
    /// Where in the source, when known.
    pub location: Option<String>,
    /// The panic came after a wait of that destructor that racelab ended at once, since no
    /// thread can run during the teardown (a join of a thread already cut off gives `Err`, a lock
    /// another thread holds panics): then it is the teardown's doing, not a bug of the program.
    pub after_cut_short_wait: bool,
}

impl fmt::Display for TeardownPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a destructor panicked while racelab unwound {} at the end of the run: {}",
            self.thread, self.message
        )?;
        if let Some(l) = &self.location {
            write!(f, " (at {l})")?;
        }
        write!(
            f,
            ". Rust aborts on a panic during unwinding, so racelab stopped unwinding that thread there (its other \
             destructors did not run)."
        )?;
        if self.after_cut_short_wait {
            write!(
                f,
                " It came after a wait in that destructor that racelab had to end at once, as no other thread \
                 runs while one is unwound (a join of a thread already cut off returns Err): the teardown's \
                 doing, not a bug of your program."
            )
        } else {
            write!(f, " A destructor must not panic while its thread unwinds (std::thread::panicking()).")
        }
    }
}

/// One of the two accesses of a data race.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RaceAccess {
    /// The thread that accessed the cell.
    pub thread: ThreadRef,
    /// The step it accessed it in.
    pub step: u64,
    /// True for a write (`with_mut`, or the cell's creation), false for a read (`with`).
    pub write: bool,
    /// Where in the source (`file:line:column` of the `with`/`with_mut` call, or of `new`).
    pub location: String,
}

impl fmt::Display for RaceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.write { "a write" } else { "a read" };
        write!(f, "{what} by {} at step {} ({})", self.thread, self.step, self.location)
    }
}

/// A data race: two accesses to one cell, at least one a write, that no synchronization orders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataRace {
    /// The cell.
    pub object: ObjectRef,
    /// The earlier access.
    pub first: RaceAccess,
    /// The later access, where the run stopped.
    pub second: RaceAccess,
}

impl fmt::Display for DataRace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "data race on {}: {} and {}, with no synchronization between them (no lock released by one and \
             taken by the other, no spawn, join or other racelab operation ordering them)",
            self.object, self.first, self.second
        )
    }
}

/// What went wrong in a failing run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FailureKind {
    /// Every live thread is blocked forever.
    Deadlock(Deadlock),
    /// A thread panicked: a failed `assert!`, an `unwrap` on `None`...
    Panic {
        /// The thread that panicked.
        thread: ThreadRef,
        /// The panic message.
        message: String,
        /// Where in the source, when known.
        location: Option<String>,
    },
    /// A primitive was misused, and the program did not handle the error: Python would raise
    /// `exception` here.
    Misuse {
        /// The thread that misused it.
        thread: ThreadRef,
        /// Python's exception class, e.g. `RuntimeError`.
        exception: String,
        /// Python's message, e.g. `release unlocked lock`.
        message: String,
    },
    /// The run took more steps than allowed.
    StepLimit {
        /// The limit that was hit.
        max_steps: u64,
        /// Threads that could still run when it was hit.
        runnable: Vec<ThreadRef>,
    },
    /// The run ended (main and every non-daemon thread finished) with daemon threads still
    /// alive, cut off where they stood, and the configuration asked for that to fail.
    DaemonCutOff {
        /// The daemons that were cut off.
        threads: Vec<ThreadRef>,
    },
    /// The schedule does not fit the program (replay), or the program made a decision racelab
    /// does not control so the same choices led elsewhere (exhaustive search).
    Divergence {
        /// What was expected at which decision.
        message: String,
    },
    /// The configuration was refused before any run (see [`Config::validate`]): nothing ran.
    ///
    /// [`Config::validate`]: crate::Config::validate
    InvalidConfig {
        /// Which setting and the range it must be in.
        message: String,
    },
    /// A thread used more stack than its green thread has (`Config::stack_size`): unbounded
    /// recursion, or a deep one that needs a larger stack. The thread was stopped where it
    /// overflowed; its frames were discarded without running their destructors.
    StackOverflow {
        /// The thread that overflowed.
        thread: ThreadRef,
        /// Its stack size in bytes.
        stack_size: u64,
    },
    /// A thread ran longer than the watchdog's limit of wall time without reaching a
    /// scheduling point: a loop that touches no racelab primitive, or a wait in the OS that
    /// racelab cannot see (a `std::sync::Mutex` held by a suspended thread, blocking I/O).
    /// The thread was stopped there; its frames were discarded without running destructors.
    Watchdog {
        /// The thread that was stopped.
        thread: ThreadRef,
        /// The limit, in milliseconds of wall time.
        limit_ms: u64,
    },
    /// A destructor panicked while racelab unwound a thread at the end of an otherwise passing
    /// run (a daemon cut off, say). Rust aborts on a panic during unwinding; racelab stops that
    /// thread's unwinding there instead.
    TeardownPanic(TeardownPanic),
    /// An OS thread (`std::thread::spawn`) used a racelab primitive while this run went on.
    /// racelab simulates only its own threads (`racelab::thread::spawn`).
    OsThread {
        /// What the OS thread did.
        message: String,
    },
    /// Two threads accessed a cell (`racelab::cell::UnsafeCell`), at least one of them writing,
    /// with no synchronization ordering the two: a data race, whatever values the run saw.
    DataRace(Box<DataRace>),
}

impl FailureKind {
    /// A one-word name for the kind: `deadlock`, `panic`, `misuse`, `step-limit`,
    /// `daemon-cut-off`, `divergence`, `invalid-config`, `stack-overflow`, `watchdog`, `teardown-panic`,
    /// `os-thread`, `data-race`.
    pub fn name(&self) -> &'static str {
        match self {
            FailureKind::Deadlock(_) => "deadlock",
            FailureKind::Panic { .. } => "panic",
            FailureKind::Misuse { .. } => "misuse",
            FailureKind::StepLimit { .. } => "step-limit",
            FailureKind::DaemonCutOff { .. } => "daemon-cut-off",
            FailureKind::Divergence { .. } => "divergence",
            FailureKind::InvalidConfig { .. } => "invalid-config",
            FailureKind::StackOverflow { .. } => "stack-overflow",
            FailureKind::TeardownPanic(_) => "teardown-panic",
            FailureKind::Watchdog { .. } => "watchdog",
            FailureKind::OsThread { .. } => "os-thread",
            FailureKind::DataRace(_) => "data-race",
        }
    }
}

/// A failing run: the diagnosis and everything needed to see it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What went wrong.
    pub kind: FailureKind,
    /// Which bug that is, explained.
    pub diagnosis: Diagnosis,
    /// The run that failed, counted from 0.
    pub run: u64,
    /// The step at which it went wrong.
    pub step: u64,
    /// The virtual time at which it went wrong.
    pub time: VirtualTime,
    /// Every decision of the failing run: `racelab::replay` with it reproduces the run.
    #[serde(serialize_with = "as_text")]
    pub schedule: Schedule,
    /// Every event of the failing run.
    pub trace: Trace,
    /// Daemon threads that were still alive when the run ended.
    pub cut_off: Vec<ThreadRef>,
    /// Preemptions in the run: thread switches away from a thread that could have gone on, or
    /// choices that kept a yielding thread going while another could run (`strategy::preempts`).
    pub preemptions: u32,
    /// When shrinking found this smaller failing run, the run the exploration found first.
    pub shrunk_from: Option<ShrunkFrom>,
    /// When shrinking stopped at one of its budgets (runs, steps replayed, wall time, or the
    /// stop flag) before it had tried every bound: which one. The run shown may then not be
    /// the smallest.
    pub shrink_cut_short: Option<String>,
    /// A destructor that panicked while racelab unwound a thread at the end of this run (the
    /// failure itself stands). Such a failure is not shrunk.
    pub teardown_panic: Option<TeardownPanic>,
    /// The half of the portfolio whose run failed (`dpor` or `pos`); `None` for other strategies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_by: Option<&'static str>,
}

impl Failure {
    /// The index in `trace.events` of the event the failure happened at, for marking it: a
    /// panicking thread's last event of the failing step (not counting the locks its unwinding
    /// released, nor what the destructors it ran told: `drop Receiver`, `drop`), or the run's
    /// last event up to that step (a deadlock: the moment the last runnable thread blocked).
    pub fn failing_event(&self) -> Option<usize> {
        let thread = match &self.kind {
            FailureKind::Panic { thread, .. } | FailureKind::Misuse { thread, .. } => {
                Some(thread.name.as_str())
            }
            FailureKind::StackOverflow { thread, .. } | FailureKind::Watchdog { thread, .. } => {
                Some(thread.name.as_str())
            }
            _ => None,
        };
        let events = &self.trace.events;
        // A panicking thread may have taken steps while it unwound (an `Arc` drop's point):
        // its failing operation is then in an earlier step than the failure's.
        let unwound = matches!(self.kind, FailureKind::Panic { .. })
            && events.iter().any(|e| {
                e.step == self.step
                    && thread.is_some_and(|t| e.thread == t)
                    && (e.operation.starts_with("drop")
                        || matches!(e.kind, Some(crate::trace::EventKind::Released { .. })))
            });
        let own = thread.and_then(|t| {
            events.iter().rposition(|e| {
                e.thread == t
                    && (e.step == self.step || (unwound && e.step < self.step))
                    && !matches!(e.kind, Some(crate::trace::EventKind::Released { .. }))
                    && !e.operation.starts_with("drop")
            })
        });
        own.or_else(|| self.trace.failing_event(self.step, thread))
    }
}

/// The failing run an exploration found before shrinking replaced it with a smaller one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShrunkFrom {
    /// The run, counted from 0.
    pub run: u64,
    /// Its steps.
    pub steps: u64,
    /// Its preemptions.
    pub preemptions: u32,
    /// Its schedule.
    #[serde(serialize_with = "as_text")]
    pub schedule: Schedule,
}

/// The `key=value` pairs of a settings line (as [`Config`](crate::Config) displays it), as JSON
/// fields: keys in snake case (`max_steps`), whole numbers as numbers, `on`/`off` as booleans,
/// `none` as null, anything else (a quoted schedule, a shard `K/N`) as a string.
pub(crate) fn settings_fields(line: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    let mut rest = line.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => after.split_once(' ').unwrap_or((after, "")),
        };
        let value = match value {
            "on" => serde_json::Value::Bool(true),
            "off" => serde_json::Value::Bool(false),
            "none" => serde_json::Value::Null,
            v => v.parse::<u64>().map(Into::into).unwrap_or_else(|_| v.into()),
        };
        fields.insert(key.trim().replace('-', "_"), value);
        rest = next.trim_start();
    }
    fields
}

fn settings_object<S: serde::Serializer>(line: &str, ser: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&settings_fields(line), ser)
}

fn as_text<S: serde::Serializer>(s: &Schedule, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&s.to_string())
}

/// What a check or replay found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The effective settings, as `key=value` pairs in a line (`strategy=random seed=7 ...`).
    /// In JSON, an object of the same pairs: keys in snake case, whole numbers as numbers,
    /// `on`/`off` as booleans, `none` as null, the rest (a schedule, a shard) as strings.
    #[serde(serialize_with = "settings_object")]
    pub settings: String,
    /// Runs executed.
    pub runs: u64,
    /// Scheduling steps executed over all runs.
    pub steps: u64,
    /// True when the strategy had nothing left to explore (an exhaustive search completed);
    /// false when the run limit, the time limit, the stop flag or a failure stopped it.
    pub exhausted: bool,
    /// True for an exhaustive strategy (`dfs`), whose pass proves the program correct only when
    /// `exhausted`; false for sampling strategies and replays.
    pub exhaustive_search: bool,
    /// True when the configuration asked [`Report::assert_passed`] to fail an exhaustive search
    /// that did not complete (`Config::require_exhaustive`).
    pub require_exhaustive: bool,
    /// True when the wall-time budget (`Config::max_time`) stopped the exploration.
    pub out_of_time: bool,
    /// True when the stop flag (`Config::stop_flag`, Ctrl-C in the CLI) stopped the
    /// exploration: the report covers the runs done until then.
    pub interrupted: bool,
    /// For a replay of a schedule that carries its trace's hash (as printed schedules do): set,
    /// with a note saying so, when the replayed trace hashes differently, i.e. the program
    /// behaves differently under the same decisions than when the schedule was recorded.
    pub replay_differs: Option<String>,
    /// Runs in which daemon threads were cut off at the end.
    pub runs_with_daemons_cut_off: u64,
    /// Runs that partial-order reduction stopped early because they could only repeat runs
    /// explored already (counted in `runs`). For an exhaustive search with reduction,
    /// `runs - redundant_runs` is the number of distinct classes of equivalent interleavings.
    pub redundant_runs: u64,
    /// How many runs are known to differ pairwise, where known: for `dfs` every run is a
    /// different interleaving, and with partial-order reduction every run not cut short is a
    /// different class of equivalent interleavings. `None` for sampling strategies.
    pub distinct_runs: Option<u64>,
    /// Wall time of the exploration in microseconds, not counting the tracing and shrinking of a
    /// failure: with `steps`, the throughput. The only field that differs between two checks of
    /// the same program.
    pub elapsed_micros: u64,
    /// The first failing run, if any.
    pub failure: Option<Failure>,
    /// The run asked for with `Config::trace_run`, and the one run of a replay, traced.
    pub traced: Option<TracedRun>,
    /// For a `dfs` split into shards (`Config::shard`): the subtrees this shard explored, in the
    /// search's order, with their runs (they add up to `runs`); when a run failed, the last one
    /// holds it. `racelab merge` numbers the runs of all shards from these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_subtrees: Option<Vec<ShardSubtree>>,
    /// For a `dfs` (on one job) that stopped before the end of its search, without a bug: its
    /// runs kept growing (see [`Report::growth_note`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growing_runs: Option<GrowingRuns>,
}

/// The first and the longest run of a search whose runs kept growing: the longest at least
/// [`GrowingRuns::FACTOR`] times the first and [`GrowingRuns::MARGIN`] steps longer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GrowingRuns {
    /// The steps of the first run.
    pub first_steps: u64,
    /// The steps of the longest run.
    pub longest_steps: u64,
    /// The longest run's number.
    pub longest_run: u64,
}

impl GrowingRuns {
    /// How many times the first run's steps the longest must take.
    pub const FACTOR: u64 = 4;
    /// How many steps more than the first run the longest must take.
    pub const MARGIN: u64 = 200;

    /// While the exploration runs, `report.growing_runs` holds the first and longest runs so far,
    /// whether they grew or not: run `run` took `steps`.
    pub(crate) fn track(report: &mut Report, run: u64, steps: u64) {
        let g = report.growing_runs.get_or_insert(GrowingRuns {
            first_steps: steps,
            longest_steps: steps,
            longest_run: run,
        });
        if steps > g.longest_steps {
            g.longest_steps = steps;
            g.longest_run = run;
        }
    }

    /// Once the exploration is over: keeps what [`GrowingRuns::track`] gathered only when the
    /// search stopped short without a bug (not interrupted) and its runs grew.
    pub(crate) fn settle(report: &mut Report) {
        let stopped_short = report.incomplete().is_some() && !report.interrupted;
        report.growing_runs = report.growing_runs.take().filter(|g| {
            stopped_short
                && g.longest_steps >= g.first_steps.saturating_mul(Self::FACTOR)
                && g.longest_steps >= g.first_steps.saturating_add(Self::MARGIN)
        });
    }
}

/// One subtree of a sharded `dfs` (see [`Report::shard_subtrees`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ShardSubtree {
    /// The subtree's number in the search's order (the shard's index modulo the shard count).
    pub subtree: u64,
    /// The runs made in it.
    pub runs: u64,
}

/// One run's decisions and events, recorded whether it passed or failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TracedRun {
    /// The run, counted from 0.
    pub run: u64,
    /// Every decision of the run.
    #[serde(serialize_with = "as_text")]
    pub schedule: Schedule,
    /// Every event of the run.
    pub trace: Trace,
    /// Daemon threads cut off at the end of the run.
    pub cut_off: Vec<ThreadRef>,
}

impl Report {
    /// True when no run failed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// Panics with the report unless it passed: for tests that want a failure to fail. A long
    /// trace is cut to its first and last events (the whole trace stays in
    /// `report.failure.trace`). An exhaustive search that stopped before it explored everything
    /// passes with a warning on standard error, or panics when the configuration said
    /// `require_exhaustive(true)`.
    #[track_caller]
    pub fn assert_passed(&self) {
        if let Some(f) = &self.failure {
            panic!(
                // The diagnosis names the bug (`assertion`, `lost-wakeup`); the kind names how the
                // run ended (`panic`), which is what the report below says next.
                "racelab found a bug ({}):\n{self}{}",
                f.diagnosis.kind,
                self.rust_replay_line().unwrap_or_default()
            );
        }
        if let Some(why) = self.incomplete() {
            if self.require_exhaustive {
                panic!(
                    "racelab: no bug found, but the exhaustive search {why} after {} runs without exploring every \
                     interleaving, and Config::require_exhaustive(true) asks for a complete search: raise \
                     Config::runs or Config::max_time, or bound the search (Config::preemption_bound)\n{self}",
                    self.runs
                );
            }
            eprintln!(
                "racelab: warning: no bug found, but the exhaustive search {why} after {} runs without exploring \
                 every interleaving: this pass is not a proof (Config::require_exhaustive(true) makes it fail)",
                self.runs
            );
        }
    }

    /// For a failure: the line that replays it from Rust, ready to paste into a test
    /// (`replay in Rust: racelab::replay(&"v1 ...".parse().unwrap(), program).assert_passed()`,
    /// where `program` is the closure that was checked: pasted into a test, it fails the same way),
    /// newline-ended.
    /// The schedule carries the settings the run was recorded under, so the replay needs
    /// nothing else.
    pub fn rust_replay_line(&self) -> Option<String> {
        let f = self.failure.as_ref()?;
        Some(format!(
            "replay in Rust: racelab::replay(&\"{}\".parse().unwrap(), program).assert_passed()\n",
            f.schedule
        ))
    }

    /// When the exploration started again with a scheduling point before every lock release
    /// ([`ReleasePoints::Auto`](crate::ReleasePoints::Auto)): which run observed a lock and how
    /// (`run 3: try_acquire on Lock-1`), as the settings line's `restarted="..."` says it.
    pub fn restarted(&self) -> Option<&str> {
        let (_, rest) = self.settings.split_once(" restarted=\"")?;
        rest.split_once('"').map(|(note, _)| note)
    }

    /// Why an exhaustive search ended before it explored everything, when it did and found no
    /// bug: "stopped at its run limit", "stopped at its time limit", "was interrupted".
    pub fn incomplete(&self) -> Option<&'static str> {
        if !self.exhaustive_search || self.exhausted || self.failure.is_some() {
            return None;
        }
        Some(self.stopped_because())
    }

    /// When an exhaustive search stopped short with ever longer runs: why it may never end, and
    /// what to do instead.
    pub fn growth_note(&self) -> Option<String> {
        let g = self.growing_runs?;
        Some(format!(
            "the runs kept growing, from {} steps (run 0) to {} (run {}): a loop that some schedules keep going \
             round (a daemon's `while True`, polling, a retry) gives the search ever longer runs and no end; try \
             sampling (--strategy pos) or a preemption bound (--preemption-bound 2, Config::preemption_bound), \
             which ends the search unless the loop spins without yielding",
            g.first_steps, g.longest_steps, g.longest_run
        ))
    }

    /// What ended a passing exploration that did not exhaust its strategy.
    fn stopped_because(&self) -> &'static str {
        if self.interrupted {
            "was interrupted"
        } else if self.out_of_time {
            "stopped at its time limit"
        } else {
            "stopped at its run limit"
        }
    }

    /// The coverage figures in one line: runs (and how many are distinct, where known), steps,
    /// then wall time and steps per second.
    pub fn coverage(&self) -> String {
        let mut line = format!("{} run{}", self.runs, if self.runs == 1 { "" } else { "s" });
        match self.distinct_runs {
            Some(d) if self.redundant_runs > 0 => line.push_str(&format!(
                " ({d} distinct up to reordering independent steps, {} cut short as {})",
                self.redundant_runs,
                if self.settings.contains("preemption-bound=none") {
                    "redundant"
                } else {
                    "redundant or beyond the bound"
                }
            )),
            Some(d) if self.settings.contains("dpor=on") => {
                line.push_str(&format!(" ({d} distinct up to reordering independent steps)"))
            }
            Some(_) => line.push_str(" (each a distinct interleaving)"),
            None => {}
        }
        let secs = self.elapsed_micros as f64 / 1e6;
        let rate = if self.elapsed_micros == 0 { 0.0 } else { self.steps as f64 / secs };
        line.push_str(&format!(", {} steps; {secs:.3} s, {rate:.0} steps/s", self.steps));
        line
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("\"report not serializable: {e}\""))
    }
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.cycle.is_empty() {
            let n = self.cycle.len();
            let links: Vec<String> = (0..n)
                .map(|i| {
                    let (t, o) = &self.cycle[i];
                    format!("{t} waits on {o} held by {}", self.cycle[(i + 1) % n].0)
                })
                .collect();
            writeln!(f, "wait-for cycle: {}", links.join("; "))?;
        }
        for b in &self.blocked {
            if b.sleeps {
                // On nothing but itself: a sleep that never ends (the note says why).
                writeln!(f, "  {} sleeps: {}", b.thread, b.note.as_deref().unwrap_or("nothing ends it"))?;
                continue;
            }
            if b.waits_on.kind == "Thread" {
                writeln!(f, "  {} joins thread {}, which is blocked too", b.thread, b.waits_on.name)?;
                continue;
            }
            write!(f, "  {} waits on {}", b.thread, b.waits_on)?;
            if b.held_by.is_empty() {
                // Only what a thread can hold is "held by nobody": a queue, a condition or a
                // barrier has no holder to name.
                if HELD_KINDS.contains(&b.waits_on.kind.as_str()) {
                    write!(f, " (held by nobody)")?;
                }
            } else {
                let holders: Vec<String> = b.held_by.iter().map(|t| t.to_string()).collect();
                write!(f, " (held by {})", holders.join(", "))?;
            }
            if !b.holds.is_empty() {
                let held: Vec<String> = b.holds.iter().map(|o| o.to_string()).collect();
                write!(f, "; it holds {}", held.join(", "))?;
            }
            if let Some(note) = &b.note {
                write!(f, "; {note}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Deadlock(d) => {
                write!(f, "deadlock: every live thread is blocked and no timeout is pending\n{d}")
            }
            FailureKind::Panic { thread, message, location } => {
                write!(f, "panic in thread {thread}: {message}")?;
                if let Some(l) = location {
                    write!(f, " (at {l})")?;
                }
                writeln!(f)
            }
            FailureKind::Misuse { thread, exception, message } => {
                writeln!(f, "misuse in thread {thread}: {exception}: {message}")
            }
            FailureKind::StepLimit { max_steps, runnable } => {
                let names: Vec<&str> = runnable.iter().map(|t| t.name.as_str()).collect();
                writeln!(
                    f,
                    "step limit: the run took more than {max_steps} steps with {} still runnable. A spin loop or a livelock \
                     never ends; a long but correct program needs a larger limit (Config::max_steps, --max-steps). A loop \
                     that waits for time to pass (until `elapsed()` reaches a duration) without sleeping never ends \
                     either: the virtual clock moves only when no thread can run, so sleep in it.",
                    names.join(", ")
                )
            }
            FailureKind::DaemonCutOff { threads } => {
                let names: Vec<&str> = threads.iter().map(|t| t.name.as_str()).collect();
                writeln!(
                    f,
                    "daemon cut off: the program ended (main and every non-daemon thread finished) while daemon \
                     thread{} {} still ran; Python kills daemons where they stand, so their remaining work is lost",
                    if names.len() > 1 { "s" } else { "" },
                    names.join(", ")
                )
            }
            FailureKind::Divergence { message } => writeln!(f, "divergence: {message}"),
            FailureKind::InvalidConfig { message } => writeln!(f, "invalid configuration: {message}"),
            FailureKind::StackOverflow { thread, stack_size } => writeln!(
                f,
                "stack overflow in thread {thread}: it used more than its {} KiB stack and was stopped there \
                 (its frames were dropped without running destructors). Unbounded recursion? A deep but finite \
                 one needs a larger stack (Config::stack_size).",
                stack_size / 1024
            ),
            FailureKind::Watchdog { thread, limit_ms } => writeln!(
                f,
                "watchdog: {thread} ran {} of wall time without a scheduling point and was stopped there: a loop that \
                 touches no racelab primitive, or a wait in the OS that racelab cannot see (a std::sync::Mutex held \
                 by a thread racelab suspended, blocking I/O, std::thread::sleep)? Use racelab's primitives; a long \
                 computation needs a larger limit (Config::watchdog, --watchdog).",
                seconds(*limit_ms)
            ),
            FailureKind::TeardownPanic(p) => writeln!(f, "teardown panic: {p}"),
            FailureKind::OsThread { message } => writeln!(f, "os thread: {message}"),
            FailureKind::DataRace(race) => writeln!(f, "{race}"),
        }
    }
}

/// Milliseconds as seconds, without trailing zeros: `10 s`, `0.25 s`.
pub(crate) fn seconds(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{} s", ms as f64 / 1000.0)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "settings: {}", self.settings)?;
        if let Some(note) = &self.replay_differs {
            writeln!(f, "note: {note}")?;
        }
        match &self.failure {
            None => {
                let how = if self.exhausted {
                    "every interleaving explored".to_string()
                } else if self.exhaustive_search || self.interrupted || self.out_of_time {
                    format!("not exhaustive: the exploration {}", self.stopped_because())
                } else {
                    "not exhaustive".to_string()
                };
                writeln!(f, "passed ({how}): {}", self.coverage())?;
                if let Some(note) = self.growth_note() {
                    writeln!(f, "note: {note}")?;
                }
                if let Some(t) = &self.traced {
                    writeln!(f, "run {}: schedule: {}", t.run, t.schedule)?;
                    if !t.cut_off.is_empty() {
                        let names: Vec<&str> = t.cut_off.iter().map(|t| t.name.as_str()).collect();
                        writeln!(f, "daemon threads cut off at the end: {}", names.join(", "))?;
                    }
                    writeln!(f, "trace:")?;
                    write!(f, "{}", t.trace.excerpt("the whole trace is in `report.traced.trace`"))?;
                }
                Ok(())
            }
            Some(fail) => {
                writeln!(
                    f,
                    "FAILED in run {} of {} at step {} (virtual time {}){}",
                    fail.run,
                    self.runs,
                    fail.step,
                    fail.time,
                    fail.found_by
                        .map(|half| format!(", found by the portfolio's {half} half"))
                        .unwrap_or_default()
                )?;
                if let Some(s) = &fail.shrunk_from {
                    writeln!(
                        f,
                        "shrunk: from {} steps and {} (run {}) to {} steps and {}",
                        s.steps,
                        preemptions(s.preemptions),
                        s.run,
                        fail.step,
                        preemptions(fail.preemptions)
                    )?;
                }
                writeln!(f, "diagnosis: {}", fail.diagnosis)?;
                write!(f, "{}", fail.kind)?;
                if let Some(p) = &fail.teardown_panic {
                    writeln!(f, "also: {p}")?;
                }
                if !fail.cut_off.is_empty() {
                    let names: Vec<&str> = fail.cut_off.iter().map(|t| t.name.as_str()).collect();
                    writeln!(f, "daemon threads cut off at the end: {}", names.join(", "))?;
                }
                if let Some(why) = &fail.shrink_cut_short {
                    writeln!(f, "shrinking stopped at {why}: a smaller failing run may exist")?;
                }
                writeln!(f, "schedule: {}", fail.schedule)?;
                writeln!(f, "trace:")?;
                write!(
                    f,
                    "{}",
                    fail.trace.excerpt_marked(
                        "the whole trace is in `report.failure.trace`, or replay the schedule above",
                        fail.failing_event()
                    )
                )
            }
        }
    }
}

/// `1 preemption`, `2 preemptions`.
fn preemptions(n: u32) -> String {
    if n == 1 {
        "1 preemption".to_string()
    } else {
        format!("{n} preemptions")
    }
}

#[cfg(test)]
mod tests {
    use super::settings_fields;
    use crate::Config;
    use serde_json::json;

    #[test]
    fn settings_become_typed_fields() {
        let random = settings_fields(&Config::random(7).jobs(2).shard(1, 4).to_string());
        assert_eq!(
            serde_json::Value::Object(random),
            json!({"strategy": "random", "seed": 7, "jobs": 2, "shard": "1/4", "runs": 1000,
                   "max_steps": 100000, "spurious_wakeups": 1, "adversarial_wakeups": false})
        );
        let dfs = settings_fields(&Config::dfs().delay_bound(2).adversarial_wakeups(true).to_string());
        assert_eq!(
            serde_json::Value::Object(dfs),
            json!({"strategy": "dfs", "preemption_bound": null, "delay_bound": 2, "dpor": false,
                   "runs": 1000000, "max_steps": 100000, "spurious_wakeups": 1, "adversarial_wakeups": true})
        );
        let replay = settings_fields(&Config::replay("v1 t1 t0*3".parse().unwrap()).to_string());
        assert_eq!(replay["schedule"], "v1 t1 t0*3");
        assert_eq!(replay["runs"], 1);
        let pct = settings_fields(&Config::pct(u64::MAX, 3).to_string());
        assert_eq!((&pct["seed"], &pct["depth"]), (&json!(u64::MAX), &json!(3)));
    }
}
