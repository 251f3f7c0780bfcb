"""racelab.check / racelab.replay from Python, and the racelab-py command line."""

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import racelab


# ----- programs under test (module level: their file is what the tracer steps through) -----

counter = 0


def racy_counter():
    global counter
    counter = 0

    def worker():
        global counter
        for _ in range(2):
            counter += 1

    ts = [threading.Thread(target=worker) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert counter == 4, f"lost update: counter is {counter}"


def locked_counter():
    global counter
    counter = 0
    lock = threading.Lock()

    def worker():
        global counter
        for _ in range(2):
            with lock:
                counter += 1

    ts = [threading.Thread(target=worker) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert counter == 4, f"lost update: counter is {counter}"


def opposite_lock_order():
    a, b = threading.Lock(), threading.Lock()

    def one():
        with a:
            with b:
                pass

    def two():
        with b:
            with a:
                pass

    ts = [threading.Thread(target=one), threading.Thread(target=two)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def release_unlocked_caught():
    lock = threading.Lock()
    try:
        lock.release()
    except RuntimeError as e:
        assert "release unlocked lock" in str(e)
    else:
        raise AssertionError("no RuntimeError")


def release_unlocked_uncaught():
    threading.Lock().release()


def thread_raises():
    def worker():
        raise ValueError("boom")

    t = threading.Thread(target=worker, name="worker")
    t.start()
    t.join()


def introspection():
    seen = {}

    def worker():
        seen["name"] = threading.current_thread().name
        seen["ident"] = threading.get_ident()
        seen["count"] = threading.active_count()

    t = threading.Thread(target=worker, name="w")
    assert threading.current_thread() is threading.main_thread()
    assert threading.main_thread().name == "MainThread"
    t.start()
    assert t in threading.enumerate() or not t.is_alive()
    t.join()
    assert seen["name"] == "w" and seen["ident"] == t.ident and seen["ident"] != threading.get_ident()
    assert seen["count"] in (1, 2)
    assert threading.enumerate() == [threading.main_thread()]


def prints_and_sleeps():
    import time

    start = time.monotonic()
    time.sleep(3600)
    print("slept", time.monotonic() - start)


def forks():
    os.fork()


def starts_os_thread():
    import _thread

    _thread.start_new_thread(print, ("hi",))


draws = []


def draws_random():
    import random

    draws.append(random.random())


def daemon_cut_off():
    import time

    threading.Thread(target=time.sleep, args=(5,), daemon=True).start()


# ----- tests -----


def test_counter_loses_an_update_between_bytecodes():
    report = racelab.check(racy_counter, strategy="random", runs=500, granularity="opcode")
    assert not report.passed
    assert report.diagnosis_kind == "lost-update"
    assert report.schedule.startswith("v1 ")


def test_counter_keeps_every_update_by_lines_or_with_a_lock():
    assert racelab.check(racy_counter, runs=300, granularity="line").passed
    report = racelab.check(locked_counter, strategy="random", runs=300, granularity="opcode")
    assert report.passed, str(report)


def test_replay_gives_the_same_trace_bytes_twice():
    report = racelab.check(racy_counter, runs=500, granularity="opcode")
    first = racelab.replay(racy_counter, report.schedule, granularity="opcode")
    second = racelab.replay(racy_counter, report.schedule, granularity="opcode")
    assert not first.passed and first.diagnosis_kind == "lost-update"
    assert first.trace == second.trace == report.trace
    assert "counter += 1" in first.trace


def test_assert_passed_carries_the_whole_report_and_its_replay_line():
    report = racelab.check(racy_counter, runs=500, granularity="opcode")
    with pytest.raises(racelab.RacelabFailure) as e:
        report.assert_passed()
    message = str(e.value)
    assert "lost-update" in message and "trace:" in message
    assert f'racelab.replay(racy_counter, "{report.schedule}", granularity="opcode")' in message


def test_deadlock_is_found_exhaustively():
    report = racelab.check(opposite_lock_order, strategy="dfs", granularity="sync")
    assert report.diagnosis_kind == "deadlock", str(report)
    assert "Lock-1" in report.failure and "Lock-2" in report.failure


def test_misuse_raises_the_python_exception_in_the_thread():
    assert racelab.check(release_unlocked_caught, runs=5).passed
    report = racelab.check(release_unlocked_uncaught, runs=5)
    assert report.diagnosis_kind == "misuse"
    assert "RuntimeError: release unlocked lock" in report.failure


def test_an_uncaught_thread_exception_fails_the_run_as_excepthook_prints_it():
    report = racelab.check(thread_raises, runs=5)
    assert not report.passed
    assert "Exception in thread worker:" in report.failure
    assert "ValueError: boom" in report.failure
    assert "Traceback (most recent call last):" in report.failure


def test_threading_introspection_behaves():
    report = racelab.check(introspection, strategy="dfs", granularity="sync")
    assert report.passed, str(report)


def test_print_goes_into_the_trace_and_time_is_virtual(capsys):
    report = racelab.check(prints_and_sleeps, strategy="dfs")
    assert report.passed
    assert capsys.readouterr().out == ""
    traced = racelab.replay(prints_and_sleeps, "v1")
    assert "slept 3600.0" in traced.trace
    assert "3600.000s" in traced.trace


def test_fork_and_os_threads_are_refused():
    report = racelab.check(forks, runs=3)
    assert report.refused and "os.fork() cannot be simulated" in report.refused
    report = racelab.check(starts_os_thread, runs=3)
    assert report.refused and "OS thread" in report.refused


def fails_on_a_high_draw():
    import random

    value = random.random()
    draws.append(value)
    assert value < 0.9, f"drew {value}"


def test_random_is_seeded_per_run_from_the_schedule_and_replays_the_same():
    # Sampled runs draw their seed from the run's own stream: different values run to run.
    draws.clear()
    racelab.check(draws_random, runs=4)
    assert len(draws) == 4 and len(set(draws)) == 4, draws
    # An exhaustive search explores schedules, not seeds: every run draws with seed 0.
    draws.clear()
    racelab.check(draws_random, strategy="dfs")
    assert draws and len(set(draws)) == 1
    # The seed is a recorded choice, so a failing run's schedule replays the same draws.
    draws.clear()
    report = racelab.check(fails_on_a_high_draw, runs=500)
    assert not report.passed and report.schedule.split()[1].startswith("r"), report.schedule
    failing = [d for d in draws if d >= 0.9][0]
    draws.clear()
    again = racelab.replay(fails_on_a_high_draw, report.schedule)
    assert not again.passed and draws == [failing]


def test_daemon_threads_are_cut_off_at_exit():
    assert racelab.check(daemon_cut_off, strategy="dfs").passed
    report = racelab.check(daemon_cut_off, strategy="dfs", daemon_cut_off_fails=True)
    assert report.diagnosis_kind == "daemon-cut-off"


def test_the_interpreter_is_restored_after_a_check():
    import queue
    import time

    racelab.check(racy_counter, runs=3)
    assert threading.Lock is type(threading.Lock()) or callable(threading.Lock)
    assert threading.Thread.__module__ == "threading"
    assert queue.Queue.__module__ == "queue"
    assert time.sleep.__module__ == "time"
    assert sys.stdout.__class__.__name__ != "_Capture"


# ----- the command line -----

PROGRAM = textwrap.dedent(
    """\
    import threading
    counter = 0
    def worker():
        global counter
        for _ in range(2):
            counter += 1
    ts = [threading.Thread(target=worker) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert counter == 4, f"lost update: counter is {counter}"
    """
)


def racelab_py(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True, timeout=300)


def test_cli_check_finds_reports_and_replays(tmp_path):
    prog = tmp_path / "counter.py"
    prog.write_text(PROGRAM)
    done = racelab_py("check", str(prog), "--granularity", "opcode", "--runs", "300")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"racelab-py check {prog}: granularity=opcode strategy=random seed=0")
    assert lines[1].startswith("  BUG: lost-update in run ")
    assert lines[2].startswith("  shrunk from ") and lines[3].startswith("  coverage: "), lines[:4]
    replay_line = lines[-1]
    assert replay_line.startswith(f'  replay: racelab-py replay {prog} --schedule "v1 ')
    assert replay_line.endswith("--granularity opcode")
    schedule = replay_line.split('--schedule "')[1].split('"')[0]
    first = racelab_py("replay", str(prog), "--schedule", schedule, "--granularity", "opcode")
    second = racelab_py("replay", str(prog), "--schedule", schedule, "--granularity", "opcode")
    assert first.returncode == 1
    assert first.stdout == second.stdout
    assert "counter += 1" in first.stdout
    assert first.stdout.startswith(f"racelab-py replay {prog}: granularity=opcode")


def test_cli_passes_with_exit_0_and_json(tmp_path):
    prog = tmp_path / "counter.py"
    prog.write_text(PROGRAM)
    done = racelab_py("check", str(prog), "--runs", "50")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no bug found in 50 runs (sampled, not exhaustive)" in done.stdout
    done = racelab_py("check", str(prog), "--runs", "300", "--granularity", "opcode", "--json")
    assert done.returncode == 1
    import json

    result = json.loads(done.stdout)
    assert result["report"]["failure"]["diagnosis"]["kind"] == "lost-update"
    assert result["replay"].startswith("racelab-py replay ")


SEEDS = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "seeds")


def test_cli_explains_and_draws_the_failure(tmp_path):
    prog = os.path.join(SEEDS, "condition_if.py")
    page = tmp_path / "run.html"
    done = racelab_py("check", prog, "--runs", "2000", "--explain", "--html", str(page))
    assert done.returncode == 1, done.stdout + done.stderr
    story = done.stdout.split("what happened (* marks the steps that decide the bug):\n")[1]
    # The steps that decide a spurious wake-up are marked, and the fix closes the story.
    assert "* step" in story and "without any notify: a spurious wake-up" in story, story
    assert story.rstrip().splitlines()[-1].startswith("fix: re-check the condition in a `while` loop")
    assert done.stderr == f"timeline: {page}\n"
    html = page.read_text()
    # One self-contained page: no external asset, a lane per thread, the failure marked, and the
    # script's own source beside it with the failing line among its lines.
    import re

    assert re.search(r'(src|href)="(https?:)?//', html) is None and "<link" not in html
    assert 'class="event failing' in html and "queue.pop(0)" in html
    # A replay draws the same run; a passing check has no run to draw.
    schedule = done.stdout.split('--schedule "')[1].split('"')[0]
    again = racelab_py("replay", prog, "--schedule", schedule, "--html", str(tmp_path / "again.html"))
    assert again.returncode == 1
    assert (tmp_path / "again.html").read_text() == html
    # A pass keeps its exit code and writes no page, saying so on stderr.
    passing = racelab_py("check", os.path.join(SEEDS, "condition_while.py"), "--runs", "20", "--html",
                         str(tmp_path / "x.html"))
    assert passing.returncode == 0 and "there is no failure for --html to draw" in passing.stderr, passing.stderr
    assert not (tmp_path / "x.html").exists()


RACE_AFTER_INDEPENDENT_OPERATIONS = textwrap.dedent(
    """\
    import threading
    x = 0
    seen = []
    e1 = threading.Event()
    e2 = threading.Event()

    def a():
        global x
        e1.set()
        x = 1

    def b():
        e2.set()
        seen.append(x)

    ta = threading.Thread(target=a); tb = threading.Thread(target=b)
    ta.start(); tb.start(); ta.join(); tb.join()
    assert seen == [1], f"b saw x={seen}"
    """
)


@pytest.mark.parametrize("granularity", ["sync", "line"])
def test_the_exhaustive_search_sees_the_python_code_beside_the_primitives(tmp_path, granularity):
    # The two `set()`s touch different events, but the plain Python after them reads and writes x:
    # the steps that run it must not commute, or DPOR would prove this program correct (it did).
    prog = tmp_path / "race.py"
    prog.write_text(RACE_AFTER_INDEPENDENT_OPERATIONS)
    done = racelab_py("check", str(prog), "--strategy", "dfs", "--granularity", granularity)
    assert done.returncode == 1, done.stdout
    assert "b saw x=[0]" in done.stdout


def test_cli_play_follows_hints_to_the_bug_and_ends_with_a_replayable_run():
    prog = os.path.join(SEEDS, "condition_if.py")
    moves = []
    for _ in range(60):
        done = racelab_py("play", prog, "--moves", ",".join(moves + ["h"]))
        if done.returncode == 1:
            break
        assert done.returncode == 0, done.stdout + done.stderr
        hints = [line for line in done.stdout.splitlines() if line.startswith("hint: play ")]
        assert hints, done.stdout
        moves.append(hints[-1].split()[2])
    else:
        pytest.fail(f"60 hinted moves did not reach the bug: {moves}")
    won = racelab_py("play", prog, "--moves", ",".join(moves))
    assert won.returncode == 1 and "YOU WIN: you drove the threads into the bug." in won.stdout
    assert "spurious-wakeup:" in won.stdout
    # The run played ends with the command that replays it; the replay fails the same way.
    line = [l for l in won.stdout.splitlines() if l.startswith("your run: racelab-py replay ")][-1]
    schedule = line.split('--schedule "')[1].split('"')[0]
    assert "--granularity sync --schedule" in line
    again = racelab_py("replay", prog, "--schedule", schedule, "--granularity", "sync")
    assert again.returncode == 1 and again.stdout.splitlines()[1].startswith("spurious-wakeup:")
    # Undo takes a move back: one move made and undone shows the first position again.
    undone = racelab_py("play", prog, "--moves", f"{moves[0]},u")
    assert "undone: back to move 1" in undone.stdout
    # A move that cannot be made in a script is bad input.
    bad = racelab_py("play", prog, "--moves", "7")
    assert bad.returncode == 2 and bad.stderr.startswith("racelab: move 1: 7 cannot be chosen now")


@pytest.mark.parametrize(
    "args, message",
    [
        (["check", "{prog}", "--json", "--explain"], "--explain prints sentences and --json prints JSON lines"),
        (["check", "missing.py"], "cannot read missing.py"),
        (["check", "{prog}", "--runs", "0"], "0 is out of range (1 to 2^64-1)"),
        (["check", "{prog}", "--strategy", "nope"], "invalid choice"),
        (["replay", "{prog}", "--schedule", "v1 t9*"], "the schedule does not parse"),
        (["replay", "{prog}", "--schedule", "v1 t0"], "does not fit"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    prog = tmp_path / "counter.py"
    prog.write_text(PROGRAM)
    done = racelab_py(*[a.replace("{prog}", str(prog)) for a in args])
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("racelab: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr


def test_a_spinning_thread_is_a_step_limit_found_without_tracing_its_lesson(tmp_path):
    # The run is 100,000 steps: it is not shrunk (every candidate is as long) and not narrated
    # or drawn (--explain and --html stop at 20,000 trace events), so the check ends at once.
    script = tmp_path / "spin.py"
    script.write_text(
        "import threading\n\n\ndef spin():\n    while True:\n        pass\n\n\n"
        "t = threading.Thread(target=spin, daemon=True)\nt.start()\nt.join()\n"
    )
    done = racelab_py("check", str(script), "--runs", "2", "--json")
    assert done.returncode == 1, done.stderr
    failure = json.loads(done.stdout)["report"]["failure"]
    assert failure["kind"]["kind"] == "step-limit"
    assert failure["step"] == 100_000
    assert failure["shrunk_from"] is None
    told = racelab_py("check", str(script), "--runs", "2", "--explain")
    assert told.returncode == 1, told.stderr
    assert "BUG: step-limit" in told.stdout
    assert "--explain and --html tell runs of up to 20000" in told.stdout


def draws_from_its_own_random():
    import random

    rng = random.Random()
    drawn = rng.random()
    assert drawn < 0, f"drew {drawn!r}"


def test_a_random_instance_the_program_makes_draws_the_same_values_on_replay():
    found = racelab.check(draws_from_its_own_random, strategy="random", runs=3, seed=5, granularity="sync")
    assert not found.passed
    again = racelab.replay(draws_from_its_own_random, found.schedule, granularity="sync")
    drawn = [line for line in found.text.splitlines() if line.startswith("AssertionError: drew ")][0]
    assert drawn in again.text, again.text
    # Another seed's runs draw other values: the instance is seeded from the run's stream.
    other = racelab.check(draws_from_its_own_random, strategy="random", runs=3, seed=6, granularity="sync")
    assert drawn not in other.text
