"""Findings of the fifth outside trial (a teacher's exercises and a student's scripts): each test is
a program that CPython runs one way and racelab-py used to run another, or a report that told it
in Rust's words."""

import subprocess
import sys

import pytest

from script_helpers import racelab_py, write


def test_a_deadline_loop_ends_because_reading_the_clock_moves_it_on(tmp_path):
    # `remaining` stayed exactly 0.0 (the virtual clock stands still while a thread runs), so the
    # loop polled `wait(0)` until the step limit; CPython's clock moves on and the loop gives up.
    prog = write(tmp_path, """\
        import threading, time
        from concurrent.futures import ThreadPoolExecutor, as_completed, TimeoutError
        ev = threading.Event()
        deadline = time.monotonic() + 1
        while True:
            remaining = deadline - time.monotonic()
            if remaining < 0:
                break
            if ev.wait(remaining):
                break
        start = time.perf_counter()
        rate = 10 / (time.perf_counter() - start)
        with ThreadPoolExecutor(1) as ex:
            f = ex.submit(time.sleep, 5)
            try:
                for _ in as_completed([f], timeout=1):
                    pass
                raise AssertionError("as_completed did not time out")
            except TimeoutError:
                pass
        """)
    done = racelab_py("check", prog, "--runs", "20")
    assert done.returncode == 0, done.stdout + done.stderr


def test_clock_reads_keep_sleeps_whole_and_threads_in_order(tmp_path):
    # Reads ran ahead per thread: after a busy loop a 5 ms sleep measured 1 µs, and a time read
    # after a join was earlier than one the joined thread read.
    prog = write(tmp_path, """\
        import threading, time
        deadline = time.monotonic() + 0.01
        while time.monotonic() < deadline:
            pass
        t = time.monotonic()
        time.sleep(0.005)
        assert time.monotonic() - t >= 0.005, time.monotonic() - t
        seen = []
        def reader():
            for _ in range(6):
                seen.append(time.monotonic())
        w = threading.Thread(target=reader)
        w.start()
        w.join()
        assert time.monotonic() > seen[-1], (time.monotonic(), seen[-1])
        """)
    done = racelab_py("check", prog, "--strategy", "dfs", "--max-steps", "200000")
    assert done.returncode == 0, done.stdout[:3000] + done.stderr


def test_a_map_result_that_times_out_cancels_its_future(tmp_path):
    prog = write(tmp_path, """\
        import time
        from concurrent.futures import ThreadPoolExecutor, TimeoutError
        ran = []
        ex = ThreadPoolExecutor(1)
        ex.submit(time.sleep, 1)
        it = ex.map(ran.append, [1], timeout=0.1)
        try:
            next(it)
            raise AssertionError("no timeout")
        except TimeoutError:
            pass
        ex.shutdown()
        assert ran == [], ran
        """)
    done = racelab_py("check", prog, "--runs", "30")
    assert done.returncode == 0, done.stdout[:3000] + done.stderr


def test_the_thread_pool_executor_is_cpythons(tmp_path):
    # Default size min(32, cpu_count + 4) (it was 2: three tasks meeting at a barrier deadlocked),
    # workers that are not daemons (queued work ran after shutdown(wait=False) and before atexit
    # handlers), CPython's names, and an initializer that raises breaks the pool.
    prog = write(tmp_path, """\
        import atexit, os, threading
        from concurrent.futures import ThreadPoolExecutor
        from concurrent.futures.thread import BrokenThreadPool
        assert os.cpu_count() == 2
        b = threading.Barrier(3)
        with ThreadPoolExecutor() as ex:
            assert list(ex.map(lambda i: (b.wait(), i)[1], range(3))) == [0, 1, 2]
        with ThreadPoolExecutor(max_workers=1) as ex:
            who = ex.submit(lambda: (threading.current_thread().name, threading.current_thread().daemon)).result()
        assert who == ("ThreadPoolExecutor-1_0", False), who
        def init():
            raise ValueError("init failed")
        with ThreadPoolExecutor(1, initializer=init) as ex:
            try:
                ex.submit(lambda: 1).result()
                raise AssertionError("no BrokenThreadPool")
            except BrokenThreadPool:
                pass
        done = []
        def check():
            assert sorted(done) == [0, 1, 2, 3], f"jobs lost: {done}"
        atexit.register(check)
        ex = ThreadPoolExecutor(max_workers=2)
        for i in range(4):
            ex.submit(done.append, i)
        ex.shutdown(wait=False)
        """)
    done = racelab_py("check", prog, "--runs", "30", "--fail-on-daemon-cut-off")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("strategy", ["pct", "pos", "portfolio"])
def test_a_spinning_thread_hands_over_as_under_the_gil(tmp_path, strategy):
    # Peterson's lock is correct under the GIL; the strategies that rank threads ran one spinning
    # thread until the step limit ("a spin loop or a livelock").
    prog = write(tmp_path, """\
        import threading
        flag = [False, False]
        turn = 0
        count = 0
        def proc(i):
            global turn, count
            j = 1 - i
            for _ in range(3):
                flag[i] = True
                turn = j
                while flag[j] and turn == j:
                    pass
                c = count
                count = c + 1
                flag[i] = False
        ts = [threading.Thread(target=proc, args=(i,)) for i in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
        assert count == 6, f"lost update: {count}"
        """)
    done = racelab_py("check", prog, "--strategy", strategy, "--runs", "300")
    assert done.returncode == 0, done.stdout[:3000]


def test_the_programs_arguments_and_a_last_line_without_newline(tmp_path):
    write(tmp_path, """\
        import sys
        print("partial", end="")
        assert sys.argv == ["prog.py", "5", "-v"], sys.argv
        assert False, "to see the trace"
        """)
    done = racelab_py("check", "prog.py", "5", "--", "-v", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "to see the trace" in done.stdout and "['prog.py'" not in done.stdout, done.stdout
    assert "print       -               partial" in done.stdout, done.stdout
    replay = done.stdout.split("replay: ", 1)[1].strip()
    assert replay.endswith(" -- 5 -v"), replay
    again = subprocess.run(replay.replace("racelab-py", f"{sys.executable} -m racelab.cli", 1), shell=True,
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert again.returncode == 1 and "to see the trace" in again.stdout, again.stdout + again.stderr


def test_reports_speak_python(tmp_path):
    prog = write(tmp_path, """\
        x = 1
        assert x == 2, "boom"
        """)
    done = racelab_py("check", prog)
    assert done.returncode == 1
    assert done.stdout.count("Traceback (most recent call last)") == 1, done.stdout
    assert "panic in thread" not in done.stdout, done.stdout
    spin = write(tmp_path, """\
        import threading
        stop = False
        def f():
            while not stop:
                pass
        threading.Thread(target=f).start()
        """, name="spin.py")
    done = racelab_py("check", spin, "--runs", "1", "--max-steps", "500")
    assert done.returncode == 1 and "step-limit" in done.stdout, done.stdout[:2000]
    assert "Config::" not in done.stdout and "elapsed()" not in done.stdout, done.stdout[:2000]
    assert "a microsecond per read" in done.stdout, done.stdout[:2000]
