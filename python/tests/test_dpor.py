"""The exhaustive search with partial-order reduction (``dfs``) reaches exactly the outcomes of the
plain one (``dfs-plain``, every interleaving) on small Python programs that mix racelab's
primitives with plain Python data, at ``sync`` granularity (at ``line`` the plain search of even
these programs passes 20,000 runs): the reduction must not treat two steps as independent when the
Python they run touches the same data (it did, before every Python step wrote the heap: the first
program then had one outcome under DPOR and two under the plain search)."""

import pytest

import racelab

outcomes = []


def race_after_independent_events():
    import threading

    state = {"x": 0, "seen": None}
    e1, e2 = threading.Event(), threading.Event()

    def a():
        e1.set()
        state["x"] = 1

    def b():
        e2.set()
        state["seen"] = state["x"]

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    outcomes.append(state["seen"])


def reads_outside_the_lock():
    import threading

    lock = threading.Lock()
    box = {"c": 0}
    reads = []

    def worker():
        with lock:
            box["c"] += 1
        reads.append(box["c"])

    ts = [threading.Thread(target=worker) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    outcomes.append(tuple(reads))


def queue_and_a_flag():
    import queue
    import threading

    q = queue.Queue()
    flags = []

    def producer():
        flags.append("p")
        q.put(1)

    def consumer():
        got = q.get()
        flags.append(("c", got))

    ts = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    outcomes.append(tuple(flags))


def condition_with_a_list():
    import threading

    cond = threading.Condition()
    items = []
    seen = []

    def producer():
        with cond:
            items.append(1)
            cond.notify()

    def consumer():
        with cond:
            if not items:
                cond.wait(timeout=1)
            seen.append(len(items))

    ts = [threading.Thread(target=consumer), threading.Thread(target=producer)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    outcomes.append(tuple(seen))


def explored(program, strategy, granularity):
    outcomes.clear()
    report = racelab.check(program, strategy=strategy, granularity=granularity, runs=20_000)
    assert report.passed and report.exhausted, report
    return set(outcomes), report.runs


@pytest.mark.parametrize(
    "program", [race_after_independent_events, reads_outside_the_lock, queue_and_a_flag, condition_with_a_list]
)
def test_dpor_reaches_the_plain_searchs_outcomes(program):
    plain, plain_runs = explored(program, "dfs-plain", "sync")
    reduced, reduced_runs = explored(program, "dfs", "sync")
    assert reduced == plain, f"DPOR {reduced} vs plain {plain}"
    assert reduced_runs <= plain_runs


def test_the_racy_programs_do_race():
    # Without two outcomes somewhere, the comparison above would prove nothing.
    assert explored(race_after_independent_events, "dfs-plain", "sync")[0] == {0, 1}
    assert explored(condition_with_a_list, "dfs-plain", "sync")[0] == {(0,), (1,)}
