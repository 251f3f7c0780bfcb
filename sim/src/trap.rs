//! Traps: a green thread that overflows its stack, or runs too long without a scheduling point,
//! is stopped and reported instead of killing or hanging the process.
//!
//! Both are caught by a signal handler on the exploring OS thread (running on an alternate
//! signal stack, since the faulting stack is full): `SIGSEGV`/`SIGBUS` for a touch of a green
//! thread's guard pages, `SIGURG` sent by the watchdog OS thread. The handler then *abandons*
//! the green thread: corosensei's trap support (`CoroutineTrapHandler::setup_trap_handler`)
//! rewrites the interrupted registers so the coroutine returns to the executor at once, its
//! frames discarded without running their destructors (their heap memory leaks; nothing else
//! does). The executor reports the run as failed (`stack-overflow`, `watchdog`) and the process
//! goes on exploring, tracing and shrinking as for any failure.
//!
//! Discarding frames is only safe where they hold no lock that outlives them. So the handler
//! abandons a thread only when it was interrupted in the program's own code (the object racelab
//! is linked into), not inside racelab's run state (its `RefCell` borrowed), not while
//! panicking; or, for the watchdog, blocked in a system call. Elsewhere (inside `malloc`, say)
//! it waits:
//!
//! * stack overflow: a green stack has a *yellow zone* of [`YELLOW_ZONE`] bytes above the guard
//!   page, protected too. A fault there in code that cannot be abandoned opens that one page and
//!   lets the code go on, one instruction at a time (x86_64's trap flag) until it is back in the
//!   program's code, where it is abandoned. (On aarch64, which has no trap flag, it runs on until
//!   its next fault.) The thread has overflowed either way: the run is reported as a stack
//!   overflow even if it is never abandoned. Only a fault in the guard page itself inside C code,
//!   after the whole yellow zone, cannot be handled: the process then prints why and exits
//!   with 1.
//! * watchdog: the watchdog thread signals again every 10 ms; after [`WATCHDOG_GIVE_UP`] of
//!   failed tries it prints why and exits the process with 1.
//!
//! The same abandoning serves the teardown of a run: a destructor that panics while the executor
//! unwinds a suspended thread would abort the process, so the thread is abandoned first (see
//! [`step_out_of_panic`] and `Executor::tear_down`).
//!
//! This is implemented for Linux on x86_64 and aarch64; elsewhere the stubs at the end keep the
//! old behaviour (an overflow kills the process, a loop without scheduling point hangs, a
//! destructor panicking at teardown aborts).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Bytes above the guard page of every green stack that are protected until an overflow needs
/// them: room for a C library call interrupted by an overflow to finish before its thread is
/// stopped. Added to the configured stack size.
pub(crate) const YELLOW_ZONE: usize = 64 * 1024;

/// How long the watchdog tries to stop a stuck thread before it exits the process.
pub(crate) const WATCHDOG_GIVE_UP: Duration = Duration::from_secs(2);

/// Why a green thread was stopped by a trap, as the executor learns after `resume`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trapped {
    /// Nothing happened.
    None,
    /// The thread overflowed its stack (abandoned, or still running in its yellow zone).
    Overflow,
    /// The watchdog stopped the thread.
    Watchdog,
}

/// What the watchdog and the exploring thread share. The exploring thread ticks `beats` at
/// every step and at every resume; the watchdog fires when it sees no tick for its limit while
/// a green thread runs.
pub(crate) struct Beat {
    beats: AtomicU64,
    in_green: AtomicBool,
    /// The green thread running, for the message of a watchdog that gives up.
    thread: AtomicU32,
    /// `beats + 1` when the watchdog asks the exploring thread to stop the thread running at
    /// that beat; 0 when it asks nothing.
    fire_at: AtomicU64,
    stop: AtomicBool,
}

impl Beat {
    fn new() -> Self {
        Beat {
            beats: AtomicU64::new(0),
            in_green: AtomicBool::new(false),
            thread: AtomicU32::new(0),
            fire_at: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// One step made (or one resume): the thread running is not stuck. Only the exploring
    /// thread writes `beats`, so a load and a store do (no read-modify-write on the hot path).
    #[inline]
    pub(crate) fn tick(&self) {
        self.beats.store(self.beats.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    pub(crate) fn enter_green(&self, thread: u32) {
        self.tick();
        self.thread.store(thread, Ordering::Relaxed);
        self.in_green.store(true, Ordering::Relaxed);
    }

    pub(crate) fn leave_green(&self) {
        self.in_green.store(false, Ordering::Relaxed);
    }
}

/// The watchdog of one exploring OS thread: an OS thread of its own, the one place besides
/// `parallel.rs` where racelab reads the OS clock and spawns an OS thread. It never touches a
/// run: it reads `Beat` and sends a signal.
pub(crate) struct Watchdog {
    beat: Arc<Beat>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Watches the calling OS thread: a green thread running `limit` without a step is stopped.
    /// `None` (no limit) watches nothing but still hands out a `Beat`.
    pub(crate) fn start(limit: Option<Duration>) -> Self {
        let beat = Arc::new(Beat::new());
        let thread = limit.filter(|_| imp::SUPPORTED).map(|limit| {
            let target = imp::current_thread();
            let b = Arc::clone(&beat);
            std::thread::Builder::new()
                .name("racelab-watchdog".into())
                .spawn(move || watch(&b, limit, target))
                .expect("racelab: could not start the watchdog thread")
        });
        Watchdog { beat, thread }
    }

    pub(crate) fn beat(&self) -> &Arc<Beat> {
        &self.beat
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.beat.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[allow(clippy::disallowed_methods, reason = "the watchdog measures wall time, outside every run")]
fn watch(beat: &Beat, limit: Duration, target: imp::OsThread) {
    use std::time::Instant;
    let period = (limit / 10).clamp(Duration::from_millis(5), Duration::from_millis(500));
    let mut seen = beat.beats.load(Ordering::Relaxed);
    let mut since = Instant::now();
    let mut firing_since: Option<Instant> = None;
    while !beat.stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(if firing_since.is_some() { Duration::from_millis(10) } else { period });
        let now_beats = beat.beats.load(Ordering::Relaxed);
        if now_beats != seen || !beat.in_green.load(Ordering::Relaxed) {
            seen = now_beats;
            since = Instant::now();
            firing_since = None;
            beat.fire_at.store(0, Ordering::Relaxed);
            continue;
        }
        if since.elapsed() < limit {
            continue;
        }
        let first = *firing_since.get_or_insert_with(Instant::now);
        if first.elapsed() > WATCHDOG_GIVE_UP {
            imp::give_up(beat.thread.load(Ordering::Relaxed), since.elapsed());
        }
        beat.fire_at.store(now_beats.wrapping_add(1), Ordering::Relaxed);
        imp::interrupt(target);
    }
}

pub(crate) use imp::{enter, install, leave, prepare_stack, step_out_of_panic};

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use std::cell::Cell;
    use std::ptr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Once;
    use std::time::Duration;

    use corosensei::stack::{DefaultStack, Stack};
    use corosensei::trap::{CoroutineTrapHandler, TrapHandlerRegs};

    use super::{Beat, Trapped, YELLOW_ZONE};

    pub(super) const SUPPORTED: bool = true;
    const PAGE: usize = 4096;
    const WATCHDOG_SIGNAL: libc::c_int = libc::SIGURG;

    pub(super) type OsThread = libc::pthread_t;

    /// Why a green thread runs one instruction at a time.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Stepping {
        Off,
        /// Out of C code after an overflow, to be abandoned in the program's code (x86_64 only).
        #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
        Overflow,
        /// Out of the panic machinery, to be abandoned where its unwinder would start.
        Teardown,
    }

    /// Where the unwinder starts a panic (`_Unwind_RaiseException`), 0 if unknown.
    static UNWIND_START: AtomicUsize = AtomicUsize::new(0);

    /// What the handler needs to know about the green thread running on this OS thread.
    #[derive(Clone, Copy)]
    pub(crate) struct Guarded {
        handler: CoroutineTrapHandler<()>,
        /// Top of the stack (exclusive).
        base: usize,
        /// The yellow zone: `[yellow_lo, yellow_hi)`; the guard page is just below `yellow_lo`.
        yellow_lo: usize,
        yellow_hi: usize,
        beat: *const Beat,
    }

    thread_local! {
        static ACTIVE: Cell<Option<Guarded>> = const { Cell::new(None) };
        static TRAPPED: Cell<Trapped> = const { Cell::new(Trapped::None) };
        static ALTSTACK: Cell<bool> = const { Cell::new(false) };
        /// Why the current green thread is single-stepped, if it is.
        static STEPPING: Cell<Stepping> = const { Cell::new(Stepping::Off) };
        /// The current green thread's destructor panicked during its teardown: the abort that
        /// ends such a panic abandons the thread instead.
        static ABORT_ARMED: Cell<bool> = const { Cell::new(false) };
    }

    /// The code of the object racelab is linked into (executable or library): `[lo, hi)` ranges.
    static CODE: [(AtomicUsize, AtomicUsize); 8] = [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 8];
    static mut PREVIOUS: [Option<libc::sigaction>; 5] = [None, None, None, None, None];

    fn slot(sig: libc::c_int) -> usize {
        match sig {
            libc::SIGSEGV => 0,
            libc::SIGBUS => 1,
            libc::SIGTRAP => 3,
            libc::SIGABRT => 4,
            _ => 2,
        }
    }

    /// Sets or clears the trap flag (single-step) in the interrupted context.
    ///
    /// # Safety
    /// `ctx` is the handler's ucontext.
    unsafe fn single_step(ctx: *mut libc::c_void, on: bool) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            const TF: i64 = 1 << 8;
            // SAFETY: per the contract.
            let uc = unsafe { &mut *(ctx as *mut libc::ucontext_t) };
            let efl = &mut uc.uc_mcontext.gregs[libc::REG_EFL as usize];
            *efl = if on { *efl | TF } else { *efl & !TF };
            STEPPING.with(|s| s.set(if on { Stepping::Overflow } else { Stepping::Off }));
            true
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (ctx, on);
            false
        }
    }

    /// Installs the handlers once per process and an alternate signal stack for this thread.
    pub(crate) fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            find_code();
            // SAFETY: dlsym with a NUL-terminated name only looks the symbol up.
            let start = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_Unwind_RaiseException".as_ptr()) };
            UNWIND_START.store(start as usize, Ordering::Relaxed);
            for sig in [libc::SIGSEGV, libc::SIGBUS, WATCHDOG_SIGNAL, libc::SIGTRAP, libc::SIGABRT] {
                // SAFETY: zeroed sigactions are valid values to fill in; `on_signal` has the
                // signature SA_SIGINFO asks for; the previous action is read and kept for
                // chaining before the new handler is installed (only here, once).
                unsafe {
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, ptr::null(), &mut old) != 0 {
                        continue;
                    }
                    (*ptr::addr_of_mut!(PREVIOUS))[slot(sig)] = Some(old);
                    let mut new: libc::sigaction = std::mem::zeroed();
                    new.sa_sigaction = on_signal as *const () as usize;
                    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                    libc::sigemptyset(&mut new.sa_mask);
                    libc::sigaction(sig, &new, ptr::null_mut());
                }
            }
        });
        install_for_thread();
    }

    /// Makes sure this OS thread has an alternate signal stack: the handler cannot run on a
    /// green stack that just overflowed. Threads started by `std` have one; others get one here,
    /// kept until the process ends.
    fn install_for_thread() {
        if ALTSTACK.with(|a| a.replace(true)) {
            return;
        }
        // SAFETY: a zeroed stack_t is a valid value; sigaltstack with a null new stack only
        // reads the current one into `old`.
        let old = unsafe {
            let mut old: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(ptr::null(), &mut old);
            old
        };
        if old.ss_flags & libc::SS_DISABLE == 0 {
            return;
        }
        let size = 64 * 1024;
        // SAFETY: an anonymous private mapping of `size` bytes, checked for failure; it is never
        // unmapped, so the alternate stack stays valid for the thread's whole life.
        unsafe {
            let mem = libc::mmap(
                ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if mem == libc::MAP_FAILED {
                return;
            }
            let stack = libc::stack_t { ss_sp: mem, ss_flags: 0, ss_size: size };
            libc::sigaltstack(&stack, ptr::null_mut());
        }
    }

    fn find_code() {
        unsafe extern "C" fn each(
            info: *mut libc::dl_phdr_info,
            _: libc::size_t,
            data: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: dl_iterate_phdr hands a valid info for the duration of the call; `data`
            // is the `usize` passed below.
            unsafe {
                let me = *(data as *const usize);
                let info = &*info;
                let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
                let segment = |p: &libc::Elf64_Phdr| {
                    let lo = info.dlpi_addr as usize + p.p_vaddr as usize;
                    (lo, lo + p.p_memsz as usize)
                };
                let loads = phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD);
                if !loads.clone().any(|p| {
                    let (lo, hi) = segment(p);
                    (lo..hi).contains(&me)
                }) {
                    return 0;
                }
                let code = loads.filter(|p| p.p_flags & libc::PF_X != 0);
                for (i, p) in code.take(CODE.len()).enumerate() {
                    let (lo, hi) = segment(p);
                    CODE[i].0.store(lo, Ordering::Relaxed);
                    CODE[i].1.store(hi, Ordering::Relaxed);
                }
                1
            }
        }
        let mut me = find_code as *const () as usize;
        // SAFETY: the callback only reads what the loader hands it and writes atomics.
        unsafe { libc::dl_iterate_phdr(Some(each), (&mut me as *mut usize).cast()) };
    }

    fn in_own_code(pc: usize) -> bool {
        CODE.iter().any(|(lo, hi)| (lo.load(Ordering::Relaxed)..hi.load(Ordering::Relaxed)).contains(&pc))
    }

    /// Protects the yellow zone of a green stack (the lowest [`YELLOW_ZONE`] bytes above its
    /// guard page): for a new stack, and for a recycled one whose yellow pages an overflow opened.
    pub(crate) fn prepare_stack(stack: &DefaultStack) {
        let lo = stack.limit().get();
        // SAFETY: `[lo, lo + YELLOW_ZONE)` lies inside the stack's own mapping (it was made
        // YELLOW_ZONE bytes larger than the configured size), and no coroutine runs on it now.
        let r = unsafe { libc::mprotect(lo as *mut libc::c_void, YELLOW_ZONE, libc::PROT_NONE) };
        assert_eq!(r, 0, "racelab: could not protect a green stack's yellow zone");
    }

    /// Called from the panic hook for a destructor that panicked while its green thread is torn
    /// down. The hook returns, so the panic machinery releases the hook's lock and leaves its
    /// "in hook" state. Then, on x86_64, the thread runs one instruction at a time to the entry of
    /// the unwinder, where the signal handler abandons it before the unwind reaches the cleanup
    /// code that aborts. Elsewhere (or should the stepping miss that entry) the panic runs on to
    /// that abort, whose `SIGABRT` abandons the thread instead (std has printed "thread caused
    /// non-unwinding panic. aborting." by then). Returns false where neither can be done (no
    /// green thread armed).
    pub(crate) fn step_out_of_panic() -> bool {
        if ACTIVE.with(|a| a.get()).is_none() {
            return false;
        }
        ABORT_ARMED.with(|a| a.set(true));
        if !cfg!(target_arch = "x86_64") || UNWIND_START.load(Ordering::Relaxed) == 0 {
            return true;
        }
        STEPPING.with(|s| s.set(Stepping::Teardown));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: sets the trap flag (EFLAGS bit 8), which user code may set; the SIGTRAP each
        // instruction then raises is handled above (Stepping::Teardown). The stack is left as
        // it was found.
        unsafe {
            std::arch::asm!("pushfq", "or qword ptr [rsp], 0x100", "popfq");
        }
        true
    }

    /// Arms the handler for the green thread about to be resumed on `stack`.
    pub(crate) fn enter(handler: CoroutineTrapHandler<()>, base: usize, limit: usize, beat: &Beat) {
        TRAPPED.with(|t| t.set(Trapped::None));
        ACTIVE.with(|a| {
            a.set(Some(Guarded { handler, base, yellow_lo: limit, yellow_hi: limit + YELLOW_ZONE, beat }))
        });
    }

    /// Disarms the handler after `resume` came back; says whether a trap stopped the thread.
    pub(crate) fn leave() -> Trapped {
        ACTIVE.with(|a| a.set(None));
        STEPPING.with(|s| s.set(Stepping::Off));
        ABORT_ARMED.with(|a| a.set(false));
        TRAPPED.with(|t| t.replace(Trapped::None))
    }

    pub(super) fn current_thread() -> OsThread {
        // SAFETY: always safe.
        unsafe { libc::pthread_self() }
    }

    pub(super) fn interrupt(t: OsThread) {
        // SAFETY: `t` is the exploring thread, alive while its Watchdog (which joins this
        // thread before it goes) lives.
        unsafe { libc::pthread_kill(t, WATCHDOG_SIGNAL) };
    }

    pub(super) fn give_up(thread: u32, ran: Duration) -> ! {
        let msg = format!(
            "racelab: thread t{thread} ran {} s of wall time without a scheduling point, and racelab could not stop it \
             safely (it stays inside a C library call); the process exits. A loop that touches no racelab primitive, \
             or a wait in the OS that racelab cannot see (a std::sync::Mutex, blocking I/O)?\n",
            ran.as_secs()
        );
        fatal(msg.as_bytes())
    }

    fn fatal(msg: &[u8]) -> ! {
        // SAFETY: write(2) and _exit(2) are async-signal-safe; `msg` is a valid buffer.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(1)
        }
    }

    struct Regs {
        pc: usize,
        sp: usize,
    }

    /// # Safety
    /// `ctx` is the `ucontext_t` the kernel handed the handler.
    unsafe fn regs(ctx: *mut libc::c_void) -> Regs {
        // SAFETY: per the contract, `ctx` points at a valid ucontext_t.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        #[cfg(target_arch = "x86_64")]
        {
            Regs {
                pc: uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize,
                sp: uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize,
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            Regs { pc: uc.uc_mcontext.pc as usize, sp: uc.uc_mcontext.sp as usize }
        }
    }

    /// True when the interrupted instruction is (or was just) a system call: the thread waits
    /// in the kernel, holding nothing in user space that it could be half-way through changing.
    fn at_syscall(pc: usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the interrupted instruction was just executed, so the page holding `pc` is
        // mapped; `pc - 2` is read only when it lies in the same page. (A restarted system call
        // points at its instruction, an interrupted one just past it.)
        unsafe {
            let at = |p: usize| ptr::read_volatile(p as *const [u8; 2]) == [0x0f, 0x05];
            at(pc) || (pc % PAGE >= 2 && at(pc - 2))
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above, with 4-byte instructions.
        unsafe {
            let at = |p: usize| ptr::read_volatile(p as *const u32) == 0xd400_0001;
            at(pc) || (pc % PAGE >= 4 && at(pc - 4))
        }
    }

    /// The thread may be abandoned here: the program's own code, racelab's run state not
    /// borrowed, no panic in progress.
    fn abandonable(pc: usize) -> bool {
        in_own_code(pc) && !crate::rt::run_state_borrowed() && !crate::rt::panicking()
    }

    /// # Safety
    /// `ctx` is the handler's ucontext and the interrupted code runs on `g`'s stack.
    unsafe fn abandon(g: &Guarded, ctx: *mut libc::c_void) {
        // SAFETY: the caller checked that the thread runs on this coroutine's stack and may be
        // abandoned; the registers are then rewritten as setup_trap_handler asks.
        let regs = unsafe { g.handler.setup_trap_handler(|| ()) };
        // SAFETY: `ctx` is the handler's; the trampoline must not run single-stepped.
        unsafe { single_step(ctx, false) };
        // SAFETY: `ctx` is a valid ucontext_t the kernel restores when the handler returns.
        let uc = unsafe { &mut *(ctx as *mut libc::ucontext_t) };
        #[cfg(target_arch = "x86_64")]
        {
            let TrapHandlerRegs { rip, rsp, rbp, rdi, rsi } = regs;
            uc.uc_mcontext.gregs[libc::REG_RIP as usize] = rip as i64;
            uc.uc_mcontext.gregs[libc::REG_RSP as usize] = rsp as i64;
            uc.uc_mcontext.gregs[libc::REG_RBP as usize] = rbp as i64;
            uc.uc_mcontext.gregs[libc::REG_RDI as usize] = rdi as i64;
            uc.uc_mcontext.gregs[libc::REG_RSI as usize] = rsi as i64;
        }
        #[cfg(target_arch = "aarch64")]
        {
            let TrapHandlerRegs { pc, sp, x0, x1, x29, lr } = regs;
            uc.uc_mcontext.pc = pc;
            uc.uc_mcontext.sp = sp;
            uc.uc_mcontext.regs[0] = x0;
            uc.uc_mcontext.regs[1] = x1;
            uc.uc_mcontext.regs[29] = x29;
            uc.uc_mcontext.regs[30] = lr;
        }
    }

    extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: errno is thread-local and restored before returning, so the interrupted code
        // never sees the handler's.
        let errno = unsafe { *libc::__errno_location() };
        // SAFETY: `info` and `ctx` come from the kernel for this signal.
        let handled = unsafe { handle(sig, info, ctx) };
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
        if !handled {
            // SAFETY: the kernel's arguments, handed on unchanged.
            unsafe { chain(sig, info, ctx) };
        }
    }

    /// # Safety
    /// The arguments of a signal handler.
    unsafe fn handle(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) -> bool {
        // SAFETY: see the function's contract.
        let r = unsafe { regs(ctx) };
        if sig == libc::SIGTRAP {
            let mode = STEPPING.with(|s| s.get());
            if mode == Stepping::Off {
                return false;
            }
            match ACTIVE.with(|a| a.get()) {
                Some(g) if mode == Stepping::Teardown => {
                    if r.pc == UNWIND_START.load(Ordering::Relaxed)
                        && (g.yellow_lo - PAGE..g.base).contains(&r.sp)
                    {
                        // SAFETY: the destructor's panic is about to unwind; nothing is held.
                        unsafe { abandon(&g, ctx) };
                    }
                }
                Some(g) if (g.yellow_lo - PAGE..g.base).contains(&r.sp) => {
                    if abandonable(r.pc) {
                        // SAFETY: back in the program's code after an overflow.
                        unsafe { abandon(&g, ctx) };
                    }
                }
                // Left the green stack (it suspended): stop stepping, the executor reports
                // the overflow.
                // SAFETY: `ctx` is the handler's.
                _ => unsafe {
                    single_step(ctx, false);
                },
            }
            return true;
        }
        let Some(g) = ACTIVE.with(|a| a.get()) else { return sig == WATCHDOG_SIGNAL };
        let guard_lo = g.yellow_lo - PAGE;
        if sig == libc::SIGABRT {
            if ABORT_ARMED.with(|a| a.replace(false)) && (guard_lo..g.base).contains(&r.sp) {
                // SAFETY: std's abort of a panic in a destructor during the teardown unwind: the
                // unwinder has handed over to the cleanup code and the hook has returned, so
                // nothing is held (glibc's abort releases its lock before it raises).
                unsafe { abandon(&g, ctx) };
                return true;
            }
            return false;
        }
        if sig == WATCHDOG_SIGNAL {
            // SAFETY: `beat` outlives every run of the executor that armed the handler.
            let beat = unsafe { &*g.beat };
            let asked = beat.fire_at.load(Ordering::Relaxed);
            let on_green_stack = (guard_lo..g.base).contains(&r.sp);
            if asked != 0 && asked == beat.beats.load(Ordering::Relaxed).wrapping_add(1) && on_green_stack {
                let blocked = at_syscall(r.pc) && !crate::rt::run_state_borrowed();
                if abandonable(r.pc) || blocked {
                    beat.fire_at.store(0, Ordering::Relaxed);
                    TRAPPED.with(|t| t.set(Trapped::Watchdog));
                    // SAFETY: the thread runs on this coroutine's stack and may be abandoned.
                    unsafe { abandon(&g, ctx) };
                }
            }
            return true;
        }
        // SAFETY: a SIGSEGV/SIGBUS siginfo carries the faulting address.
        let addr = unsafe { (*info).si_addr() } as usize;
        if !(guard_lo..g.yellow_hi).contains(&addr) {
            return false;
        }
        TRAPPED.with(|t| t.set(Trapped::Overflow));
        if abandonable(r.pc) {
            // SAFETY: the fault is this coroutine's overflow, in code that may be abandoned.
            unsafe { abandon(&g, ctx) };
            return true;
        }
        if addr >= g.yellow_lo {
            let page = addr & !(PAGE - 1);
            // SAFETY: the page is in this stack's yellow zone; opening it lets the interrupted
            // code go on. It is protected again before the stack is reused.
            let opened = unsafe {
                libc::mprotect(page as *mut libc::c_void, PAGE, libc::PROT_READ | libc::PROT_WRITE)
            } == 0;
            // SAFETY: `ctx` is the handler's: step out of the C code to abandon the thread.
            unsafe { single_step(ctx, true) };
            return opened;
        }
        fatal(
            b"racelab: a green thread overflowed its stack, and its yellow zone too, inside a C library call where racelab \
              cannot stop it safely; the process exits. Unbounded recursion? A deep but finite one needs a larger stack \
              (Config::stack_size).\n",
        )
    }

    /// Hands a signal racelab does not handle to the handler that was there before.
    ///
    /// # Safety
    /// The arguments of a signal handler.
    unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: PREVIOUS is written once, before the handler is installed, and only read after.
        let previous = unsafe { (*ptr::addr_of!(PREVIOUS))[slot(sig)] };
        let Some(old) = previous else { return };
        if old.sa_sigaction == libc::SIG_IGN {
            return;
        }
        if old.sa_sigaction == libc::SIG_DFL {
            if sig != WATCHDOG_SIGNAL {
                // Restore the default and return: a fault happens again, and abort() raises
                // again, and kill the process as they would have without racelab; a trap
                // (breakpoint) is past its instruction, so it is raised again.
                // SAFETY: restoring a previously valid action; raise is async-signal-safe and
                // the signal stays blocked until the handler returns.
                unsafe {
                    libc::sigaction(sig, &old, ptr::null_mut());
                    if sig == libc::SIGTRAP {
                        libc::raise(sig);
                    }
                }
            }
            return;
        }
        if old.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this type.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(old.sa_sigaction) };
            f(sig, info, ctx);
        } else {
            // SAFETY: without SA_SIGINFO the previous handler takes the signal number only.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(old.sa_sigaction) };
            f(sig);
        }
    }
}

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
mod imp {
    //! No traps on this platform: an overflow kills the process, the watchdog does not run.
    use std::time::Duration;

    use corosensei::stack::DefaultStack;
    use corosensei::trap::CoroutineTrapHandler;

    use super::{Beat, Trapped};

    pub(super) const SUPPORTED: bool = false;
    pub(super) type OsThread = ();

    #[derive(Clone, Copy)]
    pub(crate) struct Guarded;

    pub(crate) fn install() {}
    pub(crate) fn prepare_stack(_: &DefaultStack) {}
    pub(crate) fn enter(_: CoroutineTrapHandler<()>, _: usize, _: usize, _: &Beat) {}
    pub(crate) fn leave() -> Trapped {
        Trapped::None
    }
    pub(crate) fn step_out_of_panic() -> bool {
        false
    }
    pub(super) fn current_thread() -> OsThread {}
    pub(super) fn interrupt(_: OsThread) {}
    pub(super) fn give_up(_: u32, _: Duration) -> ! {
        std::process::exit(1)
    }
}
