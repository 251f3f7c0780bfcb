//! `model(|| ..)`: check a concurrent program from a `#[test]` in one call, with sensible
//! defaults, CI knobs from the environment, and a report that says how to replay a failure.
//!
//! Why: `check(Config, ..)` asks the user to choose a strategy and its limits. A test wants
//! one call that proves a small program correct when it can and samples a large one otherwise,
//! and that fails the test with everything needed to reproduce the bug. loom's `model` and
//! shuttle's `check_random` are that call; this is racelab's.
//!
//! What [`model`] runs (see [`Model`] for the numbers): the portfolio (`Config::portfolio`),
//! exhaustive DPOR and Partial Order Sampling run for run in turn, within a run cap and a time
//! budget. When DPOR finishes, a pass is a proof for every interleaving; when it cannot, the
//! sampled half has been looking where DPOR's depth-first order arrives late, so a bug either
//! finds comes out at most about twice as late as the faster one alone would find it.
//!
//! On a failure it panics with the whole report (the trace cut as
//! [`Report::assert_passed`] cuts it), ending with the Rust line that replays it and the
//! command that reruns the test replaying it. Each call explores on an OS thread of its own,
//! so `cargo test`'s parallel test threads can each run checks at once.
//!
//! # Environment variables
//!
//! Read by [`model`] (and [`Model::from_env`]) when it is called, never elsewhere; a value
//! that cannot be read is an error that names the variable (the test fails with it), never a
//! silent default. Each one used is echoed in the failure report.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `RACELAB_SEED` | the sampled half's seed (a whole number) | `0` |
//! | `RACELAB_RUNS` | the run cap, both halves together (at least 1) | 100000 |
//! | `RACELAB_MAX_TIME` | the wall-time budget in seconds (`30`, `0.5`) | `10` |
//! | `RACELAB_SCHEDULE` | replay this one schedule (`v1 ...`) instead of exploring | unset |

use std::time::Duration;

use racelab_sim::{Config, Report, Schedule, Semantics};

/// Run cap, both halves of the portfolio together.
pub const DEFAULT_RUNS: u64 = 100_000;
/// Wall-time budget.
pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(10);

/// The variables [`Model::from_env`] reads.
pub const ENV_VARS: [&str; 5] =
    ["RACELAB_SEED", "RACELAB_RUNS", "RACELAB_MAX_TIME", "RACELAB_JOBS", "RACELAB_SCHEDULE"];

/// How [`model`] checks a program: its defaults, adjustable, and what the environment set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    seed: u64,
    runs: Option<u64>,
    max_time: Duration,
    jobs: usize,
    schedule: Option<Schedule>,
    semantics: Semantics,
    /// The variables read from the environment, `NAME=value`, for the report.
    from_env: Vec<String>,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            seed: 0,
            runs: None,
            max_time: DEFAULT_MAX_TIME,
            jobs: 1,
            schedule: None,
            semantics: Semantics::DEFAULT,
            from_env: Vec::new(),
        }
    }
}

/// Checks `program` with [`Model`]'s defaults and the `RACELAB_*` environment variables, and
/// panics with the report when it finds a bug (or when a variable cannot be read): for
/// `#[test]`s.
///
/// ```
/// racelab_std::model(|| {
///     let h = racelab_std::thread::spawn(|| 1 + 1);
///     assert_eq!(h.join().unwrap(), 2);
/// });
/// ```
#[track_caller]
pub fn model<F>(program: F)
where
    F: Fn() + Send + Sync + 'static,
{
    match Model::from_env() {
        Ok(m) => m.run(program),
        Err(e) => panic!("{e}"),
    }
}

impl Model {
    /// The defaults, without reading the environment.
    pub fn new() -> Self {
        Model::default()
    }

    /// The defaults, overridden by the `RACELAB_*` variables of the process environment.
    pub fn from_env() -> Result<Self, String> {
        Model::from_vars(|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("racelab: {name} is not valid UTF-8")),
        })
    }

    /// The defaults, overridden by the variables `lookup` gives (`Ok(None)`: unset): the
    /// environment's reader, separate so that it can be tested without touching the process.
    pub fn from_vars(lookup: impl Fn(&str) -> Result<Option<String>, String>) -> Result<Self, String> {
        let mut m = Model::default();
        for name in ENV_VARS {
            let Some(value) = lookup(name)? else { continue };
            let bad = |what: &str| format!("racelab: {name}=\"{value}\" is not {what}; fix or unset it");
            let v = value.trim();
            match name {
                "RACELAB_SEED" => {
                    m.seed = v.parse().map_err(|_| bad("a seed: a whole number from 0 to 2^64-1"))?
                }
                "RACELAB_RUNS" => {
                    let runs: u64 =
                        v.parse().map_err(|_| bad("a number of runs: a whole number, at least 1"))?;
                    if runs == 0 {
                        return Err(bad("a number of runs: a whole number, at least 1"));
                    }
                    m.runs = Some(runs);
                }
                "RACELAB_MAX_TIME" => {
                    m.max_time = v
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 1e9)
                        .map(Duration::from_secs_f64)
                        // Below a nanosecond it is 0 (`0.0000000001`), which stops before the first run.
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| bad("a time budget: seconds above 0, such as 30 or 0.5"))?;
                }
                "RACELAB_JOBS" => {
                    m.jobs = v
                        .parse::<usize>()
                        .ok()
                        .filter(|j| (1..=racelab_sim::config::MAX_JOBS).contains(j))
                        .ok_or_else(|| {
                            bad(&format!(
                                "a number of jobs: a whole number from 1 to {}",
                                racelab_sim::config::MAX_JOBS
                            ))
                        })?;
                }
                _ => {
                    let schedule: Schedule = v.parse().map_err(|e| {
                        bad(&format!("a schedule ({e}); paste the `v1 ...` line of a report"))
                    })?;
                    m.schedule = Some(schedule);
                }
            }
            m.from_env.push(format!("{name}={value}"));
        }
        Ok(m)
    }

    /// The sampled half's seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The run cap, both halves of the portfolio together.
    pub fn runs(mut self, runs: u64) -> Self {
        // 0 is refused when the check starts, as `RACELAB_RUNS=0` is when read.
        self.runs = Some(runs);
        self
    }

    /// The wall-time budget.
    pub fn max_time(mut self, limit: Duration) -> Self {
        self.max_time = limit;
        self
    }

    /// Explores on `jobs` OS threads: the portfolio's DPOR half on one, its sampled runs on the
    /// others (see `Config::jobs`); the report is the one-job report. At most
    /// `racelab_sim::config::MAX_JOBS`.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs;
        self
    }

    /// Replays `schedule` (with the settings it carries) instead of exploring.
    pub fn replay(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// The primitive semantics and thread-panic policy of every run (see `Config::with_semantics`;
    /// a replayed schedule's own settings win).
    pub fn semantics(mut self, semantics: Semantics) -> Self {
        self.semantics = semantics;
        self
    }

    /// The configuration the check runs: a replay, or the portfolio within the run cap and the
    /// time budget.
    pub fn config(&self) -> Config {
        match &self.schedule {
            Some(s) => Config::replay(s.clone()),
            None => Config::portfolio(self.seed)
                .runs(self.runs.unwrap_or(DEFAULT_RUNS))
                .max_time(self.max_time)
                .jobs(self.jobs)
                .with_semantics(self.semantics),
        }
    }

    /// Checks `program` and returns the report.
    pub fn check<F>(&self, program: F) -> Report
    where
        F: Fn() + Send + Sync + 'static,
    {
        racelab_sim::check(self.config(), program)
    }

    /// [`Model::check`], panicking with the report when it found a bug: the whole report
    /// (its trace cut to the first and last events), the variables read from the environment,
    /// the Rust line that replays the failure and the command that reruns this test replaying it.
    ///
    /// `RACELAB_SCHEDULE` is obeyed here even by a model built without the environment
    /// ([`Model::new`]): the failure's "replay this test" line sets it, and must replay the run
    /// whichever way the test built its model.
    #[track_caller]
    pub fn run<F>(&self, program: F)
    where
        F: Fn() + Send + Sync + 'static,
    {
        let replaying;
        let model = match (&self.schedule, std::env::var_os("RACELAB_SCHEDULE")) {
            (None, Some(_)) => {
                let from_env = Model::from_vars(|name| match std::env::var(name) {
                    Ok(v) if name == "RACELAB_SCHEDULE" => Ok(Some(v)),
                    Err(std::env::VarError::NotUnicode(_)) if name == "RACELAB_SCHEDULE" => {
                        Err(format!("racelab: {name} is not valid UTF-8"))
                    }
                    _ => Ok(None),
                })
                .unwrap_or_else(|e| panic!("{e}"));
                replaying =
                    Model { schedule: from_env.schedule, from_env: from_env.from_env, ..self.clone() };
                &replaying
            }
            _ => self,
        };
        let report = model.check(program);
        if let Some(message) = model.failure_message(&report) {
            panic!("{message}");
        }
        if !report.exhausted && report.settings.starts_with("strategy=portfolio") {
            eprintln!(
                "racelab::model: no bug found, but the exhaustive search did not finish within its budget: {} \
                 runs (half of them sampled) are not a proof (RACELAB_RUNS, RACELAB_MAX_TIME raise the budget)",
                report.runs
            );
        }
    }

    /// What [`Model::run`] panics with for `report`, `None` when it passed.
    pub fn failure_message(&self, report: &Report) -> Option<String> {
        let f = report.failure.as_ref()?;
        let env = if self.from_env.is_empty() {
            String::new()
        } else {
            format!("environment: {}\n", self.from_env.join(" "))
        };
        // Built with `--cfg racelab` (the README's switch between std and racelab), the test
        // exists only with that flag: the line carries it, or it would run nothing and pass.
        let rustflags = if cfg!(racelab) { "RUSTFLAGS=\"--cfg racelab\" " } else { "" };
        let test = std::thread::current()
            .name()
            .filter(|n| *n != "main")
            .map_or_else(|| "<this test>".to_string(), |n| format!("{n} -- --exact"));
        Some(format!(
            "racelab::model found a bug ({}):\n{env}{report}{}replay this test: {rustflags}RACELAB_SCHEDULE=\"{}\" cargo test {test}\n",
            f.diagnosis.kind.name(),
            report.rust_replay_line().unwrap_or_default(),
            f.schedule,
        ))
    }
}
