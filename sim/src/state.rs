//! The state of one run: threads, objects, the clock, the decisions taken so far.
//!
//! This is the model the simulator steps. It knows nothing about coroutines (the executor owns
//! those) and nothing about what primitives mean (they keep their own state and tell this one
//! only who blocks on what, who holds what, and who to wake). Every method checks the
//! invariants of the data it touches: a simulator that silently corrupts its own state is
//! worse than none.

use std::any::Any;
use std::rc::Rc;

use corosensei::Yielder;
use smallvec::SmallVec;

use crate::clock::VirtualTime;
use crate::config::Semantics;
use crate::footprint::{self, Access, StepFootprint};
use crate::ids::{ObjectId, ThreadId};
use crate::note::Note;
use crate::report::{BlockedThread, Deadlock, FailureKind, ObjectRef, ThreadRef};
use crate::schedule::{Choice, ChoiceKind};
use crate::strategy::{Divergence, Strategy};

/// Drops what the object (by id, in the current run) keeps for the thread that ends: see
/// [`RunModel::thread_exit_hooks`].
pub type ThreadExitHook = fn(ObjectId, ThreadId);

/// Why a blocked thread was made runnable again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// Another thread woke it (a release, a notify, a put...).
    Woken,
    /// Its deadline passed on the virtual clock.
    TimedOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunState {
    /// Can take a step. `pending` holds why it was unblocked until the thread has seen it.
    Runnable { pending: Option<Wakeup> },
    /// Waits on `on` (none for a plain sleep) until woken or until `deadline`.
    Blocked { on: Option<ObjectId>, deadline: Option<VirtualTime> },
    /// Returned (or panicked).
    Finished,
}

pub(crate) struct ThreadSlot {
    /// The given name; `None` means the default (`main`, `Thread-<n>`), formatted on demand.
    name: Option<String>,
    pub daemon: bool,
    pub state: RunState,
    /// The body, until the executor starts the thread's coroutine.
    pub body: Option<Box<dyn FnOnce()>>,
    /// The thread's yielder, set when its coroutine starts; valid while the coroutine lives.
    pub yielder: *const Yielder<(), ()>,
    /// The object other threads block on to join this one.
    pub object: ObjectId,
    /// Cut off by `terminate()`: finished for everyone else, never resumed again.
    pub killed: bool,
    /// Why the thread's current wait may never end, as its primitive sees it; cleared when it
    /// resumes.
    pub wait_note: Option<Note>,
    /// Set while the thread waits for a lock to be free (and its deadline): it is runnable
    /// exactly while the lock has no holder, so it never takes a step that finds it taken.
    pub contends: Option<(ObjectId, Option<VirtualTime>)>,
    /// The thread's park token (std's `unpark` before `park`), and the object its `park` blocks
    /// on, created at its first park or unpark.
    pub park_token: bool,
    pub parker: Option<ObjectId>,
    /// How many reference counts the thread has made this run: the next one's number
    /// ([`footprint::count_object`]).
    pub counts_made: u32,
    /// Accesses the thread made so far this run, to objects and cells (not to reference
    /// counts): code it ran between two readings with the same value did nothing another thread
    /// could observe.
    pub accesses: u64,
    /// Where in the program's source the thread is, as its front-end last said
    /// (`rt::set_location`); attached to the events it is the actor of.
    pub location: Option<Rc<str>>,
}

/// A panic caught in a thread of the std-shaped API under `ThreadPanics::Join*`: its `join`
/// returns it as `Err`, and a run that ends with one nobody joined may fail with it.
pub(crate) struct CaughtPanic {
    pub thread: ThreadId,
    pub message: String,
    pub location: Option<String>,
    /// Its `join` (or its scope) took it.
    pub claimed: bool,
}

pub(crate) struct ObjectSlot {
    pub kind: &'static str,
    pub name: Option<String>,
    /// Per-kind creation number, for the default name (`Lock-2`).
    pub ordinal: u32,
    /// Threads holding the object (a lock's owner, a semaphore's permit holders...): inline up
    /// to two, as a lock has one holder and an allocation per lock per run showed in profiles.
    pub holders: SmallVec<[ThreadId; 2]>,
    /// What a primitive wants a deadlock report to say about it ("last notify at step 41
    /// woke nobody").
    pub note: Option<Note>,
    /// For a thread's join object: the thread, whose name it takes.
    pub thread: Option<ThreadId>,
    /// The primitive's own state, a `RefCell<S>` of its choosing (see `rt::register`).
    pub state: Option<Rc<dyn Any>>,
    /// Made by a library on the program's behalf (an executor's work queue, a future's
    /// condition), as its front-end said (`rt::library_objects`): its events are left out of a
    /// run's narration unless they decide the bug.
    pub library: bool,
}

/// The strategy of a spare model between two runs: it never decides anything.
struct Detached;

impl Strategy for Detached {
    fn begin_run(&mut self, _run: u64) -> bool {
        unreachable!("racelab invariant: a spare model began a run")
    }
    fn pick_thread(
        &mut self,
        _runnable: &[ThreadId],
        _current: Option<ThreadId>,
    ) -> Result<ThreadId, Divergence> {
        unreachable!("racelab invariant: a spare model picked a thread")
    }
    fn pick(&mut self, _kind: ChoiceKind, _options: usize) -> Result<usize, Divergence> {
        unreachable!("racelab invariant: a spare model made a choice")
    }
    fn end_run(&mut self) -> Result<(), Divergence> {
        unreachable!("racelab invariant: a spare model ended a run")
    }
}

/// An event recorded while tracing, before names are resolved.
pub(crate) struct RawEvent {
    pub step: u64,
    pub time: VirtualTime,
    pub thread: ThreadId,
    pub operation: &'static str,
    pub object: Option<ObjectId>,
    pub result: String,
    pub kind: Option<crate::trace::EventKind>,
    pub at: Option<Rc<str>>,
}

/// Why a run ended.
pub(crate) enum RunEnd {
    /// Main returned and every non-daemon thread finished.
    Completed,
    /// The strategy found that the run could only repeat runs explored already, and stopped it.
    Redundant,
    /// Something went wrong.
    Failed(FailureKind),
}

/// What the executor should do next. Kept small: it is returned at every step, and the
/// reason a run ended (which can be large) is taken separately with `take_end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Run(ThreadId),
    End,
}

pub(crate) struct RunModel {
    pub run: u64,
    /// Distinguishes this run from every other in the process, so an object created in one run
    /// and used in another is caught.
    pub nonce: u64,
    pub threads: Vec<ThreadSlot>,
    pub objects: Vec<ObjectSlot>,
    pub current: ThreadId,
    /// The thread that took the previous step.
    pub last_ran: Option<ThreadId>,
    /// The thread that reached the current scheduling point through a yield (a thread started by
    /// the executor reaches its first point without taking a step: its yield is no request to
    /// switch away from the thread that took the previous step).
    pub yielding: Option<ThreadId>,
    pub now: VirtualTime,
    pub step: u64,
    /// Thread choices that switched away from a thread that could have gone on, or kept a
    /// yielding thread going while another could run (`strategy::preempts`).
    pub preemptions: u32,
    pub max_steps: u64,
    pub strategy: Box<dyn Strategy>,
    pub recorded: Vec<Choice>,
    pub trace: Option<Vec<RawEvent>>,
    /// Set by a green thread that hit a failure it cannot return (a divergence in a choice);
    /// the executor ends the run when control comes back.
    pub failure: Option<FailureKind>,
    /// True while the executor unwinds the coroutines of a finished run: green-thread code
    /// then runs only destructors, which must not switch threads or make decisions.
    pub tearing_down: bool,
    /// Primitive semantics for this exploration.
    pub semantics: Semantics,
    /// A scheduling point before every lock release (`Config::release_points`).
    pub release_points: bool,
    /// True once a release went without the point it would have had with release points: only
    /// then does the run's schedule need to say it had none (a run without such a release is
    /// the same run in either mode).
    pub release_point_skipped: bool,
    /// In a run without release points: the first operation that looked at a lock without
    /// waiting for it (`try_acquire on Lock-1`), which makes an `auto` exploration restart.
    pub lock_observed: Option<String>,
    /// Ticked at every step, for the watchdog (set by the executor).
    pub beat: Option<std::sync::Arc<crate::trap::Beat>>,
    /// Spurious wake-ups the run may still inject.
    pub spurious_left: u32,
    /// Above 0 while a front-end makes objects for a library (`rt::library_objects`).
    pub library_depth: u32,
    /// Panics caught in threads of the std-shaped API, in the order they happened.
    pub caught_panics: Vec<CaughtPanic>,
    /// What drops a thread's own values when it ends (`thread::Local`'s, as std runs a thread's
    /// thread-local destructors): an object and its dropper, called with the ending thread.
    pub thread_exit_hooks: Vec<(ObjectId, ThreadExitHook)>,
    /// Why the run ended, between `next` returning `Next::End` and `take_end`.
    ended: Option<RunEnd>,
    /// A thread picked at a scheduling point on another thread, for the executor to resume.
    preselected: Option<ThreadId>,
    /// Threads spawned whose coroutine has not started yet.
    pub unstarted: usize,
    /// Threads that keep the program alive: main and non-daemons, not finished.
    live_non_daemons: usize,
    /// The runnable threads, sorted: what strategies choose from. Rebuilt from `runnable_bits`
    /// before each decision when `runnable_stale`.
    runnable: Vec<ThreadId>,
    /// A bit per thread, set while it is runnable: the set as `set_state` keeps it.
    runnable_bits: Vec<u64>,
    runnable_stale: bool,
    /// True when the strategy observes steps (partial-order reduction): the accesses and
    /// wake-ups of the step in progress are then logged below.
    observing: bool,
    /// A step was picked and has not been reported to the strategy yet.
    step_open: bool,
    step_accesses: Vec<Access>,
    step_woke: Vec<ThreadId>,
    step_disabled: Vec<ThreadId>,
    step_killed: Vec<ThreadId>,
    /// Happens-before for data-race detection, active once the run creates a cell.
    pub races: crate::datarace::Detector,
    /// The reference count of each shared allocation alive in the run, by the allocation's
    /// address: handles made apart on one allocation (std's `Arc` wrapped twice, a raw pointer
    /// taken back) share its count.
    counts_by_address: std::collections::BTreeMap<usize, ObjectId>,
}

impl RunModel {
    pub fn new(
        strategy: Box<dyn Strategy>,
        max_steps: u64,
        semantics: Semantics,
        release_points: bool,
    ) -> Self {
        RunModel {
            semantics,
            release_points,
            release_point_skipped: false,
            lock_observed: None,
            spurious_left: semantics.spurious_wakeups,
            library_depth: 0,
            caught_panics: Vec::new(),
            thread_exit_hooks: Vec::new(),
            run: 0,
            nonce: 0,
            threads: Vec::new(),
            objects: Vec::new(),
            current: ThreadId::MAIN,
            last_ran: None,
            yielding: None,
            now: VirtualTime::ZERO,
            step: 0,
            preemptions: 0,
            max_steps,
            strategy,
            recorded: Vec::new(),
            trace: None,
            failure: None,
            tearing_down: false,
            beat: None,
            ended: None,
            preselected: None,
            unstarted: 0,
            live_non_daemons: 0,
            runnable: Vec::new(),
            runnable_bits: Vec::new(),
            runnable_stale: false,
            observing: false,
            step_open: false,
            step_accesses: Vec::new(),
            step_woke: Vec::new(),
            step_disabled: Vec::new(),
            step_killed: Vec::new(),
            races: crate::datarace::Detector::default(),
            counts_by_address: std::collections::BTreeMap::new(),
        }
    }

    /// Makes a model a previous run left ([`RunModel::into_spare`]) ready for an exploration's
    /// next run, keeping its vectors' capacity: a fresh model grows them step by step every run.
    pub fn renew(
        mut spare: Box<RunModel>,
        strategy: Box<dyn Strategy>,
        max_steps: u64,
        semantics: Semantics,
        release_points: bool,
    ) -> Box<Self> {
        assert!(
            spare.threads.is_empty() && spare.objects.is_empty() && spare.trace.is_none(),
            "racelab invariant: a spare model still holds a run"
        );
        spare.strategy = strategy;
        spare.max_steps = max_steps;
        spare.semantics = semantics;
        spare.release_points = release_points;
        spare
    }

    /// Ends the model's use for this run: gives back the strategy and drops what the run made
    /// (its threads' bodies, its objects' states) now, as dropping the model would, keeping the
    /// emptied vectors for [`RunModel::renew`]. The rest is cleared by the next run's `reset`.
    pub fn into_spare(mut self: Box<Self>) -> (Box<dyn Strategy>, Box<RunModel>) {
        let strategy = std::mem::replace(&mut self.strategy, Box::new(Detached));
        self.threads.clear();
        self.objects.clear();
        self.trace = None;
        (strategy, self)
    }

    /// Clears the previous run, keeping allocations.
    pub fn reset(&mut self, run: u64, nonce: u64, tracing: bool) {
        self.run = run;
        self.nonce = nonce;
        self.threads.clear();
        self.objects.clear();
        self.runnable.clear();
        self.runnable_bits.clear();
        self.runnable_stale = false;
        self.current = ThreadId::MAIN;
        self.last_ran = None;
        self.yielding = None;
        self.now = VirtualTime::ZERO;
        self.step = 0;
        self.preemptions = 0;
        self.recorded.clear();
        self.trace = tracing.then(Vec::new);
        self.failure = None;
        self.tearing_down = false;
        self.ended = None;
        self.preselected = None;
        self.spurious_left = self.semantics.spurious_wakeups;
        self.library_depth = 0;
        self.lock_observed = None;
        self.release_point_skipped = false;
        self.caught_panics.clear();
        self.thread_exit_hooks.clear();
        self.unstarted = 0;
        self.live_non_daemons = 0;
        self.observing = self.strategy.observes_steps();
        self.step_open = false;
        self.step_accesses.clear();
        self.step_woke.clear();
        self.step_disabled.clear();
        self.step_killed.clear();
        self.races.reset();
        self.counts_by_address.clear();
    }

    // ----- footprints (for partial-order reduction) -----

    /// Logs that the step in progress read (or wrote) `object`.
    #[inline]
    pub fn access(&mut self, object: ObjectId, write: bool) {
        // (The main thread's own object is made before the thread.)
        if let Some(t) = self.threads.get_mut(self.current.index()) {
            t.accesses += 1;
        }
        if self.observing {
            self.step_accesses.push(Access { object, write });
        }
        if self.races.active() {
            self.races.sync(self.current, object, write);
        }
    }

    #[inline]
    fn woke(&mut self, t: ThreadId) {
        if self.observing {
            self.step_woke.push(t);
        }
        if self.races.active() {
            self.races.wake(self.current, t);
        }
    }

    // ----- reference counts -----

    /// The reference count of the allocation at `address`: the one it has, or a new one made
    /// by the current thread.
    pub fn count_of(&mut self, address: usize) -> ObjectId {
        if let Some(&object) = self.counts_by_address.get(&address) {
            return object;
        }
        let slot = &mut self.threads[self.current.index()];
        let object = footprint::count_object(self.current, slot.counts_made);
        slot.counts_made = slot.counts_made.wrapping_add(1);
        self.counts_by_address.insert(address, object);
        object
    }

    /// The allocation at `address` lost its last owner: a later one there is another.
    pub fn count_freed(&mut self, address: usize) {
        self.counts_by_address.remove(&address);
    }

    /// The current step changed (or, `write` false, read) reference count `count`; `sync` says
    /// what it means for happens-before (see [`crate::datarace::CountSync`]).
    pub fn count_access(&mut self, count: ObjectId, write: bool, sync: crate::datarace::CountSync) {
        debug_assert!(footprint::is_count(count), "racelab invariant: a count access to an object");
        if self.observing {
            self.step_accesses.push(Access { object: count, write });
        }
        if self.races.active() {
            self.races.count_sync(self.current, count, sync);
        }
    }

    /// The current step touched the wake-only twin of count `count` (see
    /// [`footprint::wake_twin`]): for sleep sets only.
    pub fn count_wake(&mut self, count: ObjectId, write: bool) {
        if self.observing {
            self.step_accesses.push(Access { object: footprint::wake_twin(count), write });
        }
    }

    // ----- cells (data-race detection) -----

    /// Creates a cell: an object whose accesses are checked for data races, and starts the
    /// detector if this is the run's first.
    pub fn new_cell(&mut self, location: &'static std::panic::Location<'static>) -> ObjectId {
        let id = self.add_object("UnsafeCell", None);
        self.races.activate(self.threads.len());
        self.races.new_cell(self.current, id, self.step, location);
        id
    }

    /// The current thread reads (or writes) `cell`: a DPOR-visible access (a data race is a
    /// conflict DPOR must reverse), checked against happens-before. Returns the current
    /// thread's epoch, or the data race as the run's failure.
    pub fn cell_access(
        &mut self,
        cell: ObjectId,
        write: bool,
        location: &'static std::panic::Location<'static>,
    ) -> Result<u32, FailureKind> {
        self.threads[self.current.index()].accesses += 1;
        if self.observing {
            self.step_accesses.push(Access { object: cell, write });
        }
        match self.races.cell_access(self.current, cell, write, self.step, location) {
            Ok(_) => Ok(self.races.epoch(self.current)),
            Err((first, second)) => Err(FailureKind::DataRace(Box::new(crate::report::DataRace {
                object: self.object_ref(cell),
                first: self.race_access(first),
                second: self.race_access(second),
            }))),
        }
    }

    /// The current thread's epoch in the race detector: it changes when the thread
    /// synchronizes.
    pub fn race_epoch(&self) -> u32 {
        self.races.epoch(self.current)
    }

    fn race_access(&self, s: crate::datarace::Site) -> crate::report::RaceAccess {
        crate::report::RaceAccess {
            thread: self.thread_ref(s.thread),
            step: s.step,
            write: s.write,
            location: format!("{}:{}:{}", s.location.file(), s.location.line(), s.location.column()),
        }
    }

    /// Logs that the step in progress made `t`, runnable, wait again (it took the lock `t`
    /// contended for): `t` could have gone first.
    #[inline]
    fn disabled(&mut self, t: ThreadId) {
        if self.observing {
            self.step_disabled.push(t);
        }
    }

    /// Hands the finished step's footprint to the strategy. Every step of a thread also reads
    /// the thread's own end, which `terminate()` writes.
    fn close_step(&mut self) {
        self.step_open = false;
        let Some(thread) = self.last_ran else { return };
        let own = self.threads[thread.index()].object;
        self.step_accesses.push(Access::read(own));
        self.strategy.step_finished(&StepFootprint {
            thread,
            accesses: &self.step_accesses,
            woke: &self.step_woke,
            disabled: &self.step_disabled,
            killed: &self.step_killed,
        });
        self.step_accesses.clear();
        self.step_woke.clear();
        self.step_disabled.clear();
        self.step_killed.clear();
    }

    /// Tells the strategy which threads the end of the run cut off, with what their next step
    /// would read: their own end, and for daemons the end of every non-daemon thread (the end
    /// of the program).
    ///
    /// A run the strategy stopped as redundant (`terminated_only`) reports only the terminated
    /// threads: its runnable ones sleep, so their next steps were explored elsewhere, but a
    /// terminated thread sleeps nowhere, and the race between its would-be step and the
    /// `terminate()` must still be seen, or no run lets it go first (the fuzzer's program
    /// 1,007,037: a process terminated in a sleep-set-blocked run).
    fn report_cut_off(&mut self, terminated_only: bool) {
        let non_daemon_ends: Vec<Access> =
            self.threads.iter().filter(|t| !t.daemon).map(|t| Access::read(t.object)).collect();
        let mut pending: Vec<(ThreadId, Vec<Access>)> = Vec::new();
        for (i, slot) in self.threads.iter().enumerate() {
            let runnable = matches!(slot.state, RunState::Runnable { .. }) && !terminated_only;
            if slot.killed || runnable {
                let mut accesses = vec![Access::read(slot.object)];
                if runnable {
                    accesses.extend_from_slice(&non_daemon_ends);
                }
                pending.push((ThreadId(i as u32), accesses));
            }
        }
        if pending.is_empty() {
            return;
        }
        let steps: Vec<StepFootprint<'_>> = pending
            .iter()
            .map(|(t, a)| StepFootprint { thread: *t, accesses: a, woke: &[], disabled: &[], killed: &[] })
            .collect();
        self.strategy.cut_off(&steps);
    }

    // ----- objects -----

    pub fn add_object(&mut self, kind: &'static str, name: Option<String>) -> ObjectId {
        self.add_object_with_state(kind, name, None)
    }

    pub fn add_object_with_state(
        &mut self,
        kind: &'static str,
        name: Option<String>,
        state: Option<Rc<dyn Any>>,
    ) -> ObjectId {
        self.access(footprint::ALLOCATOR, true);
        let ordinal = 1 + self.objects.iter().filter(|o| o.kind == kind).count() as u32;
        let id = ObjectId(u32::try_from(self.objects.len()).expect("fewer than 2^32 objects per run"));
        self.objects.push(ObjectSlot {
            kind,
            name,
            ordinal,
            holders: SmallVec::new(),
            note: None,
            thread: None,
            state,
            library: self.library_depth > 0,
        });
        id
    }

    pub fn object_name(&self, id: ObjectId) -> String {
        let o = &self.objects[id.index()];
        if let Some(t) = o.thread {
            return self.thread_name(t);
        }
        match &o.name {
            Some(n) => n.clone(),
            None => format!("{}-{}", o.kind, o.ordinal),
        }
    }

    pub fn object_ref(&self, id: ObjectId) -> ObjectRef {
        ObjectRef { id, kind: self.objects[id.index()].kind.to_string(), name: self.object_name(id) }
    }

    /// `t` now holds `obj`. Threads that contend for it and were made runnable when it became
    /// free, but have not run, wait again: they never see it taken.
    pub fn add_holder(&mut self, obj: ObjectId, t: ThreadId) {
        self.objects[obj.index()].holders.push(t);
        for i in 0..self.threads.len() {
            let slot = &self.threads[i];
            let Some((on, deadline)) = slot.contends else { continue };
            let waiting_to_run =
                matches!(slot.state, RunState::Runnable { pending: None | Some(Wakeup::Woken) });
            if on == obj && i != t.index() && waiting_to_run {
                let q = ThreadId(i as u32);
                self.set_state(q, RunState::Blocked { on: Some(obj), deadline });
                self.disabled(q);
                if self.trace.is_some() && !self.tearing_down {
                    // The contender never ran to find the lock taken; the trace says it waits.
                    let result = format!("blocked (held by {})", self.thread_name(t));
                    let kind =
                        Some(crate::trace::EventKind::AcquireBlocked { holder: Some(self.thread_name(t)) });
                    let e = RawEvent {
                        step: self.step,
                        time: self.now,
                        thread: q,
                        operation: "acquire",
                        object: Some(obj),
                        result,
                        kind,
                        at: self.threads[q.index()].location.clone(),
                    };
                    if let Some(tr) = self.trace.as_mut() {
                        tr.push(e);
                    }
                }
            }
        }
    }

    /// `t` no longer holds `obj`. When nobody does, every thread contending for it becomes
    /// runnable: which one takes it is the scheduler's choice.
    pub fn remove_holder(&mut self, obj: ObjectId, t: ThreadId) {
        let holders = &mut self.objects[obj.index()].holders;
        if let Some(i) = holders.iter().position(|&h| h == t) {
            holders.remove(i);
        }
        if holders.is_empty() {
            self.release_contenders(obj);
        }
    }

    fn release_contenders(&mut self, obj: ObjectId) {
        for i in 0..self.threads.len() {
            let slot = &self.threads[i];
            if slot.contends.is_some_and(|(on, _)| on == obj)
                && matches!(slot.state, RunState::Blocked { on: Some(o), .. } if o == obj)
            {
                let q = ThreadId(i as u32);
                self.set_state(q, RunState::Runnable { pending: Some(Wakeup::Woken) });
                self.woke(q);
            }
        }
    }

    /// The current thread is at the scheduling point of an acquire of `obj`, which is free: it
    /// stays runnable while `obj` is, and waits (without running) while another thread has it.
    pub fn contend(&mut self, obj: ObjectId, deadline: Option<VirtualTime>) {
        self.threads[self.current.index()].contends = Some((obj, deadline));
    }

    /// The current thread resumed past the scheduling point of its acquire: it contends no
    /// more. Returns how it waited, if it had to (woken: the lock is free now; timed out).
    pub fn end_contention(&mut self) -> Option<Wakeup> {
        let slot = &mut self.threads[self.current.index()];
        slot.contends = None;
        match slot.state {
            RunState::Runnable { pending: Some(w) } => {
                slot.state = RunState::Runnable { pending: None };
                Some(w)
            }
            _ => None,
        }
    }

    /// Blocks the current thread until `obj` (a lock) has no holder, or `deadline`.
    pub fn block_until_free(&mut self, obj: ObjectId, deadline: Option<VirtualTime>) {
        self.block_current(Some(obj), deadline);
        self.threads[self.current.index()].contends = Some((obj, deadline));
    }

    /// Wakes `t`, blocked on a condition, into contention for `lock`: runnable when the lock
    /// is free, else blocked on it until it is (the notifier usually holds it). Returns false
    /// as `wake` does.
    pub fn wake_into(&mut self, t: ThreadId, lock: ObjectId) -> bool {
        if !self.wake(t) {
            return false;
        }
        self.threads[t.index()].contends = Some((lock, None));
        if !self.objects[lock.index()].holders.is_empty() {
            self.set_state(t, RunState::Blocked { on: Some(lock), deadline: None });
        }
        true
    }

    // ----- threads -----

    pub fn add_thread(&mut self, name: Option<String>, daemon: bool, body: Box<dyn FnOnce()>) -> ThreadId {
        let id = ThreadId(u32::try_from(self.threads.len()).expect("fewer than 2^32 threads per run"));
        let object = self.add_object("Thread", None);
        self.objects[object.index()].thread = Some(id);
        // The thread "holds" its own join object until it finishes: a join cycle is a deadlock
        // cycle like any other.
        self.add_holder(object, id);
        self.unstarted += 1;
        self.live_non_daemons += usize::from(!daemon);
        if self.races.active() {
            self.races.add_thread(id);
        }
        self.threads.push(ThreadSlot {
            name,
            daemon,
            state: RunState::Finished,
            body: Some(body),
            yielder: std::ptr::null(),
            object,
            killed: false,
            wait_note: None,
            contends: None,
            park_token: false,
            counts_made: 0,
            accesses: 0,
            parker: None,
            location: None,
        });
        self.set_state(id, RunState::Runnable { pending: None });
        self.woke(id);
        id
    }

    /// Every change of a thread's run state goes through here, which keeps the runnable set in
    /// step with the slots: its bit flips here, and the sorted list strategies see is rebuilt
    /// once before the next decision ([`RunModel::refresh_runnable`]). A lock's acquire makes
    /// every other contender wait and its release makes them runnable again, so a step flips
    /// several threads; keeping the sorted list in step at each flip was a tenth of a run.
    fn set_state(&mut self, t: ThreadId, new: RunState) {
        let slot = &mut self.threads[t.index()];
        let was = matches!(slot.state, RunState::Runnable { .. });
        let is = matches!(new, RunState::Runnable { .. });
        slot.state = new;
        if was != is {
            let (word, bit) = (t.index() / 64, 1u64 << (t.index() % 64));
            if word >= self.runnable_bits.len() {
                self.runnable_bits.resize(word + 1, 0);
            }
            let bits = &mut self.runnable_bits[word];
            assert_eq!(
                *bits & bit != 0,
                was,
                "racelab invariant: the runnable set disagrees with thread {t}'s state"
            );
            *bits ^= bit;
            self.runnable_stale = true;
        }
    }

    /// Whether `t` can take a step (its bit in the runnable set).
    fn is_runnable(&self, t: ThreadId) -> bool {
        self.runnable_bits.get(t.index() / 64).is_some_and(|w| w & (1u64 << (t.index() % 64)) != 0)
    }

    /// Rebuilds the sorted list of runnable threads from their bits, when a state changed since.
    fn refresh_runnable(&mut self) {
        if !std::mem::take(&mut self.runnable_stale) {
            return;
        }
        self.runnable.clear();
        for (w, &word) in self.runnable_bits.iter().enumerate() {
            let mut rest = word;
            while rest != 0 {
                let b = rest.trailing_zeros() as usize;
                self.runnable.push(ThreadId((w * 64 + b) as u32));
                rest &= rest - 1;
            }
        }
    }

    pub fn thread_ref(&self, t: ThreadId) -> ThreadRef {
        ThreadRef { id: t, name: self.thread_name(t), terminated: self.threads[t.index()].killed }
    }

    /// A thread's given name; main is `main` (std's `Thread::name`).
    pub fn thread_given_name(&self, t: ThreadId) -> Option<String> {
        match &self.threads[t.index()].name {
            None if t == ThreadId::MAIN => Some("main".to_string()),
            n => n.clone(),
        }
    }

    /// A thread's name: the one it was given, else `main` or Python's `Thread-<n>`.
    pub fn thread_name(&self, t: ThreadId) -> String {
        match &self.threads[t.index()].name {
            Some(n) => n.clone(),
            None if t == ThreadId::MAIN => "main".to_string(),
            None => format!("Thread-{}", t.0),
        }
    }

    /// Marks the current thread blocked on `on` until woken or `deadline`.
    pub fn block_current(&mut self, on: Option<ObjectId>, deadline: Option<VirtualTime>) {
        let slot = &mut self.threads[self.current.index()];
        assert!(
            matches!(slot.state, RunState::Runnable { pending: None }),
            "racelab invariant: thread {} blocks while {:?}",
            self.current,
            slot.state
        );
        match deadline {
            // A deadline already reached (a zero timeout: Python's `wait(0)`, a poll): the
            // timeout has fired, as the clock's jump fires it at a later deadline. The thread
            // is runnable at once, and a wake-up before it runs races the timeout (`wake`).
            Some(d) if d <= self.now => {
                self.set_state(self.current, RunState::Runnable { pending: Some(Wakeup::TimedOut) })
            }
            _ => self.set_state(self.current, RunState::Blocked { on, deadline }),
        }
    }

    /// The wake-up reason delivered to the current thread as it resumes after blocking.
    pub fn take_wakeup(&mut self) -> Wakeup {
        let slot = &mut self.threads[self.current.index()];
        match slot.state {
            RunState::Runnable { pending: Some(w) } => {
                slot.state = RunState::Runnable { pending: None };
                slot.wait_note = None;
                slot.contends = None;
                debug_assert!(self.is_runnable(self.current));
                w
            }
            other => {
                panic!("racelab invariant: thread {} resumed from a block while {other:?}", self.current)
            }
        }
    }

    /// True when `t` timed out at this instant and has not run yet: a wake-up now races its
    /// timeout.
    pub fn timed_out_pending(&self, t: ThreadId) -> bool {
        self.threads[t.index()].state == RunState::Runnable { pending: Some(Wakeup::TimedOut) }
    }

    /// The wake-up won the race against `t`'s timeout at the same instant.
    pub fn wake_instead_of_timeout(&mut self, t: ThreadId) {
        assert!(self.timed_out_pending(t), "racelab invariant: no timeout to override on {t}");
        self.threads[t.index()].state = RunState::Runnable { pending: Some(Wakeup::Woken) };
        self.woke(t);
    }

    /// Makes a blocked thread runnable. Returns false, changing nothing, when the thread has
    /// already timed out and not yet run: its timeout stands (Python's notify racing a timeout).
    pub fn wake(&mut self, t: ThreadId) -> bool {
        let slot = &mut self.threads[t.index()];
        match slot.state {
            RunState::Blocked { .. } => {
                self.set_state(t, RunState::Runnable { pending: Some(Wakeup::Woken) });
                self.woke(t);
                true
            }
            RunState::Runnable { pending: Some(Wakeup::TimedOut) } => false,
            // A terminated process-style worker: a wake-up meant for it is spent on it.
            RunState::Finished if slot.killed => false,
            // Destructors of unwound threads may release what others wait on; nothing runs
            // after teardown, so a stale wake-up there changes nothing.
            _ if self.tearing_down => false,
            other => {
                panic!("racelab invariant: wake of thread {t} which is {other:?}, not blocked")
            }
        }
    }

    pub fn finish_current(&mut self) {
        self.finish(self.current);
    }

    /// Cuts thread `t` off where it stands: it never runs again, what it holds stays held, and
    /// threads joining it are released. Returns false if it had already finished.
    pub fn kill(&mut self, t: ThreadId) -> bool {
        // Whether it had finished is what the caller learns: a read of its end either way (a
        // write when it is cut off, in `finish`).
        self.access(self.threads[t.index()].object, false);
        if self.threads[t.index()].state == RunState::Finished {
            return false;
        }
        self.threads[t.index()].killed = true;
        if self.observing {
            self.step_killed.push(t);
        }
        if self.races.active() {
            self.races.absorb(self.current, t);
        }
        if self.threads[t.index()].body.take().is_some() {
            // Terminated before it ever ran.
            self.unstarted -= 1;
        }
        // What it holds stays held: keep it in the holders lists (finish only drops the join
        // object, which joiners wait on).
        self.finish(t);
        true
    }

    fn finish(&mut self, cur: ThreadId) {
        let object = self.threads[cur.index()].object;
        assert!(
            self.threads[cur.index()].state != RunState::Finished,
            "racelab invariant: a thread finished twice"
        );
        self.set_state(cur, RunState::Finished);
        self.access(object, true);
        self.live_non_daemons -= usize::from(!self.threads[cur.index()].daemon);
        self.remove_holder(object, cur);
        for i in 0..self.threads.len() {
            if let RunState::Blocked { on: Some(o), .. } = self.threads[i].state {
                if o == object {
                    self.set_state(ThreadId(i as u32), RunState::Runnable { pending: Some(Wakeup::Woken) });
                    self.woke(ThreadId(i as u32));
                }
            }
        }
    }

    /// Under `ThreadPanics::Join`, the first caught panic nobody joined, as the run's failure.
    #[cold]
    fn unjoined_panic(&self) -> Option<FailureKind> {
        if self.semantics.thread_panics != crate::config::ThreadPanics::Join {
            return None;
        }
        let p = self.caught_panics.iter().find(|p| !p.claimed)?;
        Some(FailureKind::Panic {
            thread: self.thread_ref(p.thread),
            message: format!(
                "{} (the thread's panic was caught for its join, but nobody joined it by the end of the run: \
                 ThreadPanics::Join fails the run then; ThreadPanics::JoinOrIgnore ignores it)",
                p.message
            ),
            location: p.location.clone(),
        })
    }

    /// The object thread `t` parks on, created at its first park or unpark.
    pub fn parker(&mut self, t: ThreadId) -> ObjectId {
        if let Some(o) = self.threads[t.index()].parker {
            return o;
        }
        let name = Some(format!("park {}", self.thread_name(t)));
        let o = self.add_object("Parker", name);
        self.threads[t.index()].parker = Some(o);
        o
    }

    /// `is_finished` as the program sees it (a join, `is_alive`): a read of `t`'s end.
    pub fn observe_finished(&mut self, t: ThreadId) -> bool {
        self.access(self.threads[t.index()].object, false);
        self.is_finished(t)
    }

    pub fn is_finished(&self, t: ThreadId) -> bool {
        self.threads[t.index()].state == RunState::Finished
    }

    // ----- decisions -----

    /// Asks the strategy to pick one of `options` for a non-thread decision, and records it.
    pub fn choose(&mut self, kind: ChoiceKind, options: usize) -> Result<usize, Divergence> {
        assert!(options > 0, "racelab invariant: a choice among no options");
        if options == 1 || self.tearing_down {
            return Ok(0);
        }
        let i = self.strategy.pick(kind, options)?;
        assert!(i < options, "racelab invariant: strategy picked option {i} of {options}");
        let value = u32::try_from(i).expect("racelab invariant: rt::choose caps options to u32 values");
        self.recorded.push(Choice::new(kind, value));
        Ok(i)
    }

    /// Decides what happens next: which thread runs, or why the run is over.
    pub fn next(&mut self) -> Next {
        if let Some(b) = &self.beat {
            b.tick();
        }
        if self.step_open {
            self.close_step();
        } else if self.observing {
            // Before the first step only main has run: nothing it did can race.
            self.step_accesses.clear();
            self.step_woke.clear();
            self.step_disabled.clear();
            self.step_killed.clear();
        }
        if let Some(f) = self.failure.take() {
            return self.end(RunEnd::Failed(f));
        }
        if self.program_done() {
            let cut_off = self.unfinished_daemons();
            if self.semantics.fail_on_daemon_cut_off && !cut_off.is_empty() {
                return self.end(RunEnd::Failed(FailureKind::DaemonCutOff { threads: cut_off }));
            }
            if let Some(unjoined) = self.unjoined_panic() {
                return self.end(RunEnd::Failed(unjoined));
            }
            return self.end(RunEnd::Completed);
        }
        self.refresh_runnable();
        debug_assert!(self.runnable_consistent());
        // After a clock jump no thread could have gone on: the one that ran last had blocked,
        // so whichever thread goes first is not a preemption, whatever order the independent
        // steps before the jump took (preemption-bounded reduction relies on that).
        let clock_jumped = self.runnable.is_empty();
        if clock_jumped {
            if !self.advance_clock() {
                return self.end(RunEnd::Failed(FailureKind::Deadlock(self.deadlock())));
            }
            self.refresh_runnable();
            if self.races.active() {
                self.races.clock_jump();
            }
            if self.observing {
                self.strategy.clock_advanced();
            }
        }
        if self.step >= self.max_steps {
            let runnable = self.runnable.iter().map(|&t| self.thread_ref(t)).collect();
            return self.end(RunEnd::Failed(FailureKind::StepLimit { max_steps: self.max_steps, runnable }));
        }
        let current = self.last_ran.filter(|&t| !clock_jumped && self.is_runnable(t));
        let yielded = self.yielding.take().is_some_and(|y| current == Some(y));
        if yielded {
            if let Some(t) = current {
                self.strategy.yielded(t);
            }
        }
        let picked = match self.strategy.pick_thread(&self.runnable, current) {
            Ok(t) => t,
            Err(d) => return self.end(RunEnd::Failed(self.divergence(d))),
        };
        assert!(self.is_runnable(picked), "racelab invariant: strategy picked {picked}, which cannot run");
        if self.observing {
            if self.strategy.redundant() {
                return self.end(RunEnd::Redundant);
            }
            self.step_open = true;
        }
        if self.runnable.len() > 1 {
            self.recorded.push(Choice::new(ChoiceKind::Thread, picked.0));
        }
        if crate::strategy::preempts(current, yielded, picked, self.runnable.len()) {
            self.preemptions += 1;
        }
        self.step += 1;
        self.current = picked;
        self.last_ran = Some(picked);
        Next::Run(picked)
    }

    /// Makes the next decision at a scheduling point, on the green thread that reached it.
    /// Returns true when that same thread is picked to go on (it then simply continues). When
    /// another thread is picked, or the run ends, the outcome waits in `preselected`/`ended`
    /// for the executor. Threads spawned since the last step must be started first, by the
    /// executor, so then nothing is decided here.
    pub fn decide_in_place(&mut self) -> bool {
        if self.unstarted > 0 || self.failure.is_some() {
            return false;
        }
        let me = self.current;
        match self.next() {
            Next::Run(t) if t == me => true,
            Next::Run(t) => {
                self.preselected = Some(t);
                false
            }
            Next::End => false,
        }
    }

    /// What the executor does next: a decision already made on a green thread, or a new one.
    pub fn next_for_executor(&mut self) -> Next {
        if let Some(t) = self.preselected.take() {
            return Next::Run(t);
        }
        if self.ended.is_some() {
            return Next::End;
        }
        self.next()
    }

    #[cold]
    fn end(&mut self, end: RunEnd) -> Next {
        match end {
            RunEnd::Completed if self.observing => self.report_cut_off(false),
            RunEnd::Redundant => self.report_cut_off(true),
            _ => {}
        }
        self.ended = Some(end);
        Next::End
    }

    /// Why the run ended, once `next` has returned `Next::End`.
    pub fn take_end(&mut self) -> RunEnd {
        self.ended.take().expect("racelab invariant: take_end before the run ended")
    }

    /// Python's end of program: main has returned and no non-daemon thread is alive.
    fn program_done(&self) -> bool {
        debug_assert_eq!(
            self.live_non_daemons,
            self.threads.iter().filter(|t| !t.daemon && t.state != RunState::Finished).count()
        );
        self.live_non_daemons == 0
    }

    fn runnable_consistent(&self) -> bool {
        let from_slots: Vec<ThreadId> = (0..self.threads.len())
            .map(|i| ThreadId(i as u32))
            .filter(|t| matches!(self.threads[t.index()].state, RunState::Runnable { .. }))
            .collect();
        !self.runnable_stale && from_slots == self.runnable
    }

    /// Nothing can run: jumps the clock to the earliest deadline and times out every thread
    /// waiting for it. Returns false when no deadline is pending (a deadlock). A deadline at
    /// [`VirtualTime::NEVER`] (a timeout of `Duration::MAX`) is no deadline: the clock cannot
    /// pass it, and a program whose threads all wait that long hangs, under std as here.
    fn advance_clock(&mut self) -> bool {
        let earliest = self
            .threads
            .iter()
            .filter_map(|t| match t.state {
                RunState::Blocked { deadline, .. } => deadline,
                _ => None,
            })
            .filter(|&d| d != VirtualTime::NEVER)
            .min();
        let Some(deadline) = earliest else { return false };
        assert!(deadline >= self.now, "racelab invariant: a deadline in the past");
        self.now = deadline;
        for i in 0..self.threads.len() {
            if let RunState::Blocked { deadline: Some(d), .. } = self.threads[i].state {
                if d == deadline {
                    self.set_state(
                        ThreadId(i as u32),
                        RunState::Runnable { pending: Some(Wakeup::TimedOut) },
                    );
                }
            }
        }
        true
    }

    pub fn divergence(&self, d: Divergence) -> FailureKind {
        FailureKind::Divergence {
            message: format!(
                "{d} (step {}, thread {}). The schedule was recorded from a different program, or the program \
                 makes a decision racelab does not control (OS time, OS threads, unseeded randomness, the \
                 order of a collection ordered by hash: a Rust HashMap, a Python set or dict of objects \
                 hashed by address).",
                self.step,
                if self.current.index() < self.threads.len() { self.thread_name(self.current) } else { "?".into() }
            ),
        }
    }

    fn deadlock(&self) -> Deadlock {
        let mut blocked = Vec::new();
        for (i, t) in self.threads.iter().enumerate() {
            let tid = ThreadId(i as u32);
            let RunState::Blocked { on, .. } = t.state else { continue };
            let holds = (0..self.objects.len())
                .map(|j| ObjectId(j as u32))
                .filter(|&j| self.objects[j.index()].holders.contains(&tid) && j != t.object)
                .map(|j| self.object_ref(j))
                .collect();
            blocked.push(match on {
                Some(o) => BlockedThread {
                    thread: self.thread_ref(tid),
                    waits_on: self.object_ref(o),
                    held_by: self.objects[o.index()].holders.iter().map(|&h| self.thread_ref(h)).collect(),
                    holds,
                    note: t
                        .wait_note
                        .or(self.objects[o.index()].note)
                        .map(|n| n.render(&self.thread_name(n.thread))),
                    sleeps: false,
                },
                // A sleep whose end is past the end of the virtual clock (`Duration::MAX`): it
                // waits on nothing but itself.
                None => BlockedThread {
                    thread: self.thread_ref(tid),
                    waits_on: self.object_ref(t.object),
                    held_by: Vec::new(),
                    holds,
                    note: Some(
                        "its sleep ends past the end of the virtual clock (about 584 years): nothing ends it"
                            .into(),
                    ),
                    sleeps: true,
                },
            });
        }
        Deadlock { blocked, cycle: self.wait_for_cycle() }
    }

    /// Follows "waits on an object held by" edges from each blocked thread; the first thread
    /// seen twice closes a cycle.
    fn wait_for_cycle(&self) -> Vec<(ThreadRef, ObjectRef)> {
        let waits = |t: ThreadId| match self.threads[t.index()].state {
            RunState::Blocked { on: Some(o), .. } => Some(o),
            _ => None,
        };
        for start in 0..self.threads.len() {
            let mut path: Vec<(ThreadId, ObjectId)> = Vec::new();
            let mut t = ThreadId(start as u32);
            while let Some(o) = waits(t) {
                if let Some(pos) = path.iter().position(|&(p, _)| p == t) {
                    return path[pos..]
                        .iter()
                        .map(|&(p, o)| (self.thread_ref(p), self.object_ref(o)))
                        .collect();
                }
                path.push((t, o));
                match self.objects[o.index()].holders.first() {
                    Some(&h) => t = h,
                    None => break,
                }
            }
        }
        Vec::new()
    }

    /// The daemon threads that had not finished when the run ended.
    pub fn unfinished_daemons(&self) -> Vec<ThreadRef> {
        (0..self.threads.len())
            .map(|i| ThreadId(i as u32))
            .filter(|&t| self.threads[t.index()].daemon && !self.is_finished(t))
            .map(|t| self.thread_ref(t))
            .collect()
    }
}
