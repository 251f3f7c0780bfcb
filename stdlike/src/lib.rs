//! The std-shaped face of racelab: `sync`, `thread`, `time`, `hint` and `cell` with the names and
//! signatures of `std` (and loom's `UnsafeCell`), so that code written against `std` runs under
//! racelab by switching its `use` lines.
//!
//! Why a crate of its own: racelab's primitives follow Python's `threading` (a `Lock` with no
//! owner, a `Condition` bound to its lock), which is what the catalog teaches; Rust users test
//! code written with `std::sync::Mutex<T>` and `Condvar`. This crate maps std's API onto the
//! same engine through `racelab_sim::rt` (the only door into a run), so every operation is a
//! step with a correct footprint and partial-order reduction stays sound for it. It sits beside
//! `racelab-primitives` (it may build on them) and below the `racelab` facade, which re-exports
//! its modules as `racelab::sync`, `racelab::thread`, `racelab::time`, `racelab::hint` and
//! `racelab::cell`.

pub mod hint;
pub mod model;
pub mod thread;
pub mod time;

pub use model::{model, Model};
pub mod cell;
pub mod linearizability;
#[cfg(feature = "proptest")]
pub mod proptest;
pub mod sync;
