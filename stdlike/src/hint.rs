//! std's `hint` for code run under racelab (`use racelab::hint;` in place of `use std::hint;`).
//!
//! Why it exists: a spin loop written with std's names waits with `std::hint::spin_loop()`,
//! which under racelab is no step at all, so the loop's thread never asks to be switched away
//! from. A preemption-bounded search then keeps it going round to the step limit (switching away
//! costs a preemption), and PCT keeps a spinning thread ahead of the one it waits for. Here
//! `spin_loop` is a yield, as loom's is: the searches switch away for free, and PCT and POS
//! lower the spinning thread. `black_box`, `unreachable_unchecked` and `assert_unchecked` are
//! std's, re-exported; `select_unpredictable` and `cold_path`, stable after racelab's minimum
//! Rust (1.85), are not here: call them as `std::hint::...`.

pub use std::hint::{assert_unchecked, black_box, unreachable_unchecked};

/// std's `spin_loop`: inside a racelab run, a yield (`thread::yield_now`), the thread asking
/// the scheduler to let the others go first; outside one, std's processor hint.
pub fn spin_loop() {
    if racelab_sim::rt::in_simulation() {
        crate::thread::yield_now()
    } else {
        std::hint::spin_loop()
    }
}
