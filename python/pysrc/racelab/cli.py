"""``racelab-py``: check or replay a Python script as it is, the way ``racelab`` checks a scenario.

    racelab-py check prog.py [--strategy random|pct|pos|dfs|portfolio] [--seed N] [--runs N] [--depth D]
                             [--granularity sync|line|opcode] [--max-steps N] [--watchdog SECONDS] [--json]
                             [--jobs N | --shard K/N]
    racelab-py replay prog.py --schedule "v1 ..." [--granularity ...] [--max-steps N] [--watchdog SECONDS] [--json]
    racelab-py merge shard-*.json [--json]

Exit codes as ``racelab``'s: 0 no bug, 1 bug found, 2 bad input (one ``racelab: ...`` line on
standard error).
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tokenize

import racelab
from racelab import _racelab

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_MAX_STEPS = 100_000
DEFAULT_WATCHDOG = 30.0


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage(f"{message} (see racelab-py --help)")


def _parser():
    p = _Parser(prog="racelab-py", description="Check a threaded Python program under every interleaving racelab "
                "chooses, and replay what it finds.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("script", help="the Python program, run from the top in a fresh __main__ every run")
        sp.add_argument("args", nargs="*", metavar="ARG",
                        help="the program's arguments (its sys.argv[1:]); after --, those that begin with -")
        sp.add_argument("--granularity", choices=racelab.GRANULARITIES, default=racelab.DEFAULT_GRANULARITY,
                        help="scheduling points: at racelab's primitives only (sync), also between the lines of the "
                        "script (line, the default), or between its bytecodes (opcode)")
        sp.add_argument("--max-steps", type=_positive, default=DEFAULT_MAX_STEPS)
        sp.add_argument("--json", action="store_true", help="one line of JSON, as racelab --json")
        sp.add_argument("--fail-on-daemon-cut-off", action="store_true",
                        help="a daemon thread still running when the program ends fails the run")
        sp.add_argument("--explain", action="store_true",
                        help="tell the failing run a line per step that matters, the deciding steps marked *, "
                        "and the fix")
        sp.add_argument("--html", metavar="FILE",
                        help="write the run (check: the failure found; replay: the run) as one self-contained page")
        sp.add_argument("--watchdog", type=_seconds, default=DEFAULT_WATCHDOG, metavar="SECONDS",
                        help="stop with exit code 2 when the program makes no progress for this long (a thread "
                        "spinning without a scheduling point, or blocked in the OS); 0: never (default 30)")

    def wakeups(sp):
        sp.add_argument("--spurious-wakeups", type=_wakeup_count, default=1, metavar="N",
                        help="wake-ups without a notify each run may have (default 1, which finds an `if` around "
                        "wait(); 0 is CPython-exact)")
        sp.add_argument("--adversarial-wakeups", action="store_true",
                        help="notify() wakes the waiter the search chooses, not the one waiting longest")

    c = sub.add_parser("check", help="explore many runs and report the first failing one")
    common(c)
    wakeups(c)
    c.add_argument("--strategy", choices=("random", "pct", "pos", "dfs", "portfolio"), default="random")
    c.add_argument("--seed", type=_natural, default=0)
    c.add_argument("--runs", type=_positive, default=None,
                   help="how many runs (default 1000; dfs and portfolio: until exhausted, at most 1,000,000)")
    c.add_argument("--depth", type=_positive, default=None, help="PCT's bug depth (default 3; pct only)")
    split = c.add_mutually_exclusive_group()
    split.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                       help="split the check over N processes, one per core (random, pos and dfs), and merge them: "
                       "the verdict, failing run and coverage of `--shard 0/1` (default 1)")
    split.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                       help="run only shard K of N (random, pos and dfs), e.g. on one machine of N; merge every "
                       "shard's --json output with `racelab-py merge`")
    r = sub.add_parser("replay", help="run once along a schedule from a report, with the whole trace")
    common(r)
    r.add_argument("--schedule", required=True)
    m = sub.add_parser("merge", help="one verdict from the --json output of every shard of a check")
    m.add_argument("files", nargs="+", help="the files holding every shard's output (e.g. shard-*.json)")
    m.add_argument("--json", action="store_true", help="the merged result as one line of JSON")
    g = sub.add_parser("play", help="be the scheduler: pick which thread moves next, until the bug or the end")
    g.add_argument("script", help="the Python program")
    g.add_argument("args", nargs="*", metavar="ARG", help="the program's arguments (its sys.argv[1:])")
    g.add_argument("--granularity", choices=racelab.GRANULARITIES, default="sync",
                   help="where you choose: at racelab's primitives (sync, the default), or also between lines")
    g.add_argument("--moves", help="scripted moves, comma-separated (u undoes, h hints): for tests and slides")
    g.add_argument("--max-steps", type=_positive, default=DEFAULT_MAX_STEPS)
    g.add_argument("--fail-on-daemon-cut-off", action="store_true")
    wakeups(g)
    g.set_defaults(json=False, explain=False, html=None)
    return p


def _natural(text, least=0):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a whole number") from None
    if n < least or n >= 2**64:
        raise argparse.ArgumentTypeError(f"{n} is out of range ({least} to 2^64-1)")
    return n


def _wakeup_count(text):
    n = _natural(text)
    if n >= 2**32:
        raise argparse.ArgumentTypeError(f"{n} is out of range (0 to 2^32-1)")
    return n


def _seconds(text):
    try:
        n = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a number of seconds") from None
    if not (n >= 0 and n < float("inf")):
        raise argparse.ArgumentTypeError(f"{text} is out of range (0, for never, or more)")
    return n


MAX_JOBS = 256  # as the engine's `--jobs` (`racelab_sim::config::MAX_JOBS`)


def _jobs(text):
    n = _natural(text)
    if not 1 <= n <= MAX_JOBS:
        raise argparse.ArgumentTypeError(
            f"--jobs must be from 1 to {MAX_JOBS}, got {n} (more processes than cores only adds switching)")
    return n


def _shard(text):
    bad = argparse.ArgumentTypeError(f"--shard wants K/N with 0 <= K < N, e.g. 0/4; got `{text}`")
    k, sep, n = text.partition("/")
    try:
        k, n = int(k.strip()), int(n.strip())
    except ValueError:
        raise bad from None
    if not sep or not 0 <= k < n < 2**64:
        raise bad
    return (k, n)


def _positive(text):
    return _natural(text, least=1)


def _python_words(text):
    """The engine's words for a Python reader: its messages name the Rust API where the CLI flag
    and the Python function are what a Python user has."""
    return (text.replace("(Config::max_steps, --max-steps)", "(--max-steps)")
            .replace("A loop that waits for time to pass (until `elapsed()` reaches a duration) without sleeping "
                     "never ends either: the virtual clock moves only when no thread can run, so sleep in it.",
                     "A loop that waits for time to pass without sleeping (until `time.monotonic()` reaches a "
                     "deadline) moves the clock a microsecond per read only: the virtual clock moves when no thread "
                     "can run, so sleep in it.")
            .replace("a Rust HashMap, a Python set or dict", "a set or dict"))


def _failure_details(report):
    """The failure's own text after its diagnosis, unless it says the same again: an uncaught
    exception's diagnosis already has its traceback, which the engine's "panic in thread" line
    repeated."""
    _out()
    if report._raw.get("kind") != "panic":
        _out(_python_words(report.failure.rstrip("\n")))


def _out(line=""):
    sys.stdout.write(line + "\n")


def _flags(args):
    flags = ""
    if args.granularity != racelab.DEFAULT_GRANULARITY:
        flags += f" --granularity {args.granularity}"
    if args.max_steps != DEFAULT_MAX_STEPS:
        flags += f" --max-steps {args.max_steps}"
    if args.fail_on_daemon_cut_off:
        flags += " --fail-on-daemon-cut-off"
    return flags


def _replay_command(args, report):
    if report.passed or not report.schedule:
        return None
    return f"racelab-py replay {shlex.quote(args.script)} --schedule \"{report.schedule}\"{_flags(args)}{_script_args(args)}"


def _script_args(args):
    """The program's own arguments at the end of a printed command, after ``--``."""
    given = getattr(args, "args", None) or []
    return (" -- " + " ".join(shlex.quote(a) for a in given)) if given else ""


def _settings(args, settings):
    """The engine's settings (``Report.settings``) as racelab-py runs them: one OS thread (no
    `jobs`), and racelab-py's own watchdog in place of the engine's (which is off for Python, see
    `watchdog.rs`)."""
    words = [w for w in settings.split() if not w.startswith(("jobs=", "watchdog="))]
    limit = getattr(args, "watchdog", DEFAULT_WATCHDOG)
    words.append(f"watchdog={limit:g}s" if limit else "watchdog=off")
    return f"granularity={args.granularity} " + " ".join(words)


def _json_line(args, report):
    body = report.json
    # racelab-py's own watchdog in place of the engine's, which is off for Python (as the
    # settings line has it), in the engine's words: seconds, or false for never.
    limit = getattr(args, "watchdog", DEFAULT_WATCHDOG)
    body.setdefault("settings", {})["watchdog"] = f"{limit:g}s" if limit else False
    return json.dumps({
        "target": args.script,
        "granularity": args.granularity,
        "replay": _replay_command(args, report),
        "report": body,
    })


def _try_writing(path):
    """Refuses ``--html path`` where the page could not be written, tried rather than inferred from
    permission bits (root ignores them, a read-only file system does not): an existing file is
    opened to append nothing, a new one is made and removed again."""
    try:
        if os.path.exists(path):
            open(path, "a", encoding="utf-8").close()
        elif os.path.lexists(path):
            return  # a link to a file yet to be made: writing the page will make it
        else:
            open(path, "x", encoding="utf-8").close()
            os.remove(path)
    except OSError as e:
        raise _Usage(f"--html {path}: cannot write it: {e.strerror}; write the page elsewhere") from None


def _no_page(path):
    """``--html`` on a check that passed: not an error (the verdict and its exit code stand), but
    no page is written, and the user is told so."""
    sys.stderr.write(f"racelab: this check passed: there is no failure for --html to draw, so {path} "
                     "was not written (replay a schedule to draw it)\n")


def _teaching(args, report):
    """``--explain`` and ``--html``: the narration after the report, the page to its file."""
    if args.explain and report.explain:
        _out()
        sys.stdout.write(report.explain)
    if args.html:
        if report.html is None:
            _no_page(args.html)
            return
        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(report.html)
        except OSError as e:
            raise _Usage(f"cannot write the timeline to {args.html}: {e.strerror}") from None
        sys.stderr.write(f"timeline: {args.html}\n")


def _play(args):
    if any(a.startswith("-") for a in args.args):
        # The game adds options after these commands (`--schedule`, `--moves`), so the program's
        # arguments go right after it, where one that begins with `-` would be taken for an option.
        raise _Usage("play passes the program's arguments after it in the commands it prints, where one that "
                     f"begins with - would be read as an option ({' '.join(args.args)}): play the program with "
                     "arguments that do not, or use check and replay, whose commands carry them after --")
    flags = _flags(args)
    script = shlex.quote(args.script)
    # The program's arguments right after it: the game appends options to these commands (a
    # `--` there would make them the program's too).
    script += "".join(" " + shlex.quote(a) for a in args.args)
    # A replay takes the wake-up settings from its schedule; playing again needs them.
    play_flags = ("" if args.granularity == "sync" else f" --granularity {args.granularity}") + \
        racelab._wakeup_flags(args.spurious_wakeups, args.adversarial_wakeups)
    commands = (args.script, f"racelab-py replay {script}{flags}", f"racelab-py play {script}{play_flags}")
    try:
        return racelab.play_script(args.script, commands, args.moves, granularity=args.granularity,
                                   max_steps=args.max_steps, daemon_cut_off_fails=args.fail_on_daemon_cut_off,
                                   argv=args.args, spurious_wakeups=args.spurious_wakeups,
                                   adversarial_wakeups=args.adversarial_wakeups)
    except ValueError as e:
        raise _Usage(str(e).removeprefix("racelab: ")) from None


def _check(args):
    if args.jobs > 1:
        return _check_in_processes(args)
    # The settings first, before a check that may take minutes (as `racelab check` prints them).
    header = None
    if not args.json:
        try:
            settings = _racelab.settings_line(strategy=args.strategy, seed=args.seed, runs=args.runs,
                                              depth=args.depth or 3, max_steps=args.max_steps,
                                              daemon_cut_off_fails=args.fail_on_daemon_cut_off, shard=args.shard,
                                              spurious_wakeups=args.spurious_wakeups,
                                              adversarial_wakeups=args.adversarial_wakeups)
        except ValueError:
            pass  # refused below, with the check's own message
        else:
            header = f"racelab-py check {args.script}: {_settings(args, settings)}"
            _out(header)
            sys.stdout.flush()
    report = racelab.check_script(args.script, strategy=args.strategy, runs=args.runs, seed=args.seed,
                                  granularity=args.granularity, depth=args.depth or 3, max_steps=args.max_steps,
                                  daemon_cut_off_fails=args.fail_on_daemon_cut_off, shard=args.shard,
                                  interrupted="report", argv=args.args, spurious_wakeups=args.spurious_wakeups,
                                  adversarial_wakeups=args.adversarial_wakeups)
    if report.refused:
        raise _Usage(report.refused.removeprefix("racelab: "))
    # Ctrl-C stopped the search (what it found so far is reported), or came as the search was
    # ending (the report is whole): no bug found, and 130, as `racelab check` does.
    stopped = report.interrupted and report.passed
    if not report.passed:
        exit_code = EXIT_BUG
    elif stopped or report._raw.get("interrupt") is not None:
        exit_code = EXIT_INTERRUPTED
    else:
        exit_code = EXIT_OK
    if args.json:
        _out(_json_line(args, report))
        return exit_code
    full = f"racelab-py check {args.script}: {_settings(args, report.settings)}"
    if header != full:
        _out(full)
    _out(f"  {report.verdict}")
    if not report.passed and report._raw.get("shrunk"):
        _out(f"  {report._raw['shrunk']}")
    _out(f"  coverage: {report.coverage}")
    if report._raw.get("growth_note"):
        # racelab-py has no preemption bound: sampling is what it offers instead.
        note = report._raw["growth_note"].replace(
            "try sampling (--strategy pos) or a preemption bound (--preemption-bound 2, Config::preemption_bound), "
            "which ends the search unless the loop spins without yielding",
            "try sampling (--strategy pos or random)")
        _out(f"  note: {note}")
    if args.shard:
        k, n = args.shard
        _out(f"  shard {k}/{n} alone: run every shard with --json and merge them with racelab-py merge")
    if not report.passed:
        raw = report._raw
        _out()
        _out(_python_words(report.diagnosis))
        _failure_details(report)
        if raw.get("shrink_cut_short"):
            _out(f"shrinking stopped at {raw['shrink_cut_short']}: a smaller failing run may exist")
            _out()
        _out("trace:")
        sys.stdout.write(raw["trace_excerpt"])
        _out()
        _out(f"  replay: {_replay_command(args, report)}")
    if not stopped:
        _teaching(args, report)
    return exit_code


# racelab-py run as a command: `-P` keeps the working directory off `sys.path`, so a `random.py`
# there cannot stand in for the standard library's.
_SELF = [sys.executable, "-P", "-m", "racelab.cli"]


def _shard_command(args, k, n):
    """The command of shard ``k`` of ``n`` of this check: the same settings, its --json line out."""
    command = [*_SELF, "check", args.script, "--shard", f"{k}/{n}", "--json",
               "--strategy", args.strategy, "--seed", str(args.seed), "--granularity", args.granularity,
               "--max-steps", str(args.max_steps), "--watchdog", repr(args.watchdog)]
    if args.runs is not None:
        command += ["--runs", str(args.runs)]
    if args.depth is not None:
        command += ["--depth", str(args.depth)]
    if args.fail_on_daemon_cut_off:
        command.append("--fail-on-daemon-cut-off")
    command += racelab._wakeup_flags(args.spurious_wakeups, args.adversarial_wakeups).split()
    if args.args:
        command += ["--", *args.args]
    return command


def _shard_env():
    """The shards' environment: this process's, with its hash seed (see ``_with_one_hash_seed``)."""
    seed = os.environ.get("PYTHONHASHSEED", "random")
    return dict(os.environ, PYTHONHASHSEED=seed if seed != "random" else "0")


def _check_in_processes(args):
    """``check --jobs N``: the check split into N shards, each a process of its own (Python threads
    share one interpreter lock, so a second core needs a second interpreter), merged as
    ``racelab-py merge`` merges them; a failure is then replayed here to tell it as ``check`` does."""
    if args.strategy not in ("random", "pos", "dfs"):
        raise _Usage(f"--jobs splits random, pos and dfs checks into processes; this check is {args.strategy} "
                     "(run it with --jobs 1, or choose one of those strategies)")
    n = args.jobs
    shards = []
    outputs = []
    try:
        for k in range(n):
            stdin = _shard_stdin()
            try:
                shards.append(subprocess.Popen(_shard_command(args, k, n), stdin=stdin, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True, env=_shard_env()))
            finally:
                if stdin is not None:
                    stdin.close()  # the shard has its own copy
        for k, shard in enumerate(shards):
            out, err = shard.communicate()
            # Exit code 1 is also Python's for an uncaught exception: a shard's report is one line
            # of JSON, and anything else is the shard's own failure.
            if shard.returncode not in (EXIT_OK, EXIT_BUG) or not _one_json_line(out):
                problem = err.strip().splitlines()[-1] if err.strip() else f"exit code {shard.returncode}"
                raise _Usage(f"shard {k}/{n} of the check failed: {problem.removeprefix('racelab: ')}")
            outputs.append((f"shard {k}/{n}", out))
    finally:
        # A shard that failed, or Ctrl-C: none of the others goes on alone.
        for shard in shards:
            if shard.poll() is None:
                shard.kill()
                shard.wait()
    try:
        (merged,) = racelab._racelab.merge(outputs)
    except ValueError as e:
        raise _Usage(str(e).removeprefix("racelab: ")) from None
    if args.json:
        _out(merged["json"])
        return EXIT_BUG if merged["failed"] else EXIT_OK
    _out(f"racelab-py check {args.script}: {n} processes of {_merged_settings(merged, args.watchdog)}")
    _out(f"  {merged['verdict']}")
    _out(f"  coverage: {merged['coverage']}")
    if not merged["failed"]:
        if args.html:
            _no_page(args.html)
        return EXIT_OK
    # The failing run, told as one process tells it: replayed from the lowest shard's schedule.
    schedule = json.loads(merged["json"])["report"]["failure"]["schedule"]
    report = racelab.replay_script(args.script, schedule, granularity=args.granularity, max_steps=args.max_steps,
                                   daemon_cut_off_fails=args.fail_on_daemon_cut_off, argv=getattr(args, "args", []))
    if report.passed or report.kind == "divergence":
        _out()
        _out("  the failing run did not come out the same when replayed in this process: the program does "
             "something racelab does not control (the OS clock, its own OS threads, the environment)")
        _out(f"  replay: {merged['replay']}")
        return EXIT_BUG
    _out()
    _out(_python_words(report.diagnosis))
    _failure_details(report)
    _out("trace:")
    sys.stdout.write(report._raw["trace_excerpt"])
    _out()
    _out(f"  replay: {merged['replay']}")
    _teaching(args, report)
    return EXIT_BUG


def _shard_stdin():
    """A shard's standard input. Input redirected from a file (``< input.txt``): the file opened
    afresh, so every shard reads it from the start, as every run of one process does. A pipe
    cannot be read by several processes alike: it is inherited, and reaches whichever shard reads
    it first (the README says to redirect from a file with --jobs)."""
    import stat

    try:
        if stat.S_ISREG(os.fstat(0).st_mode):
            return open("/proc/self/fd/0", "rb")  # noqa: SIM115 - closed by the caller once the shard has it
    except OSError:
        pass
    return None


def _one_json_line(text):
    try:
        return text.count("\n") == 1 and isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _merged_settings(merged, watchdog=None):
    """The merged settings as ``check`` shows its own: granularity first, and the watchdog last:
    racelab-py's (``watchdog``, when this process ran the shards), else the shards' own (their
    ``--json`` carries racelab-py's, the engine's being off for Python)."""
    words = merged["settings"].split()
    granularity = [w for w in words if w.startswith("granularity=")]
    shards_watchdog = [w for w in words if w.startswith("watchdog=")]
    words = granularity + [w for w in words if not w.startswith(("granularity=", "watchdog=", "jobs="))]
    if watchdog is not None:
        words.append(f"watchdog={watchdog:g}s" if watchdog else "watchdog=off")
    else:
        words.extend(shards_watchdog)
    return " ".join(words)


MAX_SHARD_FILE = 1 << 30  # as racelab merge's (`src/cli/merge.rs`)


def _merge(args):
    import stat

    outputs = []
    for path in args.files:
        try:
            mode = os.stat(path).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
                # A device such as /dev/zero would be read until memory ran out.
                raise _Usage(f"cannot read {path}: not a file of check --json output (a directory or a device)")
            with open(path, encoding="utf-8") as f:
                text = f.read(MAX_SHARD_FILE + 1)
        except (OSError, UnicodeDecodeError) as e:
            raise _Usage(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
        if len(text) > MAX_SHARD_FILE:
            raise _Usage(f"cannot read {path}: it holds more than {MAX_SHARD_FILE >> 20} MiB, more than a shard's output")
        outputs.append((path, text))
    try:
        targets = racelab._racelab.merge(outputs)
    except ValueError as e:
        raise _Usage(str(e).removeprefix("racelab: ")) from None
    for m in targets:
        if args.json:
            _out(m["json"])
            continue
        _out(f"racelab-py merge {m['target']}: {m['shards']} shards of {_merged_settings(m)}")
        _out(f"  {m['verdict']}")
        _out(f"  coverage: {m['coverage']}")
        if m["replay"]:
            _out(f"  replay: {m['replay']}")
    return EXIT_BUG if any(m["failed"] for m in targets) else EXIT_OK


def _replay(args):
    report = racelab.replay_script(args.script, args.schedule, granularity=args.granularity,
                                   max_steps=args.max_steps, daemon_cut_off_fails=args.fail_on_daemon_cut_off,
                                   argv=args.args)
    if report.refused:
        raise _Usage(report.refused.removeprefix("racelab: "))
    if report.kind == "divergence":
        raise _Usage(f"the schedule does not fit {args.script}: {report.failure.strip()} Was it recorded from "
                     "another program, or with another --granularity?")
    if args.json:
        _out(_json_line(args, report))
        return EXIT_OK if report.passed else EXIT_BUG
    _out(f"racelab-py replay {args.script}: {_settings(args, report.settings)}")
    if report._raw.get("replay_differs"):
        _out(f"note: {report._raw['replay_differs']}")
    if report.passed:
        _out("run 0 passed")
        cut = report._raw.get("cut_off") or []
        if cut:
            _out(f"daemon threads cut off at the end: {', '.join(cut)}")
    else:
        _out(_python_words(report.diagnosis))
        _failure_details(report)
    _out(f"schedule: {report.schedule}")
    _out("trace:")
    sys.stdout.write(report.trace)
    _teaching(args, report)
    return EXIT_OK if report.passed else EXIT_BUG


def _with_one_hash_seed(argv):
    """Starts racelab-py again under ``PYTHONHASHSEED=0`` unless a seed is set. A script whose
    threads start in the order of a set of strings is another program under another hash seed: a
    schedule that check found must replay in the next process, and the shards of ``--jobs`` run
    in processes of their own."""
    if os.environ.get("PYTHONHASHSEED", "random") == "random":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [*_SELF, *argv], dict(os.environ, PYTHONHASHSEED="0"))


def main(argv=None):
    try:
        as_program = argv is None
        argv = sys.argv[1:] if as_program else list(argv)
        # Everything after the first `--` is the program's (argparse would not give a positional
        # list arguments that come after the options, as `replay prog.py --schedule S -- 5`).
        own, program_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
        parser = _parser()
        args, extra = parser.parse_known_args(own)
        # The program's arguments may also come after racelab-py's own options
        # (`check prog.py --runs 3 5 data.txt`): argparse leaves them over.
        unknown = [a for a in extra if a.startswith("-") or not hasattr(args, "args")]
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        if extra:
            args.args = list(args.args) + extra
        if program_args:
            if not hasattr(args, "args"):
                raise _Usage(f"{args.command} runs no program: the arguments after -- are for check, replay and play")
            args.args = list(args.args) + program_args
        if args.command == "merge":
            return _merge(args)
        if as_program:
            # (A caller's own process, calling main with its arguments, is left as it is.)
            _with_one_hash_seed(argv)
        if args.explain and args.json:
            raise _Usage("--explain prints sentences and --json prints JSON lines: choose one")
        if args.command == "check" and args.depth is not None and args.strategy != "pct":
            raise _Usage(f"--depth is PCT's bug depth: it applies only to --strategy pct (this check is {args.strategy})")
        html = getattr(args, "html", None)
        if html:
            # Checked before the runs: a check that found a bug and could not write its page
            # would end with 2 instead of 1.
            folder = os.path.dirname(html) or "."
            if not os.path.isdir(folder):
                raise _Usage(f"--html {html}: the directory {folder} does not exist; create it, or write the page "
                             "elsewhere")
            if os.path.isdir(html):
                raise _Usage(f"--html {html}: is a directory; give the file to write the page into")
            _try_writing(html)
        if os.path.isdir(args.script):
            raise _Usage(f"cannot read {args.script}: it is a directory; give the script to run")
        if not os.path.exists(args.script):
            raise _Usage(f"cannot read {args.script}: no such file")
        if not os.path.isfile(args.script):
            raise _Usage(f"cannot read {args.script}: not a regular file; give the script to run")
        try:
            with tokenize.open(args.script) as f:  # a PEP 263 coding line, as CPython reads it
                compile(f.read(), args.script, "exec")
        except SyntaxError as e:
            where = f" (line {e.lineno})" if e.lineno else ""
            raise _Usage(f"{args.script} does not compile: {e.msg}{where}") from None
        except ValueError as e:  # a NUL byte: "source code string cannot contain null bytes"
            raise _Usage(f"{args.script} does not compile: {e}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise _Usage(f"cannot read {args.script}: {e}") from None
        racelab._racelab.set_watchdog(getattr(args, "watchdog", DEFAULT_WATCHDOG))
        try:
            if args.command == "play":
                return _play(args)
            return _check(args) if args.command == "check" else _replay(args)
        except ValueError as e:
            message = str(e)
            if message.startswith("racelab: "):
                raise _Usage(message.removeprefix("racelab: ")) from None
            raise
    except _Usage as e:
        sys.stderr.write(f"racelab: {e}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        # Ctrl-C outside a check's search (which stops and reports): while a script is being
        # played, or while the shards of --jobs run (each is stopped).
        sys.stderr.write("racelab: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
