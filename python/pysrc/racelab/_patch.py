"""What a check changes in the interpreter while it runs, and puts back after.

The program under test imports the real ``threading``, ``queue``, ``time``, ``multiprocessing``
and ``concurrent.futures``; for the duration of a check their attributes are racelab's
(``_threading``), so ``import threading`` and ``from threading import Thread`` both get racelab's
classes, and so do standard-library modules that look them up at call time. Also for the
duration: ``os.fork`` and ``_thread.start_new_thread`` refuse (green threads cannot be forked, and
an OS thread would run outside racelab's control), ``sys.stdout``/``sys.stderr`` write into the
run's trace, ``sys.setrecursionlimit`` is capped (green threads have 2 MiB C stacks), and
``signal`` handlers are kept per run and never called (``_signal``).

Scheduling points inside plain Python code come from ``Tracer``: ``sys.settrace`` with line or
opcode events on 3.11, ``sys.monitoring`` LINE or INSTRUCTION events on 3.12+, in the program's
own files only (the standard library and racelab run between scheduling points).
"""

import _thread
import atexit
import concurrent.futures
import concurrent.futures.thread  # noqa: F401 - imported now, not lazily while threading is replaced
import linecache
import logging
import dis
import inspect
import io
import multiprocessing
import multiprocessing.pool
import os
import queue
import random
import select
import signal
import sys
import threading
import time
import types

from . import _racelab
from . import _footprint as fp
from . import _multiprocessing as rl_mp
from . import _signal as rl_signal
from . import _threading as rl

GRANULARITIES = ("sync", "line", "opcode")
MAX_RECURSION = 1000


def _refuse_fork(*_args, **_kwargs):
    raise rl.Unsupported(
        "racelab: os.fork() cannot be simulated: racelab runs Python threads as green threads in one process, "
        "which fork cannot copy. Check the threaded part without fork (start the threads in the child, or use "
        "multiprocessing.Process, which racelab simulates), or see the catalog's `fork` scenario."
    )


def _refuse_os_thread(*_args, **_kwargs):
    raise rl.Unsupported(
        "racelab: the program started an OS thread (_thread.start_new_thread), which would run outside racelab's "
        "control: start threads with threading.Thread, which racelab simulates."
    )


class _RunSelector:
    """An asyncio event loop's selector during a run. The loop waits in ``select(timeout)``: in the
    operating system, where racelab's virtual clock does not move and its other threads do not
    run, so ``await asyncio.sleep(0.1)`` never ended. Here the operating system is only asked
    what is ready now; a wait until the loop's next timer is a virtual ``time.sleep`` (a
    scheduling point; the clock jumps when nothing else can run), and a wait for input or for
    another thread (``call_soon_threadsafe``, ``asyncio.to_thread``) is a virtual sleep of
    ``POLL`` at a time, so that a thread sleeping meanwhile gets to its time: a loop that nothing
    will ever wake ends at the step limit, as a livelock. A peer outside the program (a real
    server) answers in real time, which these virtual waits do not give it."""

    POLL = 0.001

    def __init__(self, selector):
        self._selector = selector

    def select(self, timeout=None):
        ready = self._selector.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        rl.sleep(self.POLL if timeout is None else timeout)
        return self._selector.select(0)

    def __getattr__(self, name):
        return getattr(self._selector, name)


_real_select = select.select


_SELECT_SLICE = 0.01


def _run_select(rlist, wlist, xlist, timeout=None):
    """``select.select`` in a run. With no descriptors it is a sleep, on the virtual clock. With
    some and a timeout, the wait goes in slices: the OS is asked to wait up to ``_SELECT_SLICE``
    of real time (a peer outside the program answers in real time), then a virtual sleep of as
    long lets the other threads run (one may make a descriptor ready) and moves the clock, until
    something is ready or the timeout has passed on the virtual clock. A wait of the whole
    timeout in the OS let no other thread run and kept the clock still, so a loop that polled
    until a deadline never reached it. Without a timeout it blocks in the OS, as before (the
    watchdog ends a hang)."""
    if not (rlist or wlist or xlist):
        if timeout:
            rl.sleep(timeout)
        return [], [], []
    ready = _real_select(rlist, wlist, xlist, 0)
    if timeout is None:
        return ready if any(ready) else _real_select(rlist, wlist, xlist)
    end = rl.monotonic() + timeout
    while not any(ready) and rl.monotonic() < end:
        left = min(_SELECT_SLICE, end - rl.monotonic())
        ready = _real_select(rlist, wlist, xlist, left)
        if not any(ready):
            rl.sleep(left)
            ready = _real_select(rlist, wlist, xlist, 0)
    return ready


def _event_loop_init(original):
    def init(self, selector=None):
        original(self, selector)
        if _racelab.in_run():
            self._selector = _RunSelector(self._selector)

    return init


def _refuse_exit(status=0, *_args):
    raise rl.Unsupported(
        f"racelab: the program called os._exit({status!r}), which ends the interpreter at once, and racelab's "
        "checker with it: racelab-py cannot explore past it. End the program by returning from the main thread "
        "or with sys.exit (racelab runs those), or check the part before the exit."
    )


class _RunStdin(io.TextIOBase):
    """``sys.stdin`` during a check when it is not a terminal (``racelab-py check prog.py < input``):
    every run reads the input from its start, so runs do not depend on each other (run 0 would
    otherwise take it all, and a replay, in a new process, would see what run 0 saw). What any run
    has read is kept; the real input is read further only as far as a run asks (a line at a time
    for ``readline`` and ``input()``, so an endless stream such as ``yes`` serves a program that
    reads one line). ``close()`` closes it for the rest of that run only. ``buffer`` reads the same
    input as bytes, from the same position. Input from a terminal is left as it is."""

    def __init__(self, real):
        self._real = getattr(real, "buffer", None)
        self._encoding = getattr(real, "encoding", None) or "utf-8"
        self._name = getattr(real, "name", "<stdin>")
        self._fileno = real.fileno
        self._data = b""  # what the runs have read so far
        self._eof = self._real is None
        self._pos = 0
        self._closed = False
        self.buffer = _RunStdinBytes(self)

    def new_run(self):
        self._pos = 0
        self._closed = False

    # -- the shared bytes --
    def _need(self, end=None, line=False):
        """Reads the real input until ``end`` bytes are kept (None: to its end), or with ``line``
        until a newline follows the position."""
        while not self._eof:
            if end is not None and len(self._data) >= end:
                return
            if line and self._data.find(b"\n", self._pos) >= 0:
                return
            more = self._real.readline() if line else self._real.read(None if end is None else end - len(self._data))
            if not more:
                self._eof = True
            self._data += more or b""

    def _check_open(self):
        if self._closed:
            raise ValueError("I/O operation on closed file.")

    def _read_bytes(self, size=-1):
        self._check_open()
        if size is None or size < 0:
            self._need()
            end = len(self._data)
        else:
            self._need(self._pos + size)
            end = min(len(self._data), self._pos + size)
        out, self._pos = self._data[self._pos:end], end
        return out

    def _readline_bytes(self, size=-1):
        self._check_open()
        self._need(line=True)
        end = self._data.find(b"\n", self._pos)
        end = len(self._data) if end < 0 else end + 1
        if size is not None and size >= 0:
            end = min(end, self._pos + size)
        out, self._pos = self._data[self._pos:end], end
        return out

    # -- text --
    def read(self, size=-1):
        # Sizes count characters in text; as bytes they are close enough for UTF-8 input and
        # never cut a character (a partial one is read on).
        out = self._read_bytes(size)
        while True:
            try:
                return out.decode(self._encoding)
            except UnicodeDecodeError as e:
                if e.reason != "unexpected end of data" or self._pos >= len(self._data) and self._eof:
                    raise
                out += self._read_bytes(1)

    def readline(self, size=-1):
        return self._readline_bytes(size).decode(self._encoding)

    def readable(self):
        return True

    def _discard_pending(self):
        self._pending = ""

    def isatty(self):
        return False

    def close(self):
        self._closed = True

    @property
    def closed(self):
        return self._closed

    @property
    def encoding(self):
        return self._encoding

    @property
    def name(self):
        return self._name

    def fileno(self):
        return self._fileno()


class _RunStdinBytes(io.RawIOBase):
    """``sys.stdin.buffer`` during a check: the same input as bytes, from the same position."""

    def __init__(self, text):
        self._text = text

    def readable(self):
        return True

    def read(self, size=-1):
        return self._text._read_bytes(size)

    def readall(self):
        return self._text._read_bytes(-1)

    def readline(self, size=-1):
        return self._text._readline_bytes(size)

    def readinto(self, b):
        data = self._text._read_bytes(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self):
        self._text.close()

    @property
    def closed(self):
        return self._text.closed


class _Capture:
    """``sys.stdout``/``sys.stderr`` during a check: inside a run, lines go to the trace."""

    def __init__(self, real):
        self._real = real
        self._pending = ""

    def write(self, text):
        if not _racelab.in_run():
            return self._real.write(text)
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            _racelab.output(line)
        return len(text)

    def flush(self):
        if self._pending and _racelab.in_run():
            _racelab.output(self._pending)
            self._pending = ""

    def isatty(self):
        return False

    def __getattr__(self, name):
        return getattr(self._real, name)


def where(frame):
    """``file:line  source`` of a step, for the trace (only called on traced runs)."""
    if frame is None:
        frame = sys._getframe(1)
    code = frame.f_code
    line = frame.f_lineno or 0
    source = linecache.getline(code.co_filename, line).strip()
    name = os.path.basename(code.co_filename)
    return f"{name}:{line}  {source}"


def where_opcode(frame):
    if frame is None:
        frame = sys._getframe(1)
    text = where(frame)
    try:
        op = dis.opname[frame.f_code.co_code[frame.f_lasti]]
    except (IndexError, AttributeError):
        return text
    return f"{text}  [{op}]"


class OwnFiles:
    """The program's own files, as a set for ``in``: the files given, and with ``directory`` every
    ``.py`` file under it that is not an installed package (a script's sibling modules are its own:
    a race in them must get scheduling points, or the search would prove it absent). Answers are
    cached per file name."""

    def __init__(self, files, directory=None):
        self._files = frozenset(files)
        self._prefix = None if directory is None else os.path.join(directory, "")
        self._known = {}

    def __contains__(self, filename):
        known = self._known.get(filename)
        if known is None:
            known = filename in self._files or (
                self._prefix is not None
                and filename.startswith(self._prefix)
                and filename.endswith(".py")
                and "site-packages" not in filename
                and "dist-packages" not in filename
            )
            self._known[filename] = known
        return known

    def __iter__(self):
        return iter(self._files)


class Tracer:
    """Scheduling points between the lines or instructions of the program's own files, and the
    footprint of each step they begin (``_footprint``) for the reduction."""

    def __init__(self, granularity, files, footprints=True):
        if granularity not in GRANULARITIES:
            raise ValueError(f"racelab: unknown granularity `{granularity}`: use sync, line or opcode")
        self.granularity = granularity
        # Without footprints (a search that ignores them: random, PCT, replays), every step
        # writes everything and the callbacks are racelab's own, which is several times faster.
        self.footprints = footprints and granularity != "sync"
        self.files = files if isinstance(files, OwnFiles) else OwnFiles(files)
        self.monitoring = sys.version_info >= (3, 12)
        self.opcode = granularity == "opcode"
        self._tool = None
        self._codes = []
        self._enabled = set()
        # Code objects whose events `_on_start` turned on in the current run (a module the script
        # imports afresh every run brings new ones each run): kept alive for the run, so ids stay
        # theirs, and let go at the next (see `begin_run`).
        self._run_codes = []
        self._run_enabled = set()
        self.callees = fp.Callees(self.files, _racelab_types(), rl.CALL_FOOTPRINTS)
        self.callees.streams.add(_Capture)

    # -- per check --
    def start(self):
        _racelab.set_where(where_opcode if self.granularity == "opcode" else where)
        _racelab.set_locator(self._locate if self.granularity == "sync" else None)
        _racelab.set_rest_footprint(self.rest_footprint if self.footprints else None)
        if self.granularity == "sync" or not self.monitoring:
            return
        mon = sys.monitoring
        for tool in (mon.DEBUGGER_ID, mon.PROFILER_ID, 3, 4):
            try:
                mon.use_tool_id(tool, "racelab")
            except ValueError:
                continue
            self._tool = tool
            break
        else:
            raise RuntimeError("racelab: every sys.monitoring tool id is taken (a debugger or profiler is active)")
        E = mon.events
        step = E.INSTRUCTION if self.opcode else E.LINE
        if self.footprints:
            # (gen.throw() is a call of a method not understood: it writes everything itself.)
            self._event = step | E.CALL | E.PY_RESUME
            mon.register_callback(self._tool, step, self._on_step)
            mon.register_callback(self._tool, E.CALL, self._on_call)
            mon.register_callback(self._tool, E.PY_RESUME, self._on_resume)
        else:
            self._event = step
            mon.register_callback(self._tool, step, _racelab.point if self.opcode else _racelab.line_point)
        mon.register_callback(self._tool, E.PY_START, self._on_start)
        mon.set_events(self._tool, E.PY_START)
        mon.restart_events()

    def _locate(self):
        """``where`` of the innermost frame of the program's own files, at sync granularity,
        where the trace has no line steps: its primitive operations carry it instead."""
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename not in self.files:
            frame = frame.f_back
        return None if frame is None else where(frame)

    def stop(self):
        _racelab.set_locator(None)
        _racelab.set_rest_footprint(None)
        if self._tool is None:
            return
        mon = sys.monitoring
        mon.set_events(self._tool, 0)
        for code in self._codes + self._run_codes:
            mon.set_local_events(self._tool, code, 0)
        E = mon.events
        for event in (E.INSTRUCTION if self.opcode else E.LINE, E.CALL, E.PY_RESUME, E.PY_START):
            mon.register_callback(self._tool, event, None)
        mon.free_tool_id(self._tool)
        self._tool = None

    def enable_code(self, code):
        """3.12+: turns the events on for ``code`` and every code object nested in it, before the
        first run, so that every run sees the same events (on 3.13, events turned on from a
        function's PY_START miss the start of that call: the first run would differ)."""
        if self._tool is None:
            return
        todo = [code]
        while todo:
            c = todo.pop()
            self._enabled.add(id(c))
            self._codes.append(c)
            sys.monitoring.set_local_events(self._tool, c, self._event)
            todo.extend(k for k in c.co_consts if isinstance(k, type(code)))

    def enable_module_of(self, fn):
        """3.12+: ``enable_code`` for ``fn`` and the functions and classes of its module's file."""
        code = getattr(fn, "__code__", None)
        if code is None:
            return
        self.enable_code(code)
        for value in list(getattr(fn, "__globals__", {}).values()):
            for f in [value] + [v for v in vars(value).values()] if isinstance(value, type) else [value]:
                c = getattr(f, "__code__", None)
                if c is not None and c.co_filename == code.co_filename:
                    self.enable_code(c)

    def _on_start(self, code, _offset):
        # By identity: code objects compare equal by content, and a module imported afresh every
        # run brings new ones equal to the last run's, which need their events turned on too.
        if code.co_filename in self.files and id(code) not in self._enabled and id(code) not in self._run_enabled:
            self._run_enabled.add(id(code))
            self._run_codes.append(code)
            sys.monitoring.set_local_events(self._tool, code, self._event)
            # Events turned on now may miss the start of this call (3.13): that part is unbounded.
            if self.footprints:
                _racelab.touch(fp.ALL)
        return sys.monitoring.DISABLE

    def _on_step(self, code, line_or_offset):
        frame = sys._getframe(1)
        footprint = self.step_footprint(frame, code, frame.f_lasti)
        if not self.opcode and line_or_offset == code.co_firstlineno and code.co_name != "<module>":
            # The line a class body or a lambda starts on: not a point (see `line_point` in
            # threads.rs), but what it runs belongs to the step it runs in.
            _racelab.touch(self.callees.resolve(footprint))
            return
        self._step(footprint, frame)

    def _step(self, footprint, frame):
        """A scheduling point, then the step of ``footprint``: what the run's hidden callers touch
        is added once the step runs (other threads may make one before it does)."""
        _racelab.step(footprint & ~fp.MARKERS, frame)
        late = self.callees.resolve(footprint & fp.MARKERS)
        if late:
            _racelab.touch(late)

    def _on_call(self, code, offset, callable_, arg0):
        footprint = self.callees.record(callable_, arg0, code, offset)
        if footprint or self.callees.everywhere:
            _racelab.touch(self.callees.resolve(footprint))

    def _on_resume(self, code, offset):
        # A generator resumed mid-line runs the rest of that line without a line event, inside
        # the step of the frame that resumed it, whose line's footprint was read when it began:
        # what the generator does may change what that line then does (rebind a name its
        # ``+=`` or call finds), so the rest of the callers' lines counts too, unnarrowed.
        if not self.opcode:
            _racelab.touch(self.callees.resolve(fp.code_info(code).rest_of_line(offset)
                                                | self._above(sys._getframe(1).f_back)))

    def begin_run(self):
        """Per run: what call sites have seen is forgotten, so that a step's footprint depends on
        the run's own schedule only (DPOR compares runs); the code objects of the last run's
        imports are let go."""
        self.callees.new_run()
        self._run_codes.clear()
        self._run_enabled.clear()

    # -- footprints --
    def step_footprint(self, frame, code, offset):
        """What the step beginning at ``offset`` of ``frame`` may touch: this line's rest (or this
        instruction), and what runs when the frame returns into the frames above it."""
        info = fp.code_info(code)
        footprint = info.fp.get(offset, fp.ALL) if self.opcode else info.rest_of_line(offset, frame, self.callees)
        return footprint | self._above(frame.f_back)

    def rest_footprint(self):
        """What the Python code after a primitive operation may touch (``threads.rs``,
        ``record_rest``): the frames from the one that called the operation up."""
        return self.callees.resolve(self._above(sys._getframe(1)))

    def _above(self, frame):
        footprint = 0
        files = self.files
        while frame is not None:
            code = frame.f_code
            if code.co_filename in files:
                info = fp.code_info(code)
                lasti = info.instruction_at(frame.f_lasti)
                if lasti is None:
                    return fp.ALL
                ins = info.by_offset[lasti]
                if ins.opname in fp.CALLS:
                    # The call's own footprint is its callee's (3.11 writes everything for a
                    # call statically, for want of the callee), then the rest of its line.
                    footprint |= self.callees.in_call(code, lasti)
                    if not self.opcode:
                        footprint |= info.rest_after(lasti)
                else:
                    footprint |= info.fp[lasti]
                    if not self.opcode:
                        footprint |= info.rest_of_line(lasti)
            else:
                rest = rl.REST_FOOTPRINTS.get(code)
                if rest is None:
                    return fp.ALL
                footprint |= rest
            frame = frame.f_back
        return footprint

    def start_footprint(self, thread):
        """What a new thread runs before its first scheduling point: its bootstrap, and its target
        up to its first line when the target is the program's own function."""
        if not self.footprints:
            return fp.ALL
        run = type(thread).run
        if run is rl.Thread.run:
            target = thread._target
            target = getattr(target, "__func__", target)
            if isinstance(target, types.FunctionType) and target.__code__.co_filename in self.files:
                return self.callees.everywhere
            return fp.ALL
        code = getattr(run, "__code__", None)
        return self.callees.everywhere if code is not None and code.co_filename in self.files else fp.ALL

    # -- per thread (3.11: settrace is per thread state) --
    def enter_thread(self):
        if self.granularity != "sync" and not self.monitoring:
            sys.settrace(self._call)

    def leave_thread(self):
        if self.granularity != "sync" and not self.monitoring:
            sys.settrace(None)

    def _call(self, frame, event, _arg):
        if frame.f_code.co_filename not in self.files:
            return None
        if not self.footprints:
            if self.opcode:
                frame.f_trace_opcodes = True
                frame.f_trace_lines = False
                return self._opcode_point
            return self._line_point
        if frame.f_code.co_flags & _RESUMABLE and not self.opcode:
            # A generator resumed mid-line runs the rest of that line without a line event (see
            # `_on_resume`: the callers' rest of line too).
            _racelab.touch(self.callees.resolve(fp.code_info(frame.f_code).rest_of_line(frame.f_lasti)
                                                | self._above(frame.f_back)))
        if self.opcode:
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
            return self._opcode
        return self._line

    def _opcode(self, frame, event, _arg):
        if event == "opcode":
            self._step(self.step_footprint(frame, frame.f_code, frame.f_lasti), frame)
        return self._opcode

    def _opcode_point(self, frame, event, _arg):
        if event == "opcode":
            _racelab.point(frame)
        return self._opcode_point

    def _line_point(self, frame, event, _arg):
        if event == "line":
            _racelab.point(frame)
        return self._line_point

    def _line(self, frame, event, _arg):
        if event == "line":
            self._step(self.step_footprint(frame, frame.f_code, frame.f_lasti), frame)
        return self._line


_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _racelab_types():
    return [c for c in vars(_racelab).values() if isinstance(c, type) and c.__module__.startswith("racelab")
            and not issubclass(c, BaseException)]


class _RunRandom(random.Random):
    """``random.Random`` during a check: an instance made in a run without a seed is seeded from
    the module's ``random``, which the run seeds (``begin_run``), so a replay draws the same values
    (Python would seed it from the OS)."""

    def __init__(self, x=None):
        if x is None and _racelab.in_run():
            x = random.getrandbits(64)
        super().__init__(x)

    def seed(self, a=None, version=2):
        if a is None and _racelab.in_run():
            a = random.getrandbits(64)
        super().seed(a, version)


#: The CPUs a run sees (``os.cpu_count()``): fixed, so that a pool sized by default, or by the
#: program from the count, has the same workers on every machine and a schedule replays anywhere.
RUN_CPUS = 2


def _cpu_counts():
    names = [n for n in ("cpu_count", "process_cpu_count") if hasattr(os, n)]
    return {n: (lambda: RUN_CPUS) for n in names}


def _replacements():
    # Imported here, once per check, rather than with racelab (a fifth of its import time).
    import asyncio.selector_events

    loop = asyncio.selector_events.BaseSelectorEventLoop
    return [
        (loop, {"__init__": _event_loop_init(loop.__init__)}),
        (random, {"Random": _RunRandom}),
        (threading, {
            "Thread": rl.Thread, "Lock": rl.Lock, "RLock": rl.RLock, "Condition": rl.Condition,
            "Semaphore": rl.Semaphore, "BoundedSemaphore": rl.BoundedSemaphore, "Event": rl.Event,
            "Barrier": rl.Barrier, "Timer": rl.Timer, "local": rl.local,
            "current_thread": rl.current_thread, "currentThread": rl.currentThread,
            "main_thread": rl.main_thread, "enumerate": rl.enumerate, "active_count": rl.active_count,
            "activeCount": rl.activeCount, "get_ident": rl.get_ident, "get_native_id": rl.get_native_id,
            "__excepthook__": rl._run_excepthook,
        }),
        (_thread, {
            "start_new_thread": _refuse_os_thread, "start_new": _refuse_os_thread,
            "allocate_lock": rl.thread_allocate_lock, "allocate": rl.thread_allocate_lock, "RLock": rl.thread_rlock,
            "interrupt_main": rl_signal.interrupt_main,
        }),
        (queue, {"Queue": rl.Queue, "LifoQueue": rl.LifoQueue, "SimpleQueue": rl.SimpleQueue}),
        (time, {
            "sleep": rl.sleep, "time": rl.time, "time_ns": rl.time_ns, "monotonic": rl.monotonic,
            "monotonic_ns": rl.monotonic_ns, "perf_counter": rl.perf_counter, "perf_counter_ns": rl.perf_counter_ns,
            "localtime": rl.localtime, "gmtime": rl.gmtime, "ctime": rl.ctime, "asctime": rl.asctime,
            "strftime": rl.strftime,
        }),
        (os, {"fork": _refuse_fork, "forkpty": _refuse_fork, "_exit": _refuse_exit, **_cpu_counts(),
              **rl_signal.os_replacements()}),
        (signal, rl_signal.replacements()),
        (select, {"select": _run_select}),
        (atexit, {"register": rl.atexit_register, "unregister": rl.atexit_unregister}),
        (multiprocessing, rl_mp.names()),
        (multiprocessing.pool, {"ThreadPool": rl.ThreadPool, "Pool": rl.ProcessPool}),
        (concurrent.futures, {
            "ThreadPoolExecutor": rl.ThreadPoolExecutor, "ProcessPoolExecutor": rl.ProcessPoolExecutor,
        }),
        (concurrent.futures.thread, {"ThreadPoolExecutor": rl.ThreadPoolExecutor}),
        (concurrent.futures._base, {"_AcquireFutures": rl.AcquireFutures}),
        (sys, {"setrecursionlimit": lambda n: _real_setrecursionlimit(min(n, MAX_RECURSION))}),
    ]


def _outside_runs(replacement, original):
    """A replacement function that is the original outside runs (another OS thread, interpreter
    shutdown); classes are replaced as they are."""
    if isinstance(replacement, type) or original is None or not callable(original):
        return replacement

    def either(*args, **kwargs):
        if _racelab.in_run():
            return replacement(*args, **kwargs)
        return original(*args, **kwargs)

    either.__name__ = getattr(original, "__name__", "racelab_replacement")
    either.__doc__ = getattr(original, "__doc__", None)
    return either


_real_setrecursionlimit = sys.setrecursionlimit
_MISSING = object()


class _LoggingConfig:
    """``logging``'s configuration as it was before a check, put back before every run and after
    the check. A run's ``basicConfig`` or ``addHandler`` makes a handler whose lock is that run's
    (racelab's RLock), and the next run, finding the root logger configured, used it: "an object
    created in another run". Each run now starts from the configuration a fresh interpreter
    running the program would have had: the loggers that existed before the check as they were
    then, and those made since as ``getLogger`` makes them (no handlers or filters, level NOTSET).
    None is removed: a module a run imported keeps its logger, which must stay the one
    ``getLogger`` returns."""

    def __init__(self):
        manager = logging.Logger.manager
        self.loggers = {id(lg): (lg, list(lg.handlers), list(lg.filters), lg.level, lg.propagate, lg.disabled)
                        for lg in [logging.root, *manager.loggerDict.values()] if isinstance(lg, logging.Logger)}
        self.disable = manager.disable
        self.handlers = dict(logging._handlers)
        self.handler_list = list(logging._handlerList)

    def restore(self):
        manager = logging.Logger.manager
        for logger in [logging.root, *manager.loggerDict.values()]:
            if not isinstance(logger, logging.Logger):
                continue
            saved = self.loggers.get(id(logger))
            if saved is not None and saved[0] is logger:
                _, handlers, filters, level, propagate, disabled = saved
            else:
                handlers, filters, level, propagate, disabled = [], [], logging.NOTSET, True, False
            logger.handlers[:] = handlers
            logger.filters[:] = filters
            logger.level, logger.propagate, logger.disabled = level, propagate, disabled
        manager.disable = self.disable
        logging._handlers.clear()
        logging._handlers.update(self.handlers)
        logging._handlerList[:] = self.handler_list
        manager._clear_cache()


class _TrackedModule(types.ModuleType):
    """A module whose attributes a run sets or deletes from outside it (``threading.Lock =
    counting_lock``, ``time.sleep = fake``) are put back before the next run: the module object
    lives on in ``sys.modules`` from run to run, and each run must find it as a fresh interpreter
    would. A module's own ``global`` assignments do not come through here (its internal state),
    nor do changes inside its objects, nor what the import system sets: a submodule bound on its
    package (``xml.dom`` once ``xml.dom.minidom`` is imported) and a module's import attributes,
    which stay as long as the module stays in ``sys.modules`` (undone, the next run found ``xml``
    without ``dom``, and the caller's interpreter after the check without ``__spec__``)."""

    def __setattr__(self, name, value):
        if _racelab.in_run() and not _set_by_import(self, name, value):
            UNDO.append((self, name, self.__dict__.get(name, _MISSING)))
        super().__setattr__(name, value)

    def __delattr__(self, name):
        if _racelab.in_run() and name not in _IMPORT_ATTRIBUTES:
            UNDO.append((self, name, self.__dict__.get(name, _MISSING)))
        super().__delattr__(name)


#: The attributes the import system sets on a module it loads.
_IMPORT_ATTRIBUTES = frozenset(
    "__spec__ __loader__ __file__ __cached__ __path__ __package__ __name__ __builtins__".split())


def _set_by_import(module, name, value):
    """Whether ``module.name = value`` is the import system's: an import attribute, or the
    submodule ``module.name`` bound on its package."""
    if name in _IMPORT_ATTRIBUTES:
        return True
    return isinstance(value, types.ModuleType) and getattr(value, "__name__", None) == f"{module.__name__}.{name}"


#: ``(module, name, value before)`` for every module attribute a run set or deleted, oldest first.
UNDO = []


class _ProcessState:
    """What a run can change in the interpreter beyond its own modules, put back before every run
    and after the check: other modules' attributes (``_TrackedModule``), ``os.environ`` and the
    working directory. A run that set them left them for the next, which then failed where the
    program had not (a monkeypatch wrapped once more every run until ``RecursionError``), and the
    reported run did not replay in a fresh process."""

    def __init__(self):
        self.tracked = 0
        self.environ = dict(os.environ._data)
        self.cwd = os.getcwd()
        self.track_new_modules()

    def track_new_modules(self):
        """Tracks the modules imported since the last call (the standard library's, the
        program's)."""
        modules = list(sys.modules.values())
        if len(modules) == self.tracked:
            return
        self.tracked = len(modules)
        for m in modules:
            if type(m) is types.ModuleType:
                try:
                    m.__class__ = _TrackedModule
                except TypeError:
                    pass

    def restore(self):
        while UNDO:
            module, name, value = UNDO.pop()
            if value is _MISSING:
                module.__dict__.pop(name, None)
            else:
                module.__dict__[name] = value
        if os.environ._data != self.environ:
            for key in [k for k in os.environ._data if k not in self.environ]:
                del os.environ._data[key]
                os.unsetenv(key)
            for key, value in self.environ.items():
                if os.environ._data.get(key) != value:
                    os.environ._data[key] = value
                    os.putenv(key, value)
        try:
            if os.getcwd() == self.cwd:
                return
        except OSError:
            pass
        os.chdir(self.cwd)

    def untrack(self):
        self.restore()
        for m in list(sys.modules.values()):
            if type(m) is _TrackedModule:
                m.__class__ = types.ModuleType


class Patched:
    """The interpreter as a check needs it, from ``__enter__`` to ``__exit__``."""

    def __init__(self, tracer):
        self.tracer = tracer
        self._saved = []

    def __enter__(self):
        # Refused before anything is patched: a check inside a run would put back the outer
        # run's state (``_ProcessState.untrack``) in the middle of it.
        if _racelab.in_run():
            raise RuntimeError("racelab: check/replay cannot be nested: the program under check called "
                               "racelab.check or replay")
        replacements = _replacements()
        # Every original first (a lazy module attribute imports on first access), then the swap.
        for module, attrs in replacements:
            for name in attrs:
                self._saved.append((module, name, getattr(module, name, _MISSING)))
        for module, attrs in replacements:
            for name, value in attrs.items():
                setattr(module, name, _outside_runs(value, getattr(module, name, None)))
        self._stdout, self._stderr, self._stdin = sys.stdout, sys.stderr, sys.stdin
        sys.stdout, sys.stderr = _Capture(sys.stdout), _Capture(sys.stderr)
        global RUN_STDIN
        RUN_STDIN = None
        try:
            piped = sys.stdin is not None and not sys.stdin.isatty()
        except (AttributeError, ValueError, OSError):
            piped = False
        if piped:
            RUN_STDIN = sys.stdin = _RunStdin(sys.stdin)
        self._limit = sys.getrecursionlimit()
        _real_setrecursionlimit(min(self._limit, MAX_RECURSION))
        self._random_state = random.getstate()
        self._excepthook = threading.excepthook
        global LOGGING, PROCESS
        self._outer_logging, self._logging = LOGGING, _LoggingConfig()
        LOGGING = self._logging
        self._outer_process, self._process = PROCESS, _ProcessState()
        PROCESS = self._process
        self.tracer.start()
        return self

    def __exit__(self, *exc):
        self.tracer.stop()
        global LOGGING, PROCESS
        self._process.untrack()
        PROCESS = self._outer_process
        self._logging.restore()
        LOGGING = self._outer_logging
        _racelab.restore_spaces()
        random.setstate(self._random_state)
        threading.excepthook = self._excepthook
        _real_setrecursionlimit(self._limit)
        sys.stdout, sys.stderr, sys.stdin = self._stdout, self._stderr, self._stdin
        for module, name, value in reversed(self._saved):
            if value is _MISSING:
                delattr(module, name)
            else:
                setattr(module, name, value)
        self._saved.clear()
        return False


#: The check's ``sys.stdin`` when it replays piped input to every run (``_RunStdin``), else None.
RUN_STDIN = None

#: ``logging``'s configuration from before the check (``_LoggingConfig``), while one runs.
LOGGING = None

#: The interpreter's state from before the check (``_ProcessState``), while one runs.
PROCESS = None

#: Whether runs draw their ``random`` seed from the schedule (sampling strategies, and replays of
#: schedules that recorded one) or use 0 (exhaustive searches). Set by the check before it runs.
SEED_DRAWN = False


def begin_run():
    """Per run: seeds ``random`` from the run's own schedule (a recorded choice, so a replay draws the
    same values), or with 0 under an exhaustive search."""
    from . import _racelab

    if PROCESS is not None:
        PROCESS.restore()
        PROCESS.track_new_modules()
    random.seed(_racelab.run_seed(SEED_DRAWN))
    threading.excepthook = rl._run_excepthook
    if RUN_STDIN is not None:
        RUN_STDIN.new_run()
    if LOGGING is not None:
        LOGGING.restore()
