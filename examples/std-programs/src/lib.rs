//! Programs a Rust developer writes, with std's names, each in a buggy and a fixed version, and
//! the racelab tests that tell them apart (`tests/`). They show the port: the code is std code;
//! only the `use` lines name racelab's `sync` and `thread`.
//!
//! - [`bounded_queue`]: a blocking queue on `Mutex<VecDeque>` and `Condvar`s. The buggy one
//!   shares one `Condvar` between producers and consumers and wakes one waiter, which can be
//!   the wrong side: everyone ends up waiting.
//! - [`counter`]: a lock-free counter on an `AtomicUsize`. The buggy one loads then stores; the
//!   fixed one retries a `compare_exchange`.
//! - [`stack`]: a lock-free (Treiber) stack on `AtomicUsize`s. The buggy one has the ABA
//!   problem; the fixed one tags its head with a change counter.
//! - [`publish`]: plain data in an `UnsafeCell` published through an `AtomicBool`. The buggy one
//!   sets the flag before writing the data: a data race, reported even when the value read
//!   comes out right.

pub mod bounded_queue;
pub mod counter;
pub mod publish;
pub mod stack;
