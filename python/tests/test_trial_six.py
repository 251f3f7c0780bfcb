"""Findings of the sixth outside trial and the fifth's leftovers: reports that told a run in the
wrong words (a timer's own Event as the program's, a semaphore's releases left out)."""

import subprocess
import sys
import textwrap


def racelab_py(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def write(tmp_path, source, name="prog.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return str(path)


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
