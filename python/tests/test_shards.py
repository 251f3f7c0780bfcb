"""A check split into shards: ``racelab-py check --shard K/N --json`` runs one shard, ``racelab-py
merge`` gives their one verdict, and ``racelab-py check --jobs N`` does both with a process per
shard. The merged result is the one-process ``--shard 0/1`` check's: the same failing run (index
and schedule), the same runs counted, the same exhausted search."""

import json
import os
import pathlib
import shlex
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"
COUNTER = str(EXAMPLES / "counter.py")
LOCKED = str(EXAMPLES / "counter_locked.py")


def racelab_py(*args):
    return subprocess.run([sys.executable, "-m", "racelab.cli", *args], capture_output=True, text=True,
                          timeout=600)


def names_program(tmp_path):
    """A script whose threads start in the order of a set of strings, which the hash seed decides;
    it fails when alpha's thread takes the lock first."""
    prog = tmp_path / "names.py"
    prog.write_text(
        "import threading\n"
        "names = {'alpha', 'beta', 'gamma', 'delta', 'epsilon'}\n"
        "first = []\n"
        "lock = threading.Lock()\n"
        "def work(name):\n"
        "    with lock:\n"
        "        first.append(name)\n"
        "threads = [threading.Thread(target=work, args=(n,)) for n in names]\n"
        "for t in threads:\n"
        "    t.start()\n"
        "for t in threads:\n"
        "    t.join()\n"
        "assert first[0] != 'alpha', 'alpha went first'\n", encoding="utf-8")
    return prog


def report_of(result):
    assert result.stdout.count("\n") == 1, result.stdout + result.stderr
    return json.loads(result.stdout)["report"]


def shard_files(tmp_path, script, n, *flags):
    files = []
    for k in range(n):
        r = racelab_py("check", script, "--shard", f"{k}/{n}", "--json", *flags)
        assert r.returncode in (0, 1), r.stderr
        path = tmp_path / f"shard-{k}.json"
        path.write_text(r.stdout, encoding="utf-8")
        files.append(str(path))
    return files


def test_jobs_find_the_one_process_failure_and_its_replay_reproduces_it():
    flags = ["--granularity", "opcode", "--seed", "3"]
    one = report_of(racelab_py("check", COUNTER, "--shard", "0/1", "--json", *flags))
    assert one["failure"] is not None
    two = racelab_py("check", COUNTER, "--jobs", "2", "--json", *flags)
    assert two.returncode == 1, two.stderr
    merged = report_of(two)
    assert merged["runs"] == one["runs"]
    assert merged["failure"]["run"] == one["failure"]["run"]
    assert merged["failure"]["schedule"] == one["failure"]["schedule"]
    # Told as a one-process check tells it, with a replay that reproduces the failure.
    text = racelab_py("check", COUNTER, "--jobs", "2", *flags)
    assert text.returncode == 1, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"racelab-py check {COUNTER}: 2 processes of "), lines[0]
    assert f"BUG: lost-update in run {one['failure']['run']}" in lines[1], lines[1]
    assert "(over 2 shards)" in lines[1]
    assert "trace:" in text.stdout and "lost update" in text.stdout
    replay = [line for line in lines if line.startswith("  replay: ")]
    assert len(replay) == 1, text.stdout
    again = subprocess.run([sys.executable, "-m", "racelab.cli", *shlex.split(replay[0][len("  replay: racelab-py "):])],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 1 and "lost update" in again.stdout, again.stdout + again.stderr


def test_merging_shard_files_gives_what_jobs_gives(tmp_path):
    flags = ["--granularity", "opcode", "--seed", "3"]
    files = shard_files(tmp_path, COUNTER, 3, *flags)
    merged = racelab_py("merge", *files, "--json")
    assert merged.returncode == 1, merged.stderr
    jobs = racelab_py("check", COUNTER, "--jobs", "3", "--json", *flags)
    assert json.loads(merged.stdout) == json.loads(jobs.stdout)
    text = racelab_py("merge", *files)
    assert text.returncode == 1
    assert text.stdout.startswith(f"racelab-py merge {COUNTER}: 3 shards of granularity=opcode strategy=random seed=3"), \
        text.stdout
    assert "  replay: racelab-py replay " in text.stdout


def test_dfs_on_two_processes_explores_every_interleaving_of_the_one_process_search():
    flags = ["--strategy", "dfs", "--granularity", "sync"]
    one = report_of(racelab_py("check", LOCKED, "--shard", "0/1", "--json", *flags))
    assert one["failure"] is None and one["exhausted"], one
    two = racelab_py("check", LOCKED, "--jobs", "2", *flags)
    assert two.returncode == 0, two.stdout + two.stderr
    assert two.stdout.startswith(f"racelab-py check {LOCKED}: 2 processes of granularity=sync strategy=dfs "), two.stdout
    assert "watchdog=30s" in two.stdout.splitlines()[0], two.stdout
    assert f"no bug: every interleaving explored ({one['runs']} runs over 2 shards" in two.stdout, two.stdout
    merged = report_of(racelab_py("check", LOCKED, "--jobs", "2", "--json", *flags))
    assert merged["exhausted"] and merged["runs"] == one["runs"]


def test_shards_of_other_granularities_do_not_merge(tmp_path):
    files = []
    for k, granularity in [(0, "sync"), (1, "line")]:
        r = racelab_py("check", LOCKED, "--shard", f"{k}/2", "--runs", "10", "--json", "--granularity", granularity)
        path = tmp_path / f"shard-{k}.json"
        path.write_text(r.stdout, encoding="utf-8")
        files.append(str(path))
    r = racelab_py("merge", *files)
    assert r.returncode == 2 and "other settings" in r.stderr, r.stderr


def test_a_shard_alone_says_it_is_one():
    r = racelab_py("check", LOCKED, "--shard", "1/2", "--runs", "20")
    assert r.returncode == 0, r.stderr
    assert "release-points=on" in r.stdout and "shard=1/2" in r.stdout, r.stdout
    assert "shard 1/2 alone: run every shard with --json and merge them with racelab-py merge" in r.stdout


def test_bad_splits_are_refused_with_one_line(tmp_path):
    cases = [
        (["check", LOCKED, "--jobs", "2", "--strategy", "pct"], "--jobs splits random, pos and dfs checks"),
        (["check", LOCKED, "--jobs", "0"], "--jobs must be from 1 to 256, got 0"),
        (["check", LOCKED, "--jobs", "257"], "--jobs must be from 1 to 256, got 257"),
        (["check", LOCKED, "--shard", "2/2"], "--shard wants K/N with 0 <= K < N"),
        (["check", LOCKED, "--shard", "a/b"], "--shard wants K/N"),
        (["check", LOCKED, "--jobs", "2", "--shard", "0/2"], "not allowed with argument"),
        (["check", LOCKED, "--shard", "0/2", "--strategy", "portfolio"], "shard"),
        (["merge", str(tmp_path / "nowhere.json")], "cannot read"),
    ]
    for args, message in cases:
        r = racelab_py(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stdout == "" and r.stderr.count("\n") == 1 and message in r.stderr, (args, r.stderr)
    # One shard of two: merge names the one missing.
    half = tmp_path / "half.json"
    r = racelab_py("check", LOCKED, "--shard", "0/2", "--runs", "10", "--json")
    half.write_text(r.stdout, encoding="utf-8")
    r = racelab_py("merge", str(half))
    assert r.returncode == 2 and "shard 1 of 2 missing" in r.stderr, r.stderr


def test_a_shard_that_cannot_go_on_ends_the_split_check_with_its_reason(tmp_path):
    spin = tmp_path / "spin.py"
    spin.write_text("import threading\ndone = False\nwhile not done:\n    pass\n", encoding="utf-8")
    r = racelab_py("check", str(spin), "--granularity", "sync", "--watchdog", "0.5", "--jobs", "2")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("racelab: shard 0/2 of the check failed: "), r.stderr


def test_shards_hash_strings_alike(tmp_path):
    # The threads start in the order of a set of strings, which the hash seed decides: every shard
    # (and the process that replays the failure) must be the same program.
    prog = names_program(tmp_path)
    seeded = dict(os.environ, PYTHONHASHSEED="0")
    one = subprocess.run([sys.executable, "-m", "racelab.cli", "check", str(prog), "--shard", "0/1", "--json",
                          "--granularity", "sync"], capture_output=True, text=True, timeout=600, env=seeded)
    one = report_of(one)
    unseeded = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    two = subprocess.run([sys.executable, "-m", "racelab.cli", "check", str(prog), "--jobs", "3",
                          "--granularity", "sync"], capture_output=True, text=True, timeout=600, env=unseeded)
    assert two.returncode == 1, two.stdout + two.stderr
    assert f"in run {one['failure']['run']}," in two.stdout and "alpha went first" in two.stdout, two.stdout


def test_a_schedule_check_found_replays_in_another_process_whatever_its_hash_seed(tmp_path):
    prog = names_program(tmp_path)
    unseeded = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    found = subprocess.run([sys.executable, "-m", "racelab.cli", "check", str(prog), "--granularity", "sync"],
                           capture_output=True, text=True, timeout=600, env=unseeded)
    assert found.returncode == 1, found.stdout + found.stderr
    (replay,) = [line for line in found.stdout.splitlines() if line.startswith("  replay: racelab-py ")]
    for _ in range(3):
        again = subprocess.run([sys.executable, "-m", "racelab.cli", *shlex.split(replay[len("  replay: racelab-py "):])],
                               capture_output=True, text=True, timeout=600, env=unseeded)
        assert again.returncode == 1 and "alpha went first" in again.stdout, again.stdout + again.stderr
        assert "note:" not in again.stdout
