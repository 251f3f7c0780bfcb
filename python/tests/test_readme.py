"""The README's racelab-py session prints what racelab-py prints: its verdict and replay lines
(the machine-dependent figures and trace excerpt aside). The session was recorded on CPython
3.11, whose bytecode the run and schedule depend on: other versions check the settings and the
diagnosis only."""

import os
import shlex
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_the_readme_session_matches_a_real_run():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index("$ racelab-py check ")
    block = text[start:text.index("```", start)].splitlines()
    command = shlex.split(block[0].removeprefix("$ "))
    assert command[0] == "racelab-py"
    done = subprocess.run([sys.executable, "-m", "racelab.cli", *command[1:]], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    out = done.stdout.splitlines()
    assert out[0] == block[1], (out[0], block[1])
    if sys.version_info[:2] != (3, 11):
        assert out[1].startswith(block[2].split(" in run ")[0]), (out[1], block[2])
        return
    assert out[1] == block[2], (out[1], block[2])
    assert out[-1] == block[-1], (out[-1], block[-1])
    shown = [line for line in block[3:] if line.startswith("   ") and line.strip()[0].isdigit()]
    assert shown and all(line in out for line in shown), shown
