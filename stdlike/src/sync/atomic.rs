//! std's atomics, sequentially consistent: every operation is one step, whatever `Ordering` it
//! is given.
//!
//! racelab interleaves steps; it does not model weak memory. An `Ordering` weaker than `SeqCst`
//! is accepted and treated as `SeqCst`, so a program whose bug needs a reordering that
//! `Relaxed` or `Acquire`/`Release` allow (and `SeqCst` forbids) passes here: loom's weak-memory
//! model finds such bugs, racelab does not. What racelab finds are the interleaving bugs: a
//! load and a store where a read-modify-write was needed, a check-then-act on a flag, an ABA.
//!
//! Loads are `rt::read` accesses (concurrent loads commute for partial-order reduction);
//! stores and read-modify-writes are `rt::write`; a `compare_exchange` that fails only reads.
//! The value lives in the atomic itself, reached only inside those closures. std's checks of
//! impossible orderings (a `Release` load, an `Acquire` store, a `Release` failure ordering)
//! panic with std's messages. `compare_exchange_weak` never fails spuriously here, and
//! `fetch_update` is std's loop of a load and a `compare_exchange_weak`: two steps per try.

use std::cell::UnsafeCell;
use std::fmt;

use racelab_sim::rt::{self, ObjectHandle};

pub use std::sync::atomic::Ordering;

/// A memory fence. Under racelab's sequentially consistent atomics it orders nothing more, so
/// it is no step; a `Relaxed` fence panics, as in std.
pub fn fence(order: Ordering) {
    assert!(order != Ordering::Relaxed, "there is no such thing as a relaxed fence");
}

/// A compiler fence: nothing to do under racelab (a `Relaxed` one panics, as in std).
pub fn compiler_fence(order: Ordering) {
    assert!(order != Ordering::Relaxed, "there is no such thing as a relaxed compiler fence");
}

fn check_load(order: Ordering) {
    match order {
        Ordering::Release => panic!("there is no such thing as a release load"),
        Ordering::AcqRel => panic!("there is no such thing as an acquire-release load"),
        _ => {}
    }
}

fn check_store(order: Ordering) {
    match order {
        Ordering::Acquire => panic!("there is no such thing as an acquire store"),
        Ordering::AcqRel => panic!("there is no such thing as an acquire-release store"),
        _ => {}
    }
}

fn check_failure(order: Ordering) {
    match order {
        Ordering::Release => panic!("there is no such thing as a release failure ordering"),
        Ordering::AcqRel => panic!("there is no such thing as an acquire-release failure ordering"),
        _ => {}
    }
}

/// The state an atomic registers: nothing (the value lives in the atomic); the object is what
/// footprints name.
struct AtomicObject;

/// The shared core of every atomic type: the run object and the value.
struct Core<T> {
    obj: ObjectHandle,
    value: UnsafeCell<T>,
}

/// How a value appears in the trace: as `Debug` shows it, but a pointer as its number in the run
/// (`null`, `ptr#1`, `ptr#2`... in the order the trace first shows each address): addresses change
/// from one process to the next, and a trace that showed them never replayed byte for byte (every
/// replay said the program had changed).
trait Shown {
    fn shown(&self) -> String;
}

macro_rules! shown_by_debug {
    ($($t:ty),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> String {
                format!("{self:?}")
            }
        }
    )*};
}

shown_by_debug!(usize, isize, u8, u16, u32, u64, i8, i16, i32, i64, bool, ());

impl<T> Shown for *mut T {
    fn shown(&self) -> String {
        if self.is_null() {
            return "null".into();
        }
        thread_local! {
            /// The addresses the current run's trace has shown, with the run's nonce.
            static SHOWN: std::cell::RefCell<(u64, Vec<usize>)> = const { std::cell::RefCell::new((0, Vec::new())) };
        }
        let run = rt::run_nonce();
        let address = self.addr();
        SHOWN.with(|s| {
            let mut s = s.borrow_mut();
            if s.0 != run {
                *s = (run, Vec::new());
            }
            let n = match s.1.iter().position(|&a| a == address) {
                Some(i) => i + 1,
                None => {
                    s.1.push(address);
                    s.1.len()
                }
            };
            format!("ptr#{n}")
        })
    }
}

impl<T: Copy + Shown> Core<T> {
    fn new(kind: &'static str, value: T) -> Self {
        Core { obj: rt::register(kind, None, AtomicObject), value: UnsafeCell::new(value) }
    }

    fn load(&self) -> T {
        rt::schedule_point();
        // SAFETY: the value is reached only inside the run object's read/write closures, which
        // never nest and run on the run's one OS thread: no `&mut` to it is alive here.
        let v = rt::read(self.obj, |_: &AtomicObject| unsafe { *self.value.get() });
        rt::event("load", Some(self.obj), || v.shown());
        v
    }

    /// A read-modify-write: one step, a write. `f` gets the value and returns what to store and
    /// what to return.
    fn rmw<R: Shown>(&self, op: &'static str, f: impl FnOnce(T) -> (T, R)) -> R {
        rt::schedule_point();
        let (r, new) = rt::write(self.obj, |_: &mut AtomicObject| {
            // SAFETY: as in `load`; this closure is the only access running.
            let slot = unsafe { &mut *self.value.get() };
            let (new, r) = f(*slot);
            *slot = new;
            (r, new)
        });
        // A store returns nothing: its line shows the value stored; the others, old -> new.
        rt::event(op, Some(self.obj), || {
            if op == "store" {
                new.shown()
            } else {
                format!("{} -> {}", r.shown(), new.shown())
            }
        });
        r
    }

    fn compare_exchange(&self, current: T, new: T, eq: impl Fn(T, T) -> bool) -> Result<T, T> {
        rt::schedule_point();
        // A failing exchange only reads: it commutes with other loads and failing exchanges.
        // SAFETY: as in `load`.
        let seen = rt::read(self.obj, |_: &AtomicObject| unsafe { *self.value.get() });
        if !eq(seen, current) {
            rt::event("compare_exchange", Some(self.obj), || format!("failed: {}", seen.shown()));
            return Err(seen);
        }
        // SAFETY: as in `rmw`. Same step as the read: no other thread ran in between.
        rt::write(self.obj, |_: &mut AtomicObject| unsafe { *self.value.get() = new });
        rt::event("compare_exchange", Some(self.obj), || format!("{} -> {}", seen.shown(), new.shown()));
        Ok(seen)
    }

    /// The value without a step (for `Debug`): still a read of the object.
    fn peek(&self) -> T {
        // SAFETY: as in `load`.
        rt::read(self.obj, |_: &AtomicObject| unsafe { *self.value.get() })
    }
}

macro_rules! common_methods {
    ($name:ident, $t:ty) => {
        impl $name {
            /// A new atomic holding `v`, registered with the current run.
            pub fn new(v: $t) -> Self {
                $name { core: Core::new(stringify!($name), v) }
            }

            /// The value through the exclusive borrow (no step).
            pub fn get_mut(&mut self) -> &mut $t {
                self.core.value.get_mut()
            }

            /// Consumes the atomic and returns its value.
            pub fn into_inner(self) -> $t {
                self.core.value.into_inner()
            }

            /// Loads the value: one step (a read).
            pub fn load(&self, order: Ordering) -> $t {
                check_load(order);
                self.core.load()
            }

            /// Stores `v`: one step (a write).
            pub fn store(&self, v: $t, order: Ordering) {
                check_store(order);
                self.core.rmw("store", |_| (v, ()));
            }

            /// Stores `v` and returns the previous value: one step.
            pub fn swap(&self, v: $t, _order: Ordering) -> $t {
                self.core.rmw("swap", |old| (v, old))
            }

            /// Stores `new` if the value is `current`: one step. `Ok(previous)` on success,
            /// `Err(actual)` otherwise (only a read then).
            pub fn compare_exchange(
                &self,
                current: $t,
                new: $t,
                _success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                check_failure(failure);
                self.core.compare_exchange(current, new, |a, b| a == b)
            }

            /// As `compare_exchange`: it never fails spuriously under racelab.
            pub fn compare_exchange_weak(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                self.compare_exchange(current, new, success, failure)
            }

            /// std's loop: load, apply `f`, `compare_exchange_weak`, again until it succeeds or
            /// `f` returns `None` (then `Err(last value)`). Two steps per try.
            pub fn fetch_update<F>(
                &self,
                set_order: Ordering,
                fetch_order: Ordering,
                mut f: F,
            ) -> Result<$t, $t>
            where
                F: FnMut($t) -> Option<$t>,
            {
                let mut prev = self.load(fetch_order);
                while let Some(next) = f(prev) {
                    match self.compare_exchange_weak(prev, next, set_order, fetch_order) {
                        Ok(x) => return Ok(x),
                        Err(next_prev) => prev = next_prev,
                    }
                }
                Err(prev)
            }

            /// Applies a bitwise `and`: one step; returns the previous value.
            pub fn fetch_and(&self, v: $t, _order: Ordering) -> $t {
                self.core.rmw("fetch_and", |old| (old & v, old))
            }

            /// Applies a bitwise `nand`: one step; returns the previous value.
            pub fn fetch_nand(&self, v: $t, _order: Ordering) -> $t {
                self.core.rmw("fetch_nand", |old| (!(old & v), old))
            }

            /// Applies a bitwise `or`: one step; returns the previous value.
            pub fn fetch_or(&self, v: $t, _order: Ordering) -> $t {
                self.core.rmw("fetch_or", |old| (old | v, old))
            }

            /// Applies a bitwise `xor`: one step; returns the previous value.
            pub fn fetch_xor(&self, v: $t, _order: Ordering) -> $t {
                self.core.rmw("fetch_xor", |old| (old ^ v, old))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new(<$t>::default())
            }
        }

        impl From<$t> for $name {
            fn from(v: $t) -> Self {
                $name::new(v)
            }
        }

        impl fmt::Debug for $name {
            /// The value, read without a scheduling point (as std's, a relaxed load).
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.core.peek(), f)
            }
        }

        // SAFETY: the value is reached only inside the run object's `rt::read`/`rt::write`
        // closures, on the run's one OS thread; an OS thread of the program's own fails in `rt`
        // before it reaches the value.
        unsafe impl Sync for $name {}

        // As std's atomics: every operation is indivisible, so a panic leaves no torn value.
        impl std::panic::RefUnwindSafe for $name {}
    };
}

macro_rules! atomic_int {
    ($(#[$doc:meta] $name:ident $t:ty;)*) => {$(
        #[$doc]
        pub struct $name {
            core: Core<$t>,
        }

        common_methods!($name, $t);

        impl $name {
            /// Adds `v` (wrapping): one step; returns the previous value.
            pub fn fetch_add(&self, v: $t, _order: Ordering) -> $t {
                self.core.rmw("fetch_add", |old| (old.wrapping_add(v), old))
            }

            /// Subtracts `v` (wrapping): one step; returns the previous value.
            pub fn fetch_sub(&self, v: $t, _order: Ordering) -> $t {
                self.core.rmw("fetch_sub", |old| (old.wrapping_sub(v), old))
            }

            /// Stores the maximum of the value and `v`: one step; returns the previous value.
            pub fn fetch_max(&self, v: $t, _order: Ordering) -> $t {
                self.core.rmw("fetch_max", |old| (old.max(v), old))
            }

            /// Stores the minimum of the value and `v`: one step; returns the previous value.
            pub fn fetch_min(&self, v: $t, _order: Ordering) -> $t {
                self.core.rmw("fetch_min", |old| (old.min(v), old))
            }
        }
    )*};
}

atomic_int! {
    /// An atomic `usize`, as `std::sync::atomic::AtomicUsize`.
    AtomicUsize usize;
    /// An atomic `isize`, as `std::sync::atomic::AtomicIsize`.
    AtomicIsize isize;
    /// An atomic `u8`, as `std::sync::atomic::AtomicU8`.
    AtomicU8 u8;
    /// An atomic `u16`, as `std::sync::atomic::AtomicU16`.
    AtomicU16 u16;
    /// An atomic `u32`, as `std::sync::atomic::AtomicU32`.
    AtomicU32 u32;
    /// An atomic `u64`, as `std::sync::atomic::AtomicU64`.
    AtomicU64 u64;
    /// An atomic `i8`, as `std::sync::atomic::AtomicI8`.
    AtomicI8 i8;
    /// An atomic `i16`, as `std::sync::atomic::AtomicI16`.
    AtomicI16 i16;
    /// An atomic `i32`, as `std::sync::atomic::AtomicI32`.
    AtomicI32 i32;
    /// An atomic `i64`, as `std::sync::atomic::AtomicI64`.
    AtomicI64 i64;
}

/// An atomic `bool`, as `std::sync::atomic::AtomicBool`.
pub struct AtomicBool {
    core: Core<bool>,
}

common_methods!(AtomicBool, bool);

impl AtomicBool {
    /// Negates the value: one step; returns the previous value.
    pub fn fetch_not(&self, _order: Ordering) -> bool {
        self.core.rmw("fetch_not", |old| (!old, old))
    }
}

/// An atomic raw pointer, as `std::sync::atomic::AtomicPtr`.
pub struct AtomicPtr<T> {
    core: Core<*mut T>,
}

// SAFETY: as for the other atomics; std's AtomicPtr is Send and Sync for every T as well.
unsafe impl<T> Sync for AtomicPtr<T> {}
// SAFETY: the pointer is a plain value; std's AtomicPtr<T> is Send for every T.
unsafe impl<T> Send for AtomicPtr<T> {}
// As std's atomics: every operation is indivisible, so a panic leaves no torn value.
impl<T> std::panic::RefUnwindSafe for AtomicPtr<T> {}

impl<T> AtomicPtr<T> {
    /// A new atomic pointer holding `p`, registered with the current run.
    pub fn new(p: *mut T) -> Self {
        AtomicPtr { core: Core::new("AtomicPtr", p) }
    }

    /// The pointer through the exclusive borrow (no step).
    pub fn get_mut(&mut self) -> &mut *mut T {
        self.core.value.get_mut()
    }

    /// Consumes the atomic and returns the pointer.
    pub fn into_inner(self) -> *mut T {
        self.core.value.into_inner()
    }

    /// Loads the pointer: one step (a read).
    pub fn load(&self, order: Ordering) -> *mut T {
        check_load(order);
        self.core.load()
    }

    /// Stores `p`: one step (a write).
    pub fn store(&self, p: *mut T, order: Ordering) {
        check_store(order);
        self.core.rmw("store", |_| (p, ()));
    }

    /// Stores `p` and returns the previous pointer: one step.
    pub fn swap(&self, p: *mut T, _order: Ordering) -> *mut T {
        self.core.rmw("swap", |old| (p, old))
    }

    /// Stores `new` if the pointer is `current`: one step (only a read when it fails).
    pub fn compare_exchange(
        &self,
        current: *mut T,
        new: *mut T,
        _success: Ordering,
        failure: Ordering,
    ) -> Result<*mut T, *mut T> {
        check_failure(failure);
        self.core.compare_exchange(current, new, |a, b| a == b)
    }

    /// As `compare_exchange`: it never fails spuriously under racelab.
    pub fn compare_exchange_weak(
        &self,
        current: *mut T,
        new: *mut T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut T, *mut T> {
        self.compare_exchange(current, new, success, failure)
    }

    /// std's loop of a load and a `compare_exchange_weak` (two steps per try).
    pub fn fetch_update<F>(
        &self,
        set_order: Ordering,
        fetch_order: Ordering,
        mut f: F,
    ) -> Result<*mut T, *mut T>
    where
        F: FnMut(*mut T) -> Option<*mut T>,
    {
        let mut prev = self.load(fetch_order);
        while let Some(next) = f(prev) {
            match self.compare_exchange_weak(prev, next, set_order, fetch_order) {
                Ok(x) => return Ok(x),
                Err(next_prev) => prev = next_prev,
            }
        }
        Err(prev)
    }
}

impl<T> Default for AtomicPtr<T> {
    fn default() -> Self {
        AtomicPtr::new(std::ptr::null_mut())
    }
}

impl<T> From<*mut T> for AtomicPtr<T> {
    fn from(p: *mut T) -> Self {
        AtomicPtr::new(p)
    }
}

impl<T> fmt::Debug for AtomicPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.core.peek(), f)
    }
}
