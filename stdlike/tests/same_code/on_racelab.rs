//! The same program against racelab: `sync` is racelab's; `thread` a shim until the std-shaped
//! `racelab::thread` lands.

pub use racelab_std::sync;

/// racelab's threads with a `join` that returns std's `thread::Result` (a panicking thread
/// fails the run in racelab today, so the `Err` arm cannot be reached yet).
pub mod thread {
    /// std's `thread::spawn`, on a racelab green thread.
    pub fn spawn<F, T>(f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        JoinHandle(racelab_sim::thread::spawn(f))
    }

    /// std's `JoinHandle`, shaped as std's.
    pub struct JoinHandle<T>(racelab_sim::thread::JoinHandle<T>);

    impl<T> JoinHandle<T> {
        /// Waits for the thread, as std's `join`.
        pub fn join(self) -> std::thread::Result<T> {
            Ok(self.0.join())
        }
    }
}

#[path = "std_names.rs"]
pub mod program;
