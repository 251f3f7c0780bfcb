"""multiprocessing under racelab-py: processes are green threads, but each has its own copy of
the globals, and multiprocessing's locks, values, arrays and pipes are racelab's (a real one
would block the only OS thread)."""

import os
import subprocess
import sys
import textwrap

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python")


def racelab_py(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True, timeout=300)


def check(tmp_path, source, *args):
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent(source))
    return racelab_py("check", str(prog), *args)


def test_a_process_has_its_own_globals_and_arguments():
    # The program asserts what CPython does: the child's changes stay in the child, the
    # parent's later ones stay in the parent, a thread the child starts sees the child's.
    path = os.path.join(EXAMPLES, "process_memory.py")
    assert subprocess.run([sys.executable, path], capture_output=True).returncode == 0
    done = racelab_py("check", path, "--runs", "300")
    assert done.returncode == 0, done.stdout + done.stderr
    done = racelab_py("check", path, "--strategy", "dfs", "--granularity", "sync")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every interleaving explored" in done.stdout


def test_a_child_changing_a_global_is_not_a_bug(tmp_path):
    done = check(tmp_path, """
        from multiprocessing import Process
        counter = 0
        def work():
            global counter
            counter += 1
        if __name__ == "__main__":
            p = Process(target=work)
            p.start()
            p.join()
            assert counter == 0, "the child's counter is its own"
    """, "--runs", "50")
    assert done.returncode == 0, done.stdout + done.stderr


VALUE = """
    from multiprocessing import Process, Value, Lock
    def add(v, lock):
        for _ in range(2):
            {body}
    if __name__ == "__main__":
        v = Value('i', 0)
        lock = Lock()
        ps = [Process(target=add, args=(v, lock)) for _ in range(2)]
        for p in ps: p.start()
        for p in ps: p.join()
        assert v.value == 4, f"lost update: {{v.value}}"
"""


def test_a_shared_value_loses_updates_without_its_lock_and_keeps_them_with_it(tmp_path):
    # Each access of v.value takes the Value's own lock, as in CPython: += is two accesses.
    racy = check(tmp_path, VALUE.format(body="v.value += 1"), "--granularity", "sync", "--strategy", "dfs")
    assert racy.returncode == 1, racy.stdout + racy.stderr
    assert "lost update" in racy.stdout
    for body in ("with lock: v.value += 1", "with v.get_lock(): v.value += 1"):
        fixed = check(tmp_path, VALUE.format(body=body), "--granularity", "sync", "--strategy", "dfs")
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert "every interleaving explored" in fixed.stdout


def test_array_pipe_and_contexts_are_racelabs(tmp_path):
    done = check(tmp_path, """
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        def child(conn, arr, sem):
            with sem:
                arr[0] = conn.recv() + 1
            conn.send(list(arr))
            conn.close()
        if __name__ == "__main__":
            ctx = mp.get_context("spawn")
            parent, kid = ctx.Pipe()
            arr = mp.Array('i', 3)
            sem = mp.BoundedSemaphore(1)
            p = ctx.Process(target=child, args=(kid, arr, sem))
            p.start()
            parent.send(41)
            assert parent.recv() == [42, 0, 0]
            p.join()
            assert arr[:] == [42, 0, 0] and p.exitcode == 0
            with ProcessPoolExecutor(2) as ex:
                assert list(ex.map(abs, [-1, -2])) == [1, 2]
    """, "--runs", "100")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_manager_is_refused_with_what_to_use_instead(tmp_path):
    done = check(tmp_path, """
        import multiprocessing
        m = multiprocessing.Manager()
    """)
    assert done.returncode == 2
    assert "multiprocessing.Manager() starts a server process" in done.stdout + done.stderr
    assert "Queue, Pipe, Value or Array" in done.stdout + done.stderr


def test_each_process_closes_only_its_own_copy_of_a_pipe_end(tmp_path):
    # The usual idiom: the parent closes its copy of the child's end after start(); the child
    # closes its copy of the parent's end. Each closes only its own handle, as in CPython.
    done = check(tmp_path, """
        from multiprocessing import Process, Pipe
        def child(conn, parent_end):
            parent_end.close()
            conn.send("hello")
            assert conn.recv() == "bye"
        if __name__ == "__main__":
            parent_end, child_end = Pipe()
            p = Process(target=child, args=(child_end, parent_end))
            p.start()
            child_end.close()
            assert parent_end.recv() == "hello"
            parent_end.send("bye")
            p.join()
            assert p.exitcode == 0
    """, "--runs", "100")
    assert done.returncode == 0, done.stdout + done.stderr


def test_process_names_start_again_every_run(tmp_path):
    done = check(tmp_path, """
        import multiprocessing as mp
        def f():
            pass
        if __name__ == "__main__":
            p = mp.Process(target=f)
            assert p.name == "Process-1", p.name
            p.start()
            p.join()
    """, "--strategy", "dfs", "--granularity", "sync")
    assert done.returncode == 0, done.stdout + done.stderr
