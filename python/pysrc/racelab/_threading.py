"""racelab's stand-ins for ``threading``, ``queue``, ``time``, ``multiprocessing`` and the thread
pools, used while a check runs.

The primitives themselves are racelab's (``_racelab``: Python semantics, virtual clock, every
wake-up order a recorded choice). This module adds what is Python-shaped around them: the
``Thread`` class and its bootstrap (an uncaught exception reported as ``threading.excepthook``
prints it), the per-run thread registry behind ``current_thread``/``enumerate``/``active_count``,
``threading.local``, ``Timer``, a ``multiprocessing.Process``/``Queue`` on green threads (items
copied by pickling, as a pipe would), and a ``ThreadPool``/``ThreadPoolExecutor`` whose workers
are racelab threads.
"""

import _thread
import atexit as _atexit
import os as _os
import threading as _real_threading
import pickle
import queue as _queue_module
import sys
import traceback

from . import _footprint as fp
from . import _racelab

ThreadExit = _racelab.ThreadExit


class Unsupported(BaseException):
    """Something racelab cannot simulate (``os.fork``, an OS thread): the check is refused."""


# ----- the run's thread registry -----


class _Run:
    """Per-run state: the threads by ident, in start order, and the name counters (threads,
    processes, pipes), which start again every run as in a fresh interpreter."""

    def __init__(self):
        self.threads = {}
        self.counter = 0
        self.processes = 0
        self.pipes = 0
        self.tracer = None
        # ``signal.signal``'s handlers set in this run, by signal number (see ``_signal``).
        self.signal_handlers = {}
        # The exception a program's own excepthook handed on to ``_run_excepthook``, if any.
        self.handed_on = None
        self.hooking = False
        # Futures made so far (``_RunFuture``'s numbers).
        self.futures = 0
        # ``atexit.register``'s calls in this run, oldest first: ``(function, args, kwargs)``.
        self.exit_handlers = []
        # Threads made so far (``Thread.__hash__``'s numbers).
        self.thread_objects = 0
        # Whether the main module has returned (``threading._shutdown`` has stopped the main
        # thread), and the event its joiners wait on, made by the first of them.
        self.main_stopped = False
        self.main_done = None
        # ``threading._register_atexit``'s calls in this run (the executors' wake-ups of their
        # idle workers), called before the non-daemon threads are joined.
        self.threading_exit_calls = []
        # Thread pool executors named by default so far (``ThreadPoolExecutor-N``'s ``N``).
        self.executors = 0
        # The clock as the program reads it (see ``_read_ns``): the last read, and how far the
        # reads have run ahead of the virtual clock.
        self.clock_read_ns = -1
        self.clock_drift_ns = 0


_run = _Run()


def _reset_run(tracer):
    global _run
    _run = _Run()
    _run.tracer = tracer
    if tracer is not None:
        tracer.begin_run()
    main = _MainThread()
    _run.threads[main.ident] = main


def _ident_of(engine_id):
    # Python's idents are never 0 (``if t.ident:`` is a common test): the engine's main is 0.
    return engine_id + 1


def get_ident():
    return _ident_of(_racelab.current_ident())


get_native_id = get_ident


def current_thread():
    t = _run.threads.get(get_ident())
    if t is None:
        t = _DummyThread()
    return t


currentThread = current_thread


def main_thread():
    return _run.threads[_ident_of(0)]


def enumerate():
    return [t for t in list(_run.threads.values()) if t.is_alive()]


def active_count():
    return len(enumerate())


activeCount = active_count


_HERE = __file__.rsplit("/", 1)[0]


def _location(exc):
    """``file:line`` of the innermost frame of ``exc``'s traceback, or ``""``."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_HERE):
            last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    return f"{last.tb_frame.f_code.co_filename}:{last.tb_lineno}"


def _strip_racelab_frames(exc):
    """The traceback without the bootstrap's own frames (racelab's files)."""
    out = []
    skip = False
    for chunk in traceback.format_exception(exc):
        for line in chunk.splitlines(keepends=True):
            if line.startswith('  File "'):
                skip = line[len('  File "'):].startswith(_HERE)
            elif not line.startswith("    "):
                skip = False
            if not skip:
                out.append(line)
    return "".join(out)


def _outcome(exc, thread_name, main):
    """How a thread ended with ``exc`` uncaught (see ``threads.rs``)."""
    if isinstance(exc, Unsupported):
        return ("unsupported", str(exc))
    mark = getattr(exc, "_racelab_misuse", None)
    if mark is not None:
        return ("misuse", mark[0], mark[1])
    text = _strip_racelab_frames(exc)
    if not main:
        text = f"Exception in thread {thread_name}:\n{text}"
    return ("exception", text, _location(exc))


def _stop_main():
    """What ``threading._shutdown`` does first once the main module has returned: the main thread
    is no longer alive for the others, and whoever joins it returns."""
    _run.main_stopped = True
    if _run.main_done is not None:
        _run.main_done.set()


def _at_exit():
    """What the interpreter does once the main module has returned: wait for the threads that are
    not daemons (``threading._shutdown``), then call the ``atexit`` handlers the program's own code
    registered in this run, newest first (one a thread registers on its way out counts too).
    They used to pile up and run at racelab-py's own exit, once per run. An exception one raises
    fails the run, as an uncaught exception in a thread does (CPython prints it and goes on)."""
    handlers = _run.exit_handlers
    me = current_thread()
    for call in reversed(_run.threading_exit_calls):
        call()
    while True:
        waiting = [t for t in enumerate() if t is not me and not t.daemon]
        if not waiting:
            break
        for t in waiting:
            Thread.join(t)  # not an override: CPython's shutdown waits on the thread itself
    while handlers:
        function, args, kwargs = handlers.pop()
        function(*args, **kwargs)


def atexit_register(function, /, *args, **kwargs):
    """``atexit.register`` in a run, from the program's own code: called when this run's main
    module has returned. The standard library's and installed packages' registrations are the
    interpreter's (``weakref.finalize``'s, once per process, must not end with a run). A
    ``multiprocessing.Process`` ends with ``os._exit``, which runs no handlers: its own are
    dropped, as in CPython."""
    if not callable(function):
        raise TypeError("the first argument must be callable")
    if _library_file(_maker_file()):
        return _REAL_ATEXIT_REGISTER(function, *args, **kwargs)
    if not isinstance(current_thread(), Process):
        _run.exit_handlers.append((function, args, kwargs))
    return function


def atexit_unregister(function, /):
    """``atexit.unregister`` in a run: forgets every registration of ``function`` in this run (the
    interpreter's too, for the library's)."""
    if _library_file(_maker_file()):
        return _REAL_ATEXIT_UNREGISTER(function)
    _run.exit_handlers[:] = [h for h in _run.exit_handlers if h[0] != function]


def _output_streams(method):
    """Calls ``method`` of standard output and error where they have it: ``flush`` at the end of
    the run writes a last line printed without its newline (``print(..., end="")``) into the
    trace, as the interpreter's exit flushes it to the terminal; ``_discard_pending`` at the
    start drops what a run cut short left unfinished."""
    for stream in (sys.stdout, sys.stderr):
        call = getattr(stream, method, None)
        if call is not None:
            try:
                call()
            except Exception:  # noqa: BLE001 - a program's own stream that cannot flush: as CPython, silent
                pass


def _bootstrap_main(program, tracer):
    """The body of a run's main thread."""

    def body():
        _reset_run(tracer)
        _output_streams("_discard_pending")
        if tracer is not None:
            tracer.enter_thread()
        try:
            try:
                program()
            except SystemExit as e:
                if e.code not in (None, 0):
                    _output_streams("flush")
                    return ("exception", f"SystemExit: {e.code}", "")
            _stop_main()
            _at_exit()
            _output_streams("flush")
        except ThreadExit:
            raise
        except BaseException as e:  # noqa: BLE001 - every uncaught exception is the finding
            _output_streams("flush")
            return _outcome(e, "MainThread", main=True)
        finally:
            if tracer is not None:
                tracer.leave_thread()
        return None

    return body


# ----- threading.Thread -----


class Thread:
    """``threading.Thread`` on a racelab green thread."""

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None):
        assert group is None, "group argument must be None for now"
        self._target = target
        self._args = args
        self._kwargs = kwargs if kwargs is not None else {}
        if name is None:
            _run.counter += 1
            name = f"Thread-{_run.counter}"
            if target is not None and getattr(target, "__name__", None):
                name += f" ({target.__name__})"
        self._name = str(name)
        if daemon is None:
            daemon = current_thread().daemon
        self._daemonic = bool(daemon)
        self._engine_id = None
        self._started = False
        _run.thread_objects += 1
        self._racelab_number = _run.thread_objects

    def __hash__(self):
        # By its number in the run, not its address, so that a set of threads iterates in the
        # same order in every run and replay (as ``_RunFuture``).
        number = getattr(self, "_racelab_number", None)
        return object.__hash__(self) if number is None else number

    # -- properties --
    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        self._name = str(value)

    def getName(self):
        return self._name

    def setName(self, value):
        self._name = str(value)

    @property
    def daemon(self):
        return self._daemonic

    @daemon.setter
    def daemon(self, value):
        if self._started:
            raise RuntimeError("cannot set daemon status of active thread")
        self._daemonic = bool(value)

    def isDaemon(self):
        return self._daemonic

    def setDaemon(self, value):
        self.daemon = value

    @property
    def ident(self):
        return None if self._engine_id is None else _ident_of(self._engine_id)

    native_id = ident

    # -- life --
    def _check_initialized(self):
        # A subclass whose __init__ forgot super().__init__(): CPython's own message, which says
        # what is wrong (an AttributeError on racelab's internals did not).
        if "_started" not in self.__dict__:
            raise RuntimeError("thread.__init__() not called")

    def start(self):
        self._check_initialized()
        if self._started:
            raise RuntimeError("threads can only be started once")
        self._started = True
        # The process the thread runs in, for ``current_process()``: a process is its own; a
        # thread runs in its starter's (``None``: the main process).
        if getattr(self, "_process", None) is None:
            self._process = getattr(current_thread(), "_process", None)
        self._engine_id = _racelab.spawn(self._bootstrap, self._name, self._daemonic, self._memory())
        _run.threads[self.ident] = self

    def _memory(self):
        """A thread shares its starter's memory (see ``Process._memory``)."""
        return None

    def _bootstrap(self):
        tracer = _run.tracer
        # What runs before the thread's first scheduling point (see ``_footprint``).
        _racelab.touch(fp.ALL if tracer is None else tracer.start_footprint(self))
        if tracer is not None:
            tracer.enter_thread()
        try:
            self.run()
        except ThreadExit:
            raise
        except SystemExit as e:
            if isinstance(self, Process):
                self._exited(e.code)
            return None
        except BaseException as e:  # noqa: BLE001 - reported as threading.excepthook would
            hook = _real_threading.excepthook
            # A Process ends with exit code 1 and never calls the hook, as in CPython.
            if hook is DEFAULT_EXCEPTHOOK or hook is _run_excepthook or isinstance(self, Process):
                return _outcome(e, self._name, main=False)
            # The program's own hook handles it, as in CPython: the thread just ends. An
            # exception the hook raises is the failure, and so is one it hands on to the hook it
            # replaced (CPython's, which prints it): `previous(args)` in a chaining hook.
            _run.handed_on, _run.hooking = None, True
            try:
                hook(_real_threading.ExceptHookArgs([type(e), e, e.__traceback__, self]))
            except ThreadExit:
                raise
            except BaseException as failed:  # noqa: BLE001 - as above
                return _outcome(failed, self._name, main=False)
            finally:
                _run.hooking = False
            if _run.handed_on is not None:
                return _outcome(_run.handed_on, self._name, main=False)
        finally:
            if tracer is not None:
                tracer.leave_thread()
        return None

    def run(self):
        try:
            if self._target is not None:
                self._target(*self._args, **self._kwargs)
        finally:
            del self._target, self._args, self._kwargs

    def join(self, timeout=None):
        self._check_initialized()
        if not self._started:
            raise RuntimeError("cannot join thread before it is started")
        if self is current_thread():
            raise RuntimeError("cannot join current thread")
        _racelab.join(self._engine_id, timeout)

    def is_alive(self):
        if not self._started:
            return False
        return _racelab.is_alive(self._engine_id)

    def __repr__(self):
        status = "initial"
        if self._started:
            status = "started" if self.is_alive() else "stopped"
        if self._daemonic:
            status += " daemon"
        if self.ident is not None:
            status += f" {self.ident}"
        return f"<{type(self).__name__}({self._name}, {status})>"


class _MainThread(Thread):
    def __init__(self):
        self._name = "MainThread"
        self._daemonic = False
        self._engine_id = 0
        self._started = True
        self._racelab_number = 0

    def is_alive(self):
        # Until the main module returns (``_stop_main``), as CPython's ``threading._shutdown``.
        return not _run.main_stopped

    def join(self, timeout=None):
        if current_thread() is self:
            raise RuntimeError("cannot join current thread")
        # The event first, then the flag: main sets the flag, then the event if one was made.
        if _run.main_done is None:
            with _library():
                _run.main_done = Event()
        if not _run.main_stopped:
            _run.main_done.wait(timeout)


class _DummyThread(Thread):
    def __init__(self):
        self._engine_id = _racelab.current_ident()
        self._name = f"Dummy-{self._engine_id}"
        self._daemonic = True
        self._started = True
        _run.thread_objects += 1
        self._racelab_number = _run.thread_objects


class Timer(Thread):
    """``threading.Timer``: runs ``function`` after ``interval`` seconds of virtual time."""

    def __init__(self, interval, function, args=None, kwargs=None):
        Thread.__init__(self)
        self.interval = interval
        self.function = function
        self.args = args if args is not None else []
        self.kwargs = kwargs if kwargs is not None else {}
        # Named for its timer in traces ("Thread-1.finished"), so a cancel does not read as a
        # set of one of the program's own Events.
        self.finished = _racelab.Event._named(f"{self.name}.finished")

    def cancel(self):
        self.finished.set()

    def run(self):
        self.finished.wait(self.interval)
        if not self.finished.is_set():
            self.function(*self.args, **self.kwargs)
        self.finished.set()


# ----- primitives -----

Lock = _racelab.Lock
RLock = _racelab.RLock
Event = _racelab.Event
Semaphore = _racelab.Semaphore


class BoundedSemaphore(_racelab.Semaphore):
    def __new__(cls, value=1):
        return super().__new__(cls, value, True)


_RACELAB_DIR = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "")


def _library_dirs():
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(_os.path.join(_os.path.realpath(d), "") for d in dirs if d)


#: Where the standard library and installed packages live.
_LIBRARY_DIRS = _library_dirs()


_LIBRARY_FILE = {}


def _library_file(filename):
    """Whether ``filename`` is the standard library's or an installed package's (code written
    against CPython's implementation). Anything else is the program's: its own files, modules
    beside them, a test module, code generated at run time (``<string>``, a dataclass's
    ``__init__``). Answers are cached per file name."""
    known = _LIBRARY_FILE.get(filename)
    if known is None:
        if "site-packages" in filename or "dist-packages" in filename or filename.startswith("<frozen "):
            known = True
        elif not filename or filename.startswith("<"):
            known = False
        else:
            known = _os.path.realpath(filename).startswith(_LIBRARY_DIRS)
        _LIBRARY_FILE[filename] = known
    return known


class _Library:
    """``with _library():`` the racelab objects made inside are a library's, not the program's
    (``rt::library_objects``): narration leaves their events out unless they decide the bug. For
    what racelab's executor and pool make, as CPython's ``concurrent.futures`` would, and what
    the standard library makes. Outside a run, nothing."""

    def __enter__(self):
        self._on = _racelab.in_run()
        if self._on:
            _racelab.library_objects(True)

    def __exit__(self, *exc):
        if self._on:
            _racelab.library_objects(False)
        return False


def _library():
    return _Library()


def _maker_file():
    """The file of the code that asked for the object being made: the first frame outside
    racelab's own package (``multiprocessing.Condition`` is racelab's, made for its caller)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_RACELAB_DIR):
        frame = frame.f_back
    return frame.f_code.co_filename if frame is not None else ""


#: CPython's own ``threading.excepthook``, which every run starts with (``_patch.begin_run``), as a
#: fresh interpreter does: not one set before the check (pytest installs its own around a test,
#: which would swallow the exceptions racelab reports). A program that sets its own in a run
#: handles its threads' exceptions itself.
DEFAULT_EXCEPTHOOK = _real_threading.__excepthook__


def _run_excepthook(args):
    """``threading.excepthook`` (and ``__excepthook__``) as a run starts with it: a hook the
    program installs and that hands an exception on to it (``previous(args)``) makes that
    exception the run's failure, as CPython's would print it. Called outside a thread's
    bootstrap (by the program itself), it prints as CPython's does."""
    if _racelab.in_run() and _run.hooking:
        if _run.handed_on is None:
            _run.handed_on = args.exc_value
        return None
    return DEFAULT_EXCEPTHOOK(args)

_REAL_ATEXIT_REGISTER = _atexit.register
_REAL_ATEXIT_UNREGISTER = _atexit.unregister
_REAL_ALLOCATE_LOCK = _thread.allocate_lock
_REAL_RLOCK = _thread.RLock


def thread_allocate_lock():
    """``_thread.allocate_lock`` in a run: racelab's ``Lock`` for the program's own code, which
    used to get an OS lock racelab cannot see (a second green thread blocked on it hung the run
    until the watchdog). The standard library and installed packages still get CPython's: they
    take their own internal locks this way (the import system's module locks, ``tempfile``'s)
    for moments in which no other green thread runs, and keep some beyond the run."""
    if _library_file(_maker_file()):
        return _REAL_ALLOCATE_LOCK()
    return Lock()


def thread_rlock():
    """``_thread.RLock`` in a run: as ``thread_allocate_lock``, racelab's ``RLock`` for the program."""
    if _library_file(_maker_file()):
        return _REAL_RLOCK()
    return RLock()


class Condition(_racelab.Condition):
    """``threading.Condition``. Its waits may wake spuriously (within the run's budget: Python's
    documentation allows it) when the program's own code made it; one made by the standard
    library or an installed package never does, as CPython's never does: that code is written
    against CPython, and relies on it (``concurrent.futures.Future.result`` waits once)."""

    def __new__(cls, lock=None):
        if _library_file(_maker_file()):
            with _library():
                return super().__new__(cls, lock, False)
        return super().__new__(cls, lock, True)

    def __init__(self, lock=None):
        pass

    def wait_for(self, predicate, timeout=None):
        """As CPython writes it: the predicate re-checked after every wake-up."""
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = _racelab.now() + waittime
                else:
                    waittime = endtime - _racelab.now()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notifyAll(self):
        self.notify_all()


class Barrier(_racelab.Barrier):
    """``threading.Barrier``: the action runs in the last thread to arrive, before the others are
    released; if it raises, the barrier breaks and that thread gets the exception."""

    def __new__(cls, parties, action=None, timeout=None):
        return super().__new__(cls, parties, timeout, action)

    def __init__(self, parties, action=None, timeout=None):
        pass


class local:
    """``threading.local``: one attribute dict per racelab thread."""

    def __new__(cls, *args, **kwargs):
        if (args or kwargs) and cls.__init__ is object.__init__:
            raise TypeError("Initialization arguments are not supported")
        self = object.__new__(cls)
        object.__setattr__(self, "_racelab_dicts", {get_ident(): {}})
        object.__setattr__(self, "_racelab_args", (args, kwargs))
        return self

    def _racelab_dict(self):
        dicts = object.__getattribute__(self, "_racelab_dicts")
        key = get_ident()
        d = dicts.get(key)
        if d is None:
            d = dicts[key] = {}
            args, kwargs = object.__getattribute__(self, "_racelab_args")
            if type(self).__init__ is not object.__init__:
                type(self).__init__(self, *args, **kwargs)
        return d

    def __getattribute__(self, name):
        if name in ("_racelab_dict", "__class__"):
            return object.__getattribute__(self, name)
        d = local._racelab_dict(self)
        if name == "__dict__":
            return d
        if name in d:
            return d[name]
        return object.__getattribute__(self, name)

    def __setattr__(self, name, value):
        if name == "__dict__":
            raise AttributeError("'local' object attribute '__dict__' is read-only")
        local._racelab_dict(self)[name] = value

    def __delattr__(self, name):
        d = local._racelab_dict(self)
        try:
            del d[name]
        except KeyError:
            raise AttributeError(name) from None


# ----- queue -----


class Queue(_racelab.Queue):
    def __new__(cls, maxsize=0):
        return super().__new__(cls, maxsize, False)

    def __init__(self, maxsize=0):
        self.maxsize = maxsize


class LifoQueue(_racelab.Queue):
    def __new__(cls, maxsize=0):
        return super().__new__(cls, maxsize, True)

    def __init__(self, maxsize=0):
        self.maxsize = maxsize


class SimpleQueue(_racelab.Queue):
    def __new__(cls):
        return super().__new__(cls, 0, False)


# ----- time, on the virtual clock -----

_EPOCH = 1_700_000_000.0


#: How far a thread's clock reads move on while the virtual clock stands still.
_READ_TICK_NS = 1000


def sleep(secs):
    _racelab.sleep(secs)


def _read_ns():
    """The clock as the program reads it, in nanoseconds: the virtual clock plus the run's drift,
    each read at least a microsecond after the read before it (by any thread). The virtual clock
    moves only when no thread can run, so without the drift two reads around any amount of work
    were equal: ``end - start`` was 0 (a rate divided by it raised ZeroDivisionError), and a
    deadline loop that waits for ``deadline - monotonic()`` and stops when it is below 0
    (``as_completed``'s, the ``Event.wait`` idiom) spun at exactly 0 until the step limit, where
    CPython's clock has moved on. The drift only grows, so a sleep measured by the program lasts its
    full length, and reads stay in order across threads. Run-wide, the reads of two threads depend
    on their order, which the exhaustive search sees: a call of these replaced functions writes
    everything (see ``_footprint``)."""
    now = _racelab.now_ns() + _run.clock_drift_ns
    if now <= _run.clock_read_ns:
        _run.clock_drift_ns += _run.clock_read_ns + _READ_TICK_NS - now
        now = _run.clock_read_ns + _READ_TICK_NS
    _run.clock_read_ns = now
    return now


def monotonic():
    return _read_ns() / 1e9


def monotonic_ns():
    return _read_ns()


def time():
    return _EPOCH + _read_ns() / 1e9


def time_ns():
    return int(_EPOCH) * 1_000_000_000 + _read_ns()


perf_counter = monotonic
perf_counter_ns = monotonic_ns

# The calendar functions that read the clock when given no time: the virtual one too, so that a
# timestamp a thread prints is the same in every replay and agrees with ``time.time()``.
_real_time = sys.modules["time"]
_real_localtime, _real_gmtime = _real_time.localtime, _real_time.gmtime
_real_ctime, _real_asctime, _real_strftime = _real_time.ctime, _real_time.asctime, _real_time.strftime


def localtime(secs=None):
    return _real_localtime(time() if secs is None else secs)


def gmtime(secs=None):
    return _real_gmtime(time() if secs is None else secs)


def ctime(secs=None):
    return _real_ctime(time() if secs is None else secs)


def asctime(t=None):
    return _real_asctime(localtime() if t is None else t)


def strftime(format, t=None):
    return _real_strftime(format, localtime() if t is None else t)


# ----- multiprocessing, on green threads -----


class Process(Thread):
    """``multiprocessing.Process``: a green thread that ``terminate()`` cuts off where it stands."""

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None):
        if name is None:
            _run.processes += 1
            name = f"Process-{_run.processes}"
        Thread.__init__(self, group, target, name, args, kwargs, daemon=bool(daemon))
        self._process = self
        self._terminated = False
        self._failed = False
        # The status ``sys.exit(code)`` gave, as CPython's ``BaseProcess._bootstrap`` makes it.
        self._exit_status = None

    def _exited(self, code):
        if code is None:
            self._exit_status = 0
        elif isinstance(code, int):
            self._exit_status = code
        else:
            sys.stderr.write(f"{code}\n")
            self._exit_status = 1

    @property
    def pid(self):
        return self.ident

    def start(self):
        # A code object of its own, not Thread.start's: a process's start reads the whole program
        # (``fork_copy``), which the footprint tables (``CALL_FOOTPRINTS``) must not take for
        # Thread.start's registry write. Unlisted, it writes everything.
        Thread.start(self)

    def _memory(self):
        """A process starts with a copy of its parent's globals and of its arguments, as fork
        makes one (``racelab._multiprocessing.fork_copy``); ``(namespace, copy)`` for ``spawn``."""
        from ._multiprocessing import fork_copy

        function = self._target if self._target is not None else type(self).run
        namespace = getattr(function, "__globals__", None)
        if namespace is None:
            return None
        snapshot, self._args, self._kwargs = fork_copy(namespace, self._args, self._kwargs)
        return namespace, snapshot

    def _bootstrap(self):
        outcome = Thread._bootstrap(self)
        _racelab.touch(fp.ALL)  # the process's exit status, read by the layer
        if outcome is not None and outcome[0] == "exception":
            # A child process's exception kills the child, not the program: it prints, exit code 1.
            self._failed = True
            sys.stderr.write(outcome[1] + "\n")
            return None
        return outcome

    def terminate(self):
        if self._started and _racelab.kill(self._engine_id):
            self._terminated = True

    kill = terminate

    def close(self):
        pass

    @property
    def exitcode(self):
        if not self._started or self.is_alive():
            return None
        if self._terminated:
            return -15
        if self._exit_status is not None:
            return self._exit_status
        return 1 if self._failed else 0


class _MainProcess:
    """``multiprocessing``'s main process, as ``current_process()`` gives it in the program's own
    threads: named ``MainProcess``, its pid the interpreter's."""

    name = "MainProcess"
    daemon = False
    exitcode = None
    _identity = ()

    @property
    def pid(self):
        return _os.getpid()

    ident = pid

    def is_alive(self):
        return True

    def __repr__(self):
        return "<_MainProcess name='MainProcess' parent=None started>"


_MAIN_PROCESS = _MainProcess()


def current_process():
    """The process the current thread runs in: a ``Process`` (or a process pool's worker), or the
    main process for the program's own threads."""
    process = getattr(current_thread(), "_process", None)
    return _MAIN_PROCESS if process is None else process


class ProcessQueue:
    """``multiprocessing.Queue``: items are copied (pickled), as through a pipe."""

    def __init__(self, maxsize=0):
        self._q = _racelab.Queue(maxsize, False)

    def put(self, obj, block=True, timeout=None):
        self._q.put(pickle.dumps(obj), block, timeout)

    def get(self, block=True, timeout=None):
        return pickle.loads(self._q.get(block, timeout))

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def qsize(self):
        return self._q.qsize()

    def empty(self):
        return self._q.empty()

    def full(self):
        return self._q.full()

    def close(self):
        pass

    def join_thread(self):
        pass

    def cancel_join_thread(self):
        pass


class JoinableProcessQueue(ProcessQueue):
    def task_done(self):
        self._q.task_done()

    def join(self):
        self._q.join()


# ----- thread pools -----


class AsyncResult:
    """``multiprocessing.pool.AsyncResult``: as CPython's, the callback (or error callback) runs
    with the result before ``ready()`` turns true and ``get()`` returns."""

    def __init__(self, callback=None, error_callback=None):
        with _library():
            self._event = Event()
        self._value = None
        self._error = None
        self._callback = callback
        self._error_callback = error_callback

    def _set(self, value, error):
        self._value, self._error = value, error
        if error is None and self._callback is not None:
            self._callback(value)
        if error is not None and self._error_callback is not None:
            self._error_callback(error)
        self._event.set()

    def ready(self):
        return self._event.is_set()

    def successful(self):
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._error is None

    def wait(self, timeout=None):
        self._event.wait(timeout)

    def get(self, timeout=None):
        if not self._event.wait(timeout):
            raise TimeoutError
        if self._error is not None:
            raise self._error
        return self._value


class _MapResult(AsyncResult):
    """``map_async``'s result: a list, set when every item is done (the first error raised by
    ``get`` instead, as CPython's)."""

    def __init__(self, n, callback, error_callback):
        super().__init__(callback, error_callback)
        self._items = [None] * n
        self._left = n
        self._first_error = None
        with _library():
            self._lock = Lock()
        if n == 0:
            self._set([], None)

    def _set_item(self, i, value, error):
        with self._lock:
            self._items[i] = value
            if error is not None and self._first_error is None:
                self._first_error = error
            self._left -= 1
            done = self._left == 0
        if done:
            self._set(None if self._first_error else self._items, self._first_error)


class _Item:
    """One item of a ``map_async``: its result goes into slot ``i`` of the map's."""

    def __init__(self, into, i):
        self._into, self._i = into, i

    def _set(self, value, error):
        self._into._set_item(self._i, value, error)


class _Done:
    """One item of an ``imap_unordered``: its result goes to the queue the iterator reads."""

    def __init__(self, queue):
        self._queue = queue

    def _set(self, value, error):
        self._queue.put((value, error))


_STOP = object()


class ThreadPool:
    """``multiprocessing.pool.ThreadPool``: ``processes`` racelab worker threads, a task queue."""

    def __init__(self, processes=None, initializer=None, initargs=()):
        with _library():
            self._tasks = _racelab.Queue(0, False)
        self._workers = []
        self._closed = False
        if processes is None:
            processes = _os.cpu_count() or 1
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        for _ in range(processes):
            t = Thread(target=self._work, name=self._worker_name(), args=(initializer, initargs), daemon=True)
            if self._workers_are_processes:
                t._process = t
            t.start()
            self._workers.append(t)

    # A process pool's workers are processes (``current_process()`` in a task names the worker).
    _workers_are_processes = False

    @staticmethod
    def _worker_name():
        # CPython's ThreadPool worker is a thread whose target is ``worker``: ``Thread-N (worker)``.
        _run.counter += 1
        return f"Thread-{_run.counter} (worker)"

    def _work(self, initializer, initargs):
        if initializer is not None:
            initializer(*initargs)
        while True:
            task = self._tasks.get()
            if task is _STOP:
                return
            result, func, args, kwds = task
            try:
                value = func(*args, **kwds)
            except Exception as e:  # noqa: BLE001 - kept in the result, as the pool does
                result._set(None, e)
            else:
                result._set(value, None)

    def _submit(self, result, func, args, kwds):
        if self._closed:
            raise ValueError("Pool not running")
        self._tasks.put((result, func, args, kwds or {}))
        return result

    def apply_async(self, func, args=(), kwds=None, callback=None, error_callback=None):
        return self._submit(AsyncResult(callback, error_callback), func, args, kwds)

    def apply(self, func, args=(), kwds=None):
        return self.apply_async(func, args, kwds).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self.starmap_async(func, [(x,) for x in iterable], chunksize, callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        if self._closed:
            raise ValueError("Pool not running")
        items = [tuple(x) for x in iterable]
        result = _MapResult(len(items), callback, error_callback)
        for i, args in builtins_enumerate(items):
            self._submit(_Item(result, i), func, args, None)
        return result

    def map(self, func, iterable, chunksize=None):
        return self.map_async(func, iterable, chunksize).get()

    def starmap(self, func, iterable, chunksize=None):
        return self.starmap_async(func, iterable, chunksize).get()

    def imap(self, func, iterable, chunksize=1):
        """Results in the order of ``iterable``, each as soon as it and those before it are done."""
        results = [self.apply_async(func, (x,)) for x in iterable]
        return (r.get() for r in results)

    def imap_unordered(self, func, iterable, chunksize=1):
        """Results in the order the workers finish them."""
        with _library():
            done = _racelab.Queue(0, False)
        items = list(iterable)
        for x in items:
            self._submit(_Done(done), func, (x,), None)

        def gen():
            for _ in items:
                value, error = done.get()
                if error is not None:
                    raise error
                yield value

        return gen()

    def close(self):
        if not self._closed:
            self._closed = True
            for _ in self._workers:
                self._tasks.put(_STOP)

    def terminate(self):
        self.close()

    def join(self):
        for t in self._workers:
            t.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.terminate()

class ProcessPool(ThreadPool):
    """``multiprocessing.Pool``: a ``ThreadPool`` whose workers are named as the fork context's
    processes are (``ForkPoolWorker-N``, numbered with ``Process-N``)."""

    _workers_are_processes = True

    @staticmethod
    def _worker_name():
        _run.processes += 1
        return f"ForkPoolWorker-{_run.processes}"


def _run_future(future, fn, args, kwargs):
    """A work item of the executor below, as CPython's ``_WorkItem.run``: nothing if the future was
    cancelled before a worker took it, else its result or exception in the future."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        value = fn(*args, **kwargs)
    except ThreadExit:
        raise  # the worker is being cut off at the end of the run: let it unwind
    except BaseException as e:  # noqa: BLE001 - kept in the future, as the executor does
        future.set_exception(e)
    else:
        future.set_result(value)


#: What a thread pool executor's work queue holds to wake a worker with nothing to do (CPython's
#: ``None``).
_WAKE_UP = None


def _result_or_cancel(future, timeout):
    """CPython's ``concurrent.futures._base._result_or_cancel``: the result, and a future that did
    not finish in time cancelled."""
    try:
        return future.result(timeout)
    finally:
        future.cancel()


class ThreadPoolExecutor:
    """``concurrent.futures.ThreadPoolExecutor`` as CPython 3.11-3.13 writes it, on racelab threads:
    at most ``max_workers`` (default ``min(32, os.cpu_count() + 4)``) workers, each started by a
    ``submit`` that finds none idle, named ``ThreadPoolExecutor-N_i``; not daemons, so the end of
    the program waits for them, and the work queued before ``shutdown(wait=False)`` still runs;
    an initializer that raises breaks the pool (``BrokenThreadPool``). Its futures are CPython's
    own ``concurrent.futures.Future``: made during a run, their condition is racelab's
    (``threading`` is racelab's then), so ``wait``, ``as_completed``, callbacks, ``cancel`` and
    ``isinstance(f, Future)`` are CPython's code on racelab's primitives."""

    def __init__(self, max_workers=None, thread_name_prefix="", initializer=None, initargs=()):
        if max_workers is None:
            max_workers = min(32, (_os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._max_workers = max_workers
        with _library():
            self._work_queue = _racelab.Queue(0, False)
            self._idle_semaphore = Semaphore(0)
            self._shutdown_lock = Lock()
        self._threads = []
        self._broken = False
        self._shutdown = False
        if not thread_name_prefix:
            # CPython's counter moves only for an executor named by default.
            thread_name_prefix = f"ThreadPoolExecutor-{_run.executors}"
            _run.executors += 1
        self._thread_name_prefix = thread_name_prefix
        self._initializer = initializer
        self._initargs = initargs
        _run.threading_exit_calls.append(self._wake_all)

    def submit(self, fn, /, *args, **kwargs):
        with self._shutdown_lock:
            if self._broken:
                raise _concurrent_futures.thread.BrokenThreadPool(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if _run.main_stopped:
                raise RuntimeError("cannot schedule new futures after interpreter shutdown")
            future = _RunFuture()
            self._work_queue.put((future, fn, args, kwargs))
            self._adjust_thread_count()
            return future

    def _adjust_thread_count(self):
        if self._idle_semaphore.acquire(timeout=0):
            return
        n = len(self._threads)
        if n < self._max_workers:
            t = Thread(name=f"{self._thread_name_prefix}_{n}", target=self._work)
            t.start()
            self._threads.append(t)

    def _work(self):
        """CPython's ``_worker``: the initializer, then work items until woken with nothing to do
        after a shutdown."""
        if self._initializer is not None:
            try:
                self._initializer(*self._initargs)
            except BaseException:  # noqa: BLE001 - logged and the pool broken, as CPython
                _concurrent_futures._base.LOGGER.critical("Exception in initializer:", exc_info=True)
                self._initializer_failed()
                return
        while True:
            if sys.version_info >= (3, 12):
                # 3.12's worker counts itself idle only when it finds the queue empty.
                try:
                    item = self._work_queue.get_nowait()
                except _queue_module.Empty:
                    self._idle_semaphore.release()
                    item = self._work_queue.get()
            else:
                item = self._work_queue.get()
            if item is not _WAKE_UP:
                _run_future(*item)
                del item
                if sys.version_info < (3, 12):
                    self._idle_semaphore.release()
                continue
            if self._shutdown or _run.main_stopped:
                self._shutdown = True
                self._work_queue.put(_WAKE_UP)
                return

    def _initializer_failed(self):
        with self._shutdown_lock:
            self._broken = "A thread initializer failed, the thread pool is not usable anymore"
            self._drain(lambda f: f.set_exception(_concurrent_futures.thread.BrokenThreadPool(self._broken)))

    def _drain(self, settle):
        """Takes every queued work item out of the queue and settles its future with ``settle``."""
        while True:
            try:
                item = self._work_queue.get_nowait()
            except _queue_module.Empty:
                return
            if item is not _WAKE_UP:
                settle(item[0])

    def _wake_all(self):
        """``threading._register_atexit``'s call at the program's end (CPython's ``_python_exit``):
        a wake-up for every worker, which ends each one once the queued work is done."""
        for _ in self._threads:
            self._work_queue.put(_WAKE_UP)

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        end = None if timeout is None else monotonic() + timeout
        futures = [self.submit(fn, *args) for args in zip(*iterables)]

        def results():
            # As CPython's: a result that times out cancels its future (``_result_or_cancel``),
            # and the futures not yet reached are cancelled when the iterator is closed.
            try:
                futures.reverse()
                while futures:
                    f = futures.pop()
                    yield _result_or_cancel(f, None if end is None else end - monotonic())
            finally:
                for f in futures:
                    f.cancel()

        return results()

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._shutdown_lock:
            self._shutdown = True
            if cancel_futures:
                self._drain(lambda f: f.cancel())
            self._work_queue.put(_WAKE_UP)
        if wait:
            for t in self._threads:
                t.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown(wait=True)
        return False


class ProcessPoolExecutor(ThreadPoolExecutor):
    """``concurrent.futures.ProcessPoolExecutor`` on racelab threads: the thread pool's behaviour,
    ``os.cpu_count()`` workers by default, named as its processes are."""

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(), **_kwargs):
        if max_workers is None:
            max_workers = _os.cpu_count() or 1
        super().__init__(max_workers, "ProcessPoolExecutor", initializer, initargs)


import builtins as _builtins  # noqa: E402 - `enumerate` above is threading's
import concurrent.futures as _concurrent_futures  # noqa: E402 - the real module, for its Future


class _RunFuture(_concurrent_futures.Future):
    """CPython's ``Future`` (``isinstance`` holds, its code runs), hashed by its number in the run
    instead of its address. ``wait`` and ``as_completed`` put futures in sets, and CPython's
    ``_AcquireFutures`` locks them in ``id`` order: with addresses, the order of their lock
    acquisitions and of ``as_completed``'s first results changed from one run to the next, so a
    correct program was reported as a divergence and replays differed. Numbered, the order is
    the run's own (see ``AcquireFutures``)."""

    def __init__(self):
        super().__init__()
        _run.futures += 1
        self._racelab_number = _run.futures

    def __hash__(self):
        return self._racelab_number


class AcquireFutures:
    """``concurrent.futures._base._AcquireFutures`` during a check: the futures' conditions
    locked in one order every thread agrees on (so no deadlock), as CPython's, but by ``hash``
    (a ``_RunFuture``'s number) rather than ``id``, which is an address (see ``_RunFuture``)."""

    def __init__(self, futures):
        self.futures = sorted(futures, key=hash)

    def __enter__(self):
        for future in self.futures:
            future._condition.acquire()

    def __exit__(self, *args):
        for future in self.futures:
            future._condition.release()

builtins_enumerate = _builtins.enumerate


# ----- footprints of this layer (see ``_footprint``) -----

#: The thread registry and the threads' own state (names, started), as one key.
_REGISTRY = "racelab:registry"

#: Code of this layer that the program's code calls: what a call touches before the callee's
#: first scheduling point. Anything of the layer missing here writes everything.
CALL_FOOTPRINTS = {
    Thread.__init__.__code__: fp.writes(_REGISTRY),
    Thread.start.__code__: fp.writes(_REGISTRY),
    Thread.join.__code__: fp.reads(_REGISTRY),
    current_thread.__code__: fp.reads(_REGISTRY),
    main_thread.__code__: fp.reads(_REGISTRY),
    get_ident.__code__: 0,
    sleep.__code__: 0,
}

#: Code of this layer that can be on the stack when a step runs: what it runs when the frames
#: above it return (up to the next scheduling point). Anything missing writes everything. The
#: check's own entry points (``racelab/__init__.py``) add theirs.
REST_FOOTPRINTS = {
    Thread._bootstrap.__code__: 0,
    Thread.run.__code__: 0,
    next(c for c in _bootstrap_main.__code__.co_consts if getattr(c, "co_name", None) == "body"): 0,
    Thread.__init__.__code__: fp.writes(_REGISTRY),
    Thread.start.__code__: fp.writes(_REGISTRY),
    Thread.join.__code__: 0,
    current_thread.__code__: fp.reads(_REGISTRY),
    main_thread.__code__: fp.reads(_REGISTRY),
    get_ident.__code__: 0,
    sleep.__code__: 0,
}
