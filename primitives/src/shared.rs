//! `Shared<T>`: a variable that several threads read and write.
//!
//! Each `load`, `store` and `update` is one step, so the scheduler can interleave other
//! threads between them. That is what makes `counter += 1` written as a load then a store lose
//! updates, exactly as Python's `x += 1` does (a read, an add and a write), while a single
//! `update(|v| ..)` is atomic, as a `list.append` is under the GIL.

use std::fmt;
use std::marker::PhantomData;

use racelab_sim::rt::{self, ObjectHandle};

/// A shared variable of type `T`. It is a handle: copies refer to the same variable.
pub struct Shared<T> {
    obj: ObjectHandle,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Shared<T> {}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({})", rt::object_name(self.obj))
    }
}

impl<T: fmt::Debug + 'static> Shared<T> {
    /// A shared variable holding `value`, named `Shared-<n>` in traces.
    pub fn new(value: T) -> Self {
        Shared { obj: rt::register("Shared", None, value), _value: PhantomData }
    }

    /// A named shared variable holding `value`.
    pub fn named(name: impl Into<String>, value: T) -> Self {
        Shared { obj: rt::register("Shared", Some(name.into()), value), _value: PhantomData }
    }

    /// Reads the value: one step.
    pub fn load(&self) -> T
    where
        T: Clone,
    {
        rt::schedule_point();
        let v = rt::read(self.obj, |v: &T| v.clone());
        let read = || racelab_sim::EventKind::Read { value: format!("{v:?}") };
        rt::event_kind("load", Some(self.obj), read, || format!("{v:?}"));
        v
    }

    /// Writes the value: one step.
    pub fn store(&self, value: T) {
        rt::schedule_point();
        let after = rt::tracing().then(|| format!("{value:?}"));
        let before = rt::write(self.obj, |v: &mut T| {
            let before = rt::tracing().then(|| format!("{v:?}"));
            *v = value;
            before
        });
        let (before, after) = (before.unwrap_or_default(), after.unwrap_or_default());
        let shown = after.clone();
        rt::event_kind(
            "store",
            Some(self.obj),
            || racelab_sim::EventKind::Changed { before, after },
            || shown,
        );
    }

    /// Reads, changes and writes the value in one atomic step; returns what `f` returns.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        rt::schedule_point();
        let (r, before, shown) = rt::write(self.obj, |v: &mut T| {
            let before = rt::tracing().then(|| format!("{v:?}"));
            let r = f(v);
            (r, before, rt::tracing().then(|| format!("{v:?}")))
        });
        let (before, after) = (before.unwrap_or_default(), shown.unwrap_or_default());
        let changed = || racelab_sim::EventKind::Changed { before, after: after.clone() };
        rt::event_kind("update", Some(self.obj), changed, || after.clone());
        r
    }

    /// Reads the value through `f` without cloning it: one step.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        rt::schedule_point();
        let (r, shown) = rt::read(self.obj, |v: &T| (f(v), rt::tracing().then(|| format!("{v:?}"))));
        let value = shown.unwrap_or_default();
        let text = value.clone();
        rt::event_kind("load", Some(self.obj), || racelab_sim::EventKind::Read { value }, || text);
        r
    }
}
