//! The differential fuzzer of partial-order reduction: random small programs over racelab's
//! public API, each explored exhaustively twice, by the plain search and by DPOR, which must
//! reach the same set of outcomes.
//!
//! Why it exists: "every interleaving explored" is racelab's strongest claim and the one users
//! cannot check. DPOR is only as sound as the footprints the primitives log, and a footprint
//! that misses one access (issue 9: a handle fetched before `block` and used after it) loses
//! outcomes silently. Comparing against the plain search, which needs no footprints, catches
//! that on programs nobody thought to write by hand.
//!
//! A program is data ([`Program`]): objects, worker threads (plain, daemon, process-style) and
//! main's operations, every blocking one with a timeout so runs end without deadlocks. Every
//! operation logs what it saw; the outcome of a run is main's log, the joined threads' logs, and
//! the final state of every object read at the end. The same data is interpreted inside a
//! racelab run ([`Program::run`]) and printed as the Rust source of that program
//! ([`Program::to_rust`]), so a mismatch is reported as code a person can paste, after
//! [`minimise`] has removed every operation, thread and object the mismatch does not need.
//!
//! Used by `tests/dpor.rs` (a fixed batch of seeds in CI, plus regression seeds) and by
//! `examples/dpor_fuzz.rs` (as long as one likes).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use racelab::sync::atomic::Ordering::SeqCst;
use racelab::thread::Local;
use racelab::thread::{self, JoinHandle};
use racelab::{
    check, Barrier, Condition, Config, Event, Lock, Process, ProcessQueue, Queue, RLock, ReleasePoints,
    Report, Semaphore, Shared, ThreadPool, Timer,
};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A shared object of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Obj {
    Shared,
    Lock,
    RLock,
    /// A Condition over a Lock of its own.
    Cond,
    /// A racelab-std `Condvar` with two `Mutex`es and a counter: a notify under the first mutex
    /// bumps the counter first (the window a notify without a point of its own closes), a wait
    /// on the first mutex logs the counter under it; [`Op::WaitSecond`] reads the counter
    /// without a mutex, then waits on the second (two mutexes in one run), and
    /// [`Op::NotifyUnlocked`] notifies without a mutex.
    StdCond,
    Event,
    Sem {
        value: u8,
        bounded: bool,
    },
    Queue {
        maxsize: u8,
    },
    Barrier {
        parties: u8,
    },
    Pool {
        workers: u8,
    },
    PQueue {
        maxsize: u8,
    },
    Local,
}

/// One operation; object and worker fields are indices. Times are whole virtual seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Load(usize),
    Store(usize, i64),
    Add(usize),
    /// `if lock.acquire_timeout(2s) { body; lock.release() }` (a Lock or an RLock).
    Locked(usize, Vec<Op>),
    TryLock(usize),
    Set(usize),
    Clear(usize),
    IsSet(usize),
    WaitEvent(usize, u64),
    Acquire(usize, u64),
    Release(usize),
    Put(usize, i64, u64),
    PutNowait(usize, i64),
    Get(usize, u64),
    GetNowait(usize),
    /// Under the condition's lock (taken with a timeout): `wait_timeout`.
    Wait(usize, u64),
    Notify(usize),
    NotifyAll(usize),
    /// On a std Condvar: `wait_timeout` under its second mutex.
    WaitSecond(usize, u64),
    /// On a std Condvar: `notify_one` (`notify_all` when true) without holding a mutex.
    NotifyUnlocked(usize, bool),
    BarrierWait(usize, u64),
    Abort(usize),
    Shutdown(usize, bool),
    /// `pool.apply_async(move || v).get_timeout(secs)`.
    Apply(usize, i64, u64),
    PPut(usize, i64, u64),
    PGet(usize, u64),
    LocalSet(usize, i64),
    LocalGet(usize),
    /// A `Timer` that sets event `o` after `secs`, cancelled at once when `cancel`; joined.
    Timer(usize, u64, bool),
    /// Spawns a thread running the operations, and joins it (a spawn from any thread).
    Nested(Vec<Op>),
    Sleep(u64),
    Yield,
    Choose(u8),
    /// Main only: spawn (start) worker `k`.
    Spawn(usize),
    /// Main only: join thread `k` (not a daemon, not a process) and log its log.
    Join(usize),
    /// Main only: `join_timeout` on worker `k`.
    JoinTimeout(usize, u64),
    /// Main only: `terminate()` process worker `k`.
    Terminate(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerKind {
    Thread,
    Daemon,
    Process,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub kind: WorkerKind,
    pub ops: Vec<Op>,
}

/// A generated program and the semantics it is explored with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub seed: u64,
    pub spurious_wakeups: u32,
    pub objects: Vec<Obj>,
    pub workers: Vec<Worker>,
    /// Main's operations, spawns included; the epilogue (joins, final reads) is implied.
    pub main: Vec<Op>,
}

// ----- generation -----

struct Gen(ChaCha8Rng);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.0.next_u64()) * n as u128) >> 64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// A sleep or timeout: mostly 1 s, so that timeouts expire together with other threads'
    /// sleeps and act at the same instant; sometimes 2 s.
    fn secs(&mut self) -> u64 {
        if self.chance(80) {
            1
        } else {
            2
        }
    }
}

impl Program {
    /// The program for `seed`: 1–2 objects, 1–3 workers of 1–3 operations (mostly 1–2), main with 0–2
    /// operations of its own besides spawning, joining and terminating.
    pub fn generate(seed: u64) -> Program {
        let mut g = Gen(ChaCha8Rng::seed_from_u64(seed));
        let objects: Vec<Obj> = (0..1 + g.below(2)).map(|_| gen_obj(&mut g)).collect();
        let workers: Vec<Worker> = (0..1 + g.below(3))
            .map(|_| {
                let kind = match g.below(10) {
                    0..=5 => WorkerKind::Thread,
                    6..=7 => WorkerKind::Daemon,
                    _ => WorkerKind::Process,
                };
                let n = 1 + g.below(2) + usize::from(g.chance(25));
                let ops = (0..n).map(|_| gen_op(&mut g, &objects, true)).collect();
                Worker { kind, ops }
            })
            .collect();
        let mut main = Vec::new();
        let mut joined = Vec::new();
        let mut spawned = 0;
        let own_ops = g.below(3);
        let mut done_own = 0;
        while spawned < workers.len() || done_own < own_ops {
            let pick = g.below(10);
            if spawned < workers.len() && (pick < 5 || done_own == own_ops) {
                main.push(Op::Spawn(spawned));
                spawned += 1;
            } else if spawned > 0 && pick < 7 {
                let k = g.below(spawned);
                let op = match workers[k].kind {
                    WorkerKind::Process if g.chance(60) => Op::Terminate(k),
                    WorkerKind::Thread if g.chance(50) => Op::Join(k),
                    _ => Op::JoinTimeout(k, g.secs()),
                };
                // A thread joined once is gone: nothing more is done with it.
                if !joined.contains(&k) {
                    if op == Op::Join(k) {
                        joined.push(k);
                    }
                    main.push(op);
                }
                done_own += 1;
            } else {
                main.push(gen_op(&mut g, &objects, true));
                done_own += 1;
            }
        }
        Program { seed, spurious_wakeups: g.below(2) as u32, objects, workers, main }
    }
}

impl Program {
    /// [`Program::generate`]'s program for `seed` with every Condition replaced by a
    /// racelab-std `Condvar` ([`Obj::StdCond`]), some of its waits moved to the second mutex
    /// and some notifies made without the mutex (a second generator decides, so that the
    /// programs of [`Program::generate`] stay what they were); `None` when it has no Condition.
    pub fn generate_std(seed: u64) -> Option<Program> {
        let mut p = Program::generate(seed);
        if !p.objects.contains(&Obj::Cond) {
            return None;
        }
        let conds: Vec<bool> = p.objects.iter().map(|o| *o == Obj::Cond).collect();
        for o in &mut p.objects {
            if *o == Obj::Cond {
                *o = Obj::StdCond;
            }
        }
        let mut g = Gen(ChaCha8Rng::seed_from_u64(seed ^ 0x5744_434f_4e44));
        for op in p.main.iter_mut().chain(p.workers.iter_mut().flat_map(|w| &mut w.ops)) {
            to_std(op, &conds, &mut g);
        }
        Some(p)
    }

    /// [`Program::generate`]'s program for `seed` with a yield after about a third of its
    /// operations (in lock bodies too; a second generator decides): where a switch is free and
    /// keeping the thread going is the preemption, the preemption-bounded searches' yield rule.
    pub fn generate_yielding(seed: u64) -> Program {
        fn sprinkle(ops: &mut Vec<Op>, g: &mut Gen) {
            let mut out = Vec::with_capacity(ops.len() * 2);
            for mut op in ops.drain(..) {
                if let Op::Locked(_, body) | Op::Nested(body) = &mut op {
                    sprinkle(body, g);
                }
                out.push(op);
                if g.chance(35) {
                    out.push(Op::Yield);
                }
            }
            *ops = out;
        }
        let mut p = Program::generate(seed);
        let mut g = Gen(ChaCha8Rng::seed_from_u64(seed ^ 0x5949_454c_4453));
        sprinkle(&mut p.main, &mut g);
        for w in &mut p.workers {
            sprinkle(&mut w.ops, &mut g);
        }
        p
    }

    /// Every two-party program over one object: a worker (plain, daemon or process) does one
    /// operation `a` (then a yield, or `a` again), and main, after spawning it, does one
    /// operation `b` (after a 1 s sleep or not; or terminates the process). With every timeout
    /// 1 s, these put a timeout and a wake-up at the same instant on every primitive: the
    /// races where a footprint is easiest to get wrong (issue 9). Deterministic, so CI runs
    /// all of them.
    pub fn pairs() -> Vec<Program> {
        let mut out = Vec::new();
        for obj in PAIR_OBJECTS {
            let ops = pair_ops(obj);
            for kind in [WorkerKind::Thread, WorkerKind::Daemon, WorkerKind::Process] {
                for a in &ops {
                    for tail in [None, Some(Op::Yield), Some(a.clone())] {
                        let worker = Worker { kind, ops: std::iter::once(a.clone()).chain(tail).collect() };
                        let mut mains: Vec<Vec<Op>> = vec![vec![]];
                        for b in &ops {
                            mains.push(vec![b.clone()]);
                            mains.push(vec![Op::Sleep(1), b.clone()]);
                        }
                        if kind == WorkerKind::Process {
                            mains.push(vec![Op::Terminate(0)]);
                            mains.push(vec![Op::Sleep(1), Op::Terminate(0)]);
                        }
                        for main in mains {
                            out.push(Program {
                                seed: out.len() as u64,
                                spurious_wakeups: 0,
                                objects: vec![obj],
                                workers: vec![worker.clone()],
                                main: std::iter::once(Op::Spawn(0)).chain(main).collect(),
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

const PAIR_OBJECTS: [Obj; 13] = [
    Obj::Shared,
    Obj::Lock,
    Obj::RLock,
    Obj::Cond,
    Obj::Event,
    Obj::Sem { value: 0, bounded: false },
    Obj::Sem { value: 1, bounded: true },
    Obj::Queue { maxsize: 1 },
    Obj::Barrier { parties: 2 },
    Obj::Pool { workers: 1 },
    Obj::PQueue { maxsize: 1 },
    Obj::Local,
    Obj::StdCond,
];

/// Rewrites a Condition operation (on an object `conds` marks) for a std Condvar.
fn to_std(op: &mut Op, conds: &[bool], g: &mut Gen) {
    if let Op::Locked(_, body) | Op::Nested(body) = op {
        for b in body {
            to_std(b, conds, g);
        }
    }
    match *op {
        Op::Wait(o, t) if conds[o] && g.chance(30) => *op = Op::WaitSecond(o, t),
        Op::Notify(o) | Op::NotifyAll(o) if conds[o] && g.chance(30) => {
            *op = Op::NotifyUnlocked(o, matches!(op, Op::NotifyAll(_)))
        }
        _ => {}
    }
}

/// The operations of the pair programs on object 0 of kind `obj`.
fn pair_ops(obj: Obj) -> Vec<Op> {
    match obj {
        Obj::Shared => vec![Op::Load(0), Op::Store(0, 1), Op::Add(0)],
        Obj::Lock | Obj::RLock => vec![Op::Locked(0, vec![]), Op::Locked(0, vec![Op::Yield]), Op::TryLock(0)],
        Obj::Cond => vec![Op::Wait(0, 1), Op::Notify(0), Op::NotifyAll(0)],
        Obj::StdCond => {
            vec![
                Op::Wait(0, 1),
                Op::WaitSecond(0, 1),
                Op::Notify(0),
                Op::NotifyAll(0),
                Op::NotifyUnlocked(0, false),
                Op::NotifyUnlocked(0, true),
            ]
        }
        Obj::Event => {
            vec![Op::Set(0), Op::Clear(0), Op::IsSet(0), Op::WaitEvent(0, 1), Op::Timer(0, 1, false)]
        }
        Obj::Sem { .. } => vec![Op::Acquire(0, 1), Op::Release(0)],
        Obj::Queue { .. } => {
            vec![
                Op::Put(0, 1, 1),
                Op::Get(0, 1),
                Op::PutNowait(0, 2),
                Op::GetNowait(0),
                Op::Shutdown(0, false),
            ]
        }
        Obj::Barrier { .. } => vec![Op::BarrierWait(0, 1), Op::Abort(0)],
        Obj::Pool { .. } => vec![Op::Apply(0, 1, 1)],
        Obj::PQueue { .. } => vec![Op::PPut(0, 1, 1), Op::PGet(0, 1)],
        Obj::Local => vec![Op::LocalSet(0, 1), Op::LocalGet(0)],
    }
}

fn gen_obj(g: &mut Gen) -> Obj {
    // The pool, process queue and thread-local are rarer: a pool brings worker threads of its
    // own, which multiply the interleavings.
    if g.chance(12) {
        return match g.below(3) {
            0 => Obj::Pool { workers: 1 },
            1 => Obj::PQueue { maxsize: g.below(2) as u8 },
            _ => Obj::Local,
        };
    }
    match g.below(8) {
        0 => Obj::Shared,
        1 => Obj::Lock,
        2 => Obj::RLock,
        3 => Obj::Cond,
        4 => Obj::Event,
        5 => Obj::Sem { value: g.below(2) as u8, bounded: g.chance(50) },
        6 => Obj::Queue { maxsize: g.below(3) as u8 },
        _ => Obj::Barrier { parties: 2 + g.below(2) as u8 },
    }
}

/// An operation on a random object (or a sleep, yield or choose). `blocking`: may wait (false
/// inside a lock's body, which stays short).
fn gen_op(g: &mut Gen, objects: &[Obj], blocking: bool) -> Op {
    // Sleeps make the virtual clock jump, and timeouts of 1 or 2 s then expire at the very
    // instant another thread acts: the races between a timeout and a wake-up.
    if blocking && g.chance(25) {
        return Op::Sleep(g.secs());
    }
    if g.chance(8) {
        return match g.below(3) {
            0 => Op::Choose(2),
            1 if blocking => Op::Nested((0..1 + g.below(2)).map(|_| gen_op(g, objects, false)).collect()),
            _ => Op::Yield,
        };
    }
    let o = g.below(objects.len());
    let v = 1 + g.below(3) as i64;
    match objects[o] {
        Obj::Shared => match g.below(3) {
            0 => Op::Load(o),
            1 => Op::Store(o, v),
            _ => Op::Add(o),
        },
        Obj::Lock | Obj::RLock => {
            if blocking && g.chance(75) {
                let body = (0..g.below(3)).map(|_| gen_op(g, objects, false)).collect();
                Op::Locked(o, body)
            } else {
                Op::TryLock(o)
            }
        }
        // `generate` makes Conditions; `generate_std` turns them into these afterwards.
        Obj::StdCond => unreachable!("gen_obj makes no std Condvar"),
        Obj::Cond => match g.below(3) {
            0 if blocking => Op::Wait(o, g.secs()),
            1 if blocking => Op::NotifyAll(o),
            _ if blocking => Op::Notify(o),
            _ => Op::Yield,
        },
        Obj::Event => match g.below(5) {
            0 => Op::Set(o),
            1 => Op::Clear(o),
            2 if blocking => Op::WaitEvent(o, g.secs()),
            3 if blocking => Op::Timer(o, g.secs(), g.chance(50)),
            _ => Op::IsSet(o),
        },
        Obj::Sem { .. } => match g.below(2) {
            0 if blocking => Op::Acquire(o, g.secs()),
            _ => Op::Release(o),
        },
        Obj::Queue { .. } => match g.below(9) {
            0 | 1 if blocking => Op::Put(o, v, g.secs()),
            2 | 3 if blocking => Op::Get(o, g.secs()),
            4 => Op::Shutdown(o, g.chance(50)),
            5 | 6 => Op::PutNowait(o, v),
            _ => Op::GetNowait(o),
        },
        Obj::Barrier { .. } if blocking && g.chance(80) => Op::BarrierWait(o, g.secs()),
        Obj::Barrier { .. } => Op::Abort(o),
        Obj::Pool { .. } if blocking => Op::Apply(o, v, g.secs()),
        Obj::PQueue { .. } if blocking && g.chance(50) => Op::PPut(o, v, g.secs()),
        Obj::PQueue { .. } if blocking => Op::PGet(o, g.secs()),
        Obj::Local if g.chance(50) => Op::LocalSet(o, v),
        Obj::Local => Op::LocalGet(o),
        Obj::Pool { .. } | Obj::PQueue { .. } => Op::Yield,
    }
}

// ----- interpretation inside a run -----

/// A std Condvar and its two mutexes.
struct StdCond {
    first: racelab::sync::Mutex<()>,
    second: racelab::sync::Mutex<()>,
    cv: racelab::sync::Condvar,
    count: racelab::sync::atomic::AtomicUsize,
}

#[derive(Clone)]
enum Handle {
    Shared(Shared<i64>),
    Lock(Lock),
    RLock(RLock),
    Cond(Condition, Lock),
    StdCond(racelab::sync::Arc<StdCond>),
    Event(Event),
    Sem(Semaphore),
    Queue(Queue<i64>),
    Barrier(Barrier),
    Pool(ThreadPool),
    PQueue(ProcessQueue<i64>),
    Local(Local<i64>),
}

enum Started {
    Thread(JoinHandle<Vec<String>>),
    Daemon(JoinHandle<Vec<String>>),
    Process(Process),
    Joined,
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

impl Program {
    /// Runs the program as the main thread of one racelab run; returns the run's outcome.
    pub fn run(self: &Arc<Self>) -> String {
        let handles: Arc<Vec<Handle>> = Arc::new(self.objects.iter().map(|o| make(*o)).collect());
        let mut started: Vec<Option<Started>> = self.workers.iter().map(|_| None).collect();
        let mut log = Vec::new();
        for op in &self.main {
            match *op {
                Op::Spawn(k) => started[k] = Some(self.start(k, &handles)),
                Op::Join(k) => {
                    if let Some(Started::Thread(h)) = started[k].replace(Started::Joined) {
                        log.push(format!("join{k}={}", h.join().unwrap().join(",")));
                    }
                }
                Op::JoinTimeout(k, s) => {
                    let done = match &started[k] {
                        Some(Started::Thread(h) | Started::Daemon(h)) => h.join_timeout(secs(s)),
                        Some(Started::Process(p)) => p.join_timeout(secs(s)),
                        _ => true,
                    };
                    log.push(format!("joined{k}={done}"));
                }
                Op::Terminate(k) => {
                    if let Some(Started::Process(p)) = &started[k] {
                        p.terminate();
                    }
                }
                ref op => exec(op, &handles, &mut log),
            }
        }
        for (k, s) in started.into_iter().enumerate() {
            match s {
                Some(Started::Thread(h)) => log.push(format!("join{k}={}", h.join().unwrap().join(","))),
                Some(Started::Process(p)) => {
                    p.join();
                    log.push(format!("exit{k}={:?}", p.exitcode()));
                }
                _ => {}
            }
        }
        for (i, h) in handles.iter().enumerate() {
            if self.reads_at_end(self.objects[i]) {
                log.push(format!("final{i}={}", final_state(h)));
            }
        }
        log.join(" ")
    }

    /// Whether the outcome ends with object `o`'s state. A lock's (`locked()`, which observes
    /// it, see `racelab::ReleasePoints`) only when a daemon or a process may still hold it:
    /// with every worker a joined thread, every lock is free at the end.
    fn reads_at_end(&self, o: Obj) -> bool {
        // A std Condvar's mutexes are not read (`try_lock` would observe them).
        o != Obj::StdCond
            && (!matches!(o, Obj::Lock | Obj::RLock | Obj::Cond)
                || self.workers.iter().any(|w| w.kind != WorkerKind::Thread))
    }

    fn start(self: &Arc<Self>, k: usize, handles: &Arc<Vec<Handle>>) -> Started {
        let (program, handles) = (Arc::clone(self), Arc::clone(handles));
        let body = move || {
            let mut log = Vec::new();
            for op in &program.workers[k].ops {
                exec(op, &handles, &mut log);
            }
            log
        };
        let name = format!("w{k}");
        match self.workers[k].kind {
            WorkerKind::Thread => Started::Thread(thread::Builder::new().name(name).spawn(body).unwrap()),
            WorkerKind::Daemon => {
                Started::Daemon(thread::Builder::new().name(name).daemon(true).spawn(body).unwrap())
            }
            WorkerKind::Process => Started::Process(Process::start(name, move || drop(body()))),
        }
    }
}

fn make(o: Obj) -> Handle {
    match o {
        Obj::Shared => Handle::Shared(Shared::new(0)),
        Obj::Lock => Handle::Lock(Lock::new()),
        Obj::RLock => Handle::RLock(RLock::new()),
        Obj::Cond => {
            let lock = Lock::new();
            Handle::Cond(Condition::new(lock), lock)
        }
        Obj::StdCond => Handle::StdCond(racelab::sync::Arc::new(StdCond {
            first: racelab::sync::Mutex::new(()),
            second: racelab::sync::Mutex::new(()),
            cv: racelab::sync::Condvar::new(),
            count: racelab::sync::atomic::AtomicUsize::new(0),
        })),
        Obj::Event => Handle::Event(Event::new()),
        Obj::Sem { value, bounded: false } => Handle::Sem(Semaphore::new(i64::from(value))),
        Obj::Sem { value, bounded: true } => Handle::Sem(Semaphore::bounded(i64::from(value))),
        Obj::Queue { maxsize } => Handle::Queue(Queue::new(usize::from(maxsize))),
        Obj::Barrier { parties } => Handle::Barrier(Barrier::new(usize::from(parties))),
        Obj::Pool { workers } => Handle::Pool(ThreadPool::new(usize::from(workers))),
        Obj::PQueue { maxsize } => Handle::PQueue(ProcessQueue::new(usize::from(maxsize))),
        Obj::Local => Handle::Local(Local::new()),
    }
}

fn final_state(h: &Handle) -> String {
    match *h {
        Handle::Shared(s) => s.load().to_string(),
        Handle::Lock(l) | Handle::Cond(_, l) => l.locked().to_string(),
        Handle::RLock(r) => r.locked().to_string(),
        Handle::Event(e) => e.is_set().to_string(),
        Handle::Sem(s) => s.value().to_string(),
        Handle::Queue(q) => {
            let mut items = Vec::new();
            while let Ok(v) = q.get_nowait() {
                items.push(v);
            }
            format!("{items:?}")
        }
        Handle::Barrier(b) => format!("{}/{}", b.n_waiting(), b.broken()),
        Handle::Pool(_) => "pool".into(),
        Handle::PQueue(q) => {
            let mut items = Vec::new();
            while let Ok(v) = q.get_nowait() {
                items.push(v);
            }
            format!("{items:?}")
        }
        Handle::Local(l) => format!("{:?}", l.get()),
        Handle::StdCond(_) => unreachable!("a std Condvar is not read at the end"),
    }
}

/// One operation of a worker or of main, logging what it saw.
fn exec(op: &Op, hs: &[Handle], log: &mut Vec<String>) {
    match (op, op_handle(op, hs)) {
        (Op::Load(_), Some(Handle::Shared(s))) => log.push(format!("ld={}", s.load())),
        (Op::Store(_, v), Some(Handle::Shared(s))) => s.store(*v),
        (Op::Add(_), Some(Handle::Shared(s))) => log.push(format!(
            "add={}",
            s.update(|x| {
                *x += 1;
                *x
            })
        )),
        (Op::Locked(_, body), Some(h)) => {
            let got = match h {
                Handle::Lock(l) => l.acquire_timeout(secs(2)),
                Handle::RLock(r) => r.acquire_timeout(secs(2)),
                _ => unreachable!("a lock"),
            };
            log.push(format!("locked={got}"));
            if got {
                for op in body {
                    exec(op, hs, log);
                }
                match h {
                    Handle::Lock(l) => l.release(),
                    Handle::RLock(r) => r.release(),
                    _ => unreachable!("a lock"),
                }
            }
        }
        (Op::TryLock(_), Some(h)) => {
            let got = match h {
                Handle::Lock(l) => {
                    l.try_acquire() && {
                        l.release();
                        true
                    }
                }
                Handle::RLock(r) => {
                    r.try_acquire() && {
                        r.release();
                        true
                    }
                }
                _ => unreachable!("a lock"),
            };
            log.push(format!("try={got}"));
        }
        (Op::Set(_), Some(Handle::Event(e))) => e.set(),
        (Op::Clear(_), Some(Handle::Event(e))) => e.clear(),
        (Op::IsSet(_), Some(Handle::Event(e))) => log.push(format!("is_set={}", e.is_set())),
        (Op::WaitEvent(_, s), Some(Handle::Event(e))) => log.push(format!("ew={}", e.wait_timeout(secs(*s)))),
        (Op::Acquire(_, s), Some(Handle::Sem(m))) => log.push(format!("acq={}", m.acquire_timeout(secs(*s)))),
        (Op::Release(_), Some(Handle::Sem(m))) => log.push(format!("rel={}", m.try_release_n(1).is_ok())),
        (Op::Put(_, v, s), Some(Handle::Queue(q))) => {
            log.push(format!("put={}", q.put_timeout(*v, secs(*s)).is_ok()))
        }
        (Op::PutNowait(_, v), Some(Handle::Queue(q))) => {
            log.push(format!("putnw={}", q.put_nowait(*v).is_ok()))
        }
        (Op::Get(_, s), Some(Handle::Queue(q))) => {
            log.push(format!("get={:?}", q.get_timeout(secs(*s)).ok()))
        }
        (Op::GetNowait(_), Some(Handle::Queue(q))) => log.push(format!("getnw={:?}", q.get_nowait().ok())),
        (Op::Wait(_, s), Some(Handle::Cond(c, l))) => {
            if l.acquire_timeout(secs(2)) {
                log.push(format!("cw={}", c.wait_timeout(secs(*s))));
                l.release();
            } else {
                log.push("cw=busy".into());
            }
        }
        (Op::Notify(_) | Op::NotifyAll(_), Some(Handle::Cond(c, l))) => {
            if l.acquire_timeout(secs(2)) {
                if matches!(op, Op::Notify(_)) {
                    c.notify();
                } else {
                    c.notify_all();
                }
                l.release();
            } else {
                log.push("notify=busy".into());
            }
        }
        (Op::Wait(_, s), Some(Handle::StdCond(c))) => {
            let g = c.first.lock().unwrap();
            let seen = c.count.load(SeqCst);
            let (_g, waited) = c.cv.wait_timeout(g, secs(*s)).unwrap();
            log.push(format!("scw={seen},{}", !waited.timed_out()));
        }
        (Op::WaitSecond(_, s), Some(Handle::StdCond(c))) => {
            let seen = c.count.load(SeqCst);
            let (_g, waited) = c.cv.wait_timeout(c.second.lock().unwrap(), secs(*s)).unwrap();
            log.push(format!("scw2={seen},{}", !waited.timed_out()));
        }
        (Op::Notify(_) | Op::NotifyAll(_), Some(Handle::StdCond(c))) => {
            let _g = c.first.lock().unwrap();
            c.count.fetch_add(1, SeqCst);
            if matches!(op, Op::Notify(_)) {
                c.cv.notify_one();
            } else {
                c.cv.notify_all();
            }
        }
        (Op::NotifyUnlocked(_, all), Some(Handle::StdCond(c))) => {
            if *all {
                c.cv.notify_all();
            } else {
                c.cv.notify_one();
            }
        }
        (Op::BarrierWait(_, s), Some(Handle::Barrier(b))) => {
            log.push(format!("bw={:?}", b.try_wait(Some(secs(*s))).ok()))
        }
        (Op::Abort(_), Some(Handle::Barrier(b))) => b.abort(),
        (Op::Shutdown(_, immediate), Some(Handle::Queue(q))) => q.shutdown(*immediate),
        (Op::Apply(_, v, s), Some(Handle::Pool(p))) => {
            let v = *v;
            log.push(format!("apply={:?}", p.apply_async(move || v).get_timeout(secs(*s)).ok()))
        }
        (Op::PPut(_, v, s), Some(Handle::PQueue(q))) => {
            log.push(format!("pput={}", q.put_timeout(v, secs(*s)).is_ok()))
        }
        (Op::PGet(_, s), Some(Handle::PQueue(q))) => {
            log.push(format!("pget={:?}", q.get_timeout(secs(*s)).ok()))
        }
        (Op::LocalSet(_, v), Some(Handle::Local(l))) => l.set(*v),
        (Op::LocalGet(_), Some(Handle::Local(l))) => log.push(format!("local={:?}", l.get())),
        (Op::Timer(_, s, cancel), Some(Handle::Event(e))) => {
            let t = Timer::start(secs(*s), move || e.set());
            if *cancel {
                t.cancel();
            }
            log.push(format!("timer={}", t.join()));
        }
        (Op::Nested(body), None) => {
            let (body, hs) = (body.clone(), hs.to_vec());
            let h = thread::spawn(move || {
                let mut log = Vec::new();
                for op in &body {
                    exec(op, &hs, &mut log);
                }
                log
            });
            log.push(format!("nested={}", h.join().unwrap().join(",")));
        }
        (Op::Sleep(s), None) => thread::sleep(secs(*s)),
        (Op::Yield, None) => thread::yield_now(),
        (Op::Choose(n), None) => log.push(format!("ch={}", thread::choose(usize::from(*n)))),
        (op, _) => unreachable!("{op:?} does not fit its object"),
    }
}

fn op_handle(op: &Op, hs: &[Handle]) -> Option<Handle> {
    op_object(op).map(|o| hs[o].clone())
}

/// The pattern of every operation that touches an object, binding the object's index to `$o`:
/// the one list of them, for reading and for renumbering.
macro_rules! on_object {
    ($o:ident) => {
        Op::Load($o)
            | Op::Store($o, _)
            | Op::Add($o)
            | Op::Locked($o, _)
            | Op::TryLock($o)
            | Op::Set($o)
            | Op::Clear($o)
            | Op::IsSet($o)
            | Op::WaitEvent($o, _)
            | Op::Acquire($o, _)
            | Op::Release($o)
            | Op::Put($o, _, _)
            | Op::PutNowait($o, _)
            | Op::Get($o, _)
            | Op::GetNowait($o)
            | Op::Wait($o, _)
            | Op::Notify($o)
            | Op::NotifyAll($o)
            | Op::WaitSecond($o, _)
            | Op::NotifyUnlocked($o, _)
            | Op::BarrierWait($o, _)
            | Op::Abort($o)
            | Op::Shutdown($o, _)
            | Op::Apply($o, _, _)
            | Op::PPut($o, _, _)
            | Op::PGet($o, _)
            | Op::LocalSet($o, _)
            | Op::LocalGet($o)
            | Op::Timer($o, _, _)
    };
}

/// The object an operation touches, if any.
fn op_object(op: &Op) -> Option<usize> {
    match *op {
        on_object!(o) => Some(o),
        _ => None,
    }
}

// ----- the comparison -----

/// What one search of a program gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The search completed without a failure, reaching these outcomes in this many runs.
    Outcomes(BTreeSet<String>, u64),
    /// A run failed (deadlock...): the failure's kind, and the first failing run.
    Failed(String),
    /// The search hit its run cap.
    Unfinished,
}

impl Program {
    pub fn config(&self, dpor: bool, cap: u64, bound: Option<u32>) -> Config {
        let config = Config::dfs().runs(cap).spurious_wakeups(self.spurious_wakeups).shrink(false);
        match bound {
            Some(b) => config.preemption_bound(b).dpor(dpor),
            None => config.dpor(dpor),
        }
    }

    /// Explores the program exhaustively with or without DPOR, in at most `cap` runs (and at
    /// most `bound` preemptions, if given).
    pub fn explore(&self, dpor: bool, cap: u64, bound: Option<u32>) -> Verdict {
        self.explore_with(self.config(dpor, cap, bound)).0
    }

    /// Explores the program under `config`; the verdict and the report.
    pub fn explore_with(&self, config: Config) -> (Verdict, Report) {
        let program = Arc::new(self.clone());
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let sink = Arc::clone(&seen);
        let report: Report = check(config, move || {
            let o = program.run();
            sink.lock().unwrap().insert(o);
        });
        let verdict = if let Some(f) = &report.failure {
            Verdict::Failed(f.kind.name().to_string())
        } else if !report.exhausted {
            Verdict::Unfinished
        } else {
            Verdict::Outcomes(seen.lock().unwrap().clone(), report.runs)
        };
        (verdict, report)
    }
}

/// The result of comparing the plain search with and without release points on one program.
#[derive(Clone, Debug)]
pub enum PointsComparison {
    /// The default mode (`auto`) reached what the search with release points reached (or failed
    /// the same way); its runs count those before a restart. `restarted`: a run observed a lock;
    /// then `off_misses` says whether the
    /// search without release points and without restart reached less.
    Agree { on_runs: u64, auto_runs: u64, restarted: bool, off_misses: bool },
    /// The search with release points did not finish within the run cap.
    Skipped,
    /// They differ (`auto` against `on`, or `off` against `on` with no observer).
    Differ { on: Verdict, other: Verdict, mode: ReleasePoints },
}

/// Explores `p` by the plain search with release points (`on`), in the default mode (`auto`)
/// and, when `auto` restarted, without them and without restart (`off`), each in at most `cap`
/// runs, and compares.
pub fn compare_release_points(p: &Program, cap: u64) -> PointsComparison {
    let config = |mode| p.config(false, cap, None).release_points(mode);
    let (on, _) = p.explore_with(config(ReleasePoints::On));
    if on == Verdict::Unfinished {
        return PointsComparison::Skipped;
    }
    let (auto, auto_report) = p.explore_with(config(ReleasePoints::Auto));
    // `restarted="run N: ..."`: runs 0..=N were made before the restart, and count.
    let before_restart = auto_report
        .settings
        .split_once(" restarted=\"run ")
        .and_then(|(_, rest)| rest.split_once(':'))
        .map(|(n, _)| n.parse::<u64>().expect("a run number") + 1);
    let restarted = before_restart.is_some();
    let runs = |v: &Verdict| if let Verdict::Outcomes(_, r) = v { *r } else { 0 };
    let same = |a: &Verdict, b: &Verdict| match (a, b) {
        (Verdict::Outcomes(x, _), Verdict::Outcomes(y, _)) => x == y,
        (a, b) => a == b,
    };
    if !same(&on, &auto) {
        return PointsComparison::Differ { on, other: auto, mode: ReleasePoints::Auto };
    }
    let off_misses = restarted && !same(&on, &p.explore_with(config(ReleasePoints::Off)).0);
    let auto_runs = runs(&auto) + before_restart.unwrap_or(0);
    PointsComparison::Agree { on_runs: runs(&on), auto_runs, restarted, off_misses }
}

/// The result of comparing the two searches on one program.
#[derive(Clone, Debug)]
pub enum Comparison {
    /// Same outcomes (or the same failure): runs of the plain search and of DPOR.
    Agree { plain_runs: u64, dpor_runs: u64 },
    /// The plain search did not finish within the run cap: nothing to compare.
    Skipped,
    /// They differ.
    Differ { plain: Verdict, dpor: Verdict },
}

/// Explores `p` with the plain search and with DPOR, each in at most `cap` runs, and compares.
/// Runs past the failure or the end are not counted: a skipped program costs `cap` plain runs.
pub fn compare(p: &Program, cap: u64) -> Comparison {
    compare_bounded(p, cap, None)
}

/// [`compare`] under a preemption bound (`None`: unbounded), where DPOR is opt-in and not
/// complete: the fuzzer measures how often it misses.
pub fn compare_bounded(p: &Program, cap: u64, bound: Option<u32>) -> Comparison {
    let plain = p.explore(false, cap, bound);
    if plain == Verdict::Unfinished {
        return Comparison::Skipped;
    }
    let dpor = p.explore(true, cap, bound);
    match (&plain, &dpor) {
        (Verdict::Outcomes(a, pr), Verdict::Outcomes(b, dr)) if a == b => {
            Comparison::Agree { plain_runs: *pr, dpor_runs: *dr }
        }
        (Verdict::Failed(a), Verdict::Failed(b)) if a == b => {
            Comparison::Agree { plain_runs: 0, dpor_runs: 0 }
        }
        _ => Comparison::Differ { plain, dpor },
    }
}

/// Explores `p` with DPOR on one job and on `jobs`, with shrinking on (so a failure's whole
/// shrunk report is compared): the reports must be the same but for the wall time and the
/// settings line's jobs, and so must the outcomes the runs reached when the search completed.
/// Returns what the one-job search did, or what differed.
pub fn compare_jobs(p: &Program, cap: u64, jobs: usize) -> Result<Jobs, String> {
    let search = |jobs: usize| {
        let program = Arc::new(p.clone());
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let sink = Arc::clone(&seen);
        let config = p.config(true, cap, None).shrink(true).jobs(jobs);
        let mut report: Report = check(config, move || {
            let o = program.run();
            sink.lock().unwrap().insert(o);
        });
        report.elapsed_micros = 0;
        report.settings = report.settings.replace(&format!(" jobs={jobs}"), "");
        let seen = seen.lock().unwrap().clone();
        (report, seen)
    };
    let (one, one_seen) = search(1);
    let (many, many_seen) = search(jobs);
    if one != many {
        return Err(format!("the reports differ\none job: {one}\n{jobs} jobs: {many}"));
    }
    if one.exhausted && one.failure.is_none() && one_seen != many_seen {
        return Err(format!("the outcomes differ\none job: {one_seen:?}\n{jobs} jobs: {many_seen:?}"));
    }
    Ok(Jobs { runs: one.runs, restarted: one.restarted().is_some(), failed: one.failure.is_some() })
}

/// What [`compare_jobs`] saw of the one-job search.
pub struct Jobs {
    pub runs: u64,
    /// It restarted with release points (a run observed a lock).
    pub restarted: bool,
    pub failed: bool,
}

/// Explores `p` with DPOR split into `shards` shards (each in its own search, as separate
/// processes would), and compares them with the unsharded search and with the split search on
/// one shard (`shard(0, 1)`):
/// - a pass: every shard exhausted and passing, the outcomes together the unsharded search's,
///   and the runs adding up to the one-shard split's;
/// - a failure: found by some shard, and the lowest over the shards (by subtree, numbered as
///   `racelab merge` numbers it) is the one-shard split's, run for run and schedule for schedule.
///
/// `cut`: the subtrees the split is cut at (`Config::shard_cut`; 512 if `None`, which leaves most
/// of the generated programs wholly above the cut, so every subtree is one run).
///
/// Every search has a point before each release (a shard in the default mode restarts on its own
/// runs; `racelab merge` refuses a mix). Searches that hit `cap` are not compared (`Ok(None)`).
pub fn compare_shards(
    p: &Program,
    cap: u64,
    shards: u64,
    cut: Option<u64>,
) -> Result<Option<Sharded>, String> {
    let search = |shard: Option<(u64, u64)>| {
        let program = Arc::new(p.clone());
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let sink = Arc::clone(&seen);
        // With a point before every release, so that no shard restarts on its own.
        let mut config = p.config(true, cap, None).release_points(ReleasePoints::On);
        if let Some((k, n)) = shard {
            config = config.shard(k, n);
        }
        if let Some(subtrees) = cut {
            config = config.shard_cut(subtrees);
        }
        let report: Report = check(config, move || {
            let o = program.run();
            sink.lock().unwrap().insert(o);
        });
        let seen = seen.lock().unwrap().clone();
        (report, seen)
    };
    let (whole, whole_seen) = search(None);
    let (split, _) = search(Some((0, 1)));
    let parts: Vec<(Report, BTreeSet<String>)> = (0..shards).map(|k| search(Some((k, shards)))).collect();
    let reports =
        || std::iter::once(&whole).chain(std::iter::once(&split)).chain(parts.iter().map(|(r, _)| r));
    if reports().any(|r| r.restarted().is_some() || (r.failure.is_none() && !r.exhausted)) {
        return Ok(None);
    }
    let runs: u64 = parts.iter().map(|(r, _)| r.runs).sum();
    let mut other_distinct = false;
    match &whole.failure {
        None => {
            if let Some((r, _)) = parts.iter().find(|(r, _)| r.failure.is_some()) {
                return Err(format!("a shard fails where the unsharded search passes: {r}"));
            }
            let distinct: u64 = parts.iter().map(|(r, _)| r.distinct_runs.unwrap_or(0)).sum();
            other_distinct = Some(distinct) != whole.distinct_runs;
            if runs != split.runs {
                return Err(format!("{runs} runs over the shards, {} on one shard", split.runs));
            }
            let seen: BTreeSet<String> = parts.iter().flat_map(|(_, s)| s.iter().cloned()).collect();
            if seen != whole_seen {
                return Err(format!("the outcomes differ\nunsharded: {whole_seen:?}\nshards: {seen:?}"));
            }
        }
        Some(f) => {
            let Some(expected) = &split.failure else {
                return Err(format!(
                    "the one-shard split passes where the unsharded search fails with {}",
                    f.kind.name()
                ));
            };
            // What `racelab merge` does: every subtree's runs, the lowest failing subtree.
            let mut subtree_runs = std::collections::BTreeMap::new();
            let mut lowest: Option<(u64, u64, &racelab::Failure)> = None;
            for (r, _) in &parts {
                let subtrees = r.shard_subtrees.as_ref().ok_or("a shard without its subtrees")?;
                let mut before = 0;
                for t in subtrees {
                    subtree_runs.insert(t.subtree, t.runs);
                    before += t.runs;
                }
                if let (Some(f), Some(last)) = (&r.failure, subtrees.last()) {
                    let within = f.run - (before - last.runs);
                    if lowest.is_none_or(|(s, _, _)| last.subtree < s) {
                        lowest = Some((last.subtree, within, f));
                    }
                }
            }
            let (subtree, within, found) = lowest.ok_or("no shard finds the failure")?;
            let run = subtree_runs.range(..subtree).map(|(_, r)| r).sum::<u64>() + within;
            if run != expected.run || found.schedule != expected.schedule {
                return Err(format!(
                    "the merged failure is run {run} ({}), the one-shard split's run {} ({})",
                    found.schedule, expected.run, expected.schedule
                ));
            }
        }
    }
    Ok(Some(Sharded { runs, whole_runs: whole.runs, failed: whole.failure.is_some(), other_distinct }))
}

/// What [`compare_shards`] saw.
pub struct Sharded {
    /// Runs over all shards, and of the unsharded search.
    pub runs: u64,
    pub whole_runs: u64,
    pub failed: bool,
    /// The shards' runs not cut short as redundant are not as many as the unsharded search's (a
    /// passing program). They are on every catalog program; sleep sets keep exactly one run per
    /// class only where no step jumps the clock, cuts threads off or makes a data choice, so the
    /// other branching above the cut can give a few more or fewer.
    pub other_distinct: bool,
}

// ----- minimisation -----

/// Removes operations, workers and objects while the two searches still differ; returns the
/// smallest program found (greedy, one removal at a time, until none helps).
pub fn minimise(p: &Program, cap: u64, bound: Option<u32>) -> Program {
    minimise_while(p, |c| matches!(compare_bounded(c, cap, bound), Comparison::Differ { .. }))
}

/// Removes operations, workers and objects while `differs` holds (see [`minimise`]).
pub fn minimise_while(p: &Program, differs: impl Fn(&Program) -> bool) -> Program {
    let mut best = p.clone();
    loop {
        let better = smaller(&best).into_iter().find(|c| differs(c));
        match better {
            Some(c) => best = c,
            None => return best,
        }
    }
}

/// Every program one removal smaller than `p`.
fn smaller(p: &Program) -> Vec<Program> {
    let mut out = Vec::new();
    // One operation less, anywhere (a spawn goes with its worker, below).
    for (i, op) in p.main.iter().enumerate() {
        if !matches!(op, Op::Spawn(_)) {
            let mut c = p.clone();
            c.main.remove(i);
            out.push(c);
        }
    }
    for w in 0..p.workers.len() {
        for i in 0..p.workers[w].ops.len() {
            let mut c = p.clone();
            c.workers[w].ops.remove(i);
            out.push(c);
            if let Op::Locked(_, body) | Op::Nested(body) = &p.workers[w].ops[i] {
                for j in 0..body.len() {
                    let mut c = p.clone();
                    if let Op::Locked(_, b) | Op::Nested(b) = &mut c.workers[w].ops[i] {
                        b.remove(j);
                    }
                    out.push(c);
                }
            }
        }
    }
    // One worker less, with every main operation naming it; later workers renumbered.
    for k in 0..p.workers.len() {
        let mut c = p.clone();
        c.workers.remove(k);
        c.main.retain(|op| worker_of(op) != Some(k));
        for op in &mut c.main {
            renumber_worker(op, k);
        }
        out.push(c);
    }
    // One unused object less.
    for o in 0..p.objects.len() {
        let used = p.main.iter().chain(p.workers.iter().flat_map(|w| &w.ops)).any(|op| uses(op, o));
        if !used && p.objects.len() > 1 {
            let mut c = p.clone();
            c.objects.remove(o);
            for op in c.main.iter_mut().chain(c.workers.iter_mut().flat_map(|w| &mut w.ops)) {
                renumber_object(op, o);
            }
            out.push(c);
        }
    }
    out
}

fn worker_of(op: &Op) -> Option<usize> {
    match *op {
        Op::Spawn(k) | Op::Join(k) | Op::JoinTimeout(k, _) | Op::Terminate(k) => Some(k),
        _ => None,
    }
}

fn renumber_worker(op: &mut Op, removed: usize) {
    if let Op::Spawn(k) | Op::Join(k) | Op::JoinTimeout(k, _) | Op::Terminate(k) = op {
        if *k > removed {
            *k -= 1;
        }
    }
}

fn uses(op: &Op, o: usize) -> bool {
    op_object(op) == Some(o)
        || matches!(op, Op::Locked(_, body) | Op::Nested(body) if body.iter().any(|b| uses(b, o)))
}

fn renumber_object(op: &mut Op, removed: usize) {
    if let Op::Locked(_, body) | Op::Nested(body) = op {
        for b in body {
            renumber_object(b, removed);
        }
    }
    match op {
        on_object!(o) if *o > removed => {
            *o -= 1;
        }
        _ => {}
    }
}

// ----- the program as Rust source -----

impl Program {
    /// The program as the Rust source of a `check` call a person can paste into a test: the
    /// same operations, logs and final reads as [`Program::run`].
    pub fn to_rust(&self) -> String {
        self.to_rust_bounded(None)
    }

    /// [`Program::to_rust`] with the search under preemption bound `bound`, as the fuzzer
    /// compared it (a difference found under a bound shows only under it).
    pub fn to_rust_bounded(&self, bound: Option<u32>) -> String {
        let body = self.rust_body();
        let used = |name: &str| body.contains(&format!("{name}::"));
        let racelab: Vec<&str> = [
            "Barrier",
            "Condition",
            "Event",
            "Lock",
            "Process",
            "ProcessQueue",
            "Queue",
            "RLock",
            "Semaphore",
        ]
        .into_iter()
        .chain(["Shared", "ThreadPool", "Timer"])
        .filter(|n| used(n))
        .collect();
        let thread: Vec<&str> =
            ["self", "Local"].into_iter().filter(|n| used(if *n == "self" { "thread" } else { n })).collect();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "//! racelab DPOR fuzzer, program {}: printed by `Program::to_rust`; a test file of any crate\n\
             //! that depends on racelab can hold it as it is.\n\
             #![allow(unused_variables, unused_mut)]\n\n\
             use std::collections::BTreeSet;\n\
             use std::sync::{{Arc, Mutex}};",
            self.seed
        );
        if used("Duration") {
            let _ = writeln!(s, "use std::time::Duration;");
        }
        let _ = writeln!(s);
        if body.contains("SeqCst") {
            let _ = writeln!(s, "use racelab::sync::atomic::Ordering::SeqCst;");
        }
        match thread.as_slice() {
            [] => {}
            ["self"] => {
                let _ = writeln!(s, "use racelab::thread;");
            }
            _ => {
                let _ = writeln!(s, "use racelab::thread::{{{}}};", thread.join(", "));
            }
        }
        let mut names = vec!["check", "Config"];
        names.extend(racelab);
        let _ = writeln!(s, "use racelab::{{{}}};\n", names.join(", "));
        let _ = writeln!(
            s,
            "/// The outcomes of the program over an exhaustive search, with DPOR or without.\n\
             pub fn outcomes(dpor: bool) -> BTreeSet<String> {{\n    \
                 let seen = Arc::new(Mutex::new(BTreeSet::new()));\n    \
                 let sink = Arc::clone(&seen);\n    \
                 let config = Config::dfs().dpor(dpor).spurious_wakeups({}){};\n    \
                 let report = check(config, move || {{",
            self.spurious_wakeups,
            bound.map(|b| format!(".preemption_bound({b})")).unwrap_or_default()
        );
        for line in body.lines() {
            let _ = writeln!(s, "    {line}");
        }
        let _ = writeln!(
            s,
            "        sink.lock().unwrap().insert(log.join(\" \"));\n    \
                 }});\n    \
                 report.assert_passed();\n    \
                 assert!(report.exhausted, \"{{report}}\");\n    \
                 let set = seen.lock().unwrap().clone();\n    \
                 set\n\
             }}\n\n\
             #[test]\n\
             fn dpor_reaches_the_plain_searchs_outcomes() {{\n    \
                 assert_eq!(outcomes(true), outcomes(false));\n\
             }}"
        );
        s
    }

    /// The body of the program's main thread, as Rust: objects, spawns, operations, joins and
    /// final reads, ending with the outcome in `log`.
    fn rust_body(&self) -> String {
        let mut s = String::new();
        for (i, o) in self.objects.iter().enumerate() {
            let make = match o {
                Obj::Shared => "Shared::new(0i64)".to_string(),
                Obj::Lock => "Lock::new()".into(),
                Obj::RLock => "RLock::new()".into(),
                Obj::Cond => {
                    format!("{{ let l = Lock::new(); (Condition::new(l), l) }};\n    let (o{i}, o{i}_lock) = o{i}")
                }
                Obj::Event => "Event::new()".into(),
                Obj::Sem { value, bounded: false } => format!("Semaphore::new({value})"),
                Obj::Sem { value, bounded: true } => format!("Semaphore::bounded({value})"),
                Obj::Queue { maxsize } => format!("Queue::<i64>::new({maxsize})"),
                Obj::Barrier { parties } => format!("Barrier::new({parties})"),
                Obj::Pool { workers } => format!("ThreadPool::new({workers})"),
                Obj::PQueue { maxsize } => format!("ProcessQueue::<i64>::new({maxsize})"),
                Obj::Local => "Local::<i64>::new()".into(),
                // Leaked, so that every closure can take the reference (a copy) by `move`.
                Obj::StdCond => {
                    "&*Box::leak(Box::new((racelab::sync::Mutex::new(()), racelab::sync::Mutex::new(()), \
                                 racelab::sync::Condvar::new(), racelab::sync::atomic::AtomicUsize::new(0),)))"
                        .into()
                }
            };
            let _ = writeln!(s, "    let o{i} = {make};");
        }
        let _ = writeln!(s, "    let mut log: Vec<String> = Vec::new();");
        for op in &self.main {
            match *op {
                Op::Spawn(k) => {
                    let w = &self.workers[k];
                    let start = match w.kind {
                        WorkerKind::Thread => format!("thread::Builder::new().name(\"w{k}\".into()).spawn("),
                        WorkerKind::Daemon => {
                            format!("thread::Builder::new().name(\"w{k}\".into()).daemon(true).spawn(")
                        }
                        WorkerKind::Process => format!("Process::start(\"w{k}\", "),
                    };
                    let _ = writeln!(s, "    let w{k} = {start}move || {{");
                    let _ = writeln!(s, "        let mut log: Vec<String> = Vec::new();");
                    for op in &w.ops {
                        rust_op(op, 2, &self.objects, &mut s);
                    }
                    let (tail, spawned) = if w.kind == WorkerKind::Process {
                        ("drop(log);", ")")
                    } else {
                        ("log", ").unwrap()")
                    };
                    let _ = writeln!(s, "        {tail}\n    }}{spawned};");
                }
                Op::Join(k) => {
                    let _ = writeln!(
                        s,
                        "    log.push(format!(\"join{k}={{}}\", w{k}.join().unwrap().join(\",\")));"
                    );
                }
                Op::JoinTimeout(k, t) => {
                    let _ = writeln!(
                        s,
                        "    log.push(format!(\"joined{k}={{}}\", w{k}.join_timeout(Duration::from_secs({t}))));"
                    );
                }
                Op::Terminate(k) => {
                    let _ = writeln!(s, "    w{k}.terminate();");
                }
                ref op => rust_op(op, 1, &self.objects, &mut s),
            }
        }
        let mut joined = BTreeSet::new();
        for op in &self.main {
            if let Op::Join(k) = op {
                joined.insert(*k);
            }
        }
        for (k, w) in self.workers.iter().enumerate() {
            match w.kind {
                WorkerKind::Thread if !joined.contains(&k) => {
                    let _ = writeln!(
                        s,
                        "    log.push(format!(\"join{k}={{}}\", w{k}.join().unwrap().join(\",\")));"
                    );
                }
                WorkerKind::Process => {
                    let _ = writeln!(s, "    w{k}.join();");
                    let _ = writeln!(s, "    log.push(format!(\"exit{k}={{:?}}\", w{k}.exitcode()));");
                }
                _ => {}
            }
        }
        for (i, o) in self.objects.iter().enumerate() {
            let read = match o {
                Obj::Shared => format!("o{i}.load()"),
                Obj::Lock | Obj::RLock => format!("o{i}.locked()"),
                Obj::Cond => format!("o{i}_lock.locked()"),
                Obj::Event => format!("o{i}.is_set()"),
                Obj::Sem { .. } => format!("o{i}.value()"),
                Obj::Queue { .. } => format!(
                    "{{ let mut items = Vec::new(); while let Ok(v) = o{i}.get_nowait() {{ items.push(v); }} format!(\"{{items:?}}\") }}"
                ),
                Obj::Barrier { .. } => format!("format!(\"{{}}/{{}}\", o{i}.n_waiting(), o{i}.broken())"),
                Obj::Pool { .. } => "\"pool\"".into(),
                Obj::PQueue { .. } => format!(
                    "{{ let mut items = Vec::new(); while let Ok(v) = o{i}.get_nowait() {{ items.push(v); }} format!(\"{{items:?}}\") }}"
                ),
                Obj::Local => format!("format!(\"{{:?}}\", o{i}.get())"),
                Obj::StdCond => String::new(),
            };
            if !self.reads_at_end(*o) {
                continue;
            }
            let _ = writeln!(s, "    log.push(format!(\"final{i}={{}}\", {read}));");
        }
        s
    }
}

fn rust_op(op: &Op, depth: usize, objects: &[Obj], s: &mut String) {
    let pad = "    ".repeat(depth);
    let d = |t: &u64| format!("Duration::from_secs({t})");
    let std_cond = op_object(op).is_some_and(|o| objects[o] == Obj::StdCond);
    let line = match op {
        Op::Wait(o, t) if std_cond => format!(
            "{{ let g = o{o}.0.lock().unwrap(); let seen = o{o}.3.load(SeqCst); let (_g, w) = o{o}.2.wait_timeout(g, {}).unwrap(); log.push(format!(\"scw={{seen}},{{}}\", !w.timed_out())); }}",
            d(t)
        ),
        Op::Notify(o) | Op::NotifyAll(o) if std_cond => {
            let call = if matches!(op, Op::Notify(_)) { "notify_one" } else { "notify_all" };
            format!("{{ let _g = o{o}.0.lock().unwrap(); o{o}.3.fetch_add(1, SeqCst); o{o}.2.{call}(); }}")
        }
        Op::Load(o) => format!("log.push(format!(\"ld={{}}\", o{o}.load()));"),
        Op::Store(o, v) => format!("o{o}.store({v});"),
        Op::Add(o) => format!("log.push(format!(\"add={{}}\", o{o}.update(|x| {{ *x += 1; *x }})));"),
        Op::Locked(o, body) => {
            let _ = writeln!(s, "{pad}let got = o{o}.acquire_timeout(Duration::from_secs(2));");
            let _ = writeln!(s, "{pad}log.push(format!(\"locked={{got}}\"));");
            let _ = writeln!(s, "{pad}if got {{");
            for b in body {
                rust_op(b, depth + 1, objects, s);
            }
            let _ = writeln!(s, "{pad}    o{o}.release();");
            "}".to_string()
        }
        Op::TryLock(o) => {
            format!("log.push(format!(\"try={{}}\", o{o}.try_acquire() && {{ o{o}.release(); true }}));")
        }
        Op::Set(o) => format!("o{o}.set();"),
        Op::Clear(o) => format!("o{o}.clear();"),
        Op::IsSet(o) => format!("log.push(format!(\"is_set={{}}\", o{o}.is_set()));"),
        Op::WaitEvent(o, t) => format!("log.push(format!(\"ew={{}}\", o{o}.wait_timeout({})));", d(t)),
        Op::Acquire(o, t) => format!("log.push(format!(\"acq={{}}\", o{o}.acquire_timeout({})));", d(t)),
        Op::Release(o) => format!("log.push(format!(\"rel={{}}\", o{o}.try_release_n(1).is_ok()));"),
        Op::Put(o, v, t) => format!("log.push(format!(\"put={{}}\", o{o}.put_timeout({v}, {}).is_ok()));", d(t)),
        Op::PutNowait(o, v) => format!("log.push(format!(\"putnw={{}}\", o{o}.put_nowait({v}).is_ok()));"),
        Op::Get(o, t) => format!("log.push(format!(\"get={{:?}}\", o{o}.get_timeout({}).ok()));", d(t)),
        Op::GetNowait(o) => format!("log.push(format!(\"getnw={{:?}}\", o{o}.get_nowait().ok()));"),
        Op::Wait(o, t) => format!(
            "if o{o}_lock.acquire_timeout(Duration::from_secs(2)) {{ log.push(format!(\"cw={{}}\", o{o}.wait_timeout({}))); o{o}_lock.release(); }} else {{ log.push(\"cw=busy\".into()); }}",
            d(t)
        ),
        Op::Notify(o) | Op::NotifyAll(o) => {
            let call = if matches!(op, Op::Notify(_)) { "notify" } else { "notify_all" };
            format!(
                "if o{o}_lock.acquire_timeout(Duration::from_secs(2)) {{ o{o}.{call}(); o{o}_lock.release(); }} else {{ log.push(\"notify=busy\".into()); }}"
            )
        }
        Op::WaitSecond(o, t) => format!(
            "{{ let seen = o{o}.3.load(SeqCst); let (_g, w) = o{o}.2.wait_timeout(o{o}.1.lock().unwrap(), {}).unwrap(); log.push(format!(\"scw2={{seen}},{{}}\", !w.timed_out())); }}",
            d(t)
        ),
        Op::NotifyUnlocked(o, all) => format!("o{o}.2.{}();", if *all { "notify_all" } else { "notify_one" }),
        Op::BarrierWait(o, t) => format!("log.push(format!(\"bw={{:?}}\", o{o}.try_wait(Some({})).ok()));", d(t)),
        Op::Abort(o) => format!("o{o}.abort();"),
        Op::Shutdown(o, immediate) => format!("o{o}.shutdown({immediate});"),
        Op::Apply(o, v, t) => {
            format!("log.push(format!(\"apply={{:?}}\", o{o}.apply_async(move || {v}i64).get_timeout({}).ok()));", d(t))
        }
        Op::PPut(o, v, t) => format!("log.push(format!(\"pput={{}}\", o{o}.put_timeout(&{v}, {}).is_ok()));", d(t)),
        Op::PGet(o, t) => format!("log.push(format!(\"pget={{:?}}\", o{o}.get_timeout({}).ok()));", d(t)),
        Op::LocalSet(o, v) => format!("o{o}.set({v});"),
        Op::LocalGet(o) => format!("log.push(format!(\"local={{:?}}\", o{o}.get()));"),
        Op::Timer(o, t, cancel) => {
            let cancel = if *cancel { " t.cancel();" } else { "" };
            format!(
                "{{ let t = Timer::start({}, move || o{o}.set());{cancel} log.push(format!(\"timer={{}}\", t.join())); }}",
                d(t)
            )
        }
        Op::Nested(body) => {
            let _ = writeln!(s, "{pad}let nested = thread::spawn(move || {{");
            let _ = writeln!(s, "{pad}    let mut log: Vec<String> = Vec::new();");
            for b in body {
                rust_op(b, depth + 1, objects, s);
            }
            let _ = writeln!(s, "{pad}    log");
            let _ = writeln!(s, "{pad}}});");
            "log.push(format!(\"nested={}\", nested.join().unwrap().join(\",\")));".to_string()
        }
        Op::Sleep(t) => format!("thread::sleep({});", d(t)),
        Op::Yield => "thread::yield_now();".into(),
        Op::Choose(n) => format!("log.push(format!(\"ch={{}}\", thread::choose({n})));"),
        Op::Spawn(_) | Op::Join(_) | Op::JoinTimeout(..) | Op::Terminate(_) => {
            unreachable!("main's worker operations are printed by to_rust")
        }
    };
    let _ = writeln!(s, "{pad}{line}");
}
