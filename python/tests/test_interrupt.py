"""Ctrl-C during a check. The script's threads run on the engine's threads, where CPython runs no
signal handler, so racelab installs a SIGINT handler of its own for the length of a check, watched
by the thread that waits for it: the first Ctrl-C stops the search after its current run
(``racelab-py check`` prints the runs so far and exits with 130; the library raises
``KeyboardInterrupt``), a second one exits at once."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"


def long_check_program(tmp_path, marker, body="counter += 1"):
    """A correct script whose dfs takes minutes, that creates ``marker`` when its first run starts
    (so the test interrupts a search under way, not the interpreter's start-up)."""
    prog = tmp_path / "long.py"
    prog.write_text(textwrap.dedent(f"""\
        import threading
        open({str(marker)!r}, "a").close()  # every run alike: a run must not read what the last left
        lock = threading.Lock()
        counter = 0
        def work():
            global counter
            for _ in range(3):
                with lock:
                    {body}
        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        """), encoding="utf-8")
    return prog


@pytest.fixture
def started():
    """``start(command, marker)``: the check as a child, once its first run has begun. Every
    child is killed when the test ends, passed or failed: one that survives a failed test spins
    on (a run in C ignores a lone Ctrl-C) and slows everything after it."""
    children = []

    def start(command, marker):
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        children.append(proc)
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the check never started its first run"
            time.sleep(0.05)
        return proc

    yield start
    for proc in children:
        # The whole session, whether its leader has exited or not: racelab-py and any shard
        # processes it started.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def test_ctrl_c_stops_a_check_and_prints_the_runs_so_far(tmp_path, started):
    marker = tmp_path / "started"
    prog = long_check_program(tmp_path, marker)
    proc = started([sys.executable, "-m", "racelab.cli", "check", str(prog), "--strategy", "dfs",
                           "--runs", "100000000"], marker)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted: no bug found in " in out and "so far (not exhaustive)" in out, out
    assert "Traceback" not in err, err


def test_ctrl_c_with_json_gives_the_partial_report(tmp_path, started):
    import json

    marker = tmp_path / "started"
    prog = long_check_program(tmp_path, marker)
    proc = started([sys.executable, "-m", "racelab.cli", "check", str(prog), "--strategy", "dfs",
                           "--runs", "100000000", "--json"], marker)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    report = json.loads(out)["report"]
    assert report["interrupted"] is True and report["failure"] is None and report["runs"] >= 1, report


def test_ctrl_c_raises_keyboard_interrupt_from_the_library(tmp_path, started):
    marker = tmp_path / "started"
    prog = long_check_program(tmp_path, marker)
    caller = tmp_path / "caller.py"
    caller.write_text(textwrap.dedent(f"""\
        import racelab
        try:
            racelab.check_script({str(prog)!r}, strategy="dfs", runs=100_000_000)
        except KeyboardInterrupt:
            print("KeyboardInterrupt raised")
        else:
            print("returned")
        """), encoding="utf-8")
    proc = started([sys.executable, str(caller)], marker)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert out == "KeyboardInterrupt raised\n", (out, err)


def test_a_second_ctrl_c_ends_a_run_that_never_ends(tmp_path, started):
    # The first run's threads sit in C (one long `sum`), where no scheduling point falls: the
    # first Ctrl-C can only stop the search after that run, so the second ends the process.
    marker = tmp_path / "started"
    prog = long_check_program(tmp_path, marker, body="counter += sum(range(10**11))")
    proc = started([sys.executable, "-m", "racelab.cli", "check", str(prog), "--watchdog", "0"], marker)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert proc.poll() is None, "the run in C should still be going"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)


def test_ctrl_c_stops_the_shards_of_jobs(tmp_path, started):
    marker = tmp_path / "started"
    prog = long_check_program(tmp_path, marker)
    proc = started([sys.executable, "-m", "racelab.cli", "check", str(prog), "--strategy", "dfs",
                           "--runs", "100000000", "--jobs", "2"], marker)
    # Ctrl-C in a terminal reaches the whole process group; here, the parent alone.
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1] == "racelab: interrupted", err
    assert "Traceback" not in err, err
    # Every shard was stopped with the parent.
    time.sleep(0.5)
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(prog).encode() in f.read():
                    alive.append(pid)
        except OSError:
            pass
    assert not alive, f"shards still running: {alive}"
