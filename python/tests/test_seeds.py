"""Every thread/process program of the seed documents (examples/python/seeds/), checked by
``racelab-py check`` as a user would run it: the verdict and the diagnosis kind are the ones its
first line expects (``# expect: pass|bug <kind>|refused [flags]``)."""

import json
import os
import pathlib
import shlex
import subprocess
import sys

import pytest

SEEDS = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python" / "seeds"
PROGRAMS = sorted(SEEDS.glob("*.py"))


def expectation(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: the first line must say what to expect"
    words = shlex.split(first[len("# expect: "):])
    if words[0] == "bug":
        return ("bug", words[1]), words[2:]
    return (words[0], None), words[1:]


def racelab_py(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True,
                          timeout=600)


def test_there_are_seed_programs():
    assert len(PROGRAMS) >= 15


@pytest.mark.parametrize("path", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_seed_verdict(path):
    (verdict, kind), flags = expectation(path)
    done = racelab_py("check", str(path), "--json", *flags)
    if verdict == "refused":
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.startswith("racelab: ") and done.stderr.count("\n") == 1, done.stderr
        assert "fork" in done.stderr
        return
    assert done.returncode == (1 if verdict == "bug" else 0), done.stdout + done.stderr
    result = json.loads(done.stdout)
    failure = result["report"]["failure"]
    if verdict == "pass":
        assert failure is None
    else:
        # `a|b`: either bug may come first (both are real, see the program's comment).
        assert failure["diagnosis"]["kind"] in kind.split("|"), json.dumps(failure["diagnosis"])
        assert result["replay"].startswith("racelab-py replay ")
