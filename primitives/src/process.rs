//! Process-style workers: Python's `multiprocessing.Process` and `multiprocessing.Queue`,
//! simulated as green threads whose only channel is a process queue that copies values.
//!
//! `terminate()` cuts a process off between any two of its steps: it never runs again, a lock
//! it holds stays held, and an item it was in the middle of sending or receiving is lost. That
//! is why a `ProcessQueue` put and get take two steps each: a put copies the item into the
//! process's feeder buffer, then flushes it to the pipe; a get takes it off the pipe, then
//! unpickles it. A process terminated in between loses the item.
//!
//! Isolation is by convention: a process's closure should capture only process queues and
//! values (racelab cannot stop it from capturing a thread primitive).

use std::fmt;
use std::time::Duration;

use racelab_sim::rt;
use racelab_sim::thread::{self, JoinHandle};
use racelab_sim::ThreadId;

use crate::queue::{PutError, Queue, QueueError};

/// A started process-style worker.
pub struct Process {
    handle: JoinHandle<()>,
    terminated: std::cell::Cell<bool>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process").field("thread", &self.handle.thread().id()).finish()
    }
}

impl Process {
    /// `Process(target=f, name=name).start()`.
    pub fn start(name: impl Into<String>, f: impl FnOnce() + 'static) -> Self {
        let handle = thread::Builder::new().name(name).spawn(f);
        Process { handle, terminated: std::cell::Cell::new(false) }
    }

    /// The process's thread id.
    pub fn id(&self) -> ThreadId {
        self.handle.thread().id()
    }

    /// `terminate()`: cuts the process off where it stands.
    pub fn terminate(&self) {
        rt::schedule_point();
        let t = self.id();
        let name = rt::thread_name(t);
        let cut = rt::kill(t);
        self.terminated.set(self.terminated.get() || cut);
        rt::event("terminate", None, || {
            if cut {
                format!("{name} cut off")
            } else {
                format!("{name} had already exited")
            }
        });
    }

    /// `join()`: waits for the process to exit (normally or terminated); may be called again,
    /// and `exitcode()` read after it.
    pub fn join(&self) {
        self.handle.wait()
    }

    /// `join(timeout)`: true when the process has exited.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.handle.join_timeout(timeout)
    }

    /// `is_alive()`.
    pub fn is_alive(&self) -> bool {
        self.handle.is_alive()
    }

    /// `exitcode`: `None` while running, `Some(0)` after a normal exit, `Some(-15)` after
    /// `terminate()` (SIGTERM).
    pub fn exitcode(&self) -> Option<i32> {
        if self.handle.is_alive() {
            None
        } else if self.terminated.get() {
            Some(-15)
        } else {
            Some(0)
        }
    }
}

/// A `multiprocessing.Queue`: values are copied in, and a put or get takes two steps (see the
/// module documentation). It is a handle: copies refer to the same queue.
pub struct ProcessQueue<T> {
    pipe: Queue<T>,
}

impl<T> Clone for ProcessQueue<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ProcessQueue<T> {}

impl<T> fmt::Debug for ProcessQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProcessQueue({:?})", self.pipe)
    }
}

impl<T: Clone + fmt::Debug + 'static> ProcessQueue<T> {
    /// `multiprocessing.Queue(maxsize)`.
    pub fn new(maxsize: usize) -> Self {
        ProcessQueue { pipe: Queue::named("mp.Queue", maxsize) }
    }

    /// A named process queue.
    pub fn named(name: impl Into<String>, maxsize: usize) -> Self {
        ProcessQueue { pipe: Queue::named(name, maxsize) }
    }

    /// Copies `item` into the feeder buffer (one step), then flushes it to the pipe (another).
    pub fn put(&self, item: &T) {
        rt::schedule_point();
        let copy = item.clone();
        rt::event("put", None, || format!("{copy:?}: copied to the feeder buffer"));
        self.pipe.put(copy);
    }

    /// The same with a timeout on the flush: `queue.Full` when it timed out.
    pub fn put_timeout(&self, item: &T, timeout: Duration) -> Result<(), PutError<T>> {
        rt::schedule_point();
        let copy = item.clone();
        rt::event("put", None, || format!("{copy:?}: copied to the feeder buffer"));
        self.pipe.put_timeout(copy, timeout)
    }

    /// Takes an item off the pipe (one step), then unpickles it (another).
    pub fn get(&self) -> T {
        let item = self.pipe.get();
        self.received(item)
    }

    /// `get(timeout)`: `queue.Empty` when nothing came in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError> {
        self.pipe.get_timeout(timeout).map(|item| self.received(item))
    }

    /// `get_nowait()`.
    pub fn get_nowait(&self) -> Result<T, QueueError> {
        self.pipe.get_nowait().map(|item| self.received(item))
    }

    /// `qsize()`.
    pub fn qsize(&self) -> usize {
        self.pipe.qsize()
    }

    fn received(&self, item: T) -> T {
        rt::schedule_point();
        rt::event("get", None, || format!("{item:?}: unpickled"));
        item
    }
}
