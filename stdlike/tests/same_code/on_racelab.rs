//! The same program against racelab: its `sync` and `thread` in place of std's, switched by
//! these two `use` lines alone.

pub use racelab_std::sync;
pub use racelab_std::thread;

#[path = "std_names.rs"]
pub mod program;
