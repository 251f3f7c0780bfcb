//! `Event`: Python's `threading.Event`, a flag threads wait for.
//!
//! `set` wakes every waiter; each of them returns True even if the flag is cleared again before
//! it runs (a set-then-clear "pulse" still wakes the threads that were waiting, but not one that
//! arrives after the clear). The order in which woken waiters return is the scheduler's.

use std::fmt;
use std::time::Duration;

use racelab_sim::rt::{self, ObjectHandle, Wakeup};

use crate::wait_list::WaitList;

#[derive(Debug, Default)]
struct EventState {
    flag: bool,
    waiters: WaitList,
}

/// A Python `threading.Event`. It is a handle: copies refer to the same event.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Event {
    obj: ObjectHandle,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({})", rt::object_name(self.obj))
    }
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Self {
        Event { obj: rt::register("Event", None, EventState::default()) }
    }

    /// A new named event, not set.
    pub fn named(name: impl Into<String>) -> Self {
        Event { obj: rt::register("Event", Some(name.into()), EventState::default()) }
    }

    /// The flag. Reading it is a step: another thread may set or clear it just before.
    pub fn is_set(&self) -> bool {
        rt::schedule_point();
        let flag = rt::read(self.obj, |s: &EventState| s.flag);
        rt::event("is_set", Some(self.obj), || flag.to_string());
        flag
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        rt::schedule_point();
        let woken: Vec<String> = rt::write(self.obj, |s: &mut EventState| {
            s.flag = true;
            let mut woken = Vec::new();
            while !s.waiters.is_empty() {
                let (t, really) = s.waiters.wake_at(0);
                if really {
                    woken.push(t);
                }
            }
            woken
        })
        .into_iter()
        .map(rt::thread_name)
        .collect();
        if woken.is_empty() {
            rt::set_note(self.obj, "it was last set at step {step} by {thread} with nobody waiting", [0; 3]);
        } else {
            rt::clear_note(self.obj);
        }
        let kind = || racelab_sim::EventKind::Notify { all: true, woken: woken.clone() };
        rt::event_kind("set", Some(self.obj), kind, || {
            if woken.is_empty() {
                "woke nobody".into()
            } else {
                format!("woke {}", woken.join(", "))
            }
        });
    }

    /// Clears the flag.
    pub fn clear(&self) {
        rt::schedule_point();
        let was = rt::write(self.obj, |s: &mut EventState| std::mem::replace(&mut s.flag, false));
        if was {
            rt::set_note(self.obj, "it was set, then cleared at step {step} by {thread}", [0; 3]);
        }
        rt::event_kind(
            "clear",
            Some(self.obj),
            || racelab_sim::EventKind::Clear { was_set: was },
            || "ok".into(),
        );
    }

    /// Waits until the flag is set. Returns true.
    pub fn wait(&self) -> bool {
        self.wait_until(None)
    }

    /// Waits at most `timeout` of virtual time; false on timeout (CPython returns its internal
    /// condition's verdict, not the flag).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(timeout))
    }

    fn wait_until(&self, timeout: Option<Duration>) -> bool {
        rt::schedule_point();
        let me = rt::current();
        let set = rt::write(self.obj, |s: &mut EventState| {
            if !s.flag {
                s.waiters.push(me);
            }
            s.flag
        });
        if set {
            let kind =
                || racelab_sim::EventKind::WaitEnd { wake: racelab_sim::Wake::AlreadySet, reacquired: false };
            rt::event_kind("wait", Some(self.obj), kind, || "already set".into());
            return true;
        }
        rt::event_kind(
            "wait",
            Some(self.obj),
            || racelab_sim::EventKind::WaitBegin { lock: None },
            || "waiting".into(),
        );
        let deadline = timeout.map(|t| rt::now().after(t));
        match rt::block(Some(self.obj), deadline) {
            Wakeup::Woken => {
                let kind = || racelab_sim::EventKind::WaitEnd {
                    wake: racelab_sim::Wake::Notified,
                    reacquired: false,
                };
                rt::event_kind("wait", Some(self.obj), kind, || "woken by set".into());
                true
            }
            Wakeup::TimedOut => {
                rt::write(self.obj, |s: &mut EventState| s.waiters.remove(me));
                let kind = || racelab_sim::EventKind::WaitEnd {
                    wake: racelab_sim::Wake::TimedOut,
                    reacquired: false,
                };
                rt::event_kind("wait", Some(self.obj), kind, || "timed out".into());
                false
            }
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}
