//! `Queue<T>`: Python's `queue.Queue`, `LifoQueue` and `PriorityQueue`.
//!
//! Each operation is one step once it can proceed. A put wakes one waiting getter and a get one
//! waiting putter, oldest first (CPython's conditions; any with adversarial wake-ups), and a
//! woken thread still contends: another may take the item first, and it waits again.
//! `task_done`/`join` count unfinished items; one `task_done` too many is `ValueError`.
//! `shutdown(immediate)` (Python 3.13) makes later puts, and gets on an empty queue, raise
//! `queue.ShutDown`; an immediate shutdown also drops the items left.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use racelab_sim::rt::{self, Misuse, ObjectHandle, Wakeup};
use racelab_sim::VirtualTime;

use crate::wait_list::{cpython_fifo, wake_one, WaitList};

/// Which item `get` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// `queue.Queue`: first in, first out.
    Fifo,
    /// `queue.LifoQueue`: last in, first out.
    Lifo,
    /// `queue.PriorityQueue`: the smallest item first.
    Priority,
}

/// Why a queue operation did not happen: Python's `queue.Full`, `queue.Empty`, `queue.ShutDown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The queue was full (a non-blocking put, or a put that timed out).
    Full,
    /// The queue was empty (a non-blocking get, or a get that timed out).
    Empty,
    /// The queue was shut down.
    ShutDown,
}

impl QueueError {
    /// Python's exception class.
    pub fn exception(self) -> &'static str {
        match self {
            QueueError::Full => "queue.Full",
            QueueError::Empty => "queue.Empty",
            QueueError::ShutDown => "queue.ShutDown",
        }
    }

    fn misuse(self) -> Misuse {
        Misuse::new(self.exception(), "")
    }
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.exception())
    }
}

impl std::error::Error for QueueError {}

/// A put that did not happen, with the item it could not deliver.
#[derive(Debug, PartialEq, Eq)]
pub struct PutError<T> {
    /// Why.
    pub error: QueueError,
    /// The item, handed back.
    pub item: T,
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl<T: fmt::Debug> std::error::Error for PutError<T> {}

struct QueueState<T> {
    kind: QueueKind,
    cmp: Option<fn(&T, &T) -> Ordering>,
    maxsize: usize,
    items: VecDeque<T>,
    unfinished: usize,
    puts: u64,
    gets: u64,
    shutdown: bool,
    getters: WaitList,
    putters: WaitList,
    joiners: WaitList,
}

impl<T> QueueState<T> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }

    fn take(&mut self) -> Option<T> {
        match self.kind {
            QueueKind::Fifo => self.items.pop_front(),
            QueueKind::Lifo => self.items.pop_back(),
            QueueKind::Priority => {
                let cmp = self.cmp?;
                let mut best = 0;
                for i in 1..self.items.len() {
                    if cmp(&self.items[i], &self.items[best]) == Ordering::Less {
                        best = i;
                    }
                }
                self.items.remove(best)
            }
        }
    }
}

/// A Python queue of `T`. It is a handle: copies refer to the same queue.
pub struct Queue<T> {
    obj: ObjectHandle,
    _items: PhantomData<fn() -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Queue<T> {}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Queue({})", rt::object_name(self.obj))
    }
}

impl<T: fmt::Debug + 'static> Queue<T> {
    fn make(
        kind: QueueKind,
        cmp: Option<fn(&T, &T) -> Ordering>,
        maxsize: usize,
        name: Option<String>,
    ) -> Self {
        let state = QueueState {
            kind,
            cmp,
            maxsize,
            items: VecDeque::new(),
            unfinished: 0,
            puts: 0,
            gets: 0,
            shutdown: false,
            getters: WaitList::default(),
            putters: WaitList::default(),
            joiners: WaitList::default(),
        };
        let kind_name = match kind {
            QueueKind::Fifo => "Queue",
            QueueKind::Lifo => "LifoQueue",
            QueueKind::Priority => "PriorityQueue",
        };
        Queue { obj: rt::register(kind_name, name, state), _items: PhantomData }
    }

    /// `queue.Queue(maxsize)`: FIFO; `maxsize` 0 means unbounded.
    pub fn new(maxsize: usize) -> Self {
        Self::make(QueueKind::Fifo, None, maxsize, None)
    }

    /// A named FIFO queue.
    pub fn named(name: impl Into<String>, maxsize: usize) -> Self {
        Self::make(QueueKind::Fifo, None, maxsize, Some(name.into()))
    }

    /// `queue.LifoQueue(maxsize)`.
    pub fn lifo(maxsize: usize) -> Self {
        Self::make(QueueKind::Lifo, None, maxsize, None)
    }

    /// `queue.PriorityQueue(maxsize)`: `get` takes the smallest item.
    pub fn priority(maxsize: usize) -> Self
    where
        T: Ord,
    {
        Self::make(QueueKind::Priority, Some(T::cmp), maxsize, None)
    }

    /// A named `LifoQueue`.
    pub fn lifo_named(name: impl Into<String>, maxsize: usize) -> Self {
        Self::make(QueueKind::Lifo, None, maxsize, Some(name.into()))
    }

    /// A named `PriorityQueue`.
    pub fn priority_named(name: impl Into<String>, maxsize: usize) -> Self
    where
        T: Ord,
    {
        Self::make(QueueKind::Priority, Some(T::cmp), maxsize, Some(name.into()))
    }

    /// Changes the queue's state through `f` (a write, for the reduction).
    fn write<R>(&self, f: impl FnOnce(&mut QueueState<T>) -> R) -> R {
        rt::write(self.obj, f)
    }

    /// Reads the queue's state through `f` (a read: steps that only read commute).
    fn read<R>(&self, f: impl FnOnce(&QueueState<T>) -> R) -> R {
        rt::read(self.obj, f)
    }

    /// Wakes one thread of `list`, by CPython's order.
    fn wake_one(&self, list: fn(&mut QueueState<T>) -> &mut WaitList) -> Option<racelab_sim::ThreadId> {
        wake_one(self.obj, list, cpython_fifo())
    }

    /// Puts `item`, waiting while the queue is full. After `shutdown`, raises `queue.ShutDown`.
    pub fn put(&self, item: T) {
        if let Err(e) = self.put_inner(item, Some(None)) {
            rt::raise(e.error.misuse())
        }
    }

    /// Puts `item`, waiting at most `timeout`: `queue.Full` when it timed out.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        let deadline = rt::now().after(timeout);
        self.put_inner(item, Some(Some(deadline)))
    }

    /// `put_nowait(item)`: `queue.Full` at once when full.
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.put_inner(item, None)
    }

    /// Takes an item, waiting while the queue is empty. A shut-down, empty queue raises
    /// `queue.ShutDown`.
    pub fn get(&self) -> T {
        self.get_inner(Some(None)).unwrap_or_else(|e| rt::raise(e.misuse()))
    }

    /// Takes an item, waiting at most `timeout`: `queue.Empty` when it timed out.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError> {
        let deadline = rt::now().after(timeout);
        self.get_inner(Some(Some(deadline)))
    }

    /// `get_nowait()`: `queue.Empty` at once when empty.
    pub fn get_nowait(&self) -> Result<T, QueueError> {
        self.get_inner(None)
    }

    /// `qsize()`: one step, its answer may be stale at once.
    pub fn qsize(&self) -> usize {
        rt::schedule_point();
        let n = self.read(|s| s.items.len());
        rt::event("qsize", Some(self.obj), || n.to_string());
        n
    }

    /// `empty()`.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// `full()`.
    pub fn full(&self) -> bool {
        rt::schedule_point();
        let full = self.read(|s| s.full());
        rt::event("full", Some(self.obj), || full.to_string());
        full
    }

    /// `task_done()`: one fetched item is processed. More calls than puts is
    /// `ValueError: task_done() called too many times`, raised.
    pub fn task_done(&self) {
        if let Err(m) = self.try_task_done() {
            rt::raise(m)
        }
    }

    /// `task_done()`, returning Python's error instead of raising it.
    pub fn try_task_done(&self) -> Result<(), Misuse> {
        rt::schedule_point();
        let left = self.write(|s| {
            s.unfinished = s.unfinished.checked_sub(1)?;
            Some(s.unfinished)
        });
        let Some(left) = left else {
            rt::event("task_done", Some(self.obj), || "ValueError: task_done() called too many times".into());
            return Err(Misuse::new("ValueError", "task_done() called too many times"));
        };
        let mut woke = 0;
        if left == 0 {
            while self.wake_one(|s| &mut s.joiners).is_some() {
                woke += 1;
            }
        }
        rt::event("task_done", Some(self.obj), || format!("{left} unfinished, woke {woke} joiners"));
        Ok(())
    }

    /// `join()`: waits until every item put has been marked done.
    pub fn join(&self) {
        rt::schedule_point();
        let me = rt::current();
        loop {
            let waits = self.write(|s| {
                if s.unfinished == 0 {
                    return None;
                }
                s.joiners.push(me);
                Some((s.unfinished, s.puts, s.gets))
            });
            let Some((unfinished, puts, gets)) = waits else {
                rt::event("join", Some(self.obj), || "ok".into());
                return;
            };
            rt::set_wait_note(
                "when it began to wait, {0} items were unfinished ({1} put, {2} taken): a task_done() is missing",
                [unfinished as u64, puts, gets],
            );
            rt::event("join", Some(self.obj), || format!("blocked, {unfinished} unfinished"));
            rt::block(Some(self.obj), None);
            if rt::tearing_down() {
                // Waited for during the teardown (see `rt::block`): nobody will finish the tasks.
                return;
            }
        }
    }

    /// `shutdown(immediate)`: later puts raise `queue.ShutDown`, and so do gets once the
    /// queue is empty; with `immediate` the items left are dropped (and counted done).
    pub fn shutdown(&self, immediate: bool) {
        rt::schedule_point();
        let dropped = self.write(|s| {
            s.shutdown = true;
            let mut dropped = 0;
            if immediate {
                while s.take().is_some() {
                    dropped += 1;
                    s.unfinished = s.unfinished.saturating_sub(1);
                }
            }
            dropped
        });
        while self.wake_one(|s| &mut s.getters).is_some() {}
        while self.wake_one(|s| &mut s.putters).is_some() {}
        if immediate {
            while self.wake_one(|s| &mut s.joiners).is_some() {}
        }
        rt::event("shutdown", Some(self.obj), || {
            if immediate {
                format!("immediate, dropped {dropped} items")
            } else {
                "ok".into()
            }
        });
    }

    /// `None`: no waiting; `Some(deadline)`: wait until then, or forever.
    fn put_inner(&self, item: T, patience: Option<Option<VirtualTime>>) -> Result<(), PutError<T>> {
        rt::schedule_point();
        let me = rt::current();
        let shown = rt::tracing().then(|| format!("{item:?}"));
        let mut item = Some(item);
        loop {
            // Put it if there is room, in the same access that looks: nothing can come between.
            let outcome = self.write(|s| {
                if s.shutdown {
                    Err(QueueError::ShutDown)
                } else if s.full() {
                    if patience.is_some() {
                        s.putters.push(me);
                    }
                    Err(QueueError::Full)
                } else {
                    s.items.push_back(item.take().expect("racelab invariant: an item put twice"));
                    s.unfinished += 1;
                    s.puts += 1;
                    Ok(s.items.len())
                }
            });
            let error = match outcome {
                Ok(size) => {
                    let woke = self.wake_one(|s| &mut s.getters);
                    let kind = || racelab_sim::EventKind::Put {
                        item: shown.as_deref().unwrap_or_default().to_string(),
                        woken: woke.map(rt::thread_name),
                    };
                    rt::event_kind("put", Some(self.obj), kind, || {
                        let woke = woke.map(|t| format!(", woke {}", rt::thread_name(t))).unwrap_or_default();
                        format!("{}: ok, size {size}{woke}", shown.as_deref().unwrap_or_default())
                    });
                    return Ok(());
                }
                Err(e) => e,
            };
            let item_shown = || shown.clone().unwrap_or_default();
            let Some(deadline) = patience.filter(|_| error == QueueError::Full) else {
                rt::event("put", Some(self.obj), || format!("{}: {error}", item_shown()));
                let item = item.take().expect("racelab invariant: a refused item kept");
                return Err(PutError { error, item });
            };
            let kind = || racelab_sim::EventKind::QueueBlocked;
            rt::event_kind("put", Some(self.obj), kind, || format!("{}: blocked (full)", item_shown()));
            if rt::block(Some(self.obj), deadline) == Wakeup::TimedOut {
                self.write(|s| s.putters.remove(me));
                let gave_up = || racelab_sim::EventKind::GaveUp;
                rt::event_kind("put", Some(self.obj), gave_up, || {
                    format!("{}: timed out, queue.Full", item_shown())
                });
                let item = item.take().expect("racelab invariant: a refused item kept");
                return Err(PutError { error: QueueError::Full, item });
            }
        }
    }

    fn get_inner(&self, patience: Option<Option<VirtualTime>>) -> Result<T, QueueError> {
        rt::schedule_point();
        let me = rt::current();
        enum Got<I> {
            Item(I, usize),
            ShutDown,
            Empty { puts: u64, gets: u64 },
        }
        loop {
            // Take an item, or join the getters, in one access: nothing can come between.
            let got = self.write(|s| {
                if let Some(item) = s.take() {
                    s.gets += 1;
                    return Got::Item(item, s.items.len());
                }
                if s.shutdown {
                    return Got::ShutDown;
                }
                if patience.is_some() {
                    s.getters.push(me);
                }
                Got::Empty { puts: s.puts, gets: s.gets }
            });
            let (puts, gets) = match got {
                Got::Item(item, size) => {
                    let woke = self.wake_one(|s| &mut s.putters);
                    let kind = || racelab_sim::EventKind::Get {
                        item: format!("{item:?}"),
                        woken: woke.map(rt::thread_name),
                    };
                    rt::event_kind("get", Some(self.obj), kind, || {
                        let woke = woke.map(|t| format!(", woke {}", rt::thread_name(t))).unwrap_or_default();
                        format!("{item:?}, size {size}{woke}")
                    });
                    return Ok(item);
                }
                Got::ShutDown => {
                    rt::event("get", Some(self.obj), || "queue.ShutDown".into());
                    return Err(QueueError::ShutDown);
                }
                Got::Empty { puts, gets } => (puts, gets),
            };
            let Some(deadline) = patience else {
                rt::event("get", Some(self.obj), || "queue.Empty".into());
                return Err(QueueError::Empty);
            };
            rt::set_wait_note("it is empty: {0} items put, {1} taken", [puts, gets, 0]);
            rt::event_kind(
                "get",
                Some(self.obj),
                || racelab_sim::EventKind::QueueBlocked,
                || "blocked (empty)".into(),
            );
            if rt::block(Some(self.obj), deadline) == Wakeup::TimedOut {
                self.write(|s| s.getters.remove(me));
                let gave_up = || racelab_sim::EventKind::GaveUp;
                rt::event_kind("get", Some(self.obj), gave_up, || "timed out, queue.Empty".into());
                return Err(QueueError::Empty);
            }
        }
    }
}
