"""Programs at the edges of what a check can run, each found by an outside user's trial: a
RecursionError (the trace of a failing run used to take frames of its own and make the replay
differ), ``os._exit`` (it ended racelab-py silently with the program's exit code), and input on
standard input (run 0 took it all, so run 1 failed with EOFError)."""

import shlex
import subprocess
import sys
import textwrap


def racelab_py(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True,
                          timeout=300, input=stdin)


def write(tmp_path, source):
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return str(path)


def replay_args(out):
    line = next(l for l in out.splitlines() if l.strip().startswith("replay: "))
    return shlex.split(line.split("replay: ", 1)[1])[1:]  # without the leading "racelab-py"


def test_a_recursion_error_in_a_thread_is_the_failure_and_replays(tmp_path):
    prog = write(tmp_path, """\
        import threading
        def dive(n):
            return dive(n + 1)
        t = threading.Thread(target=dive, args=(0,))
        t.start()
        t.join()
        """)
    for granularity in ("line", "opcode", "sync"):
        done = racelab_py("check", prog, "--granularity", granularity)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "BUG: assertion in run 0" in done.stdout and "divergence" not in done.stdout, done.stdout
        assert "RecursionError: maximum recursion depth exceeded" in done.stdout, done.stdout
        again = racelab_py(*replay_args(done.stdout))
        assert again.returncode == 1 and "RecursionError" in again.stdout, again.stdout + again.stderr
        assert "note: " not in again.stdout, again.stdout


def test_os_exit_is_refused_with_one_line(tmp_path):
    prog = write(tmp_path, """\
        import os, threading
        t = threading.Thread(target=os._exit, args=(7,))
        t.start()
        t.join()
        """)
    for extra in ([], ["--json"]):
        done = racelab_py("check", prog, *extra)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.startswith("racelab: the program called os._exit(7)"), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_every_run_reads_the_same_piped_input(tmp_path):
    prog = write(tmp_path, """\
        import sys, threading
        lines = []
        def reader():
            lines.append(input())
            lines.append(sys.stdin.read())
        t = threading.Thread(target=reader)
        t.start()
        t.join()
        assert lines == ["first", "second\\nthird\\n"], lines
        """)
    done = racelab_py("check", prog, "--runs", "50", stdin="first\nsecond\nthird\n")
    assert done.returncode == 0 and "no bug found in 50 runs" in done.stdout, done.stdout + done.stderr
    # No input at all: EOFError in run 0, as `python prog.py < /dev/null` has it.
    done = racelab_py("check", prog, stdin="")
    assert done.returncode == 1 and "EOFError" in done.stdout, done.stdout + done.stderr


def test_input_redirected_from_a_file_reaches_every_shard_of_jobs(tmp_path):
    prog = write(tmp_path, """\
        import threading
        got = []
        t = threading.Thread(target=lambda: got.append(input()))
        t.start()
        t.join()
        assert got == ["hello"], got
        """)
    data = tmp_path / "input.txt"
    data.write_text("hello\n")
    with open(data) as f:
        done = subprocess.run([sys.executable, "-m", "racelab.cli", "check", prog, "--runs", "40", "--jobs", "3"],
                              stdin=f, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "no bug found in 40 runs" in done.stdout, done.stdout + done.stderr


def test_piped_input_closed_or_read_as_bytes_is_whole_again_next_run(tmp_path):
    prog = write(tmp_path, """\
        import sys, threading
        got = []
        def reader():
            got.append(sys.stdin.buffer.read(2))
            with sys.stdin as f:  # closes it, for this run only
                got.append([line for line in f])
        t = threading.Thread(target=reader)
        t.start()
        t.join()
        assert got == [b"a\\n", ["b\\n", "c\\n"]], got
        """)
    done = racelab_py("check", prog, "--runs", "30", stdin="a\nb\nc\n")
    assert done.returncode == 0 and "no bug found in 30 runs" in done.stdout, done.stdout + done.stderr


def test_an_endless_input_serves_a_program_that_reads_one_line(tmp_path):
    prog = write(tmp_path, "assert input() == 'y'\n")
    done = subprocess.run(f"yes | {shlex.quote(sys.executable)} -m racelab.cli check {shlex.quote(prog)} --runs 20",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "no bug found in 20 runs" in done.stdout, done.stdout + done.stderr


def test_a_check_from_inside_a_checked_program_is_refused(tmp_path):
    prog = write(tmp_path, """\
        import racelab
        racelab.check(lambda: None, runs=2)
        """)
    done = racelab_py("check", prog, "--runs", "1")
    assert done.returncode == 1 and "racelab: check/replay cannot be nested" in done.stdout, done.stdout + done.stderr


def test_a_failing_run_whose_cleanup_waits_again_ends(tmp_path):
    # At the end of a failing run racelab cuts every thread off with ThreadExit; the program's
    # `finally` and `__exit__` then ran on, and a join of a thread already cut off spun for ever
    # (an executor's `with` block at opcode granularity hung the check until the watchdog).
    prog = write(tmp_path, """\
        import threading
        from concurrent.futures import ThreadPoolExecutor
        never = threading.Event()
        def stuck():
            never.wait()
        t = threading.Thread(target=stuck)
        t.start()
        try:
            with ThreadPoolExecutor(2) as ex:
                ex.submit(stuck)
                threading.Event().wait()
        finally:
            t.join()
            while not never.is_set():
                never.wait()
        """)
    done = racelab_py("check", prog, "--watchdog", "20")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BUG: deadlock in run 0" in done.stdout, done.stdout
    assert "no progress" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_the_race_inside_an_executor_is_found_at_opcode_granularity(tmp_path):
    # The program of the trial above: its counter races at opcode granularity.
    prog = write(tmp_path, """\
        from concurrent.futures import ThreadPoolExecutor, as_completed
        c = [0]
        def w(i):
            c[0] += 1
            return i
        with ThreadPoolExecutor(2) as ex:
            assert sorted(f.result() for f in as_completed([ex.submit(w, i) for i in range(3)])) == [0, 1, 2]
        assert c[0] == 3
        """)
    done = racelab_py("check", prog, "--granularity", "opcode", "--runs", "3000", "--watchdog", "20")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BUG: assertion in run" in done.stdout and "assert c[0] == 3" in done.stdout, done.stdout
    again = racelab_py(*replay_args(done.stdout))
    assert again.returncode == 1 and "AssertionError" in again.stdout, again.stdout + again.stderr


def test_signal_handlers_are_kept_per_run_and_never_called(tmp_path):
    # The program's main thread runs on a racelab thread, where CPython's signal.signal raised
    # "signal only works in main thread": a correct script that sets a handler failed every run.
    prog = write(tmp_path, """\
        import signal, threading
        def on_int(signum, frame):
            raise SystemExit(3)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.signal(signal.SIGINT, on_int) is signal.default_int_handler
        assert signal.getsignal(signal.SIGINT) is on_int
        assert signal.signal(signal.SIGTERM, signal.SIG_IGN) is signal.SIG_DFL
        assert signal.alarm(30) == 0
        refused = []
        def worker():
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
            except ValueError as e:
                refused.append(str(e))
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert refused == ["signal only works in main thread of the main interpreter"], refused
        """)
    done = racelab_py("check", prog, "--runs", "20")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no bug found in 20 runs" in done.stdout, done.stdout


def test_the_interpreters_signal_handlers_are_untouched_by_a_check():
    import signal
    import racelab

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    def program():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: None)

    assert racelab.check(program, runs=3).passed
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_signal_pause_is_refused_with_one_line(tmp_path):
    prog = write(tmp_path, """\
        import signal
        signal.pause()
        """)
    done = racelab_py("check", prog)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("racelab: the program called signal.pause()"), done.stderr


def test_logging_configured_in_a_run_starts_afresh_in_the_next(tmp_path):
    # basicConfig in run 0 made a handler whose lock was run 0's; run 1 found the root logger
    # configured and used it: "an object created in another run", a correct program reported.
    prog = write(tmp_path, """\
        import logging, threading
        logging.basicConfig(level=logging.INFO, format="%(threadName)s %(message)s")
        log = logging.getLogger("worker")
        assert len(logging.getLogger().handlers) == 1
        def w(i):
            log.info("worker %d", i)
        ts = [threading.Thread(target=w, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        log.info("done")
        """)
    done = racelab_py("check", prog, "--runs", "50")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no bug found in 50 runs" in done.stdout, done.stdout
    done = racelab_py("check", prog, "--strategy", "dfs")
    assert done.returncode == 0 and "every interleaving explored" in done.stdout, done.stdout + done.stderr


def test_the_interpreters_logging_is_as_it_was_after_a_check():
    import logging
    import racelab

    root = logging.getLogger()
    before = list(root.handlers), root.level

    def program():
        logging.basicConfig(level=logging.DEBUG)
        logging.getLogger("made.in.a.run").addHandler(logging.NullHandler())

    assert racelab.check(program, runs=3).passed
    assert (list(root.handlers), root.level) == before
    # A logger made in a run stays (a module may hold it), as getLogger makes one: no handlers.
    made = logging.getLogger("made.in.a.run")
    assert made.handlers == [] and made.level == logging.NOTSET


def test_atexit_handlers_run_at_the_end_of_their_own_run(tmp_path):
    # They used to pile up and run at racelab-py's exit, once per run, after the report; now they
    # run when the run's main module returns and its threads are done, and can fail it.
    prog = write(tmp_path, """\
        import atexit, threading
        n = [0]
        def check():
            print("at exit:", n[0])
            assert n[0] == 2, f"lost update: {n[0]}"
        atexit.register(check)
        atexit.register(print, "x" * 3)
        atexit.unregister(print)
        def w():
            v = n[0]
            n[0] = v + 1
        for _ in range(2):
            threading.Thread(target=w).start()
        """)
    done = racelab_py("check", prog)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "AssertionError: lost update: 1" in done.stdout, done.stdout
    assert "at exit: 1" in done.stdout and "xxx" not in done.stdout, done.stdout
    tail = done.stdout.split("replay:")[-1]
    assert "at exit" not in tail and done.stderr == "", done.stdout + done.stderr
    fixed = prog.replace("prog.py", "fixed.py")
    with open(prog, encoding="utf-8") as f, open(fixed, "w", encoding="utf-8") as g:
        g.write(f.read().replace("v = n[0]\n    n[0] = v + 1", "n[0] += 0; n[0] = 2"))
    done = racelab_py("check", fixed, "--runs", "30")
    assert done.returncode == 0 and done.stdout.count("at exit") == 0, done.stdout + done.stderr


def test_a_lock_from_thread_allocate_lock_is_racelabs_in_the_programs_own_code(tmp_path):
    # It was an OS lock racelab could not see: the second thread to block on it hung the run
    # until the watchdog. The race without it is still found.
    source = """\
        import _thread, threading
        lock = _thread.allocate_lock()
        rlock = _thread.RLock()
        n = [0]
        def w():
            for _ in range(2):
                with lock, rlock, rlock:
                    v = n[0]
                    n[0] = v + 1
        ts = [threading.Thread(target=w) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert n[0] == 4, n[0]
        """
    prog = write(tmp_path, source)
    done = racelab_py("check", prog, "--runs", "300", "--watchdog", "20")
    assert done.returncode == 0 and "no bug found in 300 runs" in done.stdout, done.stdout + done.stderr
    racy = write(tmp_path, source.replace("with lock, rlock, rlock:", "if True:"))
    done = racelab_py("check", racy, "--watchdog", "20")
    assert done.returncode == 1 and "AssertionError" in done.stdout, done.stdout + done.stderr


def test_asyncio_loops_wait_on_the_virtual_clock(tmp_path):
    # The loop waited in the OS (epoll_wait), where racelab's clock does not move: a check of
    # `await asyncio.sleep(0.1)` never ended, and no watchdog or step limit stopped it.
    plain = write(tmp_path, """\
        import asyncio, threading, time
        def work():
            return 41
        async def main():
            start = time.monotonic()
            await asyncio.sleep(0.1)
            assert time.monotonic() - start >= 0.1
            return await asyncio.to_thread(work) + 1
        assert asyncio.run(main()) == 42
        """)
    done = racelab_py("check", plain, "--runs", "50", "--watchdog", "20")
    assert done.returncode == 0 and "no bug found in 50 runs" in done.stdout, done.stdout + done.stderr
    racy = write(tmp_path, """\
        import asyncio, threading
        n = [0]
        async def bump():
            v = n[0]
            await asyncio.sleep(0.01)
            n[0] = v + 1
        ts = [threading.Thread(target=asyncio.run, args=(bump(),)) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert n[0] == 2, n[0]
        """)
    done = racelab_py("check", racy, "--watchdog", "20")
    assert done.returncode == 1 and "AssertionError: 1" in done.stdout, done.stdout + done.stderr
    # A loop nothing will wake hangs under CPython; here it ends at the step limit.
    forever = write(tmp_path, """\
        import asyncio
        async def main():
            await asyncio.Event().wait()
        asyncio.run(main())
        """)
    done = racelab_py("check", forever, "--runs", "1", "--max-steps", "2000", "--watchdog", "20")
    assert done.returncode == 1 and "BUG: step-limit" in done.stdout, done.stdout + done.stderr


def test_a_loop_on_is_alive_alone_is_stopped_by_the_watchdog(tmp_path):
    # At granularity sync `while t.is_alive(): pass` never lets t run; is_alive counted as
    # progress, so the watchdog never fired and the check hung.
    prog = write(tmp_path, """\
        import threading
        t = threading.Thread(target=lambda: None)
        t.start()
        while t.is_alive():
            pass
        """)
    done = racelab_py("check", prog, "--granularity", "sync", "--watchdog", "2")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("racelab: the program made no progress for 2 s in run 0"), done.stderr


def test_a_programs_own_threading_excepthook_handles_its_threads_exceptions(tmp_path):
    prog = write(tmp_path, """\
        import threading
        seen = []
        threading.excepthook = lambda args: seen.append((args.exc_type.__name__, args.thread.name))
        def boom():
            raise ValueError("x")
        t = threading.Thread(target=boom, name="worker")
        t.start()
        t.join()
        assert seen == [("ValueError", "worker")], seen
        """)
    done = racelab_py("check", prog, "--runs", "20")
    assert done.returncode == 0 and "no bug found in 20 runs" in done.stdout, done.stdout + done.stderr
    # A hook that raises fails the run with what it raised; without a hook, the exception does.
    raising = write(tmp_path, """\
        import threading
        def hook(args):
            raise RuntimeError("hook failed")
        threading.excepthook = hook
        t = threading.Thread(target=lambda: 1 / 0)
        t.start()
        t.join()
        """)
    done = racelab_py("check", raising)
    assert done.returncode == 1 and "RuntimeError: hook failed" in done.stdout, done.stdout + done.stderr


def test_pytests_excepthook_around_a_check_does_not_hide_a_threads_exception():
    # pytest installs its own threading.excepthook around each test: every run starts with
    # CPython's, so the exception is still the failure; the one from before the check is back after.
    import threading
    import racelab

    def mine(args):
        pass

    before = threading.excepthook
    threading.excepthook = mine
    try:
        def program():
            t = threading.Thread(target=lambda: 1 / 0)
            t.start()
            t.join()

        report = racelab.check(program, runs=3)
        assert not report.passed and "ZeroDivisionError" in report.failure, report.failure
        assert threading.excepthook is mine
    finally:
        threading.excepthook = before


def test_play_names_its_granularity_when_it_finds_nothing(tmp_path):
    # At sync a lost update between plain lines has no scheduling point: play said the script
    # "has no bug to find", quoting a check that, run as quoted (at line), finds it.
    prog = write(tmp_path, """\
        import threading
        n = [0]
        def w():
            v = n[0]
            n[0] = v + 1
        ts = [threading.Thread(target=w) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert n[0] == 2
        """)
    # The two workers' ends are the only decisions: who finishes first.
    done = racelab_py("play", prog, "--moves", "1,2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "has no bug to find at granularity sync" in done.stdout, done.stdout
    quoted = done.stdout.split("`")[1]
    assert quoted.startswith("racelab-py check ") and quoted.endswith("--granularity sync"), quoted
    again = racelab_py(*shlex.split(quoted)[1:])
    assert again.returncode == 0 and "every interleaving explored" in again.stdout, again.stdout + again.stderr
    found = racelab_py(*shlex.split(quoted.replace("--granularity sync", "--granularity line"))[1:])
    assert found.returncode == 1 and "BUG: " in found.stdout, found.stdout + found.stderr


def test_the_librarys_atexit_and_loggers_are_the_interpreters():
    # weakref.finalize registers its exit function once per process: caught by the per-run
    # atexit, it ran at the end of run 0 and stopped every finalizer for good, in the host too.
    # A module a run imports keeps its logger: getLogger must still return it afterwards.
    import logging
    import multiprocessing
    import multiprocessing.util
    import weakref
    import racelab

    def program():
        class R:
            pass
        calls = []
        r = R()
        weakref.finalize(r, calls.append, 1)
        del r
        assert calls == [1], calls
        assert multiprocessing.get_logger() is logging.getLogger("multiprocessing")

    assert racelab.check(program, runs=5).passed
    assert not weakref.finalize._shutdown and not multiprocessing.util._exiting
    assert multiprocessing.get_logger() is logging.getLogger("multiprocessing")


def test_an_atexit_handler_registered_by_a_thread_runs_and_a_process_has_its_own_signals(tmp_path):
    late = write(tmp_path, """\
        import atexit, threading
        def at_exit():
            raise AssertionError("the handler ran")
        threading.Thread(target=lambda: atexit.register(at_exit)).start()
        """)
    done = racelab_py("check", late, "--strategy", "dfs")
    assert done.returncode == 1 and "AssertionError: the handler ran" in done.stdout, done.stdout + done.stderr
    processes = write(tmp_path, """\
        import atexit, multiprocessing, signal
        def child():
            atexit.register(print, "a child's handler: dropped, as os._exit drops it")
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if __name__ == "__main__":
            p = multiprocessing.Process(target=child)
            p.start()
            p.join()
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        """)
    done = racelab_py("check", processes, "--runs", "20")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_signal_the_program_sends_itself_is_refused_with_one_line(tmp_path):
    # The handler was kept, not installed: the real action killed racelab-py with no output.
    for send in ("signal.raise_signal(signal.SIGUSR1)", "os.kill(os.getpid(), signal.SIGTERM)"):
        prog = write(tmp_path, f"""\
            import os, signal
            signal.signal(signal.SIGUSR1, lambda *a: None)
            signal.signal(signal.SIGTERM, lambda *a: None)
            {send}
            """)
        done = racelab_py("check", prog)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.startswith("racelab: the program sent itself SIG"), done.stderr


def test_select_with_a_timeout_waits_on_the_virtual_clock(tmp_path):
    # A poll with a timeout waited in the OS: the virtual clock stood still, so a loop until a
    # deadline never ended (a false step-limit), and a thread that would have made the socket
    # ready could not run meanwhile (a false timeout).
    prog = write(tmp_path, """\
        import select, socket, threading, time
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            select.select([], [], [], 0.05)
        a, b = socket.socketpair()
        t = threading.Thread(target=a.sendall, args=(b"hi",))
        t.start()
        r, _, _ = select.select([b], [], [], 1.0)
        assert r == [b], "timed out"
        assert b.recv(2) == b"hi"
        t.join()
        """)
    done = racelab_py("check", prog, "--runs", "30", "--watchdog", "20")
    assert done.returncode == 0 and "no bug found in 30 runs" in done.stdout, done.stdout + done.stderr


def test_a_thread_subclass_that_skips_init_gets_cpythons_error(tmp_path):
    prog = write(tmp_path, """\
        import threading
        class Worker(threading.Thread):
            def __init__(self, n):
                self.n = n
        w = Worker(1)
        w.start()
        """)
    done = racelab_py("check", prog)
    assert done.returncode == 1 and "RuntimeError: thread.__init__() not called" in done.stdout, done.stdout


def test_check_says_what_shrinking_did_as_racelab_check_does(tmp_path):
    prog = write(tmp_path, """\
        import threading
        n = [0]
        def w():
            for _ in range(3):
                v = n[0]
                n[0] = v + 1
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert n[0] == 9, n[0]
        """)
    done = racelab_py("check", prog)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].startswith("  shrunk from ") and " preemption" in lines[2], lines[:4]


def test_os_kill_of_a_run_process_never_reaches_an_os_process(tmp_path):
    # A Process's pid is racelab's number: passed on, os.kill reached whatever OS process had it
    # (pid 2). 0 asks whether it lives, SIGTERM terminates it; the parent and pid <= 0 are refused.
    prog = write(tmp_path, """\
        import multiprocessing, os, signal, time
        def work():
            time.sleep(1)
        if __name__ == "__main__":
            p = multiprocessing.Process(target=work)
            p.start()
            os.kill(p.pid, 0)
            os.kill(p.pid, signal.SIGTERM)
            p.join()
            assert p.exitcode == -signal.SIGTERM, p.exitcode
        """)
    done = racelab_py("check", prog, "--runs", "10")
    assert done.returncode == 0, done.stdout + done.stderr
    parent = write(tmp_path, """\
        import os, signal
        os.kill(os.getppid(), signal.SIGUSR1)
        """)
    done = racelab_py("check", parent)
    assert done.returncode == 2 and done.stderr.startswith("racelab: the program sent itself SIGUSR1"), done.stderr


def test_an_excepthook_that_hands_on_to_the_previous_one_still_fails_the_run(tmp_path):
    # `previous = threading.excepthook; def hook(args): ...; previous(args)`: CPython prints the
    # traceback, so the exception is the finding (it was swallowed: "every interleaving explored").
    for previous in ("threading.excepthook", "threading.__excepthook__"):
        prog = write(tmp_path, f"""\
            import threading
            previous = {previous}
            seen = []
            def hook(args):
                seen.append(args.exc_type.__name__)
                previous(args)
            threading.excepthook = hook
            t = threading.Thread(target=lambda: 1 / 0)
            t.start()
            t.join()
            """)
        done = racelab_py("check", prog, "--runs", "5")
        assert done.returncode == 1 and "ZeroDivisionError" in done.stdout, done.stdout + done.stderr
