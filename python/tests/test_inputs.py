"""Bad input to racelab.check/replay and racelab-py gets a clear error, as the Rust CLI's does:
never a run of nothing reported as a pass, never an internal error."""

import subprocess
import sys

import pytest

import racelab


def nothing():
    pass


@pytest.mark.parametrize("kwargs, error, words", [
    ({"runs": 0}, ValueError, "runs must be from 1"),
    ({"runs": -1}, ValueError, "runs must be from 1"),
    ({"seed": -1}, ValueError, "seed must be from 0"),
    ({"runs": 2.5}, TypeError, "runs must be a whole number"),
    ({"max_steps": 0}, ValueError, "max_steps must be from 1"),
    ({"watchdog": -1}, ValueError, "watchdog must be a number of seconds"),
])
def test_check_refuses_bad_settings(kwargs, error, words):
    with pytest.raises(error, match=words):
        racelab.check(nothing, **kwargs)


def test_check_refuses_what_is_not_a_function():
    with pytest.raises(TypeError, match="run a function"):
        racelab.check(42)


def test_replay_refuses_a_schedule_that_is_not_text():
    # A passing report's schedule is None: replaying it is a TypeError that says so.
    with pytest.raises(TypeError, match="report.schedule is None"):
        racelab.replay(nothing, None)
    with pytest.raises(TypeError, match="a string"):
        racelab.replay_script(__file__, 42)


def racelab_py(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True, timeout=120)


def test_cli_refuses_a_directory_a_nul_byte_and_a_depth_without_pct(tmp_path):
    done = racelab_py("check", str(tmp_path))
    assert done.returncode == 2 and "it is a directory" in done.stderr, done.stderr
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"x = 1\x00\n")
    done = racelab_py("check", str(nul))
    assert done.returncode == 2 and "does not compile" in done.stderr and "None" not in done.stderr, done.stderr
    ok = tmp_path / "ok.py"
    ok.write_text("pass\n")
    done = racelab_py("check", str(ok), "--depth", "5")
    assert done.returncode == 2 and "applies only to --strategy pct" in done.stderr, done.stderr
    assert racelab_py("check", str(ok), "--strategy", "pct", "--depth", "5", "--runs", "3").returncode == 0


def test_merge_refuses_devices_and_directories_before_reading_them(tmp_path):
    for path in ("/dev/zero", str(tmp_path)):
        done = racelab_py("merge", path)
        assert done.returncode == 2, done.stderr
        assert done.stderr == f"racelab: cannot read {path}: not a file of check --json output (a directory or a device)\n"


def test_an_html_page_into_a_missing_directory_is_refused_before_the_check(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text("pass\n")
    done = racelab_py("check", str(prog), "--html", str(tmp_path / "no" / "page.html"))
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert "the directory" in done.stderr and "does not exist" in done.stderr, done.stderr
    # Where no file can be made (root ignores permission bits; /proc refuses all).
    done = racelab_py("check", str(prog), "--html", "/proc/x.html")
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.startswith("racelab: --html /proc/x.html: cannot write it: "), done.stderr
