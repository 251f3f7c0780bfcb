//! Diagnoses: a failure named for the bug it is, explained in a sentence or two.
//!
//! The runtime knows *that* a run failed (a deadlock, a panic...). A person wants to know
//! *which bug* it was: a notify that came before anyone waited (lost wake-up), a waiter whose
//! wake-up another thread used up first (stolen wake-up), a wait that returned without a notify
//! (spurious wake-up), an update or an item that went missing. This module reads the failure and
//! the trace of the failing run and names it.
//!
//! It reads the typed events the primitives put in the trace ([`EventKind`]: a wait that ended
//! and re-acquired its lock, whom a notify woke, a set or notify that woke nobody), never their
//! human texts: a primitive written outside racelab that emits the same kinds through
//! `rt::event_kind` gets the same diagnoses. The notes primitives leave on blocked threads only
//! word an explanation. The catalog tests pin every diagnosis.
//!
//! Oracles name data bugs by the first words of their assertion message: `lost update: ...` is a
//! lost update, `lost data: ...` (or `lost item`) lost data.

use std::fmt;

use serde::Serialize;

use crate::report::{BlockedThread, Deadlock, FailureKind};
use crate::trace::{Event, EventKind, Trace, Wake};

/// What kind of bug a failure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosisKind {
    /// Threads wait for each other forever (a lock cycle, or a blocked set).
    Deadlock,
    /// A thread waits forever for a notify or set that already happened with nobody waiting.
    LostWakeup,
    /// A woken waiter found its condition false because another thread got the lock first.
    StolenWakeup,
    /// A `notify()` woke a waiter that could do nothing with it (the wrong kind of waiter), and
    /// the waiter it was meant for sleeps on: everyone ends up asleep.
    MisdirectedWakeup,
    /// A wait returned without a notify and the thread acted on a condition that did not hold.
    SpuriousWakeup,
    /// An item was lost or duplicated (an oracle said `lost data:`).
    LostData,
    /// An update was overwritten (an oracle said `lost update:`).
    LostUpdate,
    /// A primitive was misused: Python would raise an exception.
    Misuse,
    /// Any other failed assertion or panic.
    Assertion,
    /// The program used racelab itself in a way a simulation cannot run (a check or replay
    /// inside a run, an object kept from another run): racelab's own panic, whose message starts
    /// `racelab: `, says which.
    RacelabMisuse,
    /// The run did not end within the step limit.
    StepLimit,
    /// Daemon threads were cut off at the end with work left.
    DaemonCutOff,
    /// The schedule did not fit the program.
    Divergence,
    /// The configuration was refused; nothing ran.
    InvalidConfig,
    /// A thread overflowed its stack.
    StackOverflow,
    /// A thread ran too long without a scheduling point.
    Watchdog,
    /// A destructor panicked while racelab unwound a thread at the end of the run.
    TeardownPanic,
    /// An OS thread used racelab's primitives.
    OsThread,
    /// Two threads accessed a cell, one writing, with nothing ordering them.
    DataRace,
}

impl DiagnosisKind {
    /// The kebab-case name: `lost-wakeup`, `stolen-wakeup`...
    pub fn name(self) -> &'static str {
        match self {
            DiagnosisKind::Deadlock => "deadlock",
            DiagnosisKind::LostWakeup => "lost-wakeup",
            DiagnosisKind::StolenWakeup => "stolen-wakeup",
            DiagnosisKind::MisdirectedWakeup => "misdirected-wakeup",
            DiagnosisKind::SpuriousWakeup => "spurious-wakeup",
            DiagnosisKind::LostData => "lost-data",
            DiagnosisKind::LostUpdate => "lost-update",
            DiagnosisKind::Misuse => "misuse",
            DiagnosisKind::Assertion => "assertion",
            DiagnosisKind::RacelabMisuse => "racelab-misuse",
            DiagnosisKind::StepLimit => "step-limit",
            DiagnosisKind::DaemonCutOff => "daemon-cut-off",
            DiagnosisKind::Divergence => "divergence",
            DiagnosisKind::InvalidConfig => "invalid-config",
            DiagnosisKind::StackOverflow => "stack-overflow",
            DiagnosisKind::Watchdog => "watchdog",
            DiagnosisKind::TeardownPanic => "teardown-panic",
            DiagnosisKind::OsThread => "os-thread",
            DiagnosisKind::DataRace => "data-race",
        }
    }
}

impl fmt::Display for DiagnosisKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure's diagnosis: its kind and a plain explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// What kind of bug it is.
    pub kind: DiagnosisKind,
    /// One or two plain sentences on what happened, naming threads, objects and steps.
    pub explanation: String,
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.explanation)
    }
}

/// Names the bug behind `failure`, reading the trace of the failing run.
pub fn diagnose(failure: &FailureKind, trace: &Trace) -> Diagnosis {
    diagnose_deciding(failure, trace).0
}

/// What racelab's own panics say when the program used racelab itself wrongly (a check inside a
/// run, an object kept from another run, a racelab object outside any run, an OS thread): the
/// `racelab-misuse` diagnosis. racelab's other panics are the program's own bugs told in
/// racelab's words (a re-entered `Once`, a `Condvar` used with two mutexes): assertions.
const RACELAB_MISUSES: [&str; 4] =
    ["cannot be nested", "created in another run", "ran outside a simulation", "an OS thread"];

/// A misuse's exception as Python prints it: `ValueError: message`, or the name alone when the
/// message is empty. The program's and Python's texts end a diagnosis as they are, with no
/// period of racelab's after them (`AssertionError: 7.` read as a float).
fn exception_text(exception: &str, message: &str) -> String {
    if message.is_empty() {
        exception.to_string()
    } else {
        format!("{exception}: {message}")
    }
}

/// [`diagnose`], and the events (indices into `trace.events`) that decide the bug: the notify
/// nobody heard and the wait that came after it, the notify and the thread that took the lock
/// first, the acquires that closed a cycle, a write over another thread's update...
pub fn diagnose_deciding(failure: &FailureKind, trace: &Trace) -> (Diagnosis, Vec<usize>) {
    let mut deciding = Vec::new();
    let (kind, explanation) = match failure {
        FailureKind::Deadlock(d) => deadlock(d, trace, &mut deciding),
        FailureKind::Panic { thread, message, .. } => panic(&thread.name, message, trace, &mut deciding),
        FailureKind::Misuse { thread, exception, message } => (
            DiagnosisKind::Misuse,
            format!("{thread} used a primitive against its rules, where Python raises {}", exception_text(exception, message)),
        ),
        FailureKind::StepLimit { max_steps, runnable } => (DiagnosisKind::StepLimit, step_limit(*max_steps, runnable, trace)),
        FailureKind::DaemonCutOff { threads } => {
            let names: Vec<&str> = threads.iter().map(|t| t.name.as_str()).collect();
            (
                DiagnosisKind::DaemonCutOff,
                format!(
                    "the program ended while daemon thread {} still had work; Python kills daemons mid-line. Join them, or make them non-daemon.",
                    names.join(", ")
                ),
            )
        }
        FailureKind::Divergence { message } => (DiagnosisKind::Divergence, message.clone()),
        FailureKind::InvalidConfig { message } => (DiagnosisKind::InvalidConfig, message.clone()),
        FailureKind::StackOverflow { thread, stack_size } => (
            DiagnosisKind::StackOverflow,
            format!(
                "{thread} overflowed its {} KiB stack: unbounded recursion, or a deep one that needs Config::stack_size.",
                stack_size / 1024
            ),
        ),
        FailureKind::Watchdog { thread, limit_ms } => (
            DiagnosisKind::Watchdog,
            format!(
                "{thread} ran {} of wall time without a scheduling point: a loop that touches no racelab primitive, or a \
                 wait in the OS (a std::sync::Mutex, I/O) that racelab cannot see?",
                crate::report::seconds(*limit_ms)
            ),
        ),
        FailureKind::TeardownPanic(p) => (
            DiagnosisKind::TeardownPanic,
            format!(
                "a destructor panicked while racelab unwound {} at the end of the run ({}); in a real program that \
                 panic during unwinding aborts the process.",
                p.thread, p.message
            ),
        ),
        FailureKind::OsThread { .. } => (
            DiagnosisKind::OsThread,
            "an OS thread (std::thread::spawn?) used a racelab primitive during this run; racelab simulates only its own \
             threads: spawn them with racelab::thread::spawn."
                .to_string(),
        ),
        FailureKind::DataRace(race) => (
            DiagnosisKind::DataRace,
            format!(
                "{} {} {object} at step {} ({}) and {} {} it at step {} ({}), and no synchronization orders the \
                 two: neither took a lock the other released, nor joined, spawned or waited for the other. The \
                 values may have come out right in this run; the compiler and the CPU owe nothing to a racy \
                 program. Hold one lock across both accesses, or order them (join, a channel, an atomic flag).",
                race.first.thread,
                if race.first.write { "wrote" } else { "read" },
                race.first.step,
                race.first.location,
                race.second.thread,
                if race.second.write { "wrote" } else { "read" },
                race.second.step,
                race.second.location,
                object = race.object,
            ),
        ),
    };
    if matches!(kind, DiagnosisKind::LostData | DiagnosisKind::LostUpdate | DiagnosisKind::Assertion) {
        deciding.extend(overwrites_and_kills(trace));
        let failing = match failure {
            FailureKind::Panic { thread, .. } => Some(thread.name.as_str()),
            _ => None,
        };
        deciding.extend(stale_reads(trace, failing));
    }
    deciding.sort_unstable();
    deciding.dedup();
    (Diagnosis { kind, explanation }, deciding)
}

/// Acting on a stale read: a thread read a value, another thread changed it, and the first then
/// wrote its own result over the change (a lost update) or failed (`failing`, acting on a check
/// that no longer held). Marks the read, the first change in between and the write.
fn stale_reads(trace: &Trace, failing: Option<&str>) -> Vec<usize> {
    let events = &trace.events;
    let mut out = Vec::new();
    let stale = |reader: &str, object: &Option<String>, upto: usize, out: &mut Vec<usize>| {
        let Some(read) = events[..upto].iter().rposition(|r| {
            r.thread == reader && r.object == *object && matches!(r.kind, Some(EventKind::Read { .. }))
        }) else {
            return false;
        };
        let changed = events[read + 1..upto].iter().position(|c| {
            c.thread != reader && c.object == *object && matches!(c.kind, Some(EventKind::Changed { .. }))
        });
        if let Some(c) = changed {
            out.extend([read, read + 1 + c]);
        }
        changed.is_some()
    };
    for (i, e) in events.iter().enumerate() {
        if matches!(e.kind, Some(EventKind::Changed { .. }))
            && e.operation == "store"
            && stale(&e.thread, &e.object, i, &mut out)
        {
            out.push(i);
        }
    }
    if let Some(t) = failing {
        let objects: Vec<Option<String>> = events
            .iter()
            .filter(|r| r.thread == t && matches!(r.kind, Some(EventKind::Read { .. })))
            .map(|r| r.object.clone())
            .collect();
        for o in objects {
            stale(t, &o, events.len(), &mut out);
        }
    }
    out
}

/// True when event `i` is an Event's `set()` that raised its flag: the last set or clear of the
/// object before it (if any) was a clear. Such a set with nobody waiting loses nothing (the flag
/// stays up until cleared); one that finds the flag already up is merged with the earlier set.
pub(crate) fn set_raised_flag(trace: &Trace, i: usize) -> bool {
    let e = &trace.events[i];
    e.operation == "set"
        && trace.events[..i]
            .iter()
            .rev()
            .find(|p| p.object == e.object && (p.operation == "set" || p.operation == "clear"))
            .is_none_or(|p| p.operation == "clear")
}

/// Steps that lose data: a notify that woke nobody when a thread waits on its object later (that
/// thread will not get what it announced; an Event's set that raised the flag is not one), a clear of an event set by another thread since
/// the clearing thread last looked, a terminate.
fn overwrites_and_kills(trace: &Trace) -> Vec<usize> {
    let events = &trace.events;
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match &e.kind {
            // Only when a thread waits on the object later: it is the one the wake-up missed.
            Some(EventKind::Notify { woken, .. })
                if woken.is_empty()
                    && !set_raised_flag(trace, i)
                    && events[i + 1..].iter().any(|w| {
                        w.object == e.object && matches!(w.kind, Some(EventKind::WaitBegin { .. }))
                    }) =>
            {
                out.push(i)
            }
            Some(EventKind::Clear { was_set: true }) => {
                let seen = events[..i].iter().rposition(|w| {
                    w.thread == e.thread
                        && w.object == e.object
                        && matches!(w.kind, Some(EventKind::WaitEnd { .. }))
                });
                let set_since = events[seen.map_or(0, |s| s + 1)..i].iter().any(|n| {
                    n.thread != e.thread
                        && n.object == e.object
                        && matches!(n.kind, Some(EventKind::Notify { .. }))
                });
                if set_since {
                    out.push(i);
                }
            }
            _ if e.operation == "terminate" => out.push(i),
            _ => {}
        }
    }
    out
}

fn deadlock(d: &Deadlock, trace: &Trace, deciding: &mut Vec<usize>) -> (DiagnosisKind, String) {
    if let Some((b, (why, at))) = d.blocked.iter().find_map(|b| lost_wakeup(b, trace).map(|why| (b, why))) {
        deciding.extend(at);
        return (
            DiagnosisKind::LostWakeup,
            format!(
                "{} waits on {} forever: {}. The wake-up came before {} waited (or was undone before it looked), and it is not remembered.",
                b.thread,
                b.waits_on,
                b.note.clone().unwrap_or(why),
                b.thread
            ),
        );
    }
    if d.cycle.is_empty() {
        if let Some((explanation, at)) = misdirected_wakeup(d, trace) {
            deciding.extend(at);
            return (DiagnosisKind::MisdirectedWakeup, explanation);
        }
    }
    // Each blocked thread's last event: where it stopped (the cycle's acquires, the last wait);
    // not a join, which only follows.
    let events = &trace.events;
    for b in d.blocked.iter().filter(|b| b.sleeps || b.waits_on.kind != "Thread") {
        deciding.extend(events.iter().rposition(|e| e.thread == b.thread.name));
    }
    for (_, object) in &d.cycle {
        // Where the cycle's objects were taken by the threads that hold them.
        deciding.extend(events.iter().rposition(|e| {
            e.object.as_deref() == Some(object.name.as_str()) && e.kind == Some(EventKind::Acquired)
        }));
    }
    if let [(thread, object)] = d.cycle.as_slice() {
        // One thread in the cycle: it takes again a lock it holds.
        return (
            DiagnosisKind::Deadlock,
            format!(
                "{thread} waits for {object}, which it holds itself: the lock is not re-entrant, so taking it again before releasing it waits forever."
            ),
        );
    }
    if !d.cycle.is_empty() {
        let n = d.cycle.len();
        let links: Vec<String> = (0..n)
            .map(|i| format!("{} holds what {} waits for", d.cycle[(i + 1) % n].0, d.cycle[i].0))
            .collect();
        let objects: Vec<String> = d.cycle.iter().map(|(_, o)| o.to_string()).collect();
        return (
            DiagnosisKind::Deadlock,
            format!(
                "a wait-for cycle over {}: {}. Acquire them in one global order.",
                objects.join(" and "),
                links.join(", and ")
            ),
        );
    }
    let who: Vec<String> = d
        .blocked
        .iter()
        .map(|b| {
            if b.sleeps {
                format!("{} in a sleep that never ends", b.thread)
            } else {
                format!("{} on {}", b.thread, b.waits_on)
            }
        })
        .collect();
    (
        DiagnosisKind::Deadlock,
        format!("every live thread is blocked and nothing can wake them: {}.", who.join("; ")),
    )
}

/// The last events a step-limit diagnosis reads for threads that could run and never did.
const STARVED_WINDOW: usize = 1_000;

/// A run that did not end: a livelock, a long program, or a schedule that kept one thread going
/// round its loop while another that would have ended it could run all along (no fair scheduler
/// makes it, and a preemption-bounded search may keep to it: switching away costs a preemption,
/// unless the loop yields).
fn step_limit(max_steps: u64, runnable: &[crate::report::ThreadRef], trace: &Trace) -> String {
    let events = &trace.events;
    let tail = &events[events.len().saturating_sub(STARVED_WINDOW)..];
    let starved: Vec<&str> = runnable
        .iter()
        .map(|t| t.name.as_str())
        .filter(|name| tail.iter().all(|e| e.thread != *name))
        .collect();
    if events.len() < STARVED_WINDOW || starved.is_empty() {
        return format!(
            "the run did not end within {max_steps} steps: a spin loop or a livelock, or a long program that needs --max-steps."
        );
    }
    let mut spinning: Vec<&str> = tail.iter().map(|e| e.thread.as_str()).collect();
    spinning.sort_unstable();
    spinning.dedup();
    format!(
        "the run did not end within {max_steps} steps: {} went round a loop for the last {} events while {} could run \
         and was never scheduled. No fair scheduler makes this run; if {} would end the loop, it is not a bug but \
         an unfair schedule (a preemption-bounded search keeps one thread going, since switching away from it \
         costs a preemption, unless it yields; threads that yield switch among themselves for free): yield in \
         such loops (yield_now(), a zero sleep), which makes a bound end a loop one thread waits in, or sample \
         them (--strategy pos, Config::pos, model()). A loop no schedule ends is a livelock.",
        spinning.join(" and "),
        tail.len(),
        starved.join(" and "),
        if starved.len() == 1 { "it" } else { "they" },
    )
}

fn panic(thread: &str, message: &str, trace: &Trace, deciding: &mut Vec<usize>) -> (DiagnosisKind, String) {
    if let Some(d) = wakeup_misuse(thread, message, trace, deciding) {
        return d;
    }
    let racelab_misuse =
        message.strip_prefix("racelab: ").filter(|what| RACELAB_MISUSES.iter().any(|m| what.contains(m)));
    if let Some(what) = racelab_misuse {
        let what = what.trim_end_matches('.');
        return (
            DiagnosisKind::RacelabMisuse,
            format!("{thread} used racelab in a way a simulation cannot run: {what}."),
        );
    }
    let lower = message.to_ascii_lowercase();
    let key = lower.split("failed: ").last().unwrap_or(&lower).trim_start();
    if key.starts_with("lost update") || lower.contains("lost update") {
        return (DiagnosisKind::LostUpdate, format!("{thread} found an update missing (two threads read the same value and each wrote back its own result: make the read-modify-write one atomic step, or hold a lock across it): {message}"));
    }
    if key.starts_with("lost data") || key.starts_with("lost item") || lower.contains("lost data") {
        return (DiagnosisKind::LostData, format!("{thread} found data missing or duplicated: {message}"));
    }
    if let Some(d) = others_spurious_wakeup(thread, message, trace, deciding) {
        return d;
    }
    (DiagnosisKind::Assertion, format!("{thread} failed: {message}"))
}

/// Why `b`, blocked in a wait, waits for a wake-up that already came, from the trace: the last
/// wake-up of the object before `b` began to wait woke nobody (a notify or set with no waiter),
/// or a set was cleared before `b` looked; and nothing woke `b` since. `None` when the trace does
/// not show that.
fn lost_wakeup(b: &BlockedThread, trace: &Trace) -> Option<(String, [usize; 2])> {
    let events = &trace.events;
    let on = |e: &Event| e.object.as_deref() == Some(b.waits_on.name.as_str());
    let began = events.iter().rposition(|e| {
        e.thread == b.thread.name && on(e) && matches!(e.kind, Some(EventKind::WaitBegin { .. }))
    })?;
    let woken_since = events[began..].iter().any(|e| {
        on(e) && matches!(&e.kind, Some(EventKind::Notify { woken, .. }) if woken.contains(&b.thread.name))
    });
    if woken_since {
        return None;
    }
    let at = events[..began].iter().rposition(|e| {
        on(e) && matches!(e.kind, Some(EventKind::Notify { .. } | EventKind::Clear { was_set: true }))
    })?;
    let last = &events[at];
    let why = match &last.kind {
        Some(EventKind::Notify { woken, .. }) if woken.is_empty() => {
            format!("its last {} (step {}, by {}) woke nobody", last.operation, last.step, last.thread)
        }
        Some(EventKind::Clear { .. }) => {
            format!("it was set, then cleared at step {} by {}", last.step, last.thread)
        }
        _ => return None,
    };
    Some((why, [at, began]))
}

/// True for a racelab-std `Condvar`: registered as `Condvar-<n>`, a name no Python `Condition`
/// gets (std's condition variables take no name), so the advice can name Rust's API instead of
/// Python's.
pub(crate) fn is_std_condvar(object: &str) -> bool {
    object.strip_prefix("Condvar-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Everyone asleep on one condition after a `notify()` (not `notify_all`) woke a waiter that
/// only went back to waiting: the wake-up went to a thread that could do nothing with it, and
/// the waiters it was meant for were never woken.
fn misdirected_wakeup(d: &Deadlock, trace: &Trace) -> Option<(String, Vec<usize>)> {
    let events = &trace.events;
    // The last notify of one waiter whose woken thread, once back, waited again on the same object.
    let (n, notify, woken) = events.iter().enumerate().rev().find_map(|(n, e)| match &e.kind {
        Some(EventKind::Notify { all: false, woken }) if woken.len() == 1 => Some((n, e, woken[0].as_str())),
        _ => None,
    })?;
    let object = notify.object.as_deref()?;
    let r = n
        + 1
        + events[n + 1..].iter().position(|e| {
            e.thread == woken
                && e.object.as_deref() == Some(object)
                && matches!(e.kind, Some(EventKind::WaitBegin { .. }))
        })?;
    let rewaited = &events[r];
    let sleeping: Vec<&str> = d
        .blocked
        .iter()
        .filter(|b| b.waits_on.name == object && b.thread.name != woken)
        .map(|b| b.thread.name.as_str())
        .collect();
    if sleeping.is_empty() || !d.blocked.iter().any(|b| b.thread.name == woken) {
        return None;
    }
    let (notify_one, per_kind) = if is_std_condvar(object) {
        ("notify_one()", "one Condvar per kind")
    } else {
        ("notify()", "one condition per kind (as queue.Queue does)")
    };
    let explanation = format!(
        "{}'s {notify_one} on {object} at step {} woke {woken}, which could do nothing with it and waited again (step {}); \
         {} still waited, and nobody was left to wake {}: every thread sleeps. With two kinds of waiters on one \
         condition, {notify_one} can wake the wrong kind: use notify_all(), or {per_kind}.",
        notify.thread,
        notify.step,
        rewaited.step,
        sleeping.join(" and "),
        if sleeping.len() == 1 { "it" } else { "them" },
    );
    // The waits of the threads left asleep, which the notify was meant for.
    let left_asleep = sleeping.iter().filter_map(|t| {
        events.iter().rposition(|e| {
            e.thread == *t
                && e.object.as_deref() == Some(object)
                && matches!(e.kind, Some(EventKind::WaitBegin { .. }))
        })
    });
    let mut at: Vec<usize> = left_asleep.collect();
    at.extend([n, r]);
    Some((explanation, at))
}

/// A panic in one thread after another thread's condition wait returned spuriously and that
/// thread went on without waiting again (a wait guarded by `if`): a readers-writer lock whose
/// second writer walked in, found by the first. The last such wake-up before the failure.
fn others_spurious_wakeup(
    thread: &str,
    message: &str,
    trace: &Trace,
    deciding: &mut Vec<usize>,
) -> Option<(DiagnosisKind, String)> {
    let events = &trace.events;
    let (i, wait) = events.iter().enumerate().rev().find(|(i, e)| {
        e.thread != thread
            && matches!(e.kind, Some(EventKind::WaitEnd { wake: Wake::Spurious, reacquired: true }))
            && !events[i + 1..].iter().any(|n| {
                n.thread == e.thread
                    && n.object == e.object
                    && matches!(n.kind, Some(EventKind::WaitBegin { .. }))
            })
    })?;
    deciding.push(i);
    let object = wait.object.clone().unwrap_or_default();
    let (kind, docs, instead) = condition_words(&object);
    Some((
        DiagnosisKind::SpuriousWakeup,
        format!(
            "{} returned from waiting on {kind} `{object}` at step {} without any notify (a spurious wake-up, which {docs} documentation allows) and went on without checking its condition again (re-check it in a `while` loop, or use {instead}); then {thread} failed: {message}",
            wait.thread, wait.step
        ),
    ))
}

/// How a report names a condition variable, whose documentation allows spurious wake-ups, and
/// what to use instead of a bare wait: std's `Condvar` or Python's `Condition`.
fn condition_words(object: &str) -> (&'static str, &'static str, &'static str) {
    if is_std_condvar(object) {
        ("Condvar", "std's", "`Condvar::wait_while`")
    } else {
        ("Condition", "Python's", "wait_for()")
    }
}

/// A panic right after a condition wait returned: spurious or stolen wake-up.
fn wakeup_misuse(
    thread: &str,
    message: &str,
    trace: &Trace,
    deciding: &mut Vec<usize>,
) -> Option<(DiagnosisKind, String)> {
    let events = &trace.events;
    let (i, wake) = events.iter().enumerate().rev().find_map(|(i, e)| match e.kind {
        Some(EventKind::WaitEnd { wake, reacquired: true }) if e.thread == thread => Some((i, wake)),
        _ => None,
    })?;
    let wait = &events[i];
    let object = wait.object.clone().unwrap_or_default();
    // The lock the wait released and re-acquired.
    let lock = events[..i].iter().rev().find_map(|e| match &e.kind {
        Some(EventKind::WaitBegin { lock }) if e.thread == thread && e.object == wait.object => lock.clone(),
        _ => None,
    });
    if wake == Wake::Spurious {
        deciding.push(i);
        let (kind, docs, instead) = condition_words(&object);
        return Some((
            DiagnosisKind::SpuriousWakeup,
            format!(
                "{thread} returned from waiting on {kind} `{object}` at step {} without any notify (a spurious wake-up, which {docs} documentation allows) and acted on a condition that did not hold (re-check the condition in a `while` loop, or use {instead}): {message}",
                wait.step
            ),
        ));
    }
    // The notify that woke this waiter, and whoever took the lock before it re-acquired.
    let woke: &Event = events[..i].iter().rev().find(|e| {
        e.object.as_deref() == Some(object.as_str())
            && matches!(&e.kind, Some(EventKind::Notify { woken, .. }) if woken.iter().any(|w| w == thread))
    })?;
    let j = events.iter().position(|e| std::ptr::eq(e, woke))?;
    let between = &events[j + 1..i];
    // The thief: another thread that took the lock in between and did not merely wait again.
    // First by its next typed event (a front-end's untyped `py` line between its acquire and its
    // wait, `if len(items) >= cap:`, is no change the diagnosis can see); failing that, by its
    // very next event (a consumer whose untyped line popped the item, then waited again).
    let thief = |typed_only: bool| {
        between.iter().enumerate().find_map(|(k, e)| {
            let same_lock = lock.is_none() || e.object == lock;
            let took = e.thread != thread && same_lock && e.kind == Some(EventKind::Acquired);
            let then =
                between[k + 1..].iter().find(|n| n.thread == e.thread && (n.kind.is_some() || !typed_only));
            let only_waited = then.is_some_and(|n| matches!(n.kind, Some(EventKind::WaitBegin { .. })));
            (took && !only_waited).then_some((k, e))
        })
    };
    let found = thief(true).or_else(|| thief(false));
    let (b, barger) = found?;
    deciding.extend([j, j + 1 + b, i]);
    // What the thief changed, when the program watches its data (`queue: [0] -> []`).
    let used_up = between
        .iter()
        .enumerate()
        .filter(|(_, e)| e.thread == barger.thread && e.step >= barger.step)
        .find_map(|(k, e)| match &e.kind {
            Some(EventKind::Changed { before, after }) => {
                deciding.push(j + 1 + k);
                Some(format!(" ({}: {before} -> {after})", e.object.as_deref().unwrap_or("-")))
            }
            _ => None,
        })
        .unwrap_or_default();
    Some((
        DiagnosisKind::StolenWakeup,
        format!(
            "{thread} was notified by {} at step {} but, before it got the lock back (step {}), {} took the lock first (step {}) and used up what the notify announced{used_up}; {thread} then acted on a condition that no longer held (re-check the condition in a `while` loop after every wake-up): {message}",
            woke.thread, woke.step, wait.step, barger.thread, barger.step
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ThreadRef;
    use crate::ThreadId;

    /// An event of a primitive written outside racelab: its own operation names and texts.
    fn ev(step: u64, thread: &str, object: &str, kind: Option<EventKind>) -> Event {
        Event {
            step,
            time_ns: 0,
            thread_id: 0,
            thread: thread.into(),
            operation: "frob".into(),
            object: Some(object.into()),
            result: "zzz".into(),
            kind,
            at: None,
            library: false,
        }
    }

    fn stolen(kinds: bool) -> Trace {
        let k = |kind: EventKind| kinds.then_some(kind);
        let begin = EventKind::WaitBegin { lock: Some("m".into()) };
        let notify = EventKind::Notify { all: true, woken: vec!["a".into()] };
        let end = EventKind::WaitEnd { wake: Wake::Notified, reacquired: true };
        Trace {
            events: vec![
                ev(1, "a", "m", k(EventKind::Acquired)),
                ev(2, "a", "cv", k(begin)),
                ev(3, "p", "m", k(EventKind::Acquired)),
                ev(4, "p", "cv", k(notify)),
                ev(5, "p", "m", k(EventKind::Released { woken: vec![] })),
                ev(6, "b", "m", k(EventKind::Acquired)),
                ev(7, "b", "m", k(EventKind::Released { woken: vec![] })),
                ev(8, "a", "m", k(EventKind::Acquired)),
                ev(8, "a", "cv", k(end)),
            ],
        }
    }

    /// A front-end's untyped step between lines of plain code (racelab-py's `py`).
    fn py(step: u64, thread: &str) -> Event {
        Event { operation: "py".into(), object: None, ..ev(step, thread, "-", None) }
    }

    fn panic_in(thread: &str) -> FailureKind {
        FailureKind::Panic {
            thread: ThreadRef { id: ThreadId(1), name: thread.into(), terminated: false },
            message: "IndexError: pop from empty list".into(),
            location: None,
        }
    }

    #[test]
    fn a_foreign_primitive_with_typed_events_gets_the_wakeup_diagnosis() {
        let d = diagnose(&panic_in("a"), &stolen(true));
        assert_eq!(d.kind, DiagnosisKind::StolenWakeup, "{d}");
        assert!(d.explanation.contains("notified by p at step 4"), "{d}");
        assert!(d.explanation.contains("b took the lock first (step 6)"), "{d}");
    }

    #[test]
    fn a_thread_that_takes_the_lock_only_to_wait_again_is_not_the_thief_even_with_lines_between() {
        // racelab-py's `line` granularity puts a `py` step (untyped) between a producer's acquire
        // and its wait (`if len(items) >= cap:`): the producer was named as the thief, where
        // the consumer that took the lock after it had popped the item.
        let mut trace = stolen(true);
        let begin = EventKind::WaitBegin { lock: Some("m".into()) };
        trace.events.splice(
            5..5,
            [ev(5, "p", "m", Some(EventKind::Acquired)), py(5, "p"), ev(5, "p", "cv", Some(begin))],
        );
        let d = diagnose(&panic_in("a"), &trace);
        assert_eq!(d.kind, DiagnosisKind::StolenWakeup, "{d}");
        assert!(d.explanation.contains("b took the lock first (step 6)"), "{d}");
    }

    #[test]
    fn the_texts_alone_diagnose_nothing() {
        // The same run without kinds: the diagnosis does not guess from texts.
        let d = diagnose(&panic_in("a"), &stolen(false));
        assert_eq!(d.kind, DiagnosisKind::Assertion, "{d}");
    }

    #[test]
    fn only_racelabs_own_misuses_are_racelab_misuse() {
        let kind = |message: &str| panic("a", message, &Trace { events: vec![] }, &mut Vec::new()).0;
        assert_eq!(
            kind("racelab: check/replay cannot be nested, nor called from a thread"),
            DiagnosisKind::RacelabMisuse
        );
        assert_eq!(
            kind("racelab: an object created in another run was used in this one."),
            DiagnosisKind::RacelabMisuse
        );
        // A bug of the program, told in racelab's words: std deadlocks there.
        assert_eq!(
            kind("racelab: a Once's initializer called the same Once again"),
            DiagnosisKind::Assertion
        );
        let (_, text) = panic(
            "a",
            "racelab: an object created in another run was used.",
            &Trace { events: vec![] },
            &mut Vec::new(),
        );
        assert!(text.ends_with("was used."), "one period: {text}");
    }

    #[test]
    fn a_thief_whose_change_is_an_untyped_line_is_named_when_no_other_is() {
        // A consumer pops the item in a `py` line, then waits again under the same hold: its next
        // typed event is a wait, but nobody else took the lock.
        let mut trace = stolen(true);
        let begin = EventKind::WaitBegin { lock: Some("m".into()) };
        trace.events.splice(6..7, [py(6, "b"), ev(6, "b", "cv", Some(begin))]);
        let d = diagnose(&panic_in("a"), &trace);
        assert_eq!(d.kind, DiagnosisKind::StolenWakeup, "{d}");
        assert!(d.explanation.contains("b took the lock first (step 6)"), "{d}");
    }
}
