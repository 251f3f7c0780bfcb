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
        Excerpt { trace: self, whole }
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

    /// The column header of the human form.
    pub fn header() -> String {
        format!(
            "{:>5}  {:>8}  {:<12}  {:<10}  {:<14}  {}",
            "step", "time", "thread", "operation", "object", "result"
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = VirtualTime::from_nanos(self.time_ns).to_string();
        write!(
            f,
            "{:>5}  {:>8}  {:<12}  {:<10}  {:<14}  {}",
            self.step,
            time,
            self.thread,
            self.operation,
            self.object.as_deref().unwrap_or("-"),
            self.result
        )
    }
}

impl fmt::Display for Trace {
    /// The header line, then one line per event.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", Trace::header().trim_end())?;
        for e in &self.events {
            writeln!(f, "{}", e.to_string().trim_end())?;
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
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let events = &self.trace.events;
        if events.len() <= EXCERPT_HEAD + EXCERPT_TAIL {
            return write!(f, "{}", self.trace);
        }
        writeln!(f, "{}", Trace::header().trim_end())?;
        let left_out = events.len() - EXCERPT_HEAD - EXCERPT_TAIL;
        for e in &events[..EXCERPT_HEAD] {
            writeln!(f, "{}", e.to_string().trim_end())?;
        }
        writeln!(
            f,
            "  ... {left_out} events left out (steps {} to {}; {} events in all): {}",
            events[EXCERPT_HEAD].step,
            events[events.len() - EXCERPT_TAIL - 1].step,
            events.len(),
            self.whole
        )?;
        for e in &events[events.len() - EXCERPT_TAIL..] {
            writeln!(f, "{}", e.to_string().trim_end())?;
        }
        Ok(())
    }
}
