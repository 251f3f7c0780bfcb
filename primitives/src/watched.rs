//! `Watched<T>`: the data a program protects with a lock, shown in the trace when it changes.
//!
//! A student following a trace needs to see what the lock protects: "consumer-2 used up what the
//! notify announced" is visible only when the queue's contents are (`queue  [] -> [0]`). A
//! `Watched` value is read and changed without a scheduling point of its own, like a Python
//! list touched under `with lock:` (the lock's steps already order those accesses); each change
//! is a `change` event with the value before and after, typed as `EventKind::Changed`. Use
//! `Shared<T>` instead for data accessed without a lock, where every access must be a step.

use std::fmt;
use std::marker::PhantomData;

use racelab_sim::rt::{self, ObjectHandle};

/// A value watched in the trace. A handle: copies refer to the same value.
pub struct Watched<T> {
    obj: ObjectHandle,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Watched<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Watched<T> {}

impl<T> fmt::Debug for Watched<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Watched({})", rt::object_name(self.obj))
    }
}

impl<T: fmt::Debug + 'static> Watched<T> {
    /// A watched value named `name` in traces.
    pub fn named(name: impl Into<String>, value: T) -> Self {
        Watched { obj: rt::register("Watched", Some(name.into()), value), _value: PhantomData }
    }

    /// Reads the value through `f`: no step, no event.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        rt::read(self.obj, f)
    }

    /// Changes the value through `f`: no step; a `change` event `before -> after` when the value
    /// shows differently afterwards.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let (r, shown) = rt::write(self.obj, |v: &mut T| {
            let before = rt::tracing().then(|| format!("{v:?}"));
            let r = f(v);
            (r, before.map(|b| (b, format!("{v:?}"))))
        });
        if let Some((before, after)) = shown.filter(|(b, a)| b != a) {
            let text = format!("{before} -> {after}");
            rt::event_kind(
                "change",
                Some(self.obj),
                || racelab_sim::EventKind::Changed { before, after },
                || text,
            );
        }
        r
    }
}
