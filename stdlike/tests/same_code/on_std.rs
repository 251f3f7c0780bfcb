//! The program against std, run on OS threads.

pub use std::sync;
pub use std::thread;

// std's side runs on OS threads on purpose: it is the program as std runs it.
#[allow(clippy::disallowed_methods)]
#[path = "std_names.rs"]
pub mod program;
