"""A failure racelab-py finds is shrunk to its fewest preemptions, keeping the run's own seed of
`random` (a 65,536-way choice the shrinker used to explore, spending its budget before it got
anywhere: the lost update below came out with 39 preemptions)."""

import os
import subprocess
import sys

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python")


def test_a_sampled_failure_is_shrunk_to_few_preemptions_and_replays():
    path = os.path.join(EXAMPLES, "counter.py")
    done = subprocess.run([sys.executable, "-m", "racelab.cli", "check", path, "--granularity", "opcode"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    verdict = done.stdout.splitlines()[1]
    assert verdict.startswith("  BUG: lost-update in run ") and verdict.endswith("with 1 preemption"), verdict
    schedule = done.stdout.split('--schedule "')[1].split('"')[0]
    assert schedule.split()[1].startswith("r"), schedule  # the run's seed is kept
    again = subprocess.run([sys.executable, "-m", "racelab.cli", "replay", path, "--schedule", schedule,
                            "--granularity", "opcode"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "lost-update" in again.stdout, again.stdout + again.stderr
