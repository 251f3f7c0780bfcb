"""threading.Barrier's action under racelab: run by the last thread to arrive, before anyone is
released; an action that raises breaks the barrier, as in CPython."""

import threading

import racelab

log = []


def action_runs_before_the_release():
    log.clear()
    barrier = threading.Barrier(3, action=lambda: log.append(("action", threading.current_thread().name)))

    def party():
        index = barrier.wait()
        log.append(("released", threading.current_thread().name, index))

    ts = [threading.Thread(target=party, name=f"t{i}") for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert log[0][0] == "action", log
    runner = log[0][1]
    indexes = {name: index for (_, name, index) in log[1:]}
    assert sorted(indexes.values()) == [0, 1, 2], log
    assert indexes[runner] == 2, f"the action ran in {runner}, not in the last to arrive: {log}"


def raising_action_breaks_the_barrier():
    outcomes = {}

    def fail():
        raise ValueError("action failed")

    barrier = threading.Barrier(2, action=fail)

    def party():
        try:
            barrier.wait()
            outcomes[threading.current_thread().name] = "passed"
        except threading.BrokenBarrierError:
            outcomes[threading.current_thread().name] = "broken"
        except ValueError as e:
            outcomes[threading.current_thread().name] = str(e)

    ts = [threading.Thread(target=party, name=f"t{i}") for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(outcomes.values()) == ["action failed", "broken"], outcomes
    assert barrier.broken


def test_the_action_runs_in_the_last_thread_before_the_release():
    report = racelab.check(action_runs_before_the_release, strategy="dfs", granularity="sync")
    report.assert_passed()


def test_an_action_that_raises_breaks_the_barrier_for_the_others():
    report = racelab.check(raising_action_breaks_the_barrier, strategy="dfs", granularity="sync")
    report.assert_passed()
