"""What the tests of scripts share: run ``racelab-py`` as a user would, and write a script."""

import subprocess
import sys
import textwrap


def racelab_py(*args, cwd=None):
    """``racelab-py`` with ``args``, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def write(tmp_path, source, name="prog.py"):
    """``source`` (dedented) as ``tmp_path/name``; returns its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return str(path)
