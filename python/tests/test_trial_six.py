"""Findings of the sixth outside trial and the fifth's leftovers: reports that told a run in the
wrong words (a timer's own Event as the program's, a semaphore's releases left out)."""

import subprocess
import sys
import textwrap

import json

from script_helpers import racelab_py, write


def test_a_timers_cancel_is_told_on_the_timers_own_event(tmp_path):
    # The Timer's `finished` Event was `Event-1`, read as one of the program's Events, and its
    # final set() at the end of `run` was told as "the wake-up is lost".
    prog = write(tmp_path, """\
        import threading
        fired = []
        t = threading.Timer(0.5, lambda: fired.append(1))
        t.start()
        t.cancel()
        t.join()
        assert fired == [1], "the timer never fired"
        """)
    done = racelab_py("check", prog, "--explain")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Thread-1.finished" in done.stdout, done.stdout
    assert "Event-1" not in done.stdout, done.stdout
    assert "main sets Thread-1.finished with nobody waiting yet" in done.stdout, done.stdout
    assert "wake-up is lost" not in done.stdout, done.stdout


def test_a_semaphore_over_release_is_told_with_its_releases_and_its_own_fix(tmp_path):
    prog = write(tmp_path, """\
        import threading
        sem = threading.BoundedSemaphore(1)
        def worker():
            sem.acquire()
            sem.release()
            sem.release()
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        """)
    done = racelab_py("check", prog, "--explain")
    assert done.returncode == 1, done.stdout + done.stderr
    story = done.stdout.split("what happened", 1)[1]
    assert "Thread-1 (worker) releases BoundedSemaphore-1; its value is now 1." in story, story
    assert "* step" in story and "raises ValueError: Semaphore released too many times" in story, story
    assert "fix: release a BoundedSemaphore once for each acquire" in story, story


def test_pool_workers_have_cpythons_names(tmp_path):
    # They were `PoolWorker-i` in both pools; CPython's ThreadPool workers are threads whose target
    # is `worker`, and a fork-context Pool's are `ForkPoolWorker-N`, numbered with `Process-N`.
    prog = write(tmp_path, """\
        import multiprocessing, threading
        from multiprocessing.pool import ThreadPool

        def thread_name(_):
            return threading.current_thread().name

        def process_name(_):
            return multiprocessing.current_process().name

        if __name__ == "__main__":
            with ThreadPool(2) as pool:
                names = set(pool.map(thread_name, range(6)))
            assert names <= {"Thread-1 (worker)", "Thread-2 (worker)"}, names
            p = multiprocessing.Process(target=print)
            with multiprocessing.Pool(2) as pool:
                names = set(pool.map(process_name, range(6)))
            assert names <= {"ForkPoolWorker-2", "ForkPoolWorker-3"}, names
            assert p.name == "Process-1", p.name
        """)
    done = racelab_py("check", prog, "--runs", "5")
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_run_sees_what_another_set_in_the_standard_library_the_environment_or_the_cwd(tmp_path):
    # Module attributes, os.environ and the working directory outlived their run: the second run
    # failed where CPython passes, a monkeypatch was wrapped once more each run until a
    # RecursionError, and the reported run did not replay in a fresh process.
    prog = write(tmp_path, """\
        import math, os, threading
        assert not hasattr(threading, "patched"), "state from an earlier run"
        threading.patched = True
        real_lock = threading.Lock
        threading.Lock = lambda: real_lock()
        del math.sqrt
        assert "RACELAB_TRIAL_FLAG" not in os.environ, "os.environ from an earlier run"
        os.environ["RACELAB_TRIAL_FLAG"] = "1"
        assert os.path.exists("prog.py"), os.getcwd()
        os.chdir("/")
        t = threading.Thread(target=threading.Lock)
        t.start()
        t.join()
        """)
    done = racelab_py("check", prog, "--runs", "50", cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    done = racelab_py("check", prog, "--strategy", "dfs", cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_api_puts_a_modules_attributes_back_after_a_check():
    import math
    import threading

    import racelab

    sqrt = math.sqrt

    def program():
        threading.patched = True
        math.sqrt = abs

    report = racelab.check(program, runs=3)
    assert report.passed, report.failure
    assert not hasattr(threading, "patched")
    assert math.sqrt is sqrt
    assert type(math) is type(threading) and type(math).__name__ == "module"


IF_BUFFER = """\
    import threading

    class BoundedBuffer:
        def __init__(self, cap):
            self.items = []
            self.cap = cap
            self.cond = threading.Condition()

        def put(self, x):
            with self.cond:
                if len(self.items) >= self.cap:
                    self.cond.wait()
                self.items.append(x)
                self.cond.notify_all()

        def get(self):
            with self.cond:
                if not self.items:
                    self.cond.wait()
                x = self.items.pop(0)
                self.cond.notify_all()
                return x

    buf = BoundedBuffer(1)
    out = []
    def prod():
        for i in range(4):
            buf.put(i)
    def cons():
        for _ in range(2):
            out.append(buf.get())
    ts = [threading.Thread(target=prod), threading.Thread(target=cons), threading.Thread(target=cons)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert sorted(out) == [0, 1, 2, 3], out
    """


def test_spurious_wakeups_0_shows_the_stolen_wakeup_and_names_the_consumer_that_took_the_item(tmp_path):
    # racelab-py had no --spurious-wakeups, so random and pct always reported the `if` buffer as a
    # spurious wake-up; and at line granularity the stolen wake-up named the producer, which took
    # the lock only to wait again (a `py` step stood between its acquire and its wait), as the thief.
    prog = write(tmp_path, IF_BUFFER)
    done = racelab_py("check", prog, "--spurious-wakeups", "0", "--explain")
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert "spurious-wakeups=0" in first, first
    diagnosis = next(line for line in done.stdout.splitlines() if line.startswith("stolen-wakeup:"))
    assert "Thread-3 (cons) took the lock first" in diagnosis, diagnosis
    assert "v1 spurious-wakeups=0 " in done.stdout, done.stdout
    assert "--spurious-wakeups" not in done.stdout.split("replay:")[1].splitlines()[0], "the schedule carries it"
    refused = racelab_py("check", prog, "--spurious-wakeups", "-1")
    assert refused.returncode == 2 and "--spurious-wakeups" in refused.stderr, refused.stderr


def test_the_settings_line_comes_before_the_runs(tmp_path):
    prog = write(tmp_path, """\
        import threading
        def work():
            for i in range(3):
                pass
        ts = [threading.Thread(target=work) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        """)
    # A million runs take minutes: the line must come long before the check ends.
    child = subprocess.Popen([sys.executable, "-m", "racelab.cli", "check", prog, "--runs", "1000000"],
                             stdout=subprocess.PIPE, text=True)
    try:
        first = child.stdout.readline()
        assert first.startswith(f"racelab-py check {prog}: granularity=line strategy=random"), first
        assert child.poll() is None, "the check was still running when its settings were printed"
    finally:
        child.kill()
        child.wait()


def test_a_race_in_plain_code_is_explained_by_where_a_thread_was_preempted(tmp_path):
    # The narration of a check-then-act in plain Python was the failure alone ("the steps above"
    # named nothing above it).
    prog = write(tmp_path, """\
        import threading
        cache = {}
        calls = 0
        def expensive(key):
            global calls
            calls += 1
            return key * 2
        def get(key):
            if key not in cache:
                cache[key] = expensive(key)
            return cache[key]
        threads = [threading.Thread(target=get, args=(7,)) for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert calls == 1, f"expensive() called {calls} times"
        """)
    done = racelab_py("check", prog, "--explain")
    assert done.returncode == 1, done.stdout + done.stderr
    story = done.stdout.split("what happened", 1)[1]
    assert "and is preempted there" in story, story
    assert "runs `if key not in cache:` (line 9)" in story, story
    starred = [line for line in story.splitlines() if line.lstrip().startswith("* step")]
    assert len(starred) == 2 and "is preempted there" in starred[0], story


def test_a_thread_pool_race_is_shrunk_to_a_few_preemptions(tmp_path):
    # It kept its 51 preemptions: the bounded search spent its whole budget at bound 0 (the
    # workers block on the queue in turn), and the report gave a student a 51-switch trace.
    prog = write(tmp_path, """\
        from concurrent.futures import ThreadPoolExecutor
        counter = 0
        def inc(_):
            global counter
            c = counter
            counter = c + 1
        with ThreadPoolExecutor(max_workers=4) as ex:
            list(ex.map(inc, range(8)))
        assert counter == 8, counter
        """)
    done = racelab_py("check", prog, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    failure = json.loads(done.stdout)["report"]["failure"]
    assert failure["shrunk_from"]["preemptions"] > 10, failure["shrunk_from"]
    assert failure["preemptions"] <= 3, failure["preemptions"]


def test_what_the_import_system_sets_during_a_run_stays(tmp_path):
    # Putting back module attributes undid the import system's own: `xml.dom` bound on `xml`
    # by importing `xml.dom.minidom` was removed before the next run (which then failed with
    # "module 'xml' has no attribute 'dom'", a bug of racelab's), as were a new module's
    # `__spec__` and `__file__`, in the caller's interpreter too.
    prog = write(tmp_path, """\
        import logging
        import logging.handlers
        import xml.dom.minidom
        import threading
        doc = xml.dom.minidom.parseString("<a/>")
        handler = logging.handlers.MemoryHandler(10)
        t = threading.Thread(target=lambda: xml.dom.minidom.parseString("<b/>"))
        t.start()
        t.join()
        """)
    done = racelab_py("check", prog, "--runs", "5")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_check_leaves_the_callers_modules_whole():
    import subprocess as sp
    code = textwrap.dedent("""\
        import racelab
        def program():
            import colorsys
            import xml.dom.minidom
        assert racelab.check(program, runs=3).passed
        import colorsys, xml
        assert colorsys.__spec__ is not None and hasattr(colorsys, "__file__")
        assert hasattr(xml, "__path__")
        import xml.sax
        """)
    done = sp.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_nested_check_in_a_script_is_refused_without_touching_the_outer_run(tmp_path):
    prog = write(tmp_path, """\
        import racelab, threading
        threading.patched = True
        try:
            racelab.check(lambda: None, runs=1)
        except RuntimeError as e:
            assert "cannot be nested" in str(e), e
        assert threading.patched
        """)
    done = racelab_py("check", prog, "--runs", "3")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_spurious_wakeup_budget_out_of_range_is_refused_by_name():
    import racelab
    for bad, error in ((-1, ValueError), (2**32, ValueError), (1.5, TypeError)):
        try:
            racelab.check(lambda: None, runs=1, spurious_wakeups=bad)
        except error as e:
            assert "spurious_wakeups" in str(e), e
        else:
            raise AssertionError(f"spurious_wakeups={bad!r} was taken")


def test_explain_leaves_out_the_executors_own_objects(tmp_path):
    # The story of a two-task race told the executor's queue, idle semaphore and shutdown lock
    # and each future's condition ("notify_all() with nobody waiting: the wake-up is lost"), and
    # not the program's two lines.
    prog = write(tmp_path, """\
        from concurrent.futures import ThreadPoolExecutor
        counter = 0
        def inc():
            global counter
            c = counter
            counter = c + 1
        with ThreadPoolExecutor(max_workers=2) as ex:
            a = ex.submit(inc)
            b = ex.submit(inc)
            a.result()
            b.result()
        assert counter == 2, counter
        """)
    done = racelab_py("check", prog, "--explain")
    assert done.returncode == 1, done.stdout + done.stderr
    story = done.stdout.split("what happened", 1)[1].split("fix:", 1)[0]
    for internal in ("Queue-", "Semaphore-", "Condition-", "RLock-", "Lock-"):
        assert internal not in story, story
    assert "runs `c = counter` (line 5)" in story, story
    trace = json.loads(racelab_py("check", prog, "--json").stdout)["report"]["failure"]["trace"]["events"]
    marked = {e["object"] for e in trace if e.get("library")}
    assert any(o.startswith("Queue-") for o in marked), marked
    assert all(not e.get("library") for e in trace if e["operation"] == "py"), "lines are the program's"


def test_current_process_names_the_process_a_thread_runs_in(tmp_path):
    # It was the current thread: `MainThread` in main, a thread's own name inside a process.
    prog = write(tmp_path, """\
        import multiprocessing, threading

        def in_process(q):
            names = [multiprocessing.current_process().name]
            t = threading.Thread(target=lambda: names.append(multiprocessing.current_process().name))
            t.start()
            t.join()
            q.put(names)

        if __name__ == "__main__":
            main = multiprocessing.current_process()
            assert main.name == "MainProcess" and main.is_alive() and main.daemon is False, main
            seen = []
            t = threading.Thread(target=lambda: seen.append(multiprocessing.current_process().name))
            t.start()
            t.join()
            assert seen == ["MainProcess"], seen
            q = multiprocessing.Queue()
            p = multiprocessing.Process(target=in_process, args=(q,))
            p.start()
            assert q.get() == ["Process-1", "Process-1"]
            p.join()
        """)
    done = racelab_py("check", prog, "--runs", "5")
    assert done.returncode == 0, done.stdout + done.stderr
