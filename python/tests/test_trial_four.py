"""Findings of the fourth outside trial (a teacher's and a student's scripts): each test is a
program that CPython runs one way and racelab-py used to run another."""

import json
import shlex
import subprocess
import sys
import textwrap


def racelab_py(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True,
                          timeout=300)


def write(tmp_path, source, name="prog.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return str(path)


def test_a_zero_timeout_polls_and_dfs_finds_the_run_where_the_worker_is_not_done(tmp_path):
    # `wait(0)` blocked until every other thread had blocked too, so the worker always finished
    # first and dfs said "every interleaving explored". CPython returns False at once if the
    # worker has not set the event yet.
    for poll in ("ready = e.wait(0)", "ready = e.wait(timeout=0.0)"):
        prog = write(tmp_path, f"""\
            import threading
            e = threading.Event()
            def f():
                e.set()
            t = threading.Thread(target=f)
            t.start()
            {poll}
            t.join()
            assert ready, "polled before the worker was done"
            """)
        done = racelab_py("check", prog, "--strategy", "dfs")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "polled before the worker was done" in done.stdout, done.stdout
    prog = write(tmp_path, """\
        import queue, threading
        q = queue.Queue()
        t = threading.Thread(target=q.put, args=(1,))
        t.start()
        try:
            item = q.get(timeout=0)
        except queue.Empty:
            item = None
        t.join()
        assert item == 1, "the queue was still empty"
        """)
    done = racelab_py("check", prog, "--strategy", "dfs")
    assert done.returncode == 1 and "the queue was still empty" in done.stdout, done.stdout + done.stderr


def test_the_main_thread_stops_for_the_others_when_the_main_module_returns(tmp_path):
    prog = write(tmp_path, """\
        import threading, time
        main = threading.main_thread()
        def watcher():
            n = 0
            while main.is_alive():
                time.sleep(0.1)
                n += 1
            main.join(timeout=1)
            print("main gone after", n, "ticks")
        threading.Thread(target=watcher).start()
        time.sleep(0.35)
        """)
    done = racelab_py("check", prog, "--strategy", "dfs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every interleaving explored" in done.stdout, done.stdout


def test_sys_exit_in_a_process_sets_its_exit_code(tmp_path):
    prog = write(tmp_path, """\
        import multiprocessing as mp, sys
        def worker(code):
            sys.exit(code)
        if __name__ == "__main__":
            codes = []
            for code in (0, 3, None, "bad news"):
                p = mp.Process(target=worker, args=(code,))
                p.start()
                p.join()
                codes.append(p.exitcode)
            assert codes == [0, 3, 0, 1], codes
        """)
    done = racelab_py("check", prog)
    assert done.returncode == 0, done.stdout + done.stderr


def test_calendar_time_reads_the_virtual_clock_and_replays_byte_for_byte(tmp_path):
    # `datetime.now()` reads the OS clock still (README, Limits): its class is CPython's C type,
    # and a replacement class broke pickling (multiprocessing queues) of CPython's own instances.
    prog = write(tmp_path, """\
        import threading, time
        stamps = []
        def stamp():
            stamps.append((time.strftime("%H:%M:%S"), time.ctime(), time.localtime().tm_year))
        ts = [threading.Thread(target=stamp) for _ in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
        end = time.mktime(time.localtime()) + 0.3
        while time.mktime(time.localtime()) < end:
            time.sleep(0.1)
        assert len(stamps) == 3, stamps
        """)
    done = racelab_py("check", prog, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    replay = shlex.split(json.loads(done.stdout.splitlines()[-1])["replay"])[1:]
    outputs = {racelab_py(*replay).stdout for _ in range(2)}
    assert len(outputs) == 1, outputs
    (output,) = outputs
    assert "('22:13:20', 'Tue Nov 14 22:13:20 2023', 2023)" in output and "note: " not in output, output


def test_a_set_of_threads_iterates_in_the_same_order_in_every_run(tmp_path):
    prog = write(tmp_path, """\
        import threading
        order = []
        threads = set()
        for i in range(6):
            threads.add(threading.Thread(target=order.append, args=(i,)))
        for t in threads: t.start()
        for t in threads: t.join()
        assert order != sorted(order), "the threads ran in the order they were made"
        """)
    # Hashed by address, the set's order changed from run to run: the failing run's replay
    # gave another one ("divergence").
    done = racelab_py("check", prog, "--granularity", "sync", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["report"]["failure"]["diagnosis"]["kind"] == "assertion", result
    again = racelab_py(*shlex.split(result["replay"])[1:])
    assert again.returncode == 1 and "note: " not in again.stdout, again.stdout + again.stderr


def test_a_shrink_stops_at_the_same_run_every_time(tmp_path):
    # Shrinking used to stop at its 10 s wall-time budget, at a run that depended on the load:
    # 1 check in 12 reported another failure. Its budget is now counted, in runs and steps.
    prog = write(tmp_path, """\
        import threading
        cond = threading.Condition()
        readers = 0
        writer = False
        log = []
        def acquire_write():
            global writer
            with cond:
                if writer or readers:
                    cond.wait()
                writer = True
        def release_write():
            global writer
            with cond:
                writer = False
                cond.notify_all()
        def w(i):
            acquire_write()
            log.append(i)
            assert len(log) == 1, f"two writers inside: {log}"
            log.remove(i)
            release_write()
        ts = [threading.Thread(target=w, args=(i,)) for i in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        """)
    outputs = [racelab_py("check", prog, "--explain") for _ in range(2)]
    timeless = [[l for l in o.stdout.splitlines() if "steps/s" not in l] for o in outputs]
    assert timeless[0] == timeless[1]
    done = outputs[0]
    assert done.returncode == 1, done.stdout + done.stderr
    assert "time budget" not in done.stdout, done.stdout
    assert "BUG: " in done.stdout, done.stdout


def test_a_coding_line_gives_the_scripts_encoding(tmp_path):
    path = tmp_path / "latin1.py"
    path.write_bytes('# -*- coding: latin-1 -*-\nimport threading\ns = "café"\nprint(s)\n'.encode("latin-1"))
    done = racelab_py("check", str(path), "--runs", "2")
    assert done.returncode == 0, done.stdout + done.stderr


def test_queue_items_show_as_values_in_traces(tmp_path):
    prog = write(tmp_path, """\
        import queue, threading
        q = queue.Queue()
        def worker():
            while True:
                item = q.get()
                if item == 1:
                    continue  # forgets task_done: q.join() waits for ever
                q.task_done()
                if item is None:
                    break
        t = threading.Thread(target=worker)
        t.start()
        for item in (0, 1, (2, "two")):
            q.put(item)
        q.put(None)
        q.join()
        """)
    done = racelab_py("check", prog, "--granularity", "sync")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "<python object>" not in done.stdout, done.stdout
    assert "(2, 'two')" in done.stdout, done.stdout
