"""At --granularity sync no `py` step shows the script's lines, so each primitive operation and
each print in the trace says where in the script it was called from."""

import os
import subprocess
import sys

SEEDS = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "seeds")


def racelab_py(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True, timeout=300)


def test_sync_trace_rows_say_where_in_the_script_they_happen():
    path = os.path.join(SEEDS, "condition_if.py")
    done = racelab_py("check", path, "--granularity", "sync")
    assert done.returncode == 1, done.stdout + done.stderr
    rows = done.stdout.split("\ntrace:\n", 1)[1].splitlines()
    acquire = [r for r in rows if " acquire " in r and " ok" in r]
    assert acquire and all(r.endswith("condition.acquire())") or "condition.wait()" in r for r in acquire), rows
    assert any("wait" in r and r.endswith("(at condition_if.py:38  condition.wait())") for r in rows), rows
    prints = [r for r in rows if " print " in r]
    assert prints and all("(at condition_if.py:" in r and "print(" in r for r in prints), prints
    # A thread's end is not one of its calls, nor the wait for the other threads at the end of
    # the main module (CPython's threading._shutdown).
    assert any((" finish " in r or " join " in r) and "(at " not in r for r in rows), rows
    # The JSON has it too, and the line granularity's trace needs none (its `py` steps say it).
    import json

    report = json.loads(racelab_py("check", path, "--granularity", "sync", "--json").stdout)["report"]
    events = report["failure"]["trace"]["events"]
    assert any(e.get("at", "").startswith("condition_if.py:35") for e in events)
    line = racelab_py("check", path).stdout.split("\ntrace:\n", 1)[1]
    assert "   (at " not in line
