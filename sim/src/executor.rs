//! The executor: runs one simulated program to its end, one green thread at a time.
//!
//! Green threads are stackful coroutines (`corosensei`), all on the OS thread that explores. The
//! loop asks the run's model what happens next, resumes that thread's coroutine until it reaches
//! its next scheduling point, and repeats. A panic in a green thread comes out of `resume` and
//! becomes a failure of the run, never a crash of the explorer; so does a stack overflow or a
//! thread the watchdog stops (`trap.rs` abandons it and `resume` returns). When the run ends,
//! coroutines still suspended (deadlocked or cut-off threads) are unwound so their destructors
//! run (a destructor that panics there is reported; see `tear_down`), and every stack goes back
//! to a pool: mapping a fresh stack costs microseconds, reusing one costs nanoseconds.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use corosensei::stack::{DefaultStack, Stack};
use corosensei::{Coroutine, CoroutineResult};

use crate::config::Config;
use crate::ids::ThreadId;
use crate::report::{FailureKind, TeardownPanic};
use crate::rt::{self, Misuse};
use crate::state::{Next, RunEnd};
use crate::trap::{self, Trapped, Watchdog};

type GreenThread = Coroutine<(), (), (), DefaultStack>;

/// How many times teardown resumes a thread that keeps catching its unwind before leaking it.
const TEARDOWN_RESUMES: usize = 100;

/// A started green thread: its coroutine and where its stack lies, for the trap handler.
struct Slot {
    co: GreenThread,
    /// Top of the stack (exclusive) and its usable bottom (the yellow zone starts there).
    base: usize,
    limit: usize,
    /// An overflow opened pages of the yellow zone: protect it again before reuse.
    yellow_opened: bool,
}

/// Runs programs, keeping stacks and coroutine slots between runs.
pub(crate) struct Executor {
    stack_size: usize,
    stacks: Vec<DefaultStack>,
    coroutines: Vec<Option<Slot>>,
    watchdog: Watchdog,
    watchdog_limit: Option<std::time::Duration>,
    /// OS-thread accesses to racelab counted when the run started (see `rt::os_thread_accesses`).
    os_thread_accesses: u64,
    /// A destructor panicked during a teardown: see `tear_down`.
    tainted: bool,
    teardown_panic: Option<TeardownPanic>,
    _exploring: rt::Exploring,
}

impl Executor {
    pub fn new(config: &Config) -> Self {
        assert!(
            !TAINTED.with(|t| t.get()),
            "racelab invariant: an executor on an OS thread a teardown tainted"
        );
        install_panic_hook();
        trap::install();
        Executor {
            stack_size: config.stack_size,
            stacks: Vec::new(),
            coroutines: Vec::new(),
            watchdog: Watchdog::start(config.watchdog),
            watchdog_limit: config.watchdog,
            os_thread_accesses: 0,
            tainted: false,
            teardown_panic: None,
            _exploring: rt::Exploring::start(),
        }
    }

    /// Runs `main` as the main thread of the run installed in `rt`, to its end.
    pub fn run(&mut self, main: Box<dyn FnOnce()>) -> RunEnd {
        assert!(!self.tainted, "racelab invariant: a run on a tainted executor");
        let beat = std::sync::Arc::clone(self.watchdog.beat());
        self.os_thread_accesses = rt::os_thread_accesses();
        rt::with(|m| {
            m.beat = Some(beat);
            m.add_thread(None, false, main)
        });
        PANIC_LOCATIONS.with(|l| l.borrow_mut().clear());
        RECENT_PANICS.with(|r| r.borrow_mut().clear());
        let end = loop {
            if let Err(failure) = self.start_new_threads() {
                break RunEnd::Failed(*failure);
            }
            match rt::with(|m| m.next_for_executor()) {
                Next::Run(t) => {
                    if let Err(failure) = self.resume(t) {
                        break RunEnd::Failed(*failure);
                    }
                }
                Next::End => {
                    let end = rt::with(|m| m.take_end());
                    match self.os_thread_failure() {
                        Some(f) if !matches!(end, RunEnd::Failed(_)) => break RunEnd::Failed(f),
                        _ => break end,
                    }
                }
            }
        };
        self.tear_down();
        end
    }

    /// Starts every thread spawned since the last step and runs it to its first scheduling
    /// point. Code before a thread's first scheduling point touches nothing another thread can
    /// see (every visible operation begins with one, and so does a spawned thread's end when
    /// nothing came before it), so this is not a decision and not a step: the first step a thread
    /// is chosen for is its first visible operation.
    fn start_new_threads(&mut self) -> Result<(), Box<FailureKind>> {
        loop {
            let new = rt::with(|m| {
                if m.unstarted == 0 {
                    return None;
                }
                m.unstarted -= 1;
                let i = m.threads.iter().position(|t| t.body.is_some())?;
                let body = m.threads[i].body.take();
                m.current = ThreadId::from_u32(i as u32);
                body.map(|b| (i, b))
            });
            let Some((i, body)) = new else { return Ok(()) };
            if self.coroutines.len() <= i {
                self.coroutines.resize_with(i + 1, || None);
            }
            debug_assert!(self.coroutines[i].is_none(), "racelab invariant: a thread started twice");
            let t = ThreadId::from_u32(i as u32);
            self.coroutines[i] = Some(self.start(body).map_err(|e| self.unstartable(t, e))?);
            rt::set_starting(true);
            let started = self.resume(t);
            rt::set_starting(false);
            started?;
        }
    }

    /// An OS thread touched racelab since the run started: the run fails (its program spawned
    /// one, most likely; see `rt::OS_THREAD_MESSAGE`).
    fn os_thread_failure(&self) -> Option<FailureKind> {
        (rt::os_thread_accesses() != self.os_thread_accesses).then(|| FailureKind::OsThread {
            message: rt::OS_THREAD_MESSAGE.trim_start_matches("racelab: ").to_string(),
        })
    }

    /// Runs thread `t` for one step: until its next scheduling point or its end.
    fn resume(&mut self, t: ThreadId) -> Result<(), Box<FailureKind>> {
        let stepped = self.step(t);
        // An OS thread's access outranks what it caused (a join of it that failed, say).
        self.os_thread_failure().map_or(stepped, |f| Err(Box::new(f)))
    }

    fn step(&mut self, t: ThreadId) -> Result<(), Box<FailureKind>> {
        let i = t.index();
        let slot =
            self.coroutines[i].as_mut().expect("racelab invariant: stepping a thread that was never started");
        let (result, trapped) = guarded(slot, t, self.watchdog.beat(), |co| co.resume(()));
        let failure = match trapped {
            Trapped::None => None,
            Trapped::Overflow => {
                rt::event("overflow", None, || "stack overflow: stopped".into());
                Some(FailureKind::StackOverflow {
                    thread: rt::with(|m| m.thread_ref(t)),
                    stack_size: self.stack_size as u64,
                })
            }
            Trapped::Watchdog => {
                let limit_ms = self.watchdog_limit.map_or(0, |d| d.as_millis() as u64);
                rt::event("watchdog", None, || {
                    format!("stopped: {} without a scheduling point", crate::report::seconds(limit_ms))
                });
                Some(FailureKind::Watchdog { thread: rt::with(|m| m.thread_ref(t)), limit_ms })
            }
        };
        match result {
            Ok(CoroutineResult::Yield(())) => match failure {
                None => Ok(()),
                // Overflowed into its yellow zone, then reached a scheduling point: it is
                // suspended as usual, and unwound at the end of the run.
                Some(f) => Err(Box::new(f)),
            },
            Ok(CoroutineResult::Return(())) => {
                self.recycle(i);
                match failure {
                    None => Ok(()),
                    Some(f) => {
                        rt::with(|m| {
                            if !m.is_finished(t) {
                                m.finish_current();
                            }
                        });
                        Err(Box::new(f))
                    }
                }
            }
            Err(payload) => {
                self.recycle(i);
                let panic = failure_from_panic(t, payload);
                Err(Box::new(failure.unwrap_or(panic)))
            }
        }
    }

    /// A green thread on a stack of its own, recycled or newly mapped; an error when the OS
    /// maps no more (too many threads alive at once: each holds a stack until it finishes).
    fn start(&mut self, body: Box<dyn FnOnce()>) -> std::io::Result<Slot> {
        let stack = match self.stacks.pop() {
            Some(s) => s,
            None => {
                let s = DefaultStack::new(self.stack_size + trap::YELLOW_ZONE)?;
                trap::prepare_stack(&s);
                s
            }
        };
        let (base, limit) = (stack.base().get(), stack.limit().get());
        let co = Coroutine::with_stack(stack, move |yielder, ()| {
            rt::set_yielder(yielder);
            rt::thread_begins();
            let body = move || {
                body();
                rt::thread_exits();
                // A spawned thread that returns before its first scheduling point: its end is
                // visible to the others (a join, `is_finished`), so it is a step of its own, after
                // a point, not part of the start (which is no decision).
                if rt::starting() && rt::current() != ThreadId::MAIN {
                    rt::schedule_point();
                }
            };
            match panic::catch_unwind(AssertUnwindSafe(body)) {
                Ok(()) => {
                    rt::event("finish", None, || "returned".into());
                    rt::with(|m| m.finish_current());
                }
                // Torn down at the end of the run: unwound, done.
                Err(p) if p.is::<rt::TearDown>() => {}
                // A panic of the program: out through `resume`, where it becomes the failure.
                Err(p) => panic::resume_unwind(p),
            }
        });
        Ok(Slot { co, base, limit, yellow_opened: false })
    }

    /// The failure of a run whose thread `t` could not get a stack: std's `thread::spawn`
    /// panics when the OS cannot create a thread, and so does this run, in the new thread (the
    /// spawn itself has returned), naming the cause and the way out.
    fn unstartable(&self, t: ThreadId, e: std::io::Error) -> Box<FailureKind> {
        let alive = self.coroutines.iter().filter(|c| c.is_some()).count() + 1;
        rt::with(|m| m.finish_current());
        Box::new(FailureKind::Panic {
            thread: rt::with(|m| m.thread_ref(t)),
            message: format!(
                "failed to spawn thread: racelab could not map a {} KiB stack for it ({e}) with {alive} \
                 threads alive; each live thread holds a stack, and the OS limits how much address space \
                 and how many mappings a process has (Linux: vm.max_map_count). Keep fewer threads alive \
                 at once, or give them smaller stacks (Config::stack_size)",
                (self.stack_size + trap::YELLOW_ZONE) / 1024
            ),
            location: None,
        })
    }

    fn recycle(&mut self, i: usize) {
        if let Some(slot) = self.coroutines[i].take() {
            debug_assert!(slot.co.done(), "racelab invariant: recycling a live coroutine");
            let stack = slot.co.into_stack();
            if slot.yellow_opened {
                trap::prepare_stack(&stack);
            }
            self.stacks.push(stack);
        }
    }

    /// Unwinds every coroutine still suspended, so destructors run, and recycles its stack.
    ///
    /// A thread is unwound by resuming it with an unwind requested: its pending scheduling point
    /// unwinds with the private `rt::TearDown` payload, which its coroutine's root catches. A
    /// destructor that panics during that unwind would abort the process (Rust aborts on a panic
    /// that unwinds out of a destructor during unwinding, and nothing can catch it), so the panic
    /// hook has the thread abandoned before that (`trap::step_out_of_panic`): its coroutine
    /// returns and its remaining destructors never run. That panic never finishes: this OS
    /// thread's panic count stays raised, `std::thread::panicking()` true for good, and racelab's
    /// scheduling points would be no-ops. So the executor is then *tainted*: it leaks the other
    /// suspended threads instead of unwinding them and runs no other run; the explorer goes on
    /// on a fresh OS thread (see `explore`). Any panic during a teardown counts, even one a
    /// destructor would have caught itself (the hook cannot know): it is reported all the same.
    fn tear_down(&mut self) {
        rt::with(|m| m.tearing_down = true);
        rt::set_tracing(false);
        // Bodies of threads that never started are dropped first, newest first, outside the
        // borrow of the run state (their captures' destructors may use racelab).
        let unstarted: Vec<_> = rt::with(|m| {
            m.unstarted = 0;
            m.threads.iter_mut().rev().filter_map(|t| t.body.take()).collect()
        });
        drop(unstarted);
        // Newest first: a thread is always spawned after its spawner, so a scoped thread is
        // unwound (or leaked) before the frame of `thread::scope` whose data it borrows
        // (racelab-std's `thread::scope` relies on it for soundness).
        for i in (0..self.coroutines.len()).rev() {
            if self.coroutines[i].is_none() {
                continue;
            }
            if self.tainted {
                std::mem::forget(self.coroutines[i].take());
                continue;
            }
            let t = ThreadId::from_u32(i as u32);
            rt::with(|m| m.current = t);
            rt::request_unwind(true);
            // A thread that catches the unwind and reaches a scheduling point again is asked
            // again; one that keeps doing so is leaked.
            for _ in 0..TEARDOWN_RESUMES {
                let slot =
                    self.coroutines[i].as_mut().expect("racelab invariant: tearing down a started thread");
                let (result, _) = guarded(slot, t, self.watchdog.beat(), |co| co.resume(()));
                if let Some((message, location)) = TEARDOWN_PANIC.with(|p| p.borrow_mut().take()) {
                    self.tainted = true;
                    TAINTED.with(|t| t.set(true));
                    let thread = rt::with(|m| m.thread_ref(t));
                    let after_cut_short_wait = rt::wait_cut_short();
                    self.teardown_panic.get_or_insert(TeardownPanic {
                        thread,
                        message,
                        location,
                        after_cut_short_wait,
                    });
                    break;
                }
                if !matches!(result, Ok(CoroutineResult::Yield(()))) {
                    break;
                }
            }
            rt::request_unwind(false);
            // Unwound, or abandoned by a trap: done either way, and its stack is reusable.
            if self.coroutines[i].as_ref().is_some_and(|s| s.co.done()) {
                self.recycle(i);
            } else {
                std::mem::forget(self.coroutines[i].take());
            }
        }
    }

    /// True once a destructor panicked during a teardown on this OS thread: no further run may
    /// use this executor (see `tear_down`).
    pub fn tainted(&self) -> bool {
        self.tainted
    }

    /// The destructor that panicked in the last run's teardown, if one did.
    pub fn take_teardown_panic(&mut self) -> Option<TeardownPanic> {
        self.teardown_panic.take()
    }
}

/// Runs `f` on the coroutine of `slot` (thread `t`) with the trap handler and the watchdog
/// armed, catching a panic that comes out of it.
fn guarded<R>(
    slot: &mut Slot,
    t: ThreadId,
    beat: &trap::Beat,
    f: impl FnOnce(&mut GreenThread) -> R,
) -> (std::thread::Result<R>, Trapped) {
    rt::set_in_green_thread(true);
    beat.enter_green(t.as_u32());
    trap::enter(slot.co.trap_handler(), slot.base, slot.limit, beat);
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&mut slot.co)));
    let trapped = trap::leave();
    beat.leave_green();
    rt::set_in_green_thread(false);
    slot.yellow_opened |= trapped == Trapped::Overflow;
    (result, trapped)
}

fn failure_from_panic(t: ThreadId, payload: Box<dyn Any + Send>) -> FailureKind {
    rt::with(|m| m.finish_current());
    panic_failure(t, payload)
}

/// The failure of thread `t`'s panic (a misuse when the payload is one), with where the panic
/// hook saw it happen.
pub(crate) fn panic_failure(t: ThreadId, payload: Box<dyn Any + Send>) -> FailureKind {
    let location = take_panic_location(t);
    let thread = rt::with(|m| m.thread_ref(t));
    match payload.downcast::<Misuse>() {
        Ok(m) => FailureKind::Misuse { thread, exception: m.exception.to_string(), message: m.message },
        Err(payload) => FailureKind::Panic { thread, message: panic_message(&*payload), location },
    }
}

/// Where the last panic of green thread `t` happened, taken. Kept per thread: a thread may be
/// suspended halfway through its unwinding while another panics.
pub(crate) fn take_panic_location(t: ThreadId) -> Option<String> {
    PANIC_LOCATIONS.with(|l| l.borrow_mut().get_mut(t.index()).and_then(Option::take))
}

/// Where the current panic of green thread `t` happened, if the hook saw it.
pub(crate) fn panic_location(t: ThreadId) -> Option<String> {
    PANIC_LOCATIONS.with(|l| l.borrow().get(t.index()).cloned().flatten())
}

/// A panic payload's message: its text, when it is text.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

thread_local! {
    /// Where each green thread's last panic happened, by thread index (see `take_panic_location`).
    static PANIC_LOCATIONS: RefCell<Vec<Option<String>>> = const { RefCell::new(Vec::new()) };
    /// Set for good on an OS thread whose teardown a destructor's panic tainted.
    static TAINTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// A destructor's panic during a teardown: its message and location.
    static TEARDOWN_PANIC: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
    /// The last few panics of green threads on this OS thread (thread, message, location), for
    /// the message printed before a panic that cannot unwind aborts the process.
    static RECENT_PANICS: RefCell<Vec<(ThreadId, String, Option<String>)>> = const { RefCell::new(Vec::new()) };
}

/// std's message for a destructor that panicked while its thread unwound from another panic:
/// the process aborts after the hook (`core::panicking::panic_in_cleanup`).
const PANIC_IN_CLEANUP: &str = "panic in a destructor during cleanup";

/// What racelab prints before a green thread's panic that cannot unwind aborts the process (a
/// destructor that panicked during an unwinding): racelab's hook keeps panics quiet, and std's
/// abort message alone names neither the thread nor either panic.
fn report_abort(t: Option<ThreadId>) {
    let name = t.filter(|_| !rt::run_state_borrowed()).map(rt::thread_name);
    let panics: Vec<String> = RECENT_PANICS.with(|r| {
        r.borrow()
            .iter()
            .filter(|(p, _, _)| Some(*p) == t)
            .map(|(_, m, l)| format!("  {m}{}", l.as_ref().map(|l| format!(" (at {l})")).unwrap_or_default()))
            .collect()
    });
    eprintln!(
        "racelab: a destructor panicked while green thread {} unwound from a panic; Rust aborts the process here, as it would without racelab. Its panics, in order:\n{}\nMake the destructor not panic while its thread unwinds (check `std::thread::panicking()` in it).",
        name.map_or_else(|| "?".to_string(), |n| format!("`{n}`")),
        panics.join("\n")
    );
}

/// A panic inside a green thread is a finding, reported in the run's failure; printing it to
/// stderr as well, once per failing run of an exploration, would bury the report. The hook notes
/// where it happened and stays quiet; panics anywhere else go to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if rt::in_green_thread() {
                rt::note_panic_begins();
                let loc = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                if rt::unwind_requested() {
                    // A destructor panicked while the thread is torn down: if this panic
                    // unwound, the process would abort. Stop the thread (see tear_down); the
                    // second call, for the abort itself, changes nothing.
                    if TEARDOWN_PANIC.with(|p| p.borrow().is_some()) {
                        return;
                    }
                    let message = panic_message(info.payload());
                    TEARDOWN_PANIC.with(|p| *p.borrow_mut() = Some((message, loc)));
                    // Where this cannot be done (no traps on this platform) the panic aborts the
                    // process, as Rust does.
                    trap::step_out_of_panic();
                    return;
                }
                let running = (!rt::run_state_borrowed()).then(rt::current);
                let message = panic_message(info.payload());
                // std's text, after a panic of this thread began (a program's own panic with the
                // same words is not the abort).
                let unwinding =
                    RECENT_PANICS.with(|r| r.borrow().iter().any(|(p, _, _)| Some(*p) == running));
                if message == PANIC_IN_CLEANUP && unwinding {
                    report_abort(running);
                    previous(info);
                    return;
                }
                if let Some(t) = running {
                    RECENT_PANICS.with(|r| {
                        let mut r = r.borrow_mut();
                        if r.len() == 8 {
                            r.remove(0);
                        }
                        r.push((t, message, loc.clone()));
                    });
                }
                // The running thread, when racelab's state can be read (a panic inside it is
                // racelab's own bug, reported without a location).
                if let Some(t) = running {
                    PANIC_LOCATIONS.with(|l| {
                        let mut l = l.borrow_mut();
                        if l.len() <= t.index() {
                            l.resize(t.index() + 1, None);
                        }
                        l[t.index()] = loc;
                    });
                }
            } else {
                previous(info);
            }
        }));
    });
}
