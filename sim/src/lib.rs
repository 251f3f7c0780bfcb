//! racelab's engine: seeded green threads, strategies, a virtual clock, schedules that replay.
//!
//! A program under test runs on green threads, one at a time, on the OS thread that explores.
//! At each scheduling point a [`strategy`] decides which thread goes next; every decision is
//! recorded into a [`Schedule`], so any run can be replayed exactly. Primitives are built on
//! the narrow API in [`rt`]. Users normally reach all this through the `racelab` crate.

pub mod clock;
pub mod config;
mod datarace;
pub mod diagnosis;
mod executor;
pub mod explore;
pub mod footprint;
pub mod html;
pub mod ids;
pub mod merge;
pub mod narrate;
pub mod note;
mod parallel;
mod parallel_dpor;
mod parallel_pct;
pub mod play;
pub mod report;
pub mod rt;
pub mod schedule;
mod state;
pub mod strategy;
pub mod thread;
pub mod trace;
mod trap;

pub use clock::VirtualTime;
pub use config::{Config, ConfigError, ReleasePoints, Semantics, StopFlag, StrategyConfig, ThreadPanics};
pub use diagnosis::{diagnose, diagnose_deciding, Diagnosis, DiagnosisKind};
pub use explore::{check, check_with_progress, replay, SHRINK_BUDGET, SHRINK_MAX_STEPS};
pub use ids::{ObjectId, ThreadId};
pub use report::{
    BlockedThread, DataRace, Deadlock, Failure, FailureKind, ObjectRef, RaceAccess, Report, ShardSubtree,
    ShrunkFrom, TeardownPanic, ThreadRef, TracedRun,
};
pub use schedule::{Choice, ChoiceKind, ParseScheduleError, Schedule};
pub use trace::{Event, EventKind, Trace, Wake};
