//! `racelab._racelab`: the Python extension that runs Python programs on racelab's engine.
//!
//! The Python side (`pysrc/racelab/`) replaces `threading`, `queue`, `time` and friends by the
//! classes and functions here for the duration of a check, and hands `explore` a callable that
//! runs the program once. This crate puts each Python thread on a racelab green thread with its
//! own thread state (`green`) and each simulated process its own globals (`memory`), exposes the primitives (`objects`), turns racelab's errors into
//! Python exceptions (`errors`), and reports as the Rust CLI does (`report`).

mod errors;
mod green;
mod memory;
mod objects;
mod report;
mod threads;
mod watchdog;

use pyo3::prelude::*;

#[pymodule]
fn _racelab(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ThreadExit", m.py().get_type::<errors::ThreadExit>())?;
    m.add_class::<objects::Lock>()?;
    m.add_class::<objects::RLock>()?;
    m.add_class::<objects::Condition>()?;
    m.add_class::<objects::Semaphore>()?;
    m.add_class::<objects::Event>()?;
    m.add_class::<objects::Barrier>()?;
    m.add_class::<objects::Queue>()?;
    threads::register(m)?;
    memory::register(m)?;
    watchdog::register(m)?;
    report::register(m)?;
    Ok(())
}
