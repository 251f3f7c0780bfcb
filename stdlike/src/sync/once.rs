//! `Once`: std's one-time initialization, with poisoning when the initializer panics.
//!
//! `call_once` is a step that reads the state (a completed `Once` commutes with other readers);
//! the thread that runs the initializer marks it running, and threads arriving meanwhile block
//! until it completes (or panics: then they panic too, as std's do, or, for
//! `call_once_force`, run their own initializer).

use std::fmt;

use racelab_sim::rt::{self, ObjectHandle};
use racelab_sim::ThreadId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Incomplete,
    Poisoned,
    Running(ThreadId),
    Complete,
}

#[derive(Debug)]
struct OnceStateInner {
    phase: Phase,
    blocked: Vec<ThreadId>,
}

/// One-time initialization, as `std::sync::Once`.
pub struct Once {
    obj: ObjectHandle,
}

/// What `call_once_force`'s closure is told, as std's `OnceState`.
#[derive(Debug)]
pub struct OnceState {
    poisoned: bool,
}

impl OnceState {
    /// True when an earlier initializer panicked.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").field("name", &rt::object_name(self.obj)).finish_non_exhaustive()
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

/// Marks the `Once` poisoned if the initializer unwinds (a program panic), as std does.
struct Completion<'a> {
    once: &'a Once,
    done: bool,
}

impl Drop for Completion<'_> {
    fn drop(&mut self) {
        if !self.done && rt::in_simulation() && super::raw::poisoning() {
            self.once.finish(Phase::Poisoned);
        }
    }
}

impl Once {
    /// A new `Once`, registered with the current run as `Once-<n>`.
    pub fn new() -> Self {
        Once {
            obj: rt::register("Once", None, OnceStateInner { phase: Phase::Incomplete, blocked: Vec::new() }),
        }
    }

    /// Runs `f` if no initializer has completed yet; blocks while another thread runs one.
    /// Panics when an earlier initializer panicked, as std does.
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        self.run(false, |_| f())
    }

    /// `call_once`, also running `f` when an earlier initializer panicked (poisoned).
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        self.run(true, f)
    }

    /// True once an initializer has completed: one step.
    pub fn is_completed(&self) -> bool {
        rt::schedule_point();
        rt::read(self.obj, |s: &OnceStateInner| s.phase == Phase::Complete)
    }

    fn run<F: FnOnce(&OnceState)>(&self, force: bool, f: F) {
        rt::schedule_point();
        // Reading first: a completed Once is read, and those reads commute.
        if rt::read(self.obj, |s: &OnceStateInner| s.phase == Phase::Complete) {
            return;
        }
        let me = rt::current();
        loop {
            let phase = rt::write(self.obj, |s: &mut OnceStateInner| {
                let phase = s.phase;
                match phase {
                    Phase::Incomplete => s.phase = Phase::Running(me),
                    Phase::Poisoned if force => s.phase = Phase::Running(me),
                    // Its own initializer calling again: the panic below, not a wait (the
                    // initializer's unwind would then wake this very thread, running).
                    Phase::Running(t) if t == me => {}
                    Phase::Running(_) => s.blocked.push(me),
                    Phase::Poisoned | Phase::Complete => {}
                }
                phase
            });
            match phase {
                Phase::Complete => return,
                Phase::Poisoned if !force => {
                    panic!("Once instance has previously been poisoned")
                }
                Phase::Running(t) => {
                    if t == me {
                        panic!(
                            "racelab: a Once's initializer (call_once, OnceLock::get_or_init) called the same \
                             Once again, which deadlocks under std: initialize without re-entering it"
                        );
                    }
                    rt::event("call_once", Some(self.obj), || {
                        format!("blocked (initialized by {})", rt::thread_name(t))
                    });
                    rt::block(Some(self.obj), None);
                    if rt::tearing_down() {
                        rt::wait_in_teardown(&format!("call_once on {}", rt::object_name(self.obj)));
                    }
                }
                Phase::Incomplete | Phase::Poisoned => {
                    rt::event("call_once", Some(self.obj), || "running the initializer".into());
                    let mut completion = Completion { once: self, done: false };
                    f(&OnceState { poisoned: phase == Phase::Poisoned });
                    completion.done = true;
                    rt::schedule_point();
                    self.finish(Phase::Complete);
                    return;
                }
            }
        }
    }

    fn finish(&self, phase: Phase) {
        let blocked = rt::write(self.obj, |s: &mut OnceStateInner| {
            s.phase = phase;
            std::mem::take(&mut s.blocked)
        });
        rt::event("call_once", Some(self.obj), || match phase {
            Phase::Complete => "completed".into(),
            _ => "poisoned (the initializer panicked)".into(),
        });
        for t in blocked {
            rt::wake(t);
        }
    }
}
