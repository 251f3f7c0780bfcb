//! `Timer`: Python's `threading.Timer`, a thread that runs a function after an interval unless
//! cancelled first.
//!
//! It is CPython's code: wait on an internal event for the interval, then, if the event is not
//! set, call the function. Waiting and checking are two steps, so a `cancel()` that lands
//! between them comes too late and the function runs anyway: the Timer cancel race.

use std::time::Duration;

use racelab_sim::thread::{self, JoinHandle};

use crate::event::Event;

/// A Python `threading.Timer`, started.
#[derive(Debug)]
pub struct Timer {
    finished: Event,
    thread: JoinHandle<bool>,
}

impl Timer {
    /// Starts a timer thread (`Thread-<n>`) that calls `f` after `interval` of virtual time
    /// unless cancelled.
    pub fn start(interval: Duration, f: impl FnOnce() + 'static) -> Self {
        Self::spawn(thread::Builder::new(), interval, f)
    }

    /// The same, with a name for the timer thread.
    pub fn named(name: impl Into<String>, interval: Duration, f: impl FnOnce() + 'static) -> Self {
        Self::spawn(thread::Builder::new().name(name), interval, f)
    }

    fn spawn(builder: thread::Builder, interval: Duration, f: impl FnOnce() + 'static) -> Self {
        let finished = Event::named("timer.finished");
        let thread = builder.spawn(move || {
            finished.wait_timeout(interval);
            let ran = !finished.is_set();
            if ran {
                f();
            }
            finished.set();
            ran
        });
        Timer { finished, thread }
    }

    /// Stops the timer if it has not started its function yet.
    pub fn cancel(&self) {
        self.finished.set();
    }

    /// Waits for the timer thread; returns true if the function ran.
    pub fn join(self) -> bool {
        self.thread.join()
    }

    /// True until the timer thread has finished.
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }
}
