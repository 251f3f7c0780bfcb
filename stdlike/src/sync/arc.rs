//! `Arc` and `Weak` whose reference counts partial-order reduction sees.
//!
//! Why not std's own: which thread drops an `Arc` last decides which thread runs the value's
//! destructor, and `Arc::strong_count`, `try_unwrap`, `get_mut` and `Weak::upgrade` read the
//! counts; with std's `Arc` those counts are memory racelab never sees, so a reduced exhaustive
//! search could prove a program whose bug needs another thread to be the last owner (a `Drop`
//! that sends on a channel, run by main instead of a worker). Here every handle carries its
//! allocation's count ([`rt::CountId`], one per allocation: handles made apart on one
//! allocation, by [`Arc::from_std`] or [`Arc::from_raw`], find it by the allocation's address),
//! and the operations that change or read it are accesses of the step they happen in:
//!
//! - a clone, a downgrade, a `Weak`'s clone or drop, and every drop but the last of a value with
//!   a destructor: reads (they commute with one another: the counts come out the same in either
//!   order);
//! - the last drop of a value with a destructor: a write (which thread runs the destructor, and
//!   what it does there, turns on the order of the drops); the drop that leaves one owner also
//!   writes the count's wake-only twin (`footprint::wake_twin`), which makes no race but wakes a
//!   thread asleep on its own drop, which would now be the last;
//! - whatever observes the counts (`strong_count`, `weak_count`, `get_mut`, `make_mut`,
//!   `try_unwrap`, `into_inner`, `unwrap_or_clone`, `Weak::upgrade` and `Weak`'s counts):
//!   writes, so each conflicts with every clone and drop it could see or miss.
//!
//! None of them is a scheduling point until something depends on the counts: a read of them,
//! or a last drop whose destructor did racelab operations. Then the exploration starts again
//! with release points (`rt::count_point`, as for a lock observer), and with them a point before
//! every read of the counts, every `Weak` clone and drop, every drop that leaves one owner or
//! none, every drop of a value with a destructor (it may turn out the last), a clone of the only
//! owner while a `Weak` exists, and the first downgrade of a shared value: whether a value has
//! one owner or more, and a `Weak` or none, is explored exactly. Other clones and drops still
//! join the step before them, so a count of three or more that `strong_count` returns is
//! explored only at the granularity of the other threads' steps (the price of not multiplying
//! the steps of every program that unwraps its `Arc` at the end).
//!
//! The price, on stable Rust: no unsized coercion (`let a: Arc<dyn Trait> = Arc::new(x)`) and no
//! `self: Arc<Self>` methods, which only std's own `Arc` can have. [`Arc::from_std`] and
//! `From<Box<T>>` make an `Arc<dyn Trait>` from std's; a program that needs either can keep
//! `std::sync::Arc` for that type, its counts unseen (the README's Guarantees say what that
//! costs).

use std::any::Any;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;

use racelab_sim::rt::{self, CountId, CountSync};

/// `T`'s name as a trace shows it: every path cut to its last segment (`Arc<Notifier>`, not
/// `Arc<my_crate::tests::Notifier>`).
fn short_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            segment.clear();
        } else if c.is_alphanumeric() || c == '_' {
            segment.push(c);
        } else {
            out.push_str(&segment);
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(&segment);
    format!("Arc<{out}>")
}

/// The address of the allocation `inner` points into: what finds its count.
fn address<T: ?Sized>(inner: &std::sync::Arc<T>) -> usize {
    std::sync::Arc::as_ptr(inner) as *const () as usize
}

/// A thread-safe reference-counted pointer, as `std::sync::Arc`, whose counts racelab's search
/// sees (see the module documentation).
pub struct Arc<T: ?Sized> {
    inner: ManuallyDrop<std::sync::Arc<T>>,
    count: CountId,
}

/// A weak reference to an [`Arc`]'s value, as `std::sync::Weak`.
pub struct Weak<T: ?Sized> {
    inner: ManuallyDrop<std::sync::Weak<T>>,
    /// `None` for `Weak::new()`, which points nowhere.
    count: Option<CountId>,
}

impl<T> Arc<T> {
    /// A new allocation holding `value` (std's `Arc::new`).
    pub fn new(value: T) -> Self {
        Arc::from_std(std::sync::Arc::new(value))
    }

    /// `Arc::new` for a value that holds a [`Weak`] to itself (std's `Arc::new_cyclic`).
    pub fn new_cyclic<F: FnOnce(&Weak<T>) -> T>(data_fn: F) -> Self {
        let mut count = None;
        let inner = std::sync::Arc::new_cyclic(|weak| {
            let made = rt::count_of(weak.as_ptr() as *const () as usize);
            count = Some(made);
            let weak = Weak { inner: ManuallyDrop::new(weak.clone()), count: Some(made) };
            data_fn(&weak)
        });
        let count = count.unwrap_or_else(|| rt::count_of(address(&inner)));
        Arc { inner: ManuallyDrop::new(inner), count }
    }

    /// `Arc::new` pinned (std's `Arc::pin`).
    pub fn pin(value: T) -> Pin<Arc<T>> {
        // SAFETY: the value lives in its allocation until the last handle drops it, and is
        // never moved out through a `Pin<Arc<T>>` (no `get_mut` without `Unpin`).
        unsafe { Pin::new_unchecked(Arc::new(value)) }
    }

    /// The value, when this is its only owner; this `Arc` back otherwise (std's
    /// `Arc::try_unwrap`). Observes the counts.
    pub fn try_unwrap(this: Self) -> Result<T, Self> {
        rt::count_point(Some(&|| "Arc::try_unwrap".into()));
        let this = ManuallyDrop::new(this);
        let count = this.count;
        let unique = std::sync::Arc::strong_count(&this.inner) == 1;
        rt::count_access(count, true, if unique { CountSync::Acquire } else { CountSync::None });
        // SAFETY: `this` is never used or dropped again; its handle moves out once.
        let inner = unsafe { std::ptr::read(&*this.inner) };
        rt::count_event("try_unwrap", || {
            format!(
                "{}: {}",
                short_name::<T>(),
                if unique { "the only owner: unwrapped" } else { "shared: Err" }
            )
        });
        std::sync::Arc::try_unwrap(inner).map_err(|inner| Arc { inner: ManuallyDrop::new(inner), count })
    }

    /// The value when this was its last owner, `None` otherwise; the handle is dropped either
    /// way (std's `Arc::into_inner`). Observes the counts.
    pub fn into_inner(this: Self) -> Option<T> {
        rt::count_point(Some(&|| "Arc::into_inner".into()));
        let this = ManuallyDrop::new(this);
        let last = std::sync::Arc::strong_count(&this.inner) == 1;
        rt::count_access(this.count, true, if last { CountSync::Acquire } else { CountSync::Release });
        rt::count_event("into_inner", || {
            format!("{}: {}", short_name::<T>(), if last { "the last owner: Some" } else { "shared: None" })
        });
        if last {
            rt::count_freed(address(&this.inner));
        }
        // SAFETY: as in `try_unwrap`.
        std::sync::Arc::into_inner(unsafe { std::ptr::read(&*this.inner) })
    }
}

impl<T: Clone> Arc<T> {
    /// A mutable reference to the value, cloning it first when it is shared (std's
    /// `Arc::make_mut`). Observes the counts.
    pub fn make_mut(this: &mut Self) -> &mut T {
        rt::count_point(Some(&|| "Arc::make_mut".into()));
        let unique = std::sync::Arc::strong_count(&this.inner) == 1;
        rt::count_access(this.count, true, if unique { CountSync::Acquire } else { CountSync::None });
        if !unique {
            // The clone is a new allocation, with its own count.
            *this = Arc::new(T::clone(this));
        }
        let before = address(&this.inner);
        std::sync::Arc::make_mut(&mut this.inner);
        if address(&this.inner) != before {
            // Only `Weak`s shared it: std moved the value to an allocation of its own.
            this.count = rt::count_of(address(&this.inner));
        }
        std::sync::Arc::get_mut(&mut this.inner).expect("racelab invariant: make_mut left the value unshared")
    }

    /// The value if this is its only owner, a clone of it otherwise (std's
    /// `Arc::unwrap_or_clone`). Observes the counts.
    pub fn unwrap_or_clone(this: Self) -> T {
        Arc::try_unwrap(this).unwrap_or_else(|shared| T::clone(&shared))
    }
}

impl<T: ?Sized> Arc<T> {
    /// Wraps one of std's `Arc`s: this handle, its clones, and every other racelab handle on the
    /// allocation share one count (std's own handles on it stay unseen). The way to an
    /// `Arc<dyn Trait>`: `Arc::from_std(std::sync::Arc::new(x) as std::sync::Arc<dyn Trait>)`.
    pub fn from_std(inner: std::sync::Arc<T>) -> Self {
        let count = rt::count_of(address(&inner));
        Arc { inner: ManuallyDrop::new(inner), count }
    }

    /// A new handle on the value as std's `Arc`, outside racelab's counting.
    pub fn to_std(this: &Self) -> std::sync::Arc<T> {
        rt::count_access(this.count, false, CountSync::None);
        std::sync::Arc::clone(&this.inner)
    }

    /// A [`Weak`] to the value (std's `Arc::downgrade`).
    pub fn downgrade(this: &Self) -> Weak<T> {
        let first_of_shared =
            std::sync::Arc::weak_count(&this.inner) == 0 && std::sync::Arc::strong_count(&this.inner) >= 2;
        if first_of_shared {
            // Another owner can tell whether a `Weak` exists.
            rt::count_point(None);
        }
        rt::count_access(this.count, false, CountSync::None);
        if first_of_shared {
            rt::count_event("downgrade", || {
                format!("{}: the first Weak of a shared value", short_name::<T>())
            });
        }
        Weak { inner: ManuallyDrop::new(std::sync::Arc::downgrade(&this.inner)), count: Some(this.count) }
    }

    /// The number of `Arc`s to the value (std's `Arc::strong_count`). Observes the counts.
    pub fn strong_count(this: &Self) -> usize {
        rt::count_point(Some(&|| "Arc::strong_count".into()));
        rt::count_access(this.count, true, CountSync::None);
        let n = std::sync::Arc::strong_count(&this.inner);
        rt::count_event("strong_count", || format!("{}: {n}", short_name::<T>()));
        n
    }

    /// The number of [`Weak`]s to the value (std's `Arc::weak_count`). Observes the counts.
    pub fn weak_count(this: &Self) -> usize {
        rt::count_point(Some(&|| "Arc::weak_count".into()));
        rt::count_access(this.count, true, CountSync::None);
        let n = std::sync::Arc::weak_count(&this.inner);
        rt::count_event("weak_count", || format!("{}: {n}", short_name::<T>()));
        n
    }

    /// A mutable reference to the value when no other `Arc` or `Weak` points to it (std's
    /// `Arc::get_mut`). Observes the counts.
    pub fn get_mut(this: &mut Self) -> Option<&mut T> {
        rt::count_point(Some(&|| "Arc::get_mut".into()));
        let count = this.count;
        let got = std::sync::Arc::get_mut(&mut this.inner);
        rt::count_access(count, true, if got.is_some() { CountSync::Acquire } else { CountSync::None });
        let unique = got.is_some();
        rt::count_event("get_mut", || {
            format!("{}: {}", short_name::<T>(), if unique { "the only owner: Some" } else { "shared: None" })
        });
        got
    }

    /// True when both point to the same allocation (std's `Arc::ptr_eq`).
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&this.inner, &other.inner)
    }

    /// The value's address (std's `Arc::as_ptr`).
    pub fn as_ptr(this: &Self) -> *const T {
        std::sync::Arc::as_ptr(&this.inner)
    }

    /// The value's address, the handle kept alive until [`Arc::from_raw`] (std's
    /// `Arc::into_raw`).
    pub fn into_raw(this: Self) -> *const T {
        let this = ManuallyDrop::new(this);
        // SAFETY: `this` is never used or dropped again; its handle moves out once.
        std::sync::Arc::into_raw(unsafe { std::ptr::read(&*this.inner) })
    }

    /// The handle [`Arc::into_raw`] gave away (std's `Arc::from_raw`), with its allocation's
    /// count.
    ///
    /// # Safety
    ///
    /// As std's `Arc::from_raw`: `ptr` came from [`Arc::into_raw`] with the same `T`, and is
    /// given back once.
    pub unsafe fn from_raw(ptr: *const T) -> Self {
        // SAFETY: the caller's promise, as std's.
        let inner = unsafe { std::sync::Arc::from_raw(ptr) };
        Arc::from_std(inner)
    }
}

impl Arc<dyn Any + Send + Sync> {
    /// The value as a `T`, or this `Arc` back when it holds something else (std's
    /// `Arc::downcast`).
    pub fn downcast<T: Any + Send + Sync>(self) -> Result<Arc<T>, Self> {
        let this = ManuallyDrop::new(self);
        let count = this.count;
        // SAFETY: `this` is never used or dropped again; its handle moves out once.
        let inner = unsafe { std::ptr::read(&*this.inner) };
        match inner.downcast::<T>() {
            Ok(inner) => Ok(Arc { inner: ManuallyDrop::new(inner), count }),
            Err(inner) => Err(Arc { inner: ManuallyDrop::new(inner), count }),
        }
    }
}

impl<T: ?Sized> Clone for Arc<T> {
    fn clone(&self) -> Self {
        let second_owner =
            std::sync::Arc::strong_count(&self.inner) == 1 && std::sync::Arc::weak_count(&self.inner) > 0;
        if second_owner {
            // A `Weak` can tell the value just got a second owner.
            rt::count_point(None);
        }
        rt::count_access(self.count, false, CountSync::None);
        if second_owner {
            rt::count_event("clone", || {
                format!("{}: a second owner, while a Weak exists", short_name::<T>())
            });
        }
        Arc { inner: ManuallyDrop::new(std::sync::Arc::clone(&self.inner)), count: self.count }
    }
}

impl<T: ?Sized> Drop for Arc<T> {
    fn drop(&mut self) {
        let destructor = std::mem::needs_drop::<T>();
        // A drop that leaves one owner or none changes what `try_unwrap` and its kind find, and
        // which thread runs the destructor; any drop of a value with a destructor may turn out
        // to be the last (see the module documentation).
        if destructor || std::sync::Arc::strong_count(&self.inner) <= 2 {
            rt::count_point(None);
        }
        let owners = std::sync::Arc::strong_count(&self.inner);
        if owners > 1 {
            rt::count_access(self.count, false, CountSync::Release);
            // Leaving one owner decides who will be the last: with a destructor, that must wake
            // a thread asleep on its own drop here, without making a race with the drops before
            // (they commute).
            let decides = owners == 2 && destructor;
            if destructor {
                rt::count_wake(self.count, decides);
            }
            // Told where the drop took a point of its own (so every step has its line), and
            // wherever one owner is left (a `Weak::upgrade` or `try_unwrap` turns on it).
            if owners == 2 {
                rt::count_event("drop", || format!("{}: one owner left", short_name::<T>()));
            } else if destructor {
                rt::count_event("drop", || format!("{}: {} owners left", short_name::<T>(), owners - 1));
            }
            // SAFETY: dropped once, here; `inner` is never used again.
            unsafe { ManuallyDrop::drop(&mut self.inner) };
            return;
        }
        rt::count_access(self.count, destructor, CountSync::Acquire);
        let at = address(&self.inner);
        rt::count_event("drop", || format!("{}: the last owner, drops the value", short_name::<T>()));
        let before = if destructor { rt::activity() } else { 0 };
        rt::count_freed(at);
        // SAFETY: dropped once, here; `inner` is never used again.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        if destructor && rt::activity() != before {
            // The destructor did racelab operations: which owner ran it mattered, and without
            // points at the drops the exploration starts again with them.
            rt::counts_observed(&|| format!("the last drop of an {}", short_name::<T>()));
        }
    }
}

impl<T: ?Sized> Deref for Arc<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> AsRef<T> for Arc<T> {
    fn as_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> Borrow<T> for Arc<T> {
    fn borrow(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> Unpin for Arc<T> {}

impl<T: Default> Default for Arc<T> {
    fn default() -> Self {
        Arc::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized> fmt::Pointer for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&Arc::as_ptr(self), f)
    }
}

impl<T: ?Sized + PartialEq> PartialEq for Arc<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: ?Sized + Eq> Eq for Arc<T> {}

impl<T: ?Sized + PartialOrd> PartialOrd for Arc<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: ?Sized + Ord> Ord for Arc<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: ?Sized + Hash> Hash for Arc<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl<T: ?Sized + std::error::Error> std::error::Error for Arc<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        (**self).source()
    }
}

impl<T> From<T> for Arc<T> {
    fn from(value: T) -> Self {
        Arc::new(value)
    }
}

impl<T: ?Sized> From<std::sync::Arc<T>> for Arc<T> {
    fn from(inner: std::sync::Arc<T>) -> Self {
        Arc::from_std(inner)
    }
}

impl<T: ?Sized> From<Box<T>> for Arc<T> {
    fn from(value: Box<T>) -> Self {
        Arc::from_std(std::sync::Arc::from(value))
    }
}

impl<T> From<Vec<T>> for Arc<[T]> {
    fn from(value: Vec<T>) -> Self {
        Arc::from_std(std::sync::Arc::from(value))
    }
}

impl<T: Clone> From<&[T]> for Arc<[T]> {
    fn from(value: &[T]) -> Self {
        Arc::from_std(std::sync::Arc::from(value))
    }
}

impl From<&str> for Arc<str> {
    fn from(value: &str) -> Self {
        Arc::from_std(std::sync::Arc::from(value))
    }
}

impl From<String> for Arc<str> {
    fn from(value: String) -> Self {
        Arc::from_std(std::sync::Arc::from(value))
    }
}

impl<T> FromIterator<T> for Arc<[T]> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Arc::from_std(iter.into_iter().collect())
    }
}

impl<T> Weak<T> {
    /// A `Weak` that points nowhere: `upgrade` always gives `None` (std's `Weak::new`).
    pub const fn new() -> Self {
        Weak { inner: ManuallyDrop::new(std::sync::Weak::new()), count: None }
    }
}

impl<T: ?Sized> Weak<T> {
    /// An [`Arc`] to the value while it has an owner, `None` once it was dropped (std's
    /// `Weak::upgrade`). Observes the counts.
    pub fn upgrade(&self) -> Option<Arc<T>> {
        let count = self.count?;
        rt::count_point(Some(&|| "Weak::upgrade".into()));
        rt::count_access(count, true, CountSync::None);
        let up = self.inner.upgrade();
        let alive = up.is_some();
        rt::count_event("upgrade", || {
            format!("{}: {}", short_name::<T>(), if alive { "Some" } else { "dropped already: None" })
        });
        up.map(|inner| Arc { inner: ManuallyDrop::new(inner), count })
    }

    /// The number of `Arc`s to the value (std's `Weak::strong_count`). Observes the counts.
    pub fn strong_count(&self) -> usize {
        if let Some(count) = self.count {
            rt::count_point(Some(&|| "Weak::strong_count".into()));
            rt::count_access(count, true, CountSync::None);
        }
        let n = self.inner.strong_count();
        rt::count_event("strong_count", || format!("Weak of {}: {n}", short_name::<T>()));
        n
    }

    /// The number of `Weak`s to the value, 0 once it was dropped (std's `Weak::weak_count`).
    /// Observes the counts.
    pub fn weak_count(&self) -> usize {
        if let Some(count) = self.count {
            rt::count_point(Some(&|| "Weak::weak_count".into()));
            rt::count_access(count, true, CountSync::None);
        }
        let n = self.inner.weak_count();
        rt::count_event("weak_count", || format!("Weak of {}: {n}", short_name::<T>()));
        n
    }

    /// True when both point to the same allocation, or both nowhere (std's `Weak::ptr_eq`).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.inner.ptr_eq(&other.inner)
    }

    /// The value's address (std's `Weak::as_ptr`).
    pub fn as_ptr(&self) -> *const T {
        self.inner.as_ptr()
    }
}

impl<T: ?Sized> Clone for Weak<T> {
    fn clone(&self) -> Self {
        if let Some(count) = self.count {
            rt::count_point(None);
            rt::count_access(count, false, CountSync::None);
            rt::count_event("clone", || format!("Weak of {}", short_name::<T>()));
        }
        Weak { inner: ManuallyDrop::new(std::sync::Weak::clone(&self.inner)), count: self.count }
    }
}

impl<T: ?Sized> Drop for Weak<T> {
    fn drop(&mut self) {
        if let Some(count) = self.count {
            rt::count_point(None);
            rt::count_access(count, false, CountSync::None);
            rt::count_event("drop", || format!("Weak of {}", short_name::<T>()));
        }
        // SAFETY: dropped once, here; `inner` is never used again.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

impl<T> Default for Weak<T> {
    fn default() -> Self {
        Weak::new()
    }
}

impl<T: ?Sized> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(Weak)")
    }
}
