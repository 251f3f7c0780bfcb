"""``concurrent.futures`` under racelab: ``ThreadPoolExecutor`` is racelab's, and its futures are
CPython's own ``Future``, so ``wait``, ``as_completed``, callbacks, ``cancel`` and
``isinstance(f, Future)`` are CPython's code on racelab's primitives. CPython's code relies on
its ``Condition`` never waking spuriously (``Future.result`` waits once), so a condition made by the
standard library does not; one the program makes still does."""

import shlex
import subprocess
import sys
import textwrap

import pytest

import racelab


def script(tmp_path, text):
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


FUTURES = """\
    import concurrent.futures as cf
    from concurrent.futures import ThreadPoolExecutor, as_completed, wait, FIRST_COMPLETED

    def work(x):
        if x == 2:
            raise ValueError("bad 2")
        return x * x

    seen = []
    with ThreadPoolExecutor(max_workers=2) as ex:
        futures = [ex.submit(work, i) for i in range(4)]
        assert all(isinstance(f, cf.Future) for f in futures)
        futures[0].add_done_callback(lambda f: seen.append(f.result()))
        ok, errors = [], []
        for f in as_completed(futures):
            try:
                ok.append(f.result())
            except ValueError as e:
                errors.append(str(e))
        done, pending = wait(futures)
        first, _ = wait([ex.submit(pow, 2, 5)], return_when=FIRST_COMPLETED)
        assert [f.result() for f in first] == [32]
        assert isinstance(futures[2].exception(), ValueError)
        assert list(ex.map(work, [1, 3])) == [1, 9]
    assert sorted(ok) == [0, 1, 9] and errors == ["bad 2"], (ok, errors)
    assert len(done) == 4 and not pending
    assert seen == [0], seen
    """


@pytest.mark.parametrize("strategy", ["random", "pos", "pct"])
def test_wait_as_completed_and_callbacks_pass(tmp_path, strategy):
    report = racelab.check_script(script(tmp_path, FUTURES), strategy=strategy, runs=300)
    assert report.passed, report


def test_a_bounded_search_of_the_executor_finds_nothing(tmp_path):
    prog = script(tmp_path, """\
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=2) as ex:
            assert list(ex.map(abs, [-1, -2])) == [1, 2]
        """)
    report = racelab.check_script(prog, strategy="dfs", runs=2_000, granularity="sync")
    assert report.passed, report


def test_shutdown_cancel_futures_cancels_what_no_worker_took(tmp_path):
    prog = script(tmp_path, """\
        import threading
        from concurrent.futures import ThreadPoolExecutor, CancelledError
        gate = threading.Event()
        ex = ThreadPoolExecutor(max_workers=1)
        first = ex.submit(gate.wait)
        rest = [ex.submit(abs, -i) for i in range(3)]
        gate.set()
        ex.shutdown(wait=True, cancel_futures=True)
        for f in rest:
            assert f.done()
            if f.cancelled():
                try:
                    f.result()
                except CancelledError:
                    pass
                else:
                    raise AssertionError("a cancelled future gave a result")
        try:
            ex.submit(abs, 1)
        except RuntimeError as e:
            assert "after shutdown" in str(e)
        else:
            raise AssertionError("submit after shutdown was accepted")
        """)
    report = racelab.check_script(prog, runs=300)
    assert report.passed, report


def test_the_programs_own_condition_still_wakes_spuriously(tmp_path):
    # One consumer, `if` around the wait: only a spurious wake-up catches it, for a condition
    # the program makes with threading or multiprocessing alike.
    for module in ("threading", "multiprocessing"):
        prog = script(tmp_path, f"""\
            import threading
            import {module} as m
            cond = m.Condition()
            items = []
            def consumer():
                with cond:
                    if not items:
                        cond.wait()
                    items.pop()
            t = threading.Thread(target=consumer)
            t.start()
            with cond:
                items.append(1)
                cond.notify()
            t.join()
            """)
        report = racelab.check_script(prog, strategy="dfs", granularity="sync")
        assert not report.passed and report.diagnosis_kind == "spurious-wakeup", (module, report)


POOL = """\
    from multiprocessing.pool import ThreadPool

    def square(x):
        if x == 3:
            raise ValueError("three")
        return x * x

    seen, errors = [], []
    with ThreadPool(2) as pool:
        r = pool.apply_async(square, (2,), callback=seen.append)
        assert r.get() == 4 and seen == [4], seen  # the callback ran before get() returned
        bad = pool.apply_async(square, (3,), error_callback=lambda e: errors.append(str(e)))
        bad.wait()
        assert not bad.successful() and errors == ["three"], errors
        m = pool.map_async(square, [0, 1, 2], callback=lambda values: seen.append(sum(values)))
        assert m.get() == [0, 1, 4] and seen == [4, 5], seen
        try:
            pool.map_async(square, [2, 3]).get()
        except ValueError as e:
            assert str(e) == "three"
        else:
            raise AssertionError("map_async hid the error")
        assert pool.starmap_async(pow, [(2, 3), (3, 2)]).get() == [8, 9]
        assert list(pool.imap(abs, [-1, -2, -3])) == [1, 2, 3]
        assert sorted(pool.imap_unordered(abs, [-1, -2, -3])) == [1, 2, 3]
        assert pool.map(abs, []) == [] and list(pool.imap_unordered(abs, [])) == []
    """


@pytest.mark.parametrize("strategy", ["random", "pos"])
def test_thread_pool_callbacks_map_async_and_imap(tmp_path, strategy):
    report = racelab.check_script(script(tmp_path, POOL), strategy=strategy, runs=200)
    assert report.passed, report


def test_an_executor_worker_still_busy_at_the_end_keeps_the_program_from_ending(tmp_path):
    # No shutdown, a worker waiting for ever in a task: CPython's exit joins the executor's workers
    # (they are not daemons), so it hangs there, and racelab reports the deadlock. (Workers were
    # daemons once, cut off at the end; the task's exception handler then swallowed the unwinding
    # and hung the check.)
    prog = script(tmp_path, """\
        import threading
        from concurrent.futures import ThreadPoolExecutor
        ex = ThreadPoolExecutor(2)
        never = threading.Event()
        ex.submit(never.wait)
        assert ex.submit(lambda: 2).result() == 2
        """)
    report = racelab.check_script(prog, runs=200)
    assert report.kind == "deadlock", report
    assert "ThreadPoolExecutor-0_0 on Event" in report.diagnosis, report.diagnosis


def test_conditions_made_outside_the_script_file_are_still_the_programs(tmp_path, monkeypatch):
    # A dataclass's generated __init__ (its code says "<string>") in a module beside the script,
    # and, through racelab.check, a module beside the test that imports it: the program's own
    # code, so their waits may wake spuriously (they were taken for the standard library's).
    box = """\
        import threading
        from dataclasses import dataclass, field

        @dataclass
        class Box:
            cond: threading.Condition = field(default_factory=threading.Condition)
            items: list = field(default_factory=list)

            def take(self):
                with self.cond:
                    if not self.items:
                        self.cond.wait()
                    return self.items.pop()

            def put(self, x):
                with self.cond:
                    self.items.append(x)
                    self.cond.notify()

        class PlainBox(Box):
            def __init__(self):
                self.cond = threading.Condition()
                self.items = []

        def scenario(make=Box):
            box = make()
            t = threading.Thread(target=box.take)
            t.start()
            box.put(1)
            t.join()
        """
    (tmp_path / "box.py").write_text(textwrap.dedent(box), encoding="utf-8")
    prog = script(tmp_path, "import box\nbox.scenario()\n")
    report = racelab.check_script(prog, strategy="dfs", granularity="sync")
    assert not report.passed and report.diagnosis_kind == "spurious-wakeup", report
    # Imported before the check: a default_factory bound then is CPython's own class, so the
    # module makes its condition when called.
    monkeypatch.syspath_prepend(str(tmp_path))
    import box as imported

    report = racelab.check(lambda: imported.scenario(imported.PlainBox), strategy="dfs", granularity="sync")
    assert not report.passed and report.diagnosis_kind == "spurious-wakeup", report


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True, timeout=300)


def test_wait_and_as_completed_lock_and_yield_in_the_runs_own_order(tmp_path):
    # CPython locks the futures' conditions in id() order and keeps them in sets hashed by
    # address: the order changed from run to run, so DPOR reported a correct program as a
    # divergence and a failure's replays gave different traces (an outside trial).
    correct = tmp_path / "wait_ok.py"
    correct.write_text(textwrap.dedent("""\
        from concurrent.futures import ThreadPoolExecutor, wait, as_completed
        def job(i):
            return i
        if __name__ == "__main__":
            with ThreadPoolExecutor(max_workers=1) as ex:
                futs = [ex.submit(job, i) for i in range(2)]
                done, _ = wait(futs)
                assert sorted(f.result() for f in as_completed(futs)) == [0, 1]
            assert len(done) == 2
        """))
    done = run_cli("check", str(correct), "--strategy", "dfs", "--granularity", "sync")
    assert done.returncode == 0 and "every interleaving explored" in done.stdout, done.stdout + done.stderr
    racy = tmp_path / "wait_bug.py"
    racy.write_text(textwrap.dedent("""\
        from concurrent.futures import ThreadPoolExecutor, wait
        hits = 0
        def job(i):
            global hits
            v = hits
            hits = v + 1
            return i
        if __name__ == "__main__":
            with ThreadPoolExecutor(max_workers=2) as ex:
                done, _ = wait([ex.submit(job, i) for i in range(2)])
            assert hits == 2, f"lost update: hits={hits}"
        """))
    found = run_cli("check", str(racy))
    assert found.returncode == 1, found.stdout + found.stderr
    line = next(l for l in found.stdout.splitlines() if l.strip().startswith("replay: "))
    command = shlex.split(line.split("replay: ", 1)[1])[1:]
    replays = {run_cli(*command).stdout for _ in range(4)}
    assert len(replays) == 1 and "note: " not in replays.pop()
