//! std's `mpsc` channels: `channel` (unbounded), `sync_channel(n)` (bounded; `0` is a
//! rendezvous), with std's error types and disconnect rules.
//!
//! Each `send`/`recv` is a step; a full `send` and an empty `recv` block on the channel until
//! the other side changes it. A receiver sees `Disconnected` once every sender is gone and the
//! queue is empty (items sent before still arrive); a sender sees `SendError` (its value back)
//! once the receiver is gone. On a rendezvous channel `send` returns only after a receiver took
//! its item (or failed: the item comes back). Dropping a sender or the receiver is a step too:
//! the other side can observe it. The items live in the channel, reached only inside the run
//! object's `rt::write` closures, so every access is in some step's footprint.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use racelab_sim::rt::{self, ObjectHandle, Wakeup};
use racelab_sim::ThreadId;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

#[derive(Debug)]
struct ChanState {
    senders: usize,
    receiver_alive: bool,
    /// The receiver, while blocked in `recv`.
    receiving: Option<ThreadId>,
    /// Senders blocked for room or (rendezvous) for their item to be taken.
    sending: Vec<ThreadId>,
    /// Items sent and items taken so far (a rendezvous sender waits for its ticket to be taken).
    pushed: u64,
    taken: u64,
}

struct Chan<T> {
    obj: ObjectHandle,
    /// `None`: unbounded; `Some(0)`: rendezvous.
    bound: Option<usize>,
    items: UnsafeCell<VecDeque<T>>,
}

// SAFETY: the items are reached only inside `rt::write` closures on `obj`, which never nest and
// run on the run's one OS thread; values of `T: Send` move between green threads through them,
// as through std's channel.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: see above.
unsafe impl<T: Send> Sync for Chan<T> {}

impl<T> Chan<T> {
    fn new(bound: Option<usize>) -> Arc<Self> {
        let state = ChanState {
            senders: 1,
            receiver_alive: true,
            receiving: None,
            sending: Vec::new(),
            pushed: 0,
            taken: 0,
        };
        let kind = if bound.is_some() { "sync_channel" } else { "channel" };
        Arc::new(Chan {
            obj: rt::register(kind, None, state),
            bound,
            items: UnsafeCell::new(VecDeque::new()),
        })
    }

    /// One write of the channel: its state and its items together.
    fn write<R>(&self, f: impl FnOnce(&mut ChanState, &mut VecDeque<T>) -> R) -> R {
        rt::write(self.obj, |s: &mut ChanState| {
            // SAFETY: see `unsafe impl Send for Chan`: this closure is the only access running.
            let items = unsafe { &mut *self.items.get() };
            f(s, items)
        })
    }

    /// The send after its scheduling point: waits for room (bounded), then (rendezvous) for the
    /// item to be taken. `Err(value)` when the receiver is gone.
    fn send(&self, value: T, wait: bool) -> Result<(), TrySendError<T>> {
        let me = rt::current();
        let mut value = Some(value);
        let ticket = loop {
            let pushed = self.write(|s, items| {
                if !s.receiver_alive {
                    return Err(None);
                }
                let room = match self.bound {
                    None => true,
                    Some(0) if !wait => s.receiving.is_some() && items.is_empty(),
                    Some(n) => items.len() < n.max(1),
                };
                if !room {
                    if wait {
                        s.sending.push(me);
                    }
                    return Err(Some(()));
                }
                items.push_back(value.take().expect("racelab invariant: an item sent twice"));
                s.pushed += 1;
                Ok((s.pushed - 1, s.receiving.take()))
            });
            match pushed {
                Ok((ticket, receiver)) => {
                    rt::event("send", Some(self.obj), || "ok".into());
                    if let Some(r) = receiver {
                        rt::wake(r);
                    }
                    break ticket;
                }
                Err(None) => {
                    rt::event("send", Some(self.obj), || "disconnected (the receiver is gone)".into());
                    return Err(TrySendError::Disconnected(
                        value.take().expect("racelab invariant: item kept"),
                    ));
                }
                Err(Some(())) if !wait => {
                    rt::event("try_send", Some(self.obj), || "full".into());
                    return Err(TrySendError::Full(value.take().expect("racelab invariant: item kept")));
                }
                Err(Some(())) => {
                    rt::event("send", Some(self.obj), || "blocked (full)".into());
                    rt::block(Some(self.obj), None);
                    if rt::tearing_down() {
                        // A destructor sending during the teardown (see `rt::block`): no receiver
                        // will make room in this run, as if it were gone.
                        return Err(TrySendError::Disconnected(
                            value.take().expect("racelab invariant: item kept"),
                        ));
                    }
                }
            }
        };
        if self.bound != Some(0) || !wait {
            return Ok(());
        }
        // Rendezvous: the send completes when a receiver has taken the item.
        loop {
            let done = self.write(|s, items| {
                if s.taken > ticket {
                    Handoff::Taken
                } else if !s.receiver_alive {
                    // Capacity one: the item not taken is the only one queued.
                    Handoff::Back(items.pop_back().expect("racelab invariant: a rendezvous item vanished"))
                } else {
                    s.sending.push(me);
                    Handoff::Waiting
                }
            });
            match done {
                Handoff::Taken => return Ok(()),
                Handoff::Back(v) => return Err(TrySendError::Disconnected(v)),
                Handoff::Waiting => {
                    rt::event("send", Some(self.obj), || "waiting for a receiver".into());
                    rt::block(Some(self.obj), None);
                    if rt::tearing_down() {
                        // During the teardown (see `rt::block`): the item stays queued, untaken.
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The receive after its scheduling point, waiting until `deadline` at most (`wait`: false
    /// for `try_recv`).
    fn recv(&self, wait: bool, deadline: Option<racelab_sim::VirtualTime>) -> Result<T, TryRecvError> {
        let me = rt::current();
        loop {
            let got = self.write(|s, items| match items.pop_front() {
                Some(v) => {
                    s.taken += 1;
                    Ok((v, std::mem::take(&mut s.sending)))
                }
                None if s.senders == 0 => Err(TryRecvError::Disconnected),
                None => {
                    if wait {
                        s.receiving = Some(me);
                    }
                    Err(TryRecvError::Empty)
                }
            });
            match got {
                Ok((v, senders)) => {
                    rt::event("recv", Some(self.obj), || "ok".into());
                    for t in senders {
                        rt::wake(t);
                    }
                    return Ok(v);
                }
                Err(TryRecvError::Empty) if wait => {
                    rt::event("recv", Some(self.obj), || "blocked (empty)".into());
                    if rt::block(Some(self.obj), deadline) == Wakeup::TimedOut {
                        self.write(|s, _| s.receiving = None);
                        rt::event("recv", Some(self.obj), || "timed out".into());
                        return Err(TryRecvError::Empty);
                    }
                }
                Err(e) => {
                    rt::event("recv", Some(self.obj), || format!("{e:?}"));
                    return Err(e);
                }
            }
        }
    }

    fn add_sender(&self) {
        self.write(|s, _| s.senders += 1);
    }

    /// A sender dropped: the last one disconnects the receiver (a step: the receiver sees it).
    fn drop_sender(&self) {
        if rt::tearing_down() {
            return;
        }
        rt::schedule_point();
        let receiver = self.write(|s, _| {
            s.senders -= 1;
            if s.senders == 0 {
                s.receiving.take()
            } else {
                None
            }
        });
        rt::event("drop Sender", Some(self.obj), || {
            if receiver.is_some() {
                "the last sender: disconnected".into()
            } else {
                "ok".into()
            }
        });
        if let Some(r) = receiver {
            rt::wake(r);
        }
    }

    /// The receiver dropped: blocked senders fail (a step: senders see it).
    fn drop_receiver(&self) {
        if rt::tearing_down() {
            return;
        }
        rt::schedule_point();
        let senders = self.write(|s, _| {
            s.receiver_alive = false;
            std::mem::take(&mut s.sending)
        });
        rt::event("drop Receiver", Some(self.obj), || "disconnected".into());
        for t in senders {
            rt::wake(t);
        }
    }
}

enum Handoff<T> {
    Taken,
    Back(T),
    Waiting,
}

/// Creates an unbounded channel: `send` never blocks.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(None);
    (Sender { chan: Arc::clone(&chan) }, Receiver { chan, _not_sync: PhantomData })
}

/// Creates a channel holding at most `bound` items; `0` is a rendezvous (a `send` returns once
/// a receiver took its item).
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = Chan::new(Some(bound));
    (SyncSender { chan: Arc::clone(&chan) }, Receiver { chan, _not_sync: PhantomData })
}

/// The sending half of [`channel`], as `std::sync::mpsc::Sender`.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The sending half of [`sync_channel`], as `std::sync::mpsc::SyncSender`.
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel, as `std::sync::mpsc::Receiver`.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// As std's, `Send` but not `Sync`.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl<T> Sender<T> {
    /// Sends `value`: one step; `Err` with the value when the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        rt::schedule_point();
        self.chan.send(value, true).map_err(|e| match e {
            TrySendError::Disconnected(v) | TrySendError::Full(v) => SendError(v),
        })
    }
}

impl<T> SyncSender<T> {
    /// Sends `value`, blocking while the channel is full (rendezvous: until a receiver took it).
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        rt::schedule_point();
        self.chan.send(value, true).map_err(|e| match e {
            TrySendError::Disconnected(v) | TrySendError::Full(v) => SendError(v),
        })
    }

    /// Sends `value` if there is room now (rendezvous: if a receiver is waiting): one step.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        rt::schedule_point();
        self.chan.send(value, false)
    }
}

impl<T> Receiver<T> {
    /// Receives an item, blocking while the channel is empty; `Err` once it is empty and every
    /// sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        rt::schedule_point();
        self.chan.recv(true, None).map_err(|_| RecvError)
    }

    /// Receives an item if one is there now: one step.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        rt::schedule_point();
        self.chan.recv(false, None)
    }

    /// `recv`, waiting `timeout` of virtual time at most.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        rt::schedule_point();
        let deadline = rt::now().after(timeout);
        self.chan.recv(true, Some(deadline)).map_err(|e| match e {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
        })
    }

    /// The items, blocking for each, until every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// The items there now, without blocking.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

/// [`Receiver::iter`]'s iterator.
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

/// [`Receiver::try_iter`]'s iterator.
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

/// The iterator of a `Receiver` taken by value (`for x in rx`).
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender { chan: Arc::clone(&self.chan) }
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        SyncSender { chan: Arc::clone(&self.chan) }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // Outside a run (a value left in a `thread_local!` or a static, dropped when its OS
        // thread or the process ends): the run it belonged to is over, and nothing is left to
        // tell. Every racelab value's `Drop` does the same.
        if !rt::in_simulation() {
            return;
        }
        self.chan.drop_sender();
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        if !rt::in_simulation() {
            return;
        }
        self.chan.drop_sender();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if !rt::in_simulation() {
            return;
        }
        self.chan.drop_receiver();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("channel", &rt::object_name(self.chan.obj)).finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").field("channel", &rt::object_name(self.chan.obj)).finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("channel", &rt::object_name(self.chan.obj)).finish_non_exhaustive()
    }
}
