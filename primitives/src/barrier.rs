//! `Barrier`: Python's `threading.Barrier`, where `parties` threads wait for each other.
//!
//! The last thread to arrive runs the optional action, then every waiter is released and
//! returns its arrival index (0 for the first). A wait that times out breaks the barrier, as
//! does `abort()`; `reset()` breaks it for the threads waiting and makes it usable again. Once
//! broken, every wait is `threading.BrokenBarrierError` until a reset. With the wrong party
//! count, the threads that came wait forever: a deadlock naming the barrier.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use racelab_sim::rt::{self, Misuse, ObjectHandle, Wakeup};

use crate::wait_list::WaitList;

const BROKEN: &str = "threading.BrokenBarrierError";

/// What the last thread runs before the release; `Err` breaks the barrier.
type Action = Rc<dyn Fn() -> Result<(), ()>>;

struct BarrierState {
    parties: usize,
    action: Option<Action>,
    default_timeout: Option<Duration>,
    /// Threads waiting in the current generation.
    count: usize,
    generation: u64,
    broken: bool,
    /// How recent generations ended: (generation, broken). Woken waiters read theirs here.
    endings: Vec<(u64, bool)>,
    waiters: WaitList,
}

/// A Python `threading.Barrier`. It is a handle: copies refer to the same barrier.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    obj: ObjectHandle,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Barrier({})", rt::object_name(self.obj))
    }
}

/// How a barrier is built: Python's `Barrier(parties, action=None, timeout=None)`.
#[derive(Default)]
pub struct BarrierBuilder {
    name: Option<String>,
    action: Option<Action>,
    timeout: Option<Duration>,
}

impl fmt::Debug for BarrierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierBuilder").field("name", &self.name).field("timeout", &self.timeout).finish()
    }
}

impl BarrierBuilder {
    /// Names the barrier for traces and reports.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Runs `action` in the last thread to arrive, before the others are released.
    pub fn action(mut self, action: impl Fn() + 'static) -> Self {
        self.action = Some(Rc::new(move || {
            action();
            Ok(())
        }));
        self
    }

    /// An action that can fail, as a Python action that raises: on `Err` the barrier breaks,
    /// the waiting threads get `BrokenBarrierError` and so does the last one (a front-end raises
    /// the action's own error there instead, as CPython does).
    pub fn fallible_action(mut self, action: impl Fn() -> Result<(), ()> + 'static) -> Self {
        self.action = Some(Rc::new(action));
        self
    }

    /// The default timeout of every wait.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Builds a barrier for `parties` threads. `parties < 1` is Python 3.13's
    /// `ValueError: parties must be > 0`, raised in the calling thread.
    pub fn build(self, parties: usize) -> Barrier {
        if parties < 1 {
            rt::raise(Misuse::new("ValueError", "parties must be > 0"));
        }
        let state = BarrierState {
            parties,
            action: self.action,
            default_timeout: self.timeout,
            count: 0,
            generation: 0,
            broken: false,
            endings: Vec::new(),
            waiters: WaitList::default(),
        };
        Barrier { obj: rt::register("Barrier", self.name, state) }
    }
}

impl Barrier {
    /// `Barrier(parties)`.
    pub fn new(parties: usize) -> Self {
        Self::builder().build(parties)
    }

    /// A builder for a barrier with a name, an action or a default timeout.
    pub fn builder() -> BarrierBuilder {
        BarrierBuilder::default()
    }

    /// The number of threads it waits for.
    pub fn parties(&self) -> usize {
        self.read(|s| s.parties)
    }

    /// Threads waiting now.
    pub fn n_waiting(&self) -> usize {
        self.read(|s| s.count)
    }

    /// True when broken.
    pub fn broken(&self) -> bool {
        self.read(|s| s.broken)
    }

    /// Waits for the other parties; returns this thread's arrival index. A broken barrier is
    /// `threading.BrokenBarrierError`, raised.
    pub fn wait(&self) -> usize {
        self.try_wait(None).unwrap_or_else(|m| rt::raise(m))
    }

    /// `wait(timeout)`: a timeout breaks the barrier for everyone.
    pub fn wait_timeout(&self, timeout: Duration) -> usize {
        self.try_wait(Some(timeout)).unwrap_or_else(|m| rt::raise(m))
    }

    /// `wait`, returning `BrokenBarrierError` instead of raising it. `None` uses the default
    /// timeout given at construction.
    pub fn try_wait(&self, timeout: Option<Duration>) -> Result<usize, Misuse> {
        rt::schedule_point();
        let me = rt::current();
        let arrival = self.write(|s| {
            if s.broken {
                return None;
            }
            let index = s.count;
            s.count += 1;
            let last = s.count == s.parties;
            if !last {
                s.waiters.push(me);
            }
            Some((index, s.generation, last, s.default_timeout, s.action.clone()))
        });
        let Some((index, generation, last, default_timeout, action)) = arrival else {
            return Err(self.broken_error("barrier is broken"));
        };
        if last {
            if let Some(action) = action {
                rt::event("wait", Some(self.obj), || format!("index {index}, last: runs the action"));
                if action().is_err() {
                    rt::event("wait", Some(self.obj), || "the action failed: breaks the barrier".into());
                    self.end_generation(true);
                    return Err(self.broken_error("the barrier's action failed"));
                }
            }
            self.end_generation(false);
            rt::event("wait", Some(self.obj), || format!("index {index}, released every party"));
            return Ok(index);
        }
        rt::event("wait", Some(self.obj), || format!("index {index}, waiting"));
        let deadline = timeout.or(default_timeout).map(|t| rt::now().after(t));
        loop {
            if let Some(broken) = self.ending_of(generation) {
                return if broken {
                    Err(self.broken_error("barrier broken while waiting"))
                } else {
                    rt::event("wait", Some(self.obj), || format!("index {index}, released"));
                    Ok(index)
                };
            }
            if rt::block(Some(self.obj), deadline) == Wakeup::TimedOut && self.ending_of(generation).is_none()
            {
                self.write(|s| s.waiters.remove(me));
                rt::event("wait", Some(self.obj), || "timed out: breaks the barrier".into());
                self.end_generation(true);
                return Err(self.broken_error("timed out"));
            }
        }
    }

    /// Breaks the barrier: waiting threads, and later ones, get `BrokenBarrierError`.
    pub fn abort(&self) {
        rt::schedule_point();
        rt::event("abort", Some(self.obj), || "broken".into());
        self.end_generation(true);
    }

    /// Breaks the barrier for the threads waiting now, then makes it usable again.
    pub fn reset(&self) {
        rt::schedule_point();
        let waiting = self.read(|s| s.count);
        if waiting > 0 {
            self.end_generation(true);
        }
        self.write(|s| s.broken = false);
        rt::event("reset", Some(self.obj), || format!("ok, {waiting} waiters broken out"));
    }

    /// Changes the barrier's state through `f` (a write, for the reduction).
    fn write<R>(&self, f: impl FnOnce(&mut BarrierState) -> R) -> R {
        rt::write(self.obj, f)
    }

    /// Reads the barrier's state through `f` (a read: steps that only read commute).
    fn read<R>(&self, f: impl FnOnce(&BarrierState) -> R) -> R {
        rt::read(self.obj, f)
    }

    /// How generation `generation` ended (`Some(broken)`), if it has. A read: a woken waiter
    /// looks, and whoever ended the generation wrote it.
    fn ending_of(&self, generation: u64) -> Option<bool> {
        self.read(|s| s.endings.iter().find(|(g, _)| *g == generation).map(|&(_, b)| b))
    }

    /// Ends the current generation, releasing (or breaking) every waiter.
    fn end_generation(&self, broken: bool) {
        self.write(|s| {
            let generation = s.generation;
            s.endings.push((generation, broken));
            if s.endings.len() > 8 {
                s.endings.remove(0);
            }
            s.generation += 1;
            s.count = 0;
            s.broken |= broken;
            while !s.waiters.is_empty() {
                s.waiters.wake_at(0);
            }
        });
        if broken {
            rt::set_note(self.obj, "it was broken at step {step} by {thread}", [0; 3]);
        }
    }

    fn broken_error(&self, why: &str) -> Misuse {
        rt::event("wait", Some(self.obj), || format!("{BROKEN}: {why}"));
        Misuse::new(BROKEN, "")
    }
}
