"""Findings of the seventh outside trial (a teacher's and a student's scripts, from the README
alone): reports and explanations that left out or misworded what the run showed."""

from script_helpers import racelab_py, write


def test_a_dfs_whose_runs_kept_growing_says_so_in_python_words(tmp_path):
    # The CLI's `note:` line was missing from racelab-py's report (its JSON had it).
    prog = write(tmp_path, """\
        import threading
        done = False
        def setter():
            global done
            done = True
        t = threading.Thread(target=setter); t.start()
        while not done:
            pass
        t.join()
    """)
    out = racelab_py("check", prog, "--strategy", "dfs", "--runs", "300")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  note: the runs kept growing, from " in out.stdout, out.stdout
    assert "try sampling (--strategy pos or random)" in out.stdout, out.stdout
    assert "--preemption-bound" not in out.stdout, out.stdout


def test_a_lock_taken_twice_by_one_thread_is_not_told_as_a_lock_order(tmp_path):
    prog = write(tmp_path, """\
        import threading
        l = threading.Lock()
        def helper():
            with l:
                pass
        with l:
            helper()
    """)
    out = racelab_py("check", prog, "--explain")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "main waits for Lock-1, which it holds itself: the lock is not re-entrant" in out.stdout, out.stdout
    assert "fix: release the lock before the code that takes it again runs, or make it re-entrant (an RLock)" \
        in out.stdout, out.stdout
    assert "global order" not in out.stdout, out.stdout


def test_the_programs_arguments_may_follow_racelab_pys_options(tmp_path):
    prog = write(tmp_path, """\
        import sys
        assert sys.argv[1:] == ["5", "data.txt", "-v"], sys.argv
    """)
    out = racelab_py("check", prog, "--runs", "3", "5", "data.txt", "--", "-v")
    assert out.returncode == 0, out.stdout + out.stderr
    out = racelab_py("check", prog, "5", "--runs", "3", "data.txt", "--", "-v")
    assert out.returncode == 0, out.stdout + out.stderr
    # An option racelab-py does not know is still refused, not handed to the program.
    out = racelab_py("check", prog, "--runs", "3", "5", "--frobnicate")
    assert out.returncode == 2 and "unrecognized arguments: --frobnicate" in out.stderr, out.stdout + out.stderr


def test_a_consumer_that_gave_up_on_a_timeout_is_told_and_the_fix_fits(tmp_path):
    # The fix was the generic "hand each item to exactly one consumer (a Queue) ..." for a
    # program that already used a Queue: its consumer's get(timeout=0.5) gave up while the
    # producer slept 1 s between puts.
    prog = write(tmp_path, """\
        import threading, queue, time
        q = queue.Queue()
        got = []
        def consumer():
            while True:
                try:
                    got.append(q.get(timeout=0.5))
                except queue.Empty:
                    break
        def producer():
            for i in range(2):
                q.put(i)
                time.sleep(1)
        c = threading.Thread(target=consumer); p = threading.Thread(target=producer)
        c.start(); p.start(); p.join(); c.join()
        assert got == [0, 1], f"lost data: {got}"
    """)
    out = racelab_py("check", prog, "--explain")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Thread-1 (consumer) gives up waiting for an item of Queue-1: its get times out." in out.stdout, out.stdout
    assert "fix: a consumer stopped when its get timed out, while items were still coming" in out.stdout, out.stdout
