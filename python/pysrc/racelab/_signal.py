"""``signal`` during a check.

A checked program's main thread runs on one of racelab's threads, not on the interpreter's main
thread, so CPython's ``signal.signal`` raised ``ValueError: signal only works in main thread``
there, and a correct script that installs a handler (a tidy exit on Ctrl-C, SIGTERM) failed in
every run. racelab delivers no signals to a run (Ctrl-C stops the check instead), so during a
run ``signal.signal`` keeps the handler for the rest of that run, as ``getsignal`` reports it,
and never calls it. As in CPython, only the main thread (or a ``multiprocessing.Process``'s)
may set one.

``signal.alarm`` and ``setitimer``, the usual guard against a hang, set no timer: racelab's
watchdog and step limit stop a hung run and report it. ``signal.pause`` would wait for a signal
that never comes, and a signal the program sends itself (``raise_signal``, ``os.kill`` of its
own pid, ``pthread_kill``) would reach racelab-py with its real action (it killed the check with
no output): both are refused. A ``multiprocessing.Process`` has handlers of its own.
"""

import os as _os
import signal as _real_signal

from . import _threading as rl

_getsignal = _real_signal.getsignal
_UNCATCHABLE = {getattr(_real_signal, name) for name in ("SIGKILL", "SIGSTOP") if hasattr(_real_signal, name)}


def _number(signalnum):
    try:
        number = int(signalnum)
    except (TypeError, ValueError):
        raise TypeError(f"signal number must be an integer, not {type(signalnum).__name__}") from None
    if not 1 <= number < _real_signal.NSIG:
        raise ValueError("signal number out of range")
    return number


def _handlers():
    """The handlers of the current process: main's, or a ``multiprocessing.Process``'s own."""
    thread = rl.current_thread()
    key = thread.ident if isinstance(thread, rl.Process) else 0
    return rl._run.signal_handlers.setdefault(key, {})


def signal(signalnum, handler):
    """``signal.signal`` in a run: the previous handler; ``handler`` is kept, never called."""
    number = _number(signalnum)
    thread = rl.current_thread()
    if thread is not rl.main_thread() and not isinstance(thread, rl.Process):
        raise ValueError("signal only works in main thread of the main interpreter")
    if not callable(handler) and handler not in (_real_signal.SIG_IGN, _real_signal.SIG_DFL):
        raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable object")
    if number in _UNCATCHABLE:
        raise OSError(22, "Invalid argument")
    previous = getsignal(number)
    if handler in (_real_signal.SIG_IGN, _real_signal.SIG_DFL):
        handler = _real_signal.Handlers(handler)
    _handlers()[number] = handler
    return previous


def getsignal(signalnum):
    """``signal.getsignal`` in a run: the handler the process set in this run, else the
    interpreter's."""
    number = _number(signalnum)
    handlers = _handlers()
    if number in handlers:
        return handlers[number]
    return _getsignal(number)


def alarm(_seconds):
    """``signal.alarm`` in a run: no timer (see the module doc); no alarm was pending."""
    return 0


def setitimer(_which, _seconds, _interval=0.0):
    """``signal.setitimer`` in a run: no timer (see the module doc); none was pending."""
    return (0.0, 0.0)


def pause():
    raise rl.Unsupported(
        "racelab: the program called signal.pause(), which waits for a signal, and racelab delivers none to a "
        "run: wait on an Event or a Condition instead, or check the part before the pause."
    )


def _refuse_own_signal(signalnum):
    try:
        name = _real_signal.Signals(signalnum).name
    except ValueError:
        name = str(signalnum)
    raise rl.Unsupported(
        f"racelab: the program sent itself {name}, and racelab delivers no signals to a run (its real action "
        "would end the check): call the handler yourself, or check the part before the signal."
    )


def raise_signal(signalnum):
    _refuse_own_signal(signalnum)


def pthread_kill(_thread_id, signalnum):
    if signalnum == 0:
        return None
    _refuse_own_signal(signalnum)


_real_kill = _os.kill
_real_killpg = _os.killpg


def _run_process(pid):
    """The run's ``multiprocessing.Process`` whose ``pid`` is ``pid`` (racelab's numbers, not the
    OS's), or None."""
    for t in list(rl._run.threads.values()):
        if isinstance(t, rl.Process) and t.pid == pid:
            return t
    return None


def kill(pid, signalnum):
    """``os.kill`` in a run. A run's ``Process`` (its pid is racelab's, not an OS process): 0 asks
    whether it lives, SIGTERM/SIGKILL are its ``terminate``/``kill``, others are refused. This
    process, its group (pid <= 0) and its parent are refused. Only another OS process (a
    subprocess the program started) gets the real call: a racelab pid passed on used to reach
    whatever OS process had that number (pid 2 here)."""
    process = _run_process(pid)
    if process is not None:
        if signalnum == 0:
            if not process.is_alive():
                raise ProcessLookupError(3, "No such process")
            return None
        if signalnum == _real_signal.SIGTERM:
            return process.terminate()
        if signalnum == getattr(_real_signal, "SIGKILL", None):
            return process.kill()
        _refuse_own_signal(signalnum)
    if pid <= 0 or pid in (_os.getpid(), _os.getppid()):
        if signalnum == 0 and pid > 0:
            return _real_kill(pid, 0)
        _refuse_own_signal(signalnum)
    return _real_kill(pid, signalnum)


def killpg(pgid, signalnum):
    """``os.killpg`` in a run: this process's group (and its parent's) is refused, as ``kill``."""
    if pgid <= 0 or pgid in (_os.getpgid(0), _os.getpgid(_os.getppid())):
        if signalnum == 0:
            return _real_killpg(max(pgid, 0) or _os.getpgid(0), 0)
        _refuse_own_signal(signalnum)
    return _real_killpg(pgid, signalnum)


def interrupt_main(signum=_real_signal.SIGINT):
    """``_thread.interrupt_main`` in a run: refused, as a signal the program sends itself (it
    ended the check as a Ctrl-C would)."""
    _refuse_own_signal(signum)


def replacements():
    """The ``signal`` attributes a check replaces (see ``_patch``)."""
    names = {"signal": signal, "getsignal": getsignal, "alarm": alarm, "pause": pause,
             "raise_signal": raise_signal, "pthread_kill": pthread_kill}
    if hasattr(_real_signal, "setitimer"):
        names["setitimer"] = setitimer
    return names


def os_replacements():
    """The ``os`` attributes a check replaces for signals (see ``_patch``)."""
    return {"kill": kill, "killpg": killpg}
