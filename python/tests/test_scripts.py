"""A script that imports its own modules runs as `python prog.py` runs it: its directory is on
the path, and every run starts with those modules fresh (state one run left in them must not
reach the next, or runs would depend on each other)."""

import subprocess
import sys
import textwrap


def racelab_py(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True, timeout=300)


def write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


#: A module of the script's own, with state a run leaves behind.
HELPER = """
    hits = []
    def work(q):
        hits.append(1)
        q.put(len(hits))
"""


def test_the_scripts_own_modules_import_and_start_fresh_every_run(tmp_path):
    write(tmp_path, "helper.py", HELPER)
    prog = write(tmp_path, "prog.py", """
        import threading
        import helper
        def worker():
            helper.hits.append(1)
        ts = [threading.Thread(target=worker) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(helper.hits) == 2, f"state from an earlier run: {helper.hits}"
    """)
    assert subprocess.run([sys.executable, prog], capture_output=True).returncode == 0
    done = racelab_py("check", prog, "--runs", "50")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no bug found in 50 runs" in done.stdout


def test_a_process_whose_target_lives_in_another_module_still_runs(tmp_path):
    write(tmp_path, "helper.py", HELPER)
    prog = write(tmp_path, "prog.py", """
        import multiprocessing as mp
        import helper
        counter = 0
        def local_work(q):
            global counter
            counter += 1
            q.put(counter)
        if __name__ == "__main__":
            q = mp.Queue()
            for target in (local_work, helper.work):
                p = mp.Process(target=target, args=(q,))
                p.start()
                p.join()
            assert (q.get(), q.get(), counter) == (1, 1, 0)
    """)
    assert subprocess.run([sys.executable, prog], capture_output=True).returncode == 0
    done = racelab_py("check", prog, "--runs", "50")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_race_in_the_scripts_own_module_is_found_not_proven_absent(tmp_path):
    # The lines of a module next to the script are the program's own: they get scheduling points
    # (and footprints), so the lost update inside `deposit` is found, exhaustively too.
    write(tmp_path, "acct.py", """
        balance = 0
        def deposit(n):
            global balance
            b = balance
            b = b + n
            balance = b
    """)
    prog = write(tmp_path, "run.py", """
        import threading
        import acct
        ts = [threading.Thread(target=acct.deposit, args=(1,)) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert acct.balance == 2, f"lost update: {acct.balance}"
    """)
    for strategy in ("random", "dfs"):
        done = racelab_py("check", prog, "--strategy", strategy)
        assert done.returncode == 1, strategy + ": " + done.stdout + done.stderr
        assert "lost update" in done.stdout and "acct.py:" in done.stdout, done.stdout
