//! The trace: one line per event, for people and for grep, and the same events as JSON.
//!
//! Columns, fixed and in this order:
//!
//! | column | meaning |
//! | --- | --- |
//! | `step` | the scheduling step the event happened in (a step runs one thread from one scheduling point to the next) |
//! | `time` | the virtual clock, seconds since the start of the run |
//! | `thread` | the name of the thread that acted |
//! | `operation` | what it did: `spawn`, `acquire`, `wait`, `notify`, `load`, `store`, `sleep`, `join`, `finish`, `read`/`write` (a cell)... |
//! | `object` | what it acted on: a primitive's name (`Lock-1`, or the name given at creation), a thread, or `-` |
//! | `result` | what came of it: `ok`, `blocked`, `timed out`, a value read... |
//!
//! Tracing costs time, so exploration runs do not trace; a failing run is replayed from its
//! schedule with tracing on. The trace of a run is therefore the same bytes however it was
//! found.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::VirtualTime;

/// One event of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The scheduling step, counted from 1.
    pub step: u64,
    /// Virtual time in nanoseconds since the start of the run.
    pub time_ns: u64,
    /// The acting thread's id (`0` is main).
    pub thread_id: u32,
    /// The acting thread's name.
    pub thread: String,
    /// The operation.
    pub operation: String,
    /// The object acted on, if any.
    pub object: Option<String>,
    /// The outcome of the operation.
    pub result: String,
    /// What the event means, for programs (diagnoses, narration, the timeline): set by the
    /// primitives next to the human `result` text, absent on events nobody typed. Not part of
    /// the trace's hash, so a schedule's hash is the same with or without kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<EventKind>,
    /// Where in the program's own source the acting thread was (`file:line  source`), when its
    /// front-end says ([`rt::set_location`](crate::rt::set_location); racelab-py does at
    /// `--granularity sync`, where no step of its own shows the line). Shown after the result;
    /// not part of the trace's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The object was made by a library on the program's behalf (racelab-py: by the standard
    /// library, or by its own executor and pool code): narration leaves its events out unless
    /// they decide the bug. Not part of the trace's hash; in JSON only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub library: bool,
}

/// What an event means, typed: the facts the human `result` text says, for a program to read.
/// A primitive emits one with `rt::event_kind`; a primitive written outside racelab gets the same
/// diagnoses, narration and timeline as racelab's own by emitting these.
///
/// Threads are named as in [`Event::thread`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    /// A lock (or semaphore permit) taken: the thread holds the object from here.
    Acquired,
    /// An acquire that must wait: the object is held by `holder` (when one thread holds it).
    AcquireBlocked {
        /// The thread holding it.
        holder: Option<String>,
    },
    /// An acquire or a wait that gave up: a timeout, or a non-blocking attempt refused.
    GaveUp,
    /// A lock released by its holder (or a semaphore permit given back: `woken`, the waiters
    /// it woke).
    Released {
        /// Waiters the release woke (a semaphore's); a lock's contenders are not woken.
        woken: Vec<String>,
    },
    /// A wait began: the thread joined the waiters of the object (for a condition, it
    /// released `lock`).
    WaitBegin {
        /// The lock a condition wait released.
        lock: Option<String>,
    },
    /// A wait ended.
    WaitEnd {
        /// Why it returned.
        wake: Wake,
        /// A condition wait: the lock was taken back before `wait()` returned.
        reacquired: bool,
    },
    /// A notify, notify_all, Event.set or a release that wakes waiters: whom it woke.
    Notify {
        /// Every waiter (`notify_all`, `set`), or some (`notify(n)`).
        all: bool,
        /// The threads woken, oldest waiter first; empty when nobody waited.
        woken: Vec<String>,
    },
    /// An event's flag cleared (`was_set`: it had been set).
    Clear {
        /// The flag was set before.
        was_set: bool,
    },
    /// An item put into a queue (`woken`: a getter woken by it).
    Put {
        /// The item, as `{:?}` shows it.
        item: String,
        /// A blocked getter this put woke.
        woken: Option<String>,
    },
    /// An item taken from a queue.
    Get {
        /// The item, as `{:?}` shows it.
        item: String,
        /// A blocked putter this get woke.
        woken: Option<String>,
    },
    /// A queue found empty (or full, for a put) that the thread now waits on.
    QueueBlocked,
    /// A shared value read (what the thread now believes it is).
    Read {
        /// The value, as `{:?}` shows it.
        value: String,
    },
    /// Data changed: a shared value or the data a scenario protects with a lock.
    Changed {
        /// The value before, as `{:?}` shows it.
        before: String,
        /// The value after.
        after: String,
    },
}

/// Why a wait returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wake {
    /// A notify (or set, or release) woke it.
    Notified,
    /// It returned without any notify: a spurious wake-up.
    Spurious,
    /// Its timeout fired.
    TimedOut,
    /// It did not wait at all: the flag was already set.
    AlreadySet,
}

/// All events of one run, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// The events.
    pub events: Vec<Event>,
}

impl Trace {
    /// The trace as a JSON array of events.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.events)
            .unwrap_or_else(|e| format!("\"trace not serializable: {e}\""))
    }

    /// The human form, cut when longer than [`EXCERPT_HEAD`] + [`EXCERPT_TAIL`] events: the
    /// first and the last events (where a failure happens), and between them a line saying how
    /// many were left out and, from `whole`, where the whole trace is.
    pub fn excerpt<'a>(&'a self, whole: &'a str) -> Excerpt<'a> {
        Excerpt { trace: self, whole, failing: None, uncut: false }
    }

    /// A 32-bit hash of every field of every event (FNV-1a, the same on every platform): what a
    /// printed schedule carries after `#`, to notice a replay that went elsewhere.
    pub fn hash(&self) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u32::from(b);
                h = h.wrapping_mul(0x0100_0193);
            }
            h ^= 0x1f;
            h = h.wrapping_mul(0x0100_0193);
        };
        for e in &self.events {
            eat(&e.step.to_le_bytes());
            eat(&e.time_ns.to_le_bytes());
            eat(&e.thread_id.to_le_bytes());
            eat(e.thread.as_bytes());
            eat(e.operation.as_bytes());
            eat(e.object.as_deref().unwrap_or("\u{0}").as_bytes());
            eat(e.result.as_bytes());
        }
        h
    }

    /// The human form with the event at `failing` (an index into `events`) marked, cut as
    /// [`Trace::excerpt`] cuts it.
    pub fn excerpt_marked<'a>(&'a self, whole: &'a str, failing: Option<usize>) -> Excerpt<'a> {
        Excerpt { trace: self, whole, failing, uncut: false }
    }

    /// The index of the event where `thread` failed at `step`: its last event up to that step,
    /// or, when it has none there, the run's last event up to that step.
    pub fn failing_event(&self, step: u64, thread: Option<&str>) -> Option<usize> {
        let upto = self.events.iter().rposition(|e| e.step <= step)?;
        let own =
            thread.and_then(|t| self.events[..=upto].iter().rposition(|e| e.thread == t && e.step == step));
        Some(own.unwrap_or(upto))
    }

    /// The widths of the human form's columns for these events: each at least its narrowest
    /// width, and wide enough for its longest entry, so a long operation name (`compare_exchange`)
    /// or object name does not push the columns after it out of line.
    pub fn columns(&self) -> Columns {
        // A name longer than the widest column (a thread named with a sentence) overflows its own
        // lines rather than pad every line of the trace.
        let fit = |n: usize| n.min(Columns::WIDEST);
        let mut c = Columns::NARROWEST;
        for e in &self.events {
            c.thread = c.thread.max(fit(e.thread.chars().count()));
            c.operation = c.operation.max(fit(e.operation.chars().count()));
            c.object = c.object.max(fit(e.object.as_deref().map_or(1, |o| o.chars().count())));
        }
        c
    }
}

/// The widths of a trace's padded columns (step and time are right-aligned, result is last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    thread: usize,
    operation: usize,
    object: usize,
}

impl Columns {
    /// The widths a trace of short names gets.
    pub const NARROWEST: Columns = Columns { thread: 12, operation: 10, object: 14 };
    /// The widest a column grows for its longest entry.
    pub const WIDEST: usize = 32;

    /// The header line at these widths.
    pub fn header(self) -> String {
        self.line("step", "time", "thread", "operation", "object", "result")
    }

    /// One event's line at these widths (its `at` location after the result).
    pub fn event(self, e: &Event) -> String {
        let time = VirtualTime::from_nanos(e.time_ns).to_string();
        let object = e.object.as_deref().unwrap_or("-");
        let mut line = self.line(&e.step.to_string(), &time, &e.thread, &e.operation, object, &e.result);
        if let Some(at) = &e.at {
            line.push_str(&format!("   (at {at})"));
        }
        line
    }

    fn line(
        self,
        step: &str,
        time: &str,
        thread: &str,
        operation: &str,
        object: &str,
        result: &str,
    ) -> String {
        let Columns { thread: tw, operation: ow, object: bw } = self;
        format!("{step:>5}  {time:>8}  {thread:<tw$}  {operation:<ow$}  {object:<bw$}  {result}")
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Columns::NARROWEST.event(self))
    }
}

impl fmt::Display for Trace {
    /// The header line, then one line per event.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.columns();
        writeln!(f, "{}", columns.header().trim_end())?;
        for e in &self.events {
            writeln!(f, "{}", columns.event(e).trim_end())?;
        }
        Ok(())
    }
}

/// Events shown from the start of a cut trace.
pub const EXCERPT_HEAD: usize = 40;
/// Events shown from the end of a cut trace: the steps that led to the failure.
pub const EXCERPT_TAIL: usize = 60;

/// A trace cut to its first and last events, for reports: see [`Trace::excerpt`].
pub struct Excerpt<'a> {
    trace: &'a Trace,
    whole: &'a str,
    failing: Option<usize>,
    uncut: bool,
}

impl Excerpt<'_> {
    /// Every event, however long the trace (the marker kept).
    pub fn whole(self) -> Self {
        Excerpt { uncut: true, ..self }
    }
}

/// What follows the failing event's line.
pub const FAILING_MARK: &str = "   <-- fails here";

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let events = &self.trace.events;
        let columns = self.trace.columns();
        let line = |f: &mut fmt::Formatter<'_>, i: usize| {
            let mark = if self.failing == Some(i) { FAILING_MARK } else { "" };
            writeln!(f, "{}{mark}", columns.event(&events[i]).trim_end())
        };
        writeln!(f, "{}", columns.header().trim_end())?;
        if self.uncut || events.len() <= EXCERPT_HEAD + EXCERPT_TAIL {
            return (0..events.len()).try_for_each(|i| line(f, i));
        }
        let left_out = events.len() - EXCERPT_HEAD - EXCERPT_TAIL;
        (0..EXCERPT_HEAD).try_for_each(|i| line(f, i))?;
        writeln!(
            f,
            "  ... {left_out} events left out (steps {} to {}; {} events in all): {}",
            events[EXCERPT_HEAD].step,
            events[events.len() - EXCERPT_TAIL - 1].step,
            events.len(),
            self.whole
        )?;
        (events.len() - EXCERPT_TAIL..events.len()).try_for_each(|i| line(f, i))
    }
}
