//! `ThreadPool` and `AsyncResult`: Python's `multiprocessing.pool.ThreadPool`, the seed
//! document's first way to get a value back from a thread.
//!
//! Worker threads take tasks in submission order. A task that panics does not end the run: its
//! panic is kept in the `AsyncResult`, `successful()` is false, and `get()` raises it in the
//! caller, as Python re-raises the task's exception. `join()` needs `close()` or `terminate()`
//! first (`ValueError: Pool is still running`); submitting after either is
//! `ValueError: Pool not running`.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use racelab_sim::rt::{self, Misuse, ObjectHandle, Wakeup};
use racelab_sim::thread::{self, JoinHandle};

use crate::wait_list::{wake_one, WaitList, WakeOrder};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolState {
    Running,
    Closed,
    Terminated,
}

struct Pool {
    state: PoolState,
    tasks: VecDeque<Box<dyn FnOnce()>>,
    idle: WaitList,
    workers: Vec<JoinHandle<()>>,
}

/// A Python `ThreadPool`. It is a handle: copies refer to the same pool.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ThreadPool {
    obj: ObjectHandle,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ThreadPool({})", rt::object_name(self.obj))
    }
}

impl ThreadPool {
    /// `ThreadPool(processes)`: starts `processes` worker threads (`PoolWorker-<n>`, daemons).
    pub fn new(processes: usize) -> Self {
        let pool = Pool {
            state: PoolState::Running,
            tasks: VecDeque::new(),
            idle: WaitList::default(),
            workers: Vec::new(),
        };
        let me = ThreadPool { obj: rt::register("ThreadPool", None, pool) };
        for i in 1..=processes.max(1) {
            let worker =
                thread::Builder::new().name(format!("PoolWorker-{i}")).daemon(true).spawn(move || me.work());
            rt::write(me.obj, |p: &mut Pool| p.workers.push(worker));
        }
        me
    }

    /// `apply_async(f)`: queues `f` and returns the handle of its result. After `close()` or
    /// `terminate()` this is `ValueError: Pool not running`, raised.
    pub fn apply_async<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> AsyncResult<T> {
        rt::schedule_point();
        if rt::write(self.obj, |p: &mut Pool| p.state) != PoolState::Running {
            rt::event("apply_async", Some(self.obj), || "ValueError: Pool not running".into());
            rt::raise(Misuse::new("ValueError", "Pool not running"));
        }
        let result = AsyncResult::<T>::new();
        let task: Box<dyn FnOnce()> = Box::new(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(f));
            match outcome {
                Ok(v) => result.complete(Ok(v)),
                Err(payload) => {
                    if rt::tearing_down() {
                        panic::resume_unwind(payload);
                    }
                    rt::note_panic_caught();
                    result.complete(Err(panic_message(payload.as_ref())));
                }
            }
        });
        rt::write(self.obj, |p: &mut Pool| p.tasks.push_back(task));
        let woke = wake_one(self.obj, |p: &mut Pool| &mut p.idle, WakeOrder::Fifo);
        rt::event("apply_async", Some(self.obj), || match woke {
            Some(t) => format!("queued, woke {}", rt::thread_name(t)),
            None => "queued".into(),
        });
        result
    }

    /// `map(f, items)`: applies `f` to each item in the pool; the results in order.
    pub fn map<I: 'static, R: Clone + 'static>(
        &self,
        f: fn(I) -> R,
        items: impl IntoIterator<Item = I>,
    ) -> Vec<R> {
        let results: Vec<AsyncResult<R>> =
            items.into_iter().map(|i| self.apply_async(move || f(i))).collect();
        results.iter().map(|r| r.get()).collect()
    }

    /// `close()`: no more tasks; workers finish what is queued, then exit.
    pub fn close(&self) {
        self.stop(PoolState::Closed);
    }

    /// `terminate()`: drops the queued tasks; workers exit after the task they are running.
    pub fn terminate(&self) {
        self.stop(PoolState::Terminated);
    }

    /// `join()`: waits for every worker to exit. Without `close()` or `terminate()` first this is
    /// `ValueError: Pool is still running`, raised.
    pub fn join(&self) {
        rt::schedule_point();
        let workers = rt::write(self.obj, |p: &mut Pool| {
            (p.state != PoolState::Running).then(|| std::mem::take(&mut p.workers))
        });
        let Some(workers) = workers else {
            rt::event("join", Some(self.obj), || "ValueError: Pool is still running".into());
            rt::raise(Misuse::new("ValueError", "Pool is still running"));
        };
        rt::event("join", Some(self.obj), || format!("joining {} workers", workers.len()));
        for w in workers {
            w.join();
        }
    }

    fn stop(&self, to: PoolState) {
        rt::schedule_point();
        // The dropped tasks are dropped outside the access: their captures may be racelab handles.
        let dropped_tasks = rt::write(self.obj, |p: &mut Pool| {
            if p.state != PoolState::Terminated {
                p.state = to;
            }
            if to == PoolState::Terminated {
                std::mem::take(&mut p.tasks)
            } else {
                VecDeque::new()
            }
        });
        let dropped = dropped_tasks.len();
        drop(dropped_tasks);
        while wake_one(self.obj, |p: &mut Pool| &mut p.idle, WakeOrder::Fifo).is_some() {}
        let op = if to == PoolState::Closed { "close" } else { "terminate" };
        rt::event(op, Some(self.obj), || format!("ok, dropped {dropped} queued tasks"));
    }

    /// A worker thread's loop.
    fn work(self) {
        let me = rt::current();
        loop {
            rt::schedule_point();
            let (task, state_now) = rt::write(self.obj, |p: &mut Pool| {
                let task = if p.state == PoolState::Terminated { None } else { p.tasks.pop_front() };
                if task.is_none() && p.state == PoolState::Running {
                    p.idle.push(me);
                }
                (task, p.state)
            });
            match task {
                Some(task) => {
                    rt::event("task", Some(self.obj), || "start".into());
                    task();
                    rt::event("task", Some(self.obj), || "done".into());
                }
                None if state_now != PoolState::Running => return,
                None => {
                    rt::event("idle", Some(self.obj), || "waiting for a task".into());
                    rt::block(Some(self.obj), None);
                    if rt::tearing_down() {
                        return;
                    }
                }
            }
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(m) = payload.downcast_ref::<Misuse>() {
        m.to_string()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".into()
    }
}

struct ResultState<T> {
    value: Option<Result<T, String>>,
    waiters: WaitList,
}

/// The result of `apply_async`: Python's `AsyncResult`. It is a handle.
pub struct AsyncResult<T> {
    obj: ObjectHandle,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for AsyncResult<T> {}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsyncResult({})", rt::object_name(self.obj))
    }
}

impl<T: 'static> AsyncResult<T> {
    fn new() -> Self {
        let state: ResultState<T> = ResultState { value: None, waiters: WaitList::default() };
        AsyncResult { obj: rt::register("AsyncResult", None, state), _value: PhantomData }
    }

    /// Changes the result's state through `f` (a write, for the reduction).
    fn write<R>(&self, f: impl FnOnce(&mut ResultState<T>) -> R) -> R {
        rt::write(self.obj, f)
    }

    /// Reads the result's state through `f` (a read: steps that only read commute).
    fn read<R>(&self, f: impl FnOnce(&ResultState<T>) -> R) -> R {
        rt::read(self.obj, f)
    }

    fn complete(&self, value: Result<T, String>) {
        let ok = value.is_ok();
        self.write(|s| s.value = Some(value));
        while wake_one(self.obj, |s: &mut ResultState<T>| &mut s.waiters, WakeOrder::Fifo).is_some() {}
        rt::event("result", Some(self.obj), || {
            if ok {
                "ready".into()
            } else {
                "ready, the task raised".into()
            }
        });
    }

    /// `ready()`.
    pub fn ready(&self) -> bool {
        rt::schedule_point();
        self.read(|s| s.value.is_some())
    }

    /// `successful()`: whether the task returned. Before it is ready this is
    /// `ValueError: ... not ready`.
    pub fn successful(&self) -> Result<bool, Misuse> {
        rt::schedule_point();
        match self.read(|s| s.value.as_ref().map(Result::is_ok)) {
            Some(ok) => Ok(ok),
            None => Err(Misuse::new("ValueError", format!("{} not ready", rt::object_name(self.obj)))),
        }
    }

    /// `wait()`: until the result is ready.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// `wait(timeout)`: true when ready.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(rt::now().after(timeout)))
    }

    /// `get()`: the task's return value, waiting for it. If the task panicked, the panic is
    /// raised again here.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.wait();
        self.value()
    }

    /// `get(timeout)`: `multiprocessing.TimeoutError` when not ready in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Misuse>
    where
        T: Clone,
    {
        if !self.wait_timeout(timeout) {
            return Err(Misuse::new("multiprocessing.TimeoutError", ""));
        }
        Ok(self.value())
    }

    fn value(&self) -> T
    where
        T: Clone,
    {
        let v = self.read(|s| s.value.clone());
        match v {
            Some(Ok(v)) => v,
            Some(Err(message)) => panic::panic_any(format!("the pool task raised: {message}")),
            None => unreachable!("value() after a successful wait"),
        }
    }

    fn wait_until(&self, deadline: Option<racelab_sim::VirtualTime>) -> bool {
        rt::schedule_point();
        let me = rt::current();
        loop {
            let ready = self.write(|s| {
                let ready = s.value.is_some();
                if !ready {
                    s.waiters.push(me);
                }
                ready
            });
            if ready {
                rt::event("wait", Some(self.obj), || "ready".into());
                return true;
            }
            rt::event("wait", Some(self.obj), || "blocked (not ready)".into());
            if rt::block(Some(self.obj), deadline) == Wakeup::TimedOut {
                let ready = self.write(|s| {
                    s.waiters.remove(me);
                    s.value.is_some()
                });
                rt::event("wait", Some(self.obj), || format!("timed out, ready {ready}"));
                return ready;
            }
        }
    }
}
