//! Narration: a failing run told in plain sentences, one line per step that matters, the steps
//! that decide the bug marked, and the fix in one sentence (`racelab replay ... --explain`).
//!
//! A trace shows everything; a student needs the dozen events that tell the story. This module
//! reads the typed events ([`EventKind`]) of a failure's trace, keeps those a person would tell
//! (taking a lock, waiting, notifying, setting, putting, getting, changing data, the failure
//! itself; not the contenders' bookkeeping or plain reads), and marks the events
//! [`diagnose_deciding`] names as deciding. The HTML
//! timeline and `racelab play` show the same lines.

use std::fmt;

use serde::Serialize;

use crate::diagnosis::{diagnose_deciding, is_std_condvar, DiagnosisKind};
use crate::report::{Failure, FailureKind};
use crate::trace::{Event, EventKind, Trace, Wake};

/// One line of a narration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    /// The step it happened in.
    pub step: u64,
    /// The event it tells (an index into the trace's events); `None` for the failure itself.
    pub event: Option<usize>,
    /// The sentence.
    pub text: String,
    /// One of the few steps that decide the bug.
    pub deciding: bool,
}

/// A failing run, told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Narration {
    /// The lines, in trace order.
    pub lines: Vec<Line>,
    /// The fix, in one sentence.
    pub fix: String,
}

impl fmt::Display for Narration {
    /// `what happened:`, a line per step (`*` before the deciding ones), then `fix:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "what happened (* marks the steps that decide the bug):")?;
        for l in &self.lines {
            let mark = if l.deciding { "*" } else { " " };
            writeln!(f, "  {mark} step {:>3}  {}", l.step, l.text)?;
        }
        writeln!(f, "fix: {}", self.fix)
    }
}

/// Tells `failure`'s run. `fix` overrides the fix the diagnosis suggests (a catalog scenario's
/// own words, say).
pub fn narrate(failure: &Failure, fix: Option<&str>) -> Narration {
    let trace = &failure.trace;
    let (diagnosis, deciding) = diagnose_deciding(&failure.kind, trace);
    let failing = failure.failing_event();
    // A misused primitive's story needs its releases too (a semaphore released once too often):
    // they are told for that object only, where they are what went wrong.
    let misused = match &failure.kind {
        FailureKind::Misuse { .. } => failing.and_then(|i| trace.events[i].object.as_deref()),
        _ => None,
    };
    // A race in plain code has no primitive steps to tell: where the threads were preempted
    // between the program's lines is the story (racelab-py's `py` steps).
    let data_race = matches!(
        diagnosis.kind,
        DiagnosisKind::Assertion | DiagnosisKind::LostUpdate | DiagnosisKind::LostData
    );
    let switches = if data_race { preemptions_in_lines(trace, failing) } else { Default::default() };
    let mut lines = Vec::new();
    for (i, e) in trace.events.iter().enumerate() {
        if let Some(&preempted) = switches.get(&i) {
            let text = line_sentence(e, preempted);
            lines.push(Line { step: e.step, event: Some(i), text, deciding: preempted });
            continue;
        }
        // A library's own objects (an executor's queue, a future's condition) are not the
        // program's story, unless they decide it.
        if e.library && !deciding.contains(&i) {
            continue;
        }
        let told = sentence(trace, i).or_else(|| misused.and_then(|obj| release_of(e, obj)));
        let Some(text) = told else {
            if deciding.contains(&i) {
                lines.push(Line { step: e.step, event: Some(i), text: plain(e), deciding: true });
            }
            continue;
        };
        lines.push(Line { step: e.step, event: Some(i), text, deciding: deciding.contains(&i) });
    }
    let last = failing.and_then(|i| trace.events.get(i)).map_or(failure.step, |e| e.step);
    lines.push(Line { step: last, event: None, text: failed(&failure.kind), deciding: true });
    // The bug turns on a racelab-std Condvar: the advice names Rust's API.
    let on_std_condvar = deciding
        .iter()
        .any(|&i| trace.events.get(i).and_then(|e| e.object.as_deref()).is_some_and(is_std_condvar));
    let fix = fix.map(str::to_string).unwrap_or_else(|| {
        on_std_condvar
            .then(|| std_condvar_fix(diagnosis.kind))
            .flatten()
            .or_else(|| {
                (diagnosis.kind == DiagnosisKind::Deadlock).then(|| deadlock_fix(&failure.kind)).flatten()
            })
            .or_else(|| (diagnosis.kind == DiagnosisKind::LostData).then(|| lost_data_fix(trace)).flatten())
            .or_else(|| misuse_fix(&failure.kind))
            .unwrap_or(default_fix(diagnosis.kind))
            .to_string()
    });
    Narration { lines, fix }
}

/// The fix for a deadlock, from what its threads wait on: lock-order advice is for threads that
/// wait on locks held by each other, not for a barrier short of parties or a queue nobody fills.
fn deadlock_fix(kind: &FailureKind) -> Option<&'static str> {
    let FailureKind::Deadlock(d) = kind else { return None };
    let waits_on = |k: &str| d.blocked.iter().any(|b| b.waits_on.kind == k);
    if d.cycle.len() == 1 {
        Some("release the lock before the code that takes it again runs, or make it re-entrant (an RLock) if one thread must take it while holding it.")
    } else if waits_on("Barrier") {
        Some("a Barrier(n) releases only when n threads have called wait(): make n the number of threads that reach it, or abort() it when one cannot come.")
    } else if d.blocked.iter().all(|b| b.held_by.is_empty()) {
        Some("every blocked thread waits for something no live thread will do (a notify, a set, a put, a release, a join): make sure each wait has someone left to end it, and that the one who ends it does so after the wait begins or leaves state the waiter checks.")
    } else {
        None
    }
}

/// The fix for lost data when a consumer's timed get gave up on a queue that was put to later:
/// the consumer stopped while items were still coming.
fn lost_data_fix(trace: &Trace) -> Option<&'static str> {
    let events = &trace.events;
    let gave_up = events.iter().position(|e| e.operation == "get" && e.kind == Some(EventKind::GaveUp))?;
    let queue = events[gave_up].object.as_deref()?;
    events[gave_up + 1..]
        .iter()
        .any(|e| e.operation == "put" && e.object.as_deref() == Some(queue))
        .then_some("a consumer stopped when its get timed out, while items were still coming: end the consumers with a sentinel item put after the last one (or q.join() with task_done()), not with a timeout.")
}

/// Preemptions told at most, the last ones before the failure.
const PREEMPTIONS_TOLD: usize = 4;
/// Lines told on each side of a preemption.
const LINES_AROUND: usize = 3;

/// The `py` steps (a front-end's steps between lines of plain code) around the last
/// [`PREEMPTIONS_TOLD`] preemptions before the failing event: the preempted thread's last
/// [`LINES_AROUND`] lines (the last one `true`: where it was preempted) and the next thread's
/// first ones. A preemption is a switch away from a thread whose last event was a line, not a
/// wait or a block, and which runs again later.
fn preemptions_in_lines(trace: &Trace, failing: Option<usize>) -> std::collections::BTreeMap<usize, bool> {
    let events = &trace.events;
    let upto = failing.map_or(events.len(), |f| (f + 1).min(events.len()));
    let lines: Vec<usize> = (0..upto).filter(|&i| events[i].operation == "py").collect();
    let mut told = std::collections::BTreeMap::new();
    let mut preemptions = 0;
    for w in (1..lines.len()).rev() {
        let (before, after) = (lines[w - 1], lines[w]);
        let (from, to) = (&events[before].thread, &events[after].thread);
        if from == to {
            continue;
        }
        // Preempted: nothing of its own between its line and the switch (no wait, no block), and
        // it runs again.
        let own_between = events[before + 1..after].iter().any(|e| e.thread == *from);
        let again = events[after..upto].iter().any(|e| e.thread == *from);
        if own_between || !again {
            continue;
        }
        let own_before = lines[..w].iter().rev().filter(|&&i| events[i].thread == *from).take(LINES_AROUND);
        for (k, &i) in own_before.enumerate() {
            // A line told for a later preemption keeps the star of an earlier one.
            *told.entry(i).or_insert(false) |= k == 0;
        }
        for &i in lines[w..].iter().filter(|&&i| events[i].thread == *to).take(LINES_AROUND) {
            told.entry(i).or_insert(false);
        }
        preemptions += 1;
        if preemptions == PREEMPTIONS_TOLD {
            break;
        }
    }
    told
}

/// A `py` step told: `Thread-1 runs `calls += 1` (line 8)`, and where it was preempted.
fn line_sentence(e: &Event, preempted: bool) -> String {
    // The result reads `file.py:8  source  [OPCODE]`.
    let (place, source) = e.result.split_once("  ").unwrap_or((e.result.as_str(), ""));
    let line = place.rsplit_once(':').map_or(place, |(_, n)| n);
    // Under `opcode` granularity the bytecode follows the source: `counter += 1  [LOAD_GLOBAL]`.
    let (source, opcode) = match source.trim().rsplit_once("  [") {
        Some((code, op)) if op.ends_with(']') => (code.trim(), format!(" at {}", op.trim_end_matches(']'))),
        _ => (source.trim(), String::new()),
    };
    let code = if source.is_empty() { String::new() } else { format!("`{source}`{opcode} ") };
    let then =
        if preempted { ", and is preempted there: another thread runs before its next line" } else { "" };
    format!("{} runs {code}(line {line}){then}.", e.thread)
}

/// The fix for a misused primitive, from Python's message: which rule was broken and the
/// usual way to keep it (`None`: the general advice).
fn misuse_fix(kind: &FailureKind) -> Option<&'static str> {
    let FailureKind::Misuse { message, .. } = kind else { return None };
    Some(match message.as_str() {
        "Semaphore released too many times" => {
            "release a BoundedSemaphore once for each acquire, after it (`with sem:` pairs them): a second release, or one for an acquire that never happened, goes past its initial value."
        }
        "release unlocked lock" => {
            "release a Lock only while it is held, once for each acquire (`with lock:` pairs them)."
        }
        "cannot release un-acquired lock" => {
            "release an RLock only in the thread that holds it, once for each of its acquires (`with rlock:` pairs them)."
        }
        "cannot wait on un-acquired lock" | "cannot notify on un-acquired lock" => {
            "call wait() and notify() only while holding the Condition's lock: inside `with cond:`."
        }
        "task_done() called too many times" => "call task_done() once for each item taken with get(), after handling it.",
        _ => return None,
    })
}

/// A release of `obj`, told (a lock's or semaphore's release is not told by itself: only the
/// misuse of `obj` makes it part of the story).
fn release_of(e: &Event, obj: &str) -> Option<String> {
    if !matches!(e.kind, Some(EventKind::Released { .. })) || e.object.as_deref() != Some(obj) {
        return None;
    }
    Some(match e.result.strip_prefix("ok, value ") {
        Some(value) => format!("{} releases {obj}; its value is now {value}.", e.thread),
        None => format!("{} releases {obj}.", e.thread),
    })
}

/// The fix for a wake-up bug on a racelab-std `Condvar`, in Rust's words (`None`: the default
/// fix says it already).
fn std_condvar_fix(kind: DiagnosisKind) -> Option<&'static str> {
    match kind {
        DiagnosisKind::StolenWakeup | DiagnosisKind::SpuriousWakeup => Some(
            "re-check the condition in a `while` loop around wait() (or use `Condvar::wait_while`), so a wake-up whose condition no longer holds waits again.",
        ),
        DiagnosisKind::LostWakeup => Some(
            "wait on state that remembers the event (`while !ready { guard = cvar.wait(guard).unwrap(); }`, or `wait_while`), not on the wake-up itself.",
        ),
        DiagnosisKind::MisdirectedWakeup => {
            Some("wake every waiter with notify_all(), or give each kind of waiter its own Condvar.")
        }
        _ => None,
    }
}

/// The sentence for event `i`, or `None` when it is not worth telling.
fn sentence(trace: &Trace, i: usize) -> Option<String> {
    let e = &trace.events[i];
    let t = &e.thread;
    let obj = e.object.as_deref().unwrap_or("-");
    let kind = e.kind.as_ref()?;
    Some(match kind {
        EventKind::Acquired => format!("{t} takes {obj}."),
        EventKind::AcquireBlocked { holder } => {
            // Told only where the thread stays blocked: its last event.
            if trace.events[i + 1..].iter().any(|n| n.thread == *t) {
                return None;
            }
            match holder {
                Some(h) => format!("{t} waits for {obj}, held by {h}, and stays blocked."),
                None => format!("{t} waits for {obj} and stays blocked."),
            }
        }
        EventKind::GaveUp => match e.operation.as_str() {
            "get" => format!("{t} gives up waiting for an item of {obj}: its get times out."),
            "put" => format!("{t} gives up waiting for room in {obj}: its put times out."),
            _ => format!("{t} gives up on {obj}."),
        },
        EventKind::Released { woken } if !woken.is_empty() => {
            format!("{t} releases {obj}, waking {}.", woken.join(", "))
        }
        EventKind::Released { .. } => return None,
        EventKind::WaitBegin { lock: Some(lock) } => format!("{t} waits on {obj}, releasing {lock}."),
        EventKind::WaitBegin { lock: None } => format!("{t} waits on {obj}."),
        EventKind::WaitEnd { wake, reacquired } => {
            let back = if *reacquired { ", the lock taken back" } else { "" };
            match wake {
                Wake::Notified => format!("{t} returns from its wait on {obj}{back}."),
                Wake::Spurious => {
                    format!(
                        "{t} returns from its wait on {obj}{back} without any notify: a spurious wake-up."
                    )
                }
                Wake::TimedOut => format!("{t}'s wait on {obj} times out{back}."),
                Wake::AlreadySet => format!("{t} finds {obj} already set and goes on."),
            }
        }
        // A set that raises an Event's flag with nobody waiting loses nothing: the flag stays up.
        EventKind::Notify { woken, .. }
            if woken.is_empty() && crate::diagnosis::set_raised_flag(trace, i) =>
        {
            format!("{t} sets {obj} with nobody waiting yet; the flag stays up until cleared.")
        }
        // Setting a flag that is up changes nothing: a signal is lost only where the program
        // meant each set to count (a producer's second item), which the diagnosis decides.
        EventKind::Notify { woken, .. } if woken.is_empty() && e.operation == "set" => {
            format!("{t} calls set() on {obj}, which is already set: this set changes nothing (an Event does not count its sets).")
        }
        EventKind::Notify { woken, .. } if woken.is_empty() => {
            format!("{t} calls {}() on {obj} with nobody waiting: the wake-up is lost.", e.operation)
        }
        EventKind::Notify { woken, .. } => {
            format!("{t} calls {}() on {obj}, waking {}.", e.operation, woken.join(", "))
        }
        EventKind::Clear { was_set: true } => format!("{t} clears {obj}, which was set."),
        EventKind::Clear { was_set: false } => format!("{t} clears {obj} (it was not set)."),
        EventKind::Put { item, woken } => match woken {
            Some(w) => format!("{t} puts {item} into {obj}, waking {w}."),
            None => format!("{t} puts {item} into {obj}."),
        },
        EventKind::Get { item, .. } => format!("{t} takes {item} from {obj}."),
        EventKind::QueueBlocked => {
            let why = if e.operation == "put" { "full" } else { "empty" };
            format!("{t} finds {obj} {why} and waits.")
        }
        EventKind::Read { .. } => return None,
        EventKind::Changed { before, after } if before == after => {
            format!("{t} {} {obj}, which stays {after}.", e.operation)
        }
        EventKind::Changed { before, after } => format!("{t} changes {obj}: {before} -> {after}."),
    })
}

/// An event not worth telling by itself that decides the bug all the same: a read acted on
/// after it went stale, or an untyped event (a terminate), told from its texts.
fn plain(e: &Event) -> String {
    if let Some(EventKind::Read { value }) = &e.kind {
        return format!("{} reads {} = {value}.", e.thread, e.object.as_deref().unwrap_or("-"));
    }
    let obj = e.object.as_deref().map(|o| format!(" {o}")).unwrap_or_default();
    format!("{} {}{obj}: {}.", e.thread, e.operation, e.result)
}

fn failed(kind: &FailureKind) -> String {
    match kind {
        FailureKind::Deadlock(d) if !d.cycle.is_empty() => {
            "every live thread is blocked, in a wait-for cycle: the program hangs here.".into()
        }
        FailureKind::Deadlock(_) => {
            "every live thread is blocked and nothing can wake them: the program hangs here.".into()
        }
        // The program's and Python's texts as they are, without a period of racelab's.
        FailureKind::Panic { thread, message, .. } => format!("{thread} fails: {message}"),
        FailureKind::Misuse { thread, exception, message } if message.is_empty() => {
            format!("{thread} raises {exception}")
        }
        FailureKind::Misuse { thread, exception, message } => {
            format!("{thread} raises {exception}: {message}")
        }
        FailureKind::DaemonCutOff { .. } => "the program ends with a daemon thread's work unfinished.".into(),
        other => format!("the run fails: {}.", other.name()),
    }
}

/// The fix for a kind of bug, in one sentence.
pub fn default_fix(kind: DiagnosisKind) -> &'static str {
    match kind {
        DiagnosisKind::StolenWakeup | DiagnosisKind::SpuriousWakeup => {
            "re-check the condition in a `while` loop around wait() (or use wait_for()), so a wake-up whose condition no longer holds waits again."
        }
        DiagnosisKind::LostWakeup => {
            "wait on state that remembers the event (`while not ready: cond.wait()`, an Event left set, a Queue), not on the wake-up itself."
        }
        DiagnosisKind::MisdirectedWakeup => {
            "wake every waiter with notify_all(), or give each kind of waiter its own condition, as queue.Queue does."
        }
        DiagnosisKind::Deadlock => "take locks in one global order, and make sure every wait has someone left to end it.",
        DiagnosisKind::LostUpdate => "make the read-modify-write one atomic step, or hold one lock across the read and the write.",
        DiagnosisKind::LostData => "hand each item to exactly one consumer (a Queue), and read shared results only after join().",
        DiagnosisKind::Misuse => "follow the primitive's rules: Python raises an exception here.",
        DiagnosisKind::DaemonCutOff => "join the daemon thread before the program ends, or make it non-daemon.",
        DiagnosisKind::DataRace => "hold one lock across both accesses, or order them (join, a channel, an atomic flag).",
        DiagnosisKind::Assertion => "the steps above are an interleaving under which the check fails: make each check and the action that relies on it one atomic step (one lock held across both), or wait until the state you check holds.",
        DiagnosisKind::RacelabMisuse => "call racelab's check or replay only from outside a run, and make every racelab object inside the run that uses it.",
        _ => "see the diagnosis above.",
    }
}

/// The shared state after some events of a trace, as a student would draw it: who holds each
/// lock, who waits on each object, the values of the data the program shows (shared values,
/// watched data, queue contents, event flags), who has finished, the virtual clock. Rebuilt from
/// the typed events alone, so it is the same for every front-end (`play`, the HTML timeline).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SharedState {
    /// The virtual time of the last event, in nanoseconds.
    pub time_ns: u64,
    /// Each held object and its holders, in the order they took it.
    pub holders: std::collections::BTreeMap<String, Vec<String>>,
    /// Each object with threads waiting on it (a wait, a blocked acquire, a blocked get or put).
    pub waiters: std::collections::BTreeMap<String, Vec<String>>,
    /// Each data object and its value as last seen: shared values, watched data, queue contents
    /// (`[0, 1]`), event flags (`set`, `clear`).
    pub values: std::collections::BTreeMap<String, String>,
    /// The threads that have finished.
    pub finished: Vec<String>,
}

impl SharedState {
    /// The state after the first `upto` events of `trace`.
    pub fn at(trace: &Trace, upto: usize) -> SharedState {
        let mut s = SharedState::default();
        let mut queues: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for e in &trace.events[..upto.min(trace.events.len())] {
            s.time_ns = e.time_ns;
            let t = e.thread.clone();
            if e.operation == "finish" {
                s.finished.push(t.clone());
                continue;
            }
            let (Some(obj), Some(kind)) = (e.object.clone(), e.kind.as_ref()) else { continue };
            match kind {
                EventKind::Acquired => {
                    remove(&mut s.waiters, &obj, &t);
                    s.holders.entry(obj).or_default().push(t);
                }
                EventKind::AcquireBlocked { .. } | EventKind::QueueBlocked => {
                    push_once(&mut s.waiters, &obj, &t);
                }
                EventKind::GaveUp => remove(&mut s.waiters, &obj, &t),
                EventKind::Released { .. } => {
                    // A free lock's contenders are runnable again: they no longer wait.
                    s.waiters.remove(&obj);
                    if let Some(h) = s.holders.get_mut(&obj) {
                        let at = h.iter().position(|x| *x == t).unwrap_or(0);
                        if !h.is_empty() {
                            h.remove(at);
                        }
                    }
                    s.holders.retain(|_, h| !h.is_empty());
                }
                EventKind::WaitBegin { lock } => {
                    if let Some(lock) = lock {
                        s.waiters.remove(lock);
                        if let Some(h) = s.holders.get_mut(lock) {
                            h.retain(|x| *x != t);
                        }
                        s.holders.retain(|_, h| !h.is_empty());
                    }
                    push_once(&mut s.waiters, &obj, &t);
                }
                EventKind::WaitEnd { .. } => remove(&mut s.waiters, &obj, &t),
                EventKind::Notify { woken, .. } => {
                    // A woken waiter waits no more (a condition's contends for the lock next).
                    if let Some(w) = s.waiters.get_mut(&obj) {
                        w.retain(|x| !woken.contains(x));
                    }
                    if e.operation == "set" {
                        s.values.insert(obj, "set".into());
                    }
                }
                EventKind::Clear { .. } => {
                    s.values.insert(obj, "clear".into());
                }
                EventKind::Put { item, .. } => {
                    remove(&mut s.waiters, &obj, &t);
                    let q = queues.entry(obj.clone()).or_default();
                    q.push(item.clone());
                    s.values.insert(obj, format!("[{}]", q.join(", ")));
                }
                EventKind::Get { item, .. } => {
                    remove(&mut s.waiters, &obj, &t);
                    let q = queues.entry(obj.clone()).or_default();
                    if let Some(i) = q.iter().position(|x| x == item) {
                        q.remove(i);
                    }
                    s.values.insert(obj, format!("[{}]", q.join(", ")));
                }
                EventKind::Read { value } => {
                    s.values.entry(obj).or_insert_with(|| value.clone());
                }
                EventKind::Changed { after, .. } => {
                    s.values.insert(obj, after.clone());
                }
            }
        }
        s.waiters.retain(|_, w| !w.is_empty());
        s
    }

    /// One line per object (`lock: held by producer; waiting: consumer-2`), then the clock.
    pub fn lines(&self) -> Vec<String> {
        let mut objects: Vec<&String> =
            self.holders.keys().chain(self.waiters.keys()).chain(self.values.keys()).collect();
        objects.sort();
        objects.dedup();
        let mut out: Vec<String> = objects
            .into_iter()
            .map(|o| {
                let mut parts = Vec::new();
                if let Some(v) = self.values.get(o) {
                    parts.push(v.clone());
                }
                if let Some(h) = self.holders.get(o) {
                    parts.push(format!("held by {}", h.join(", ")));
                }
                if let Some(w) = self.waiters.get(o) {
                    parts.push(format!("waiting: {}", w.join(", ")));
                }
                format!("{o}: {}", parts.join("; "))
            })
            .collect();
        out.push(format!("clock: {}", crate::clock::VirtualTime::from_nanos(self.time_ns)));
        out
    }
}

fn push_once(map: &mut std::collections::BTreeMap<String, Vec<String>>, obj: &str, t: &str) {
    let list = map.entry(obj.to_string()).or_default();
    if !list.iter().any(|x| x == t) {
        list.push(t.to_string());
    }
}

fn remove(map: &mut std::collections::BTreeMap<String, Vec<String>>, obj: &str, t: &str) {
    if let Some(list) = map.get_mut(obj) {
        list.retain(|x| x != t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Event;

    fn ev(step: u64, thread: &str, op: &str, object: &str, kind: EventKind) -> Event {
        Event {
            step,
            time_ns: step * 1_000,
            thread_id: 0,
            thread: thread.into(),
            operation: op.into(),
            object: Some(object.into()),
            result: String::new(),
            kind: Some(kind),
            at: None,
            library: false,
        }
    }

    /// consumer takes the lock and waits; producer takes it, changes the queue and notifies.
    fn run() -> Trace {
        Trace {
            events: vec![
                ev(1, "consumer", "acquire", "lock", EventKind::Acquired),
                ev(
                    2,
                    "producer",
                    "acquire",
                    "lock",
                    EventKind::AcquireBlocked { holder: Some("consumer".into()) },
                ),
                ev(3, "consumer", "wait", "cond", EventKind::WaitBegin { lock: Some("lock".into()) }),
                ev(4, "producer", "acquire", "lock", EventKind::Acquired),
                ev(
                    4,
                    "producer",
                    "change",
                    "queue",
                    EventKind::Changed { before: "[]".into(), after: "[0]".into() },
                ),
                ev(
                    5,
                    "producer",
                    "notify",
                    "cond",
                    EventKind::Notify { all: false, woken: vec!["consumer".into()] },
                ),
                ev(6, "producer", "release", "lock", EventKind::Released { woken: vec![] }),
            ],
        }
    }

    #[test]
    fn the_state_follows_holders_waiters_and_data() {
        let trace = run();
        let s = SharedState::at(&trace, 2);
        assert_eq!(s.holders.get("lock"), Some(&vec!["consumer".to_string()]));
        assert_eq!(s.waiters.get("lock"), Some(&vec!["producer".to_string()]));
        // The wait releases the lock: its contender no longer waits, the waiter waits on cond.
        let s = SharedState::at(&trace, 3);
        assert!(s.holders.is_empty() && !s.waiters.contains_key("lock"), "{s:?}");
        assert_eq!(s.waiters.get("cond"), Some(&vec!["consumer".to_string()]));
        let s = SharedState::at(&trace, 5);
        assert_eq!(s.values.get("queue").map(String::as_str), Some("[0]"));
        assert_eq!(s.holders.get("lock"), Some(&vec!["producer".to_string()]));
        // The notify takes the waiter off the condition; the release frees the lock.
        let s = SharedState::at(&trace, 7);
        assert!(!s.waiters.contains_key("cond") && s.holders.is_empty(), "{s:?}");
        assert_eq!(s.time_ns, 6_000);
        assert_eq!(s.lines(), vec!["queue: [0]".to_string(), "clock: 0.000006000s".to_string()]);
    }

    #[test]
    fn every_told_event_gets_a_sentence_and_notifies_name_whom_they_woke() {
        let trace = run();
        let told: Vec<String> = (0..trace.events.len()).filter_map(|i| sentence(&trace, i)).collect();
        assert_eq!(
            told,
            vec![
                "consumer takes lock.",
                "consumer waits on cond, releasing lock.",
                "producer takes lock.",
                "producer changes queue: [] -> [0].",
                "producer calls notify() on cond, waking consumer.",
            ],
            "a blocked acquire the thread later leaves and a plain release are not told"
        );
    }

    /// A `py` step of racelab-py: `file.py:line  source`.
    fn line(step: u64, thread: &str, line: u32, source: &str) -> Event {
        Event {
            step,
            time_ns: 0,
            thread_id: 0,
            thread: thread.into(),
            operation: "py".into(),
            object: None,
            result: format!("prog.py:{line}  {source}"),
            kind: None,
            at: None,
            library: false,
        }
    }

    #[test]
    fn a_race_in_plain_code_is_told_by_its_preemptions() {
        // The check-then-act of an outside trial: t1 checks and is preempted before it writes,
        // t2 checks too. Its narration was the failure alone.
        let trace = Trace {
            events: vec![
                line(1, "main", 16, "threads = [...]"),
                ev(2, "main", "join", "t1", EventKind::AcquireBlocked { holder: None }),
                line(3, "t1", 12, "if key not in cache:"),
                line(4, "t1", 13, "cache[key] = expensive(key)"),
                line(5, "t1", 8, "calls += 1"),
                line(6, "t2", 12, "if key not in cache:"),
                line(7, "t2", 13, "cache[key] = expensive(key)"),
                line(8, "t2", 8, "calls += 1"),
                line(9, "t2", 9, "return key * 2"),
                line(10, "t1", 9, "return key * 2"),
                line(11, "main", 19, "assert calls == 1"),
            ],
        };
        let told = preemptions_in_lines(&trace, Some(10));
        // Only t1 was preempted (t2 ran to its end; main had blocked in its join).
        assert_eq!(told.keys().copied().collect::<Vec<_>>(), vec![2, 3, 4, 5, 6, 7]);
        assert_eq!(told.iter().filter(|(_, &p)| p).map(|(&i, _)| i).collect::<Vec<_>>(), vec![4]);
        assert_eq!(
            line_sentence(&trace.events[4], true),
            "t1 runs `calls += 1` (line 8), and is preempted there: another thread runs before its next line."
        );
        let opcode =
            Event { result: "prog.py:8  calls += 1  [LOAD_GLOBAL]".into(), ..trace.events[4].clone() };
        assert_eq!(line_sentence(&opcode, false), "t1 runs `calls += 1` at LOAD_GLOBAL (line 8).");
    }

    #[test]
    fn an_earlier_preemption_keeps_its_star_when_a_later_one_tells_the_same_lines() {
        // Later preemptions are found first and told the thread's older lines unstarred.
        let trace = Trace {
            events: vec![
                line(1, "a", 1, "x = 1"),
                line(2, "b", 2, "y = 1"),
                line(3, "a", 3, "x = 2"),
                line(4, "c", 4, "z = 1"),
                line(5, "a", 5, "x = 3"),
            ],
        };
        let told = preemptions_in_lines(&trace, Some(4));
        assert_eq!(told.get(&0), Some(&true), "{told:?}");
        assert_eq!(told.get(&2), Some(&true), "{told:?}");
    }
}
