"""racelab-py never hangs on a program that stops making progress: a thread spinning where no
scheduling point falls, or blocked in the operating system, ends the check with exit code 2 and a
message that names the thread and says what to do."""

import subprocess
import sys
import textwrap


def racelab_py(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True, timeout=120)


def test_a_busy_wait_at_sync_granularity_is_stopped_with_the_reason(tmp_path):
    prog = tmp_path / "spin.py"
    prog.write_text(textwrap.dedent("""
        import threading
        done = False
        def worker():
            global done
            done = True
        t = threading.Thread(target=worker)
        t.start()
        while not done:
            pass
        t.join()
    """))
    done = racelab_py("check", str(prog), "--granularity", "sync", "--watchdog", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("racelab: the program made no progress for 1 s in run 0"), done.stderr
    assert "thread `main`" in done.stderr and "granularity line" in done.stderr
    # At line granularity the loop has scheduling points: the worker runs and the check passes.
    done = racelab_py("check", str(prog), "--runs", "20")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_thread_blocked_in_the_os_is_named(tmp_path):
    prog = tmp_path / "accept.py"
    prog.write_text(textwrap.dedent("""
        import socket, threading
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        t = threading.Thread(target=server.accept, name="acceptor")
        t.start()
        t.join()
    """))
    done = racelab_py("check", str(prog), "--watchdog", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "thread `acceptor`" in done.stderr and "blocked outside racelab" in done.stderr


def test_the_limit_must_be_a_number_of_seconds(tmp_path):
    prog = tmp_path / "empty.py"
    prog.write_text("pass\n")
    for bad in ("-1", "soon", "inf"):
        done = racelab_py("check", str(prog), "--watchdog", bad)
        assert done.returncode == 2 and done.stderr.startswith("racelab: argument --watchdog"), done.stderr
    assert racelab_py("check", str(prog), "--watchdog", "0", "--runs", "3").returncode == 0


def test_the_settings_line_shows_racelab_pys_own_watchdog_and_no_jobs(tmp_path):
    prog = tmp_path / "empty.py"
    prog.write_text("pass\n")
    line = racelab_py("check", str(prog), "--runs", "2").stdout.splitlines()[0]
    assert line.endswith(" watchdog=30s") and " jobs=" not in line, line
    line = racelab_py("check", str(prog), "--runs", "2", "--watchdog", "2.5").stdout.splitlines()[0]
    assert line.endswith(" watchdog=2.5s"), line
    line = racelab_py("check", str(prog), "--runs", "2", "--watchdog", "0").stdout.splitlines()[0]
    assert line.endswith(" watchdog=off"), line
