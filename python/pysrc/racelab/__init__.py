"""racelab for Python: run a threaded Python program under every interleaving racelab chooses.

    import racelab

    def test_counter():
        racelab.check(my_program, strategy="dfs").assert_passed()

``check(fn)`` runs ``fn`` many times as the main thread of a simulated program: ``threading``,
``queue``, ``time`` (a virtual clock), ``multiprocessing`` and the thread pools are racelab's
while it runs, each Python thread is a racelab green thread, and a scheduler decides every
interleaving. A failing run comes back with its diagnosis, its trace and a schedule that
``replay(fn, schedule)`` follows exactly. ``racelab-py check prog.py`` does the same for a
script (see ``racelab.cli``).
"""

import json as _json
import os as _os

from . import _footprint as _fp
from . import _patch
from . import _racelab
from . import _threading as _rl
from ._threading import ThreadExit, Unsupported

__all__ = ["check", "replay", "check_script", "replay_script", "Report", "ThreadExit", "Unsupported", "RacelabFailure"]

#: Scheduling points only at racelab's primitives, between lines, or between bytecodes.
GRANULARITIES = _patch.GRANULARITIES
DEFAULT_GRANULARITY = "line"


class RacelabFailure(AssertionError):
    """``Report.assert_passed()`` on a failing report: the message is the whole report."""


class Report:
    """What a check or a replay found.

    ``passed``, ``diagnosis_kind`` (``lost-update``, ``deadlock``...), ``schedule`` (replay it with
    ``replay``), ``trace``; ``str(report)`` is the report as racelab prints it, with the line
    that replays it; ``json`` is racelab's JSON report.
    """

    def __init__(self, raw, replay_line):
        self._raw = raw
        self.passed = raw["passed"]
        self.settings = raw["settings"]
        self.verdict = raw["verdict"]
        self.coverage = raw["coverage"]
        self.runs = raw["runs"]
        self.exhausted = raw["exhausted"]
        #: True when Ctrl-C stopped the search early (``check_script(..., interrupted="report")``).
        self.interrupted = bool(raw.get("interrupted"))
        self.kind = raw.get("kind")
        self.diagnosis_kind = raw.get("diagnosis_kind")
        self.diagnosis = raw.get("diagnosis")
        self.failure = raw.get("failure")
        self.schedule = raw.get("schedule")
        self.trace = raw.get("trace")
        self.refused = raw.get("refused")
        #: The failing run told a line per step that matters, deciding steps marked ``*``, and the
        #: fix (``racelab-py ... --explain``); ``None`` when nothing failed.
        self.explain = raw.get("explain")
        #: The run as one self-contained HTML page (``--html``): the failure found, or the
        #: replayed run; ``None`` when a check passed (it traces no run).
        self.html = raw.get("html")
        self.replay_line = replay_line if not self.passed else None

    @property
    def json(self):
        return _json.loads(self._raw["json"])

    @property
    def text(self):
        """racelab's own report (settings, verdict, diagnosis, trace excerpt)."""
        return self._raw["text"]

    def __str__(self):
        out = self.text
        if self.replay_line:
            out += f"replay: {self.replay_line}\n"
        return out

    def __repr__(self):
        return f"<racelab.Report {self.verdict}>"

    def assert_passed(self):
        """Raises ``RacelabFailure`` (an AssertionError) with the whole report if a run failed."""
        if not self.passed:
            raise RacelabFailure("\n" + str(self))


def _files_of(fn):
    code = getattr(fn, "__code__", None)
    return {code.co_filename} if code is not None else set()


def _seed_drawn(settings):
    """Whether the runs draw their ``random`` seed from the schedule: a sampling strategy, or a
    replay of a schedule whose first decision is that draw (``r...``)."""
    if "schedule" in settings:
        decisions = [t for t in settings["schedule"].split()[1:] if "=" not in t and not t.startswith("#")]
        return bool(decisions) and decisions[0].startswith("r")
    return settings.get("strategy", "random") in ("random", "pct", "pos")


def _uses_footprints(settings):
    """Whether the search reads the steps' footprints (DPOR, POS, the portfolio of both); sampling
    and replays do not, and run faster without them."""
    return "schedule" not in settings and settings.get("strategy") not in ("random", "pct")


def _explore(program, files, granularity, **settings):
    tracer = _patch.Tracer(granularity, files, _uses_footprints(settings))
    main = _main_body(program, tracer)
    with _patch.Patched(tracer):
        tracer.enable_module_of(program)
        _patch.SEED_DRAWN = _seed_drawn(settings)
        if "schedule" in settings:
            return _racelab.replay(main, settings["schedule"], max_steps=settings["max_steps"],
                                   daemon_cut_off_fails=settings["daemon_cut_off_fails"])
        return _racelab.explore(main, **settings)


def _main_body(program, tracer):
    from ._threading import _bootstrap_main

    def run_once():
        _patch.begin_run()
        program()

    return _bootstrap_main(run_once, tracer)


def _checked_arguments(fn, watchdog, **counts):
    """Refuses what ``check``/``replay`` cannot run, as the command line does, and sets the
    watchdog (see ``racelab-py --watchdog``)."""
    if not callable(fn):
        raise TypeError(f"racelab: check and replay run a function (the program's main thread), not {fn!r}")
    for name, (value, least) in counts.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"racelab: {name} must be a whole number, not {value!r}")
        if not least <= value < 2**64:
            raise ValueError(f"racelab: {name} must be from {least} to 2^64-1, not {value}")
    _racelab.set_watchdog(watchdog)


def _checked_schedule(schedule):
    if not isinstance(schedule, str):
        hint = " (a report that passed has no failing schedule: report.schedule is None)" if schedule is None else ""
        raise TypeError(f"racelab: the schedule to replay is a string (\"v1 ...\" from a report), not "
                        f"{type(schedule).__name__}{hint}")


def check(fn, strategy="random", runs=None, seed=0, *, granularity=DEFAULT_GRANULARITY, depth=3,
          max_steps=100_000, daemon_cut_off_fails=False, watchdog=30.0, interrupted="raise",
          spurious_wakeups=1, adversarial_wakeups=False):
    """Runs ``fn`` as the main thread of a program, ``runs`` times, under ``strategy``
    (``random``, ``pct``, ``pos``, ``dfs``, ``portfolio``, or ``dfs-plain``: every interleaving
    without partial-order reduction, to check the reduced search against); returns the ``Report`` of the first failing run, or of the
    whole exploration when none failed. ``watchdog``: seconds without progress after which the
    process ends with exit code 2 and a message (a thread spinning where no scheduling point falls,
    or blocked in the OS, cannot be stopped inside CPython); 0 for never. ``interrupted``: what
    Ctrl-C does once it has stopped the search after its current run: ``"raise"`` its
    ``KeyboardInterrupt``, or ``"report"`` the runs made so far (``Report.interrupted`` true).
    ``spurious_wakeups``: how many wake-ups without a notify each run may have (0: CPython-exact;
    1, the default, finds an ``if`` around ``wait()``); ``adversarial_wakeups``: a ``notify()``
    wakes the waiter the search chooses, not the longest waiting (both recorded in the schedule)."""
    _checked_interrupted(interrupted)
    _checked_arguments(fn, watchdog, runs=(runs, 1), seed=(seed, 0), depth=(depth, 1), max_steps=(max_steps, 1))
    _checked_wakeups(spurious_wakeups)
    raw = _explore(fn, _files_of(fn), granularity, strategy=strategy, seed=seed, runs=runs, depth=depth,
                   max_steps=max_steps, daemon_cut_off_fails=daemon_cut_off_fails,
                   spurious_wakeups=spurious_wakeups, adversarial_wakeups=bool(adversarial_wakeups))
    if interrupted == "raise":
        _raise_interrupt(raw)
    _say_watchdog(raw, watchdog)
    name = getattr(fn, "__qualname__", "fn")
    return Report(raw, f'racelab.replay({name}, "{raw.get("schedule")}", granularity="{granularity}"'
                       + (", daemon_cut_off_fails=True)" if daemon_cut_off_fails else ")"))


def replay(fn, schedule, *, granularity=DEFAULT_GRANULARITY, max_steps=100_000, daemon_cut_off_fails=False,
           watchdog=30.0):
    """Runs ``fn`` once along ``schedule`` (from a report) with a full trace; ``granularity``
    must be the one the schedule was recorded with (the report's replay line says it)."""
    _checked_arguments(fn, watchdog, max_steps=(max_steps, 1))
    _checked_schedule(schedule)
    raw = _explore(fn, _files_of(fn), granularity, schedule=schedule, max_steps=max_steps,
                   daemon_cut_off_fails=daemon_cut_off_fails)
    _say_watchdog(raw, watchdog)
    name = getattr(fn, "__qualname__", "fn")
    return Report(raw, f'racelab.replay({name}, "{schedule}", granularity="{granularity}"'
                       + (", daemon_cut_off_fails=True)" if daemon_cut_off_fails else ")"))


def _say_watchdog(raw, watchdog):
    """The report's settings name racelab-py's watchdog (the engine's own is off for Python: a
    thread inside CPython cannot be stopped by it), as the CLI's settings line does."""
    said = f"watchdog={watchdog:g}s" if watchdog else "watchdog=off"
    for key in ("settings", "text"):
        if isinstance(raw.get(key), str):
            raw[key] = raw[key].replace("watchdog=off", said, 1)


def _own_module(module, here):
    """True for a module from the script's own directory (not an installed package there)."""
    file = getattr(module, "__file__", None) or ""
    return file.startswith(here + _os.sep) and "site-packages" not in file


def script_program(path, argv=None):
    """A callable that runs the script at ``path`` from the top in a fresh ``__main__``, with
    ``sys.argv`` ``[path, *argv]`` (``path`` as given, as ``python path`` has it)."""
    import sys
    import types

    import tokenize

    given, path = path, _os.path.abspath(path)
    # As CPython reads a script: a PEP 263 coding line or a BOM gives its encoding, UTF-8 else.
    with tokenize.open(path) as f:
        source = f.read()
    code = compile(source, path, "exec")

    here = _os.path.dirname(path)

    def run():
        module = types.ModuleType("__main__")
        module.__file__ = path
        module.__builtins__ = __builtins__
        saved_main, saved_argv, saved_path = sys.modules.get("__main__"), sys.argv, list(sys.path)
        imported_before = set(sys.modules)
        sys.modules["__main__"] = module
        sys.argv = [given] + list(argv or [])
        # As `python prog.py` does: the script's directory first on the path, so its own modules
        # import.
        sys.path.insert(0, here)
        try:
            exec(code, module.__dict__)
        finally:
            _racelab.touch(_SCRIPT_RUN_REST)
            sys.argv = saved_argv
            sys.path[:] = saved_path
            if saved_main is not None:
                sys.modules["__main__"] = saved_main
            # The program's own modules start fresh every run, as in a new interpreter: state a
            # run left in them (a list it appended to) must not reach the next run.
            for name in [n for n in sys.modules if n not in imported_before]:
                if _own_module(sys.modules[name], here):
                    del sys.modules[name]

    return path, code, run


#: What the script runner does after the script's code returns (see ``_footprint``).
_SCRIPT_RUN_REST = _fp.writes("n:argv") | _fp.writes("n:modules")


def _entry_codes():
    """The check's entry frames, below the program's: they run nothing shared after it returns
    (the script runner's restore of ``sys.argv`` is recorded where it happens)."""
    todo = [_main_body.__code__, script_program.__code__, _Script.__init__.__code__]
    while todo:
        c = todo.pop()
        if c.co_name in ("run_once", "run", "program"):
            yield c
        todo.extend(k for k in c.co_consts if isinstance(k, type(c)))


class _Script:
    """A script made ready to run under racelab: its code, its source (for reports), the tracer
    that puts scheduling points in it, and the main-thread body a run starts with."""

    def __init__(self, path, granularity, footprints=True, argv=()):
        self.path, self.code, run = script_program(path, argv)
        import tokenize

        with tokenize.open(self.path) as f:
            self.source = (self.path, f.read())
        own = _patch.OwnFiles({self.path}, _os.path.dirname(self.path))
        self.tracer = _patch.Tracer(granularity, own, footprints)

        def program():
            _patch.begin_run()
            run()

        self.main = _main_body_raw(program, self.tracer)

    def run(self, seed_drawn, call):
        """``call(main)`` with the script's patches and tracing on, ``random`` seeded per run as
        ``seed_drawn`` says."""
        with _patch.Patched(self.tracer):
            self.tracer.enable_code(self.code)
            _patch.SEED_DRAWN = seed_drawn
            return call(self.main)


def _explore_script(path, granularity, argv=(), **settings):
    script = _Script(path, granularity, _uses_footprints(settings), argv)
    if "schedule" in settings:
        return script.run(_seed_drawn(settings), lambda main: _racelab.replay(
            main, settings["schedule"], max_steps=settings["max_steps"],
            daemon_cut_off_fails=settings["daemon_cut_off_fails"], source=script.source))
    return script.run(_seed_drawn(settings), lambda main: _racelab.explore(main, source=script.source, **settings))


def _main_body_raw(program, tracer):
    from ._threading import _bootstrap_main

    return _bootstrap_main(program, tracer)


def play_script(path, commands, moves=None, *, granularity=DEFAULT_GRANULARITY, max_steps=100_000,
                daemon_cut_off_fails=False, argv=(), spurious_wakeups=1, adversarial_wakeups=False):
    """``racelab-py play``: the player schedules the script's threads (``moves``: ``"1,2,2,1"``, or
    read from standard input). ``commands``: (name, replay command, play command). Returns the exit
    code: 1 when the run reached a bug."""
    import sys

    import shlex

    script = _Script(path, granularity, footprints=False, argv=argv)
    sys.stdout.flush()
    # The verdict on a passing script names the search with the game's granularity: at sync, plain
    # Python has no scheduling points, and a lost update in it cannot be played or found.
    check_command = f"racelab-py check {shlex.quote(path)} --strategy portfolio --granularity {granularity}"
    check_command += _wakeup_flags(spurious_wakeups, adversarial_wakeups)
    if argv:
        check_command += " -- " + " ".join(shlex.quote(a) for a in argv)
    no_bug_words = "has no bug to find"
    if granularity == "sync":
        no_bug_words += (" at granularity sync, where only racelab's primitives are scheduling points (a race "
                         "between plain Python lines needs --granularity line)")
    # The player picks thread by thread; random stays seeded with 0.
    return script.run(False, lambda main: _racelab.play(main, script.source, commands, moves=moves,
                                                        max_steps=max_steps,
                                                        daemon_cut_off_fails=daemon_cut_off_fails,
                                                        check_command=check_command, no_bug_words=no_bug_words,
                                                        spurious_wakeups=spurious_wakeups,
                                                        adversarial_wakeups=bool(adversarial_wakeups)))


def _wakeup_flags(spurious_wakeups, adversarial_wakeups):
    """The command-line flags for wake-up semantics other than the defaults."""
    flags = f" --spurious-wakeups {spurious_wakeups}" if spurious_wakeups != 1 else ""
    return flags + (" --adversarial-wakeups" if adversarial_wakeups else "")


def check_script(path, strategy="random", runs=None, seed=0, *, granularity=DEFAULT_GRANULARITY, depth=3,
                 max_steps=100_000, daemon_cut_off_fails=False, shard=None, interrupted="raise", argv=(),
                 spurious_wakeups=1, adversarial_wakeups=False):
    """``check`` for a script file, run from the top in a fresh ``__main__`` every run. ``shard``:
    ``(k, n)``, only shard ``k`` of ``n`` of the exploration (random, pos, dfs; ``racelab-py merge``
    merges the shards' ``--json`` output). ``interrupted``: what Ctrl-C does once it has stopped
    the search after its current run: ``"raise"`` its ``KeyboardInterrupt``, or ``"report"``
    the runs made so far (``Report.interrupted`` true), as ``racelab-py check`` prints them.
    ``argv``: the script's arguments (``sys.argv[1:]``). ``spurious_wakeups``,
    ``adversarial_wakeups``: as ``check``'s."""
    _checked_interrupted(interrupted)
    _checked_wakeups(spurious_wakeups)
    raw = _explore_script(path, granularity, argv, strategy=strategy, seed=seed, runs=runs, depth=depth,
                          max_steps=max_steps, daemon_cut_off_fails=daemon_cut_off_fails, shard=shard,
                          spurious_wakeups=spurious_wakeups, adversarial_wakeups=bool(adversarial_wakeups))
    if interrupted == "raise":
        _raise_interrupt(raw)
    return Report(raw, None)


def _checked_wakeups(spurious_wakeups):
    """Refuses a spurious wake-up budget the engine cannot take (a count from 0 to 2^32-1)."""
    if isinstance(spurious_wakeups, bool) or not isinstance(spurious_wakeups, int):
        raise TypeError(f"racelab: spurious_wakeups must be a whole number, not {spurious_wakeups!r}")
    if not 0 <= spurious_wakeups < 2**32:
        raise ValueError(f"racelab: spurious_wakeups must be from 0 to 2^32-1, not {spurious_wakeups}")


def _checked_interrupted(interrupted):
    if interrupted not in ("raise", "report"):
        raise ValueError(f"racelab: interrupted is \"raise\" or \"report\", not {interrupted!r}")


def _raise_interrupt(raw):
    """Raises again what a signal's handler raised during the check (Ctrl-C's
    ``KeyboardInterrupt``): the engine stopped the search after its current run, and the caller,
    pytest say, must see the interrupt rather than a partial report."""
    if raw.get("interrupt") is not None:
        raise raw["interrupt"]


def replay_script(path, schedule, *, granularity=DEFAULT_GRANULARITY, max_steps=100_000,
                  daemon_cut_off_fails=False, argv=()):
    """``replay`` for a script file (``argv``: its arguments, as ``check_script``'s)."""
    _checked_schedule(schedule)
    raw = _explore_script(path, granularity, argv, schedule=schedule, max_steps=max_steps,
                          daemon_cut_off_fails=daemon_cut_off_fails)
    return Report(raw, None)


_rl.REST_FOOTPRINTS.update((c, 0) for c in _entry_codes())
