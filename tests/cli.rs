//! The `racelab` command as a user runs it: exit codes, the printed replay command, errors.

use std::process::{Command, Output};

fn racelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_racelab")).args(args).output().expect("racelab runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `racelab replay ...` command a check printed, split into arguments.
fn printed_replay_args(out: &str) -> Vec<String> {
    let line =
        out.lines().find_map(|l| l.trim().strip_prefix("replay: ")).expect("a replay command is printed");
    let (head, rest) = line.split_once(" --schedule \"").expect("replay by schedule");
    let (schedule, flags) = rest.split_once('"').expect("a quoted schedule");
    let mut args: Vec<String> = head.split_whitespace().skip(1).map(String::from).collect();
    args.push("--schedule".into());
    args.push(schedule.to_string());
    args.extend(flags.split_whitespace().map(String::from));
    args
}

fn trace_of(out: &str) -> String {
    out.split_once("trace:\n")
        .map(|(_, t)| t)
        .unwrap_or("")
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn check_finds_the_bug_prints_settings_first_and_the_replay_reproduces_the_trace() {
    let out = racelab(&["check", "lock-order/buggy"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.starts_with("racelab check lock-order/buggy: strategy=portfolio seed=0"), "{text}");
    assert!(text.contains("wait-for cycle: worker-1 waits on Lock `lock_b` held by worker-2"), "{text}");

    let args = printed_replay_args(&text);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let again = racelab(&args);
    assert_eq!(again.status.code(), Some(1));
    let replayed = stdout(&again);
    assert_eq!(trace_of(&replayed), trace_of(&text));
    assert!(!trace_of(&text).is_empty());
    // Byte for byte, every time.
    assert_eq!(stdout(&racelab(&args)), replayed);
}

#[test]
fn the_default_check_on_two_jobs_prints_what_one_job_prints() {
    // The portfolio's DPOR half on one OS thread, POS on the other: the same verdict, failure,
    // shrunk trace and replay command; only the settings line (jobs=2) and the wall time differ.
    let timeless = |out: &Output| -> Vec<String> {
        stdout(out)
            .replace(" jobs=2", "")
            .lines()
            .filter(|l| !l.trim_start().starts_with("coverage:"))
            .map(String::from)
            .collect()
    };
    for target in ["lock-order/buggy", "event-consumers/seed", "condition-buffer/while"] {
        let one = racelab(&["check", target]);
        let two = racelab(&["check", target, "--jobs", "2"]);
        assert_eq!(two.status.code(), one.status.code(), "{target}");
        assert!(stdout(&two).lines().next().unwrap_or("").contains(" jobs=2 "), "{}", stdout(&two));
        assert_eq!(timeless(&two), timeless(&one), "{target}");
    }
}

#[test]
fn check_all_gets_every_expected_verdict() {
    let out = racelab(&["check", "--all"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("every verdict as expected"), "{text}");
    assert!(!text.contains("NOT AS EXPECTED"), "{text}");
}

#[test]
fn fixed_variant_exits_zero() {
    let out = racelab(&["check", "lock-order/fixed"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("every interleaving explored"));
}

#[test]
fn watchdog_flag_is_echoed_and_carried_into_the_replay_command() {
    let out = racelab(&["check", "lock-order/buggy", "--watchdog", "2.5"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.lines().next().is_some_and(|l| l.contains(" watchdog=2.5s")), "{text}");
    let replay = printed_replay_args(&text);
    assert!(replay.windows(2).any(|w| w[0] == "--watchdog" && w[1] == "2.5"), "{replay:?}");
    let again = racelab(&replay.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
}

#[test]
fn the_printed_schedule_carries_the_semantics_flags_so_its_replay_needs_none() {
    let out = racelab(&["check", "condition-buffer/if", "--spurious-wakeups", "0", "--adversarial-wakeups"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let replay = printed_replay_args(&text);
    let schedule = &replay[replay.iter().position(|a| a == "--schedule").unwrap() + 1];
    assert!(schedule.starts_with("v1 spurious-wakeups=0 adversarial-wakeups=on "), "{replay:?}");
    assert!(!replay.iter().any(|a| a.contains("wakeups") && a.starts_with("--")), "{replay:?}");
    let again = racelab(&replay.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stdout(&again).contains("adversarial-wakeups=on"), "{}", stdout(&again));
    assert_eq!(trace_of(&stdout(&again)), trace_of(&text));
}

#[test]
fn seeded_check_and_seeded_replay_agree() {
    // Without shrinking, check reports the run as found, which is what replay --run shows.
    let out = racelab(&[
        "check",
        "counter/buggy",
        "--strategy",
        "random",
        "--seed",
        "7",
        "--runs",
        "500",
        "--no-shrink",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let run: String =
        text.split("in run ").nth(1).unwrap().chars().take_while(char::is_ascii_digit).collect();
    let replay = racelab(&["replay", "counter/buggy", "--seed", "7", "--run", &run]);
    assert_eq!(replay.status.code(), Some(1));
    assert_eq!(trace_of(&stdout(&replay)), trace_of(&text));
}

#[test]
fn bad_input_gets_one_clear_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["check", "lock-ordr"], "unknown scenario `lock-ordr` (did you mean `lock-order`?)"),
        (&["check", "lock-order/nope"], "has no variant `nope`; its variants are: buggy, fixed"),
        (&["replay", "lock-order/buggy", "--schedule", "v1 t0 x"], "malformed schedule: token 3 `x`"),
        (
            &["replay", "counter/buggy", "--schedule", "v1 t0 t1 t2*2"],
            "the schedule does not fit counter/buggy",
        ),
        (&["check", "counter", "--depth", "3"], "--depth applies only to --strategy pct"),
        (&["check", "counter", "--watchdog=-1"], "--watchdog takes seconds of wall time"),
        (&["check", "counter", "--watchdog", "inf"], "--watchdog takes seconds of wall time"),
        (
            &["check", "counter", "--strategy", "dfs", "--seed", "1"],
            "--seed has no meaning for --strategy dfs",
        ),
        (&["check"], "nothing to check"),
        (&["check", "--all", "counter"], "either --all or scenario names"),
        (&["replay", "counter"], "name one variant of `counter`: counter/buggy"),
        (&["play", "counter"], "name one variant of `counter`: counter/buggy"),
        (
            &["replay", "counter/buggy", "--schedule", "v1", "--seed", "1"],
            "--schedule replays exactly one recorded run",
        ),
    ];
    for (args, expected) in cases {
        let out = racelab(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("racelab: ") && err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    for args in [&["check", "--bogus"][..], &["check", "counter", "--strategy", "rand"], &["frobnicate"]] {
        let out = racelab(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(err.starts_with("racelab: ") && err.lines().count() == 1, "{args:?}: {err}");
    }
}

#[test]
fn list_json_is_valid_and_names_every_variant() {
    let out = racelab(&["list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let ids: Vec<&str> = v.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"lock-order") && ids.contains(&"counter"), "{ids:?}");
}

#[test]
fn replay_json_carries_the_trace() {
    let out = racelab(&["replay", "lock-order/buggy", "--schedule", "v1 t0 t1 t2", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["report"]["failure"]["kind"]["kind"], "deadlock");
    assert!(v["report"]["failure"]["trace"]["events"].as_array().unwrap().len() >= 5);
}

/// The diagnosis line (`<kind>: <explanation>`) of a `check` or `replay` output.
fn diagnosis_of(out: &str) -> String {
    out.lines()
        .find(|l| !l.starts_with(' ') && !l.starts_with("racelab ") && l.contains(": ") && !l.is_empty())
        .unwrap_or("")
        .to_string()
}

#[test]
fn every_buggy_variant_replays_from_its_printed_command_to_the_same_bytes() {
    let list = racelab(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let mut replayed = 0;
    for s in v.as_array().unwrap() {
        for variant in s["variants"].as_array().unwrap() {
            if variant["expected"] == "pass" {
                continue;
            }
            let target = format!("{}/{}", s["id"].as_str().unwrap(), variant["name"].as_str().unwrap());
            let out = racelab(&["check", &target]);
            assert_eq!(out.status.code(), Some(1), "{target}");
            let text = stdout(&out);
            let args = printed_replay_args(&text);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let again = stdout(&racelab(&args));
            assert_eq!(trace_of(&again), trace_of(&text), "{target}: replay trace differs");
            assert_eq!(diagnosis_of(&again), diagnosis_of(&text), "{target}: replay diagnosis differs");
            let expected = variant["expected"].as_str().unwrap().trim_start_matches("bug: ");
            assert!(
                diagnosis_of(&text).starts_with(&format!("{expected}: ")),
                "{target}: {}",
                diagnosis_of(&text)
            );
            replayed += 1;
        }
    }
    assert!(replayed >= 20, "{replayed} buggy variants replayed");
}

#[test]
fn check_shrinks_a_random_failure_and_its_replay_is_the_small_run() {
    let out = racelab(&["check", "counter/buggy", "--strategy", "random", "--seed", "7"]);
    let text = stdout(&out);
    assert!(text.contains("shrunk from 16 steps and 6 preemptions to 15 steps and 1 preemption"), "{text}");
    let args = printed_replay_args(&text);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(trace_of(&stdout(&racelab(&args))), trace_of(&text));
}

#[allow(clippy::disallowed_methods, reason = "the child runs for real wall time before it is interrupted")]
/// Starts `racelab args...` as a child, waits until it has explored for a while, sends it
/// SIGINT (as Ctrl-C does) and collects its output.
fn interrupted(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_racelab"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("racelab runs");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success(), "the child was still running when interrupted");
    child.wait_with_output().expect("racelab exits")
}

#[test]
fn ctrl_c_prints_the_partial_verdict_and_exits_130() {
    let out = interrupted(&["check", "counter/locked", "--strategy", "random", "--runs", "1000000000"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(130), "{text}{}", stderr(&out));
    let verdict = text.lines().nth(1).unwrap_or("");
    assert!(
        verdict.starts_with("  interrupted: no bug found in ")
            && verdict
                .ends_with(" runs so far (not exhaustive) (expected pass; interrupted before a verdict)"),
        "{text}"
    );
    assert!(text.contains("  coverage: "), "{text}");
    assert!(text.ends_with("interrupted (Ctrl-C): 1 of 1 target checked\n"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn ctrl_c_stops_a_replay_of_a_run_far_ahead() {
    // `replay --run N` makes the exploration's runs up to N: the command comes first, and Ctrl-C
    // stops the runs (it used to be ignored, for hours).
    let out = interrupted(&["replay", "lock-order/fixed", "--seed", "1", "--run", "10000000000"]);
    assert_eq!(out.status.code(), Some(130), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "racelab replay lock-order/fixed --strategy random --seed 1 --run 10000000000\n"
    );
    let err = stderr(&out);
    assert!(
        err.starts_with("racelab: interrupted after ")
            && err.ends_with(" runs, before run 10000000000 was reached\n"),
        "{err}"
    );
}

#[test]
fn ctrl_c_with_json_prints_complete_json_marked_interrupted() {
    let out =
        interrupted(&["check", "counter/locked", "--strategy", "random", "--runs", "1000000000", "--json"]);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    // One target: one JSON object, complete.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("complete JSON");
    let report = &v["report"];
    assert_eq!(report["interrupted"], true, "{v}");
    assert_eq!(report["exhausted"], false, "{v}");
    assert!(report["runs"].as_u64().unwrap() > 0, "{v}");
    assert!(report["failure"].is_null(), "{v}");
}

#[test]
#[allow(clippy::disallowed_methods, reason = "times the child from outside, on the wall clock")]
fn max_time_ends_an_exploration_and_the_verdict_says_so() {
    let start = std::time::Instant::now();
    let out = racelab(&[
        "check",
        "counter/locked",
        "--strategy",
        "random",
        "--runs",
        "1000000000",
        "--max-time",
        "1",
    ]);
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "took {:?}", start.elapsed());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.lines().next().unwrap().ends_with(" max-time=1s"), "{text}");
    assert!(
        text.contains(" runs within 1 s (sampled, not exhaustive) (expected pass; as expected)"),
        "{text}"
    );
    let out = racelab(&["check", "counter/locked", "--strategy", "dfs", "--no-dpor", "--max-time", "0.001"]);
    let text = stdout(&out);
    assert!(text.contains(" within 0.001 s (the search stopped at --max-time, not exhausted)"), "{text}");
    for bad in ["0", "NaN", "inf", "-1", "1e300"] {
        let out = racelab(&["check", "counter/locked", "--max-time", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out)
                .starts_with("racelab: --max-time takes seconds of wall time above 0 and at most 31536000"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn replay_notices_a_schedule_whose_trace_hash_does_not_match() {
    let out = racelab(&["check", "lock-order/buggy"]);
    let args = printed_replay_args(&stdout(&out));
    let schedule = args[3].clone();
    assert!(schedule.contains(" #"), "the printed schedule carries a trace hash: {schedule}");
    let same = racelab(&["replay", "lock-order/buggy", "--schedule", &schedule]);
    assert!(!stdout(&same).contains("note:"), "{}", stdout(&same));
    // The same decisions under a hash from another run.
    let (decisions, _) = schedule.rsplit_once(" #").unwrap();
    let wrong = format!("{decisions} #00000000");
    let other = racelab(&["replay", "lock-order/buggy", "--schedule", &wrong]);
    assert_eq!(other.status.code(), Some(1));
    let text = stdout(&other);
    assert_eq!(
        text.lines().nth(1).unwrap_or(""),
        format!(
            "note: this program behaves differently than when the schedule was recorded: the same decisions give \
             another trace (#00000000 then, {} now); a value, a message or a name changed",
            &schedule[decisions.len() + 1..]
        ),
        "{text}"
    );
    let bad = racelab(&["replay", "lock-order/buggy", "--schedule", &format!("{decisions} #xyz")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("a trace hash is `#` and 8 hex digits"), "{}", stderr(&bad));
}

/// Runs `check <target> <flags> --shard K/N --json` for every K as separate processes, each
/// into its own file, and merges them.
fn sharded(target: &str, flags: &[&str], shards: u64) -> (Output, tempdir::Dir) {
    let dir = tempdir::Dir::new("merge");
    let mut files = Vec::new();
    for k in 0..shards {
        let shard = format!("{k}/{shards}");
        let mut args = vec!["check", target];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--shard", &shard, "--json"]);
        let out = racelab(&args);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
        let file = dir.path().join(format!("shard-{k}.json"));
        std::fs::write(&file, &out.stdout).expect("write the shard's output");
        files.push(file.to_string_lossy().into_owned());
    }
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    (racelab(&args), dir)
}

mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Self {
            // Tests run in parallel, some with the same name: a number each.
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("racelab-{name}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("a temporary directory");
            Dir(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn merging_shards_gives_the_unsharded_verdict_lowest_failure_and_coverage() {
    // Seed 13 first deadlocks at run 5, which shard 2 of 3 holds; shard 0 runs on to run 6.
    let flags = ["--strategy", "random", "--seed", "13", "--runs", "200"];
    let whole = racelab(&[&["check", "lock-order/buggy"][..], &flags].concat());
    let whole = stdout(&whole);
    assert!(whole.contains("BUG: deadlock in run 5,"), "{whole}");
    let (merged, _dir) = sharded("lock-order/buggy", &flags, 3);
    let text = stdout(&merged);
    assert_eq!(merged.status.code(), Some(1), "{text}{}", stderr(&merged));
    assert!(
        text.starts_with("racelab merge lock-order/buggy: 3 shards of strategy=random seed=13 runs=200"),
        "{text}"
    );
    assert!(text.contains("  BUG: deadlock in run 5, with "), "{text}");
    assert!(text.contains("  coverage: 6 runs as one unsharded run would make them"), "{text}");
    let replay =
        |t: &str| t.lines().find(|l| l.trim().starts_with("replay: ")).map(str::trim).map(String::from);
    assert_eq!(replay(&text), replay(&whole), "the same failure, shrunk the same way");

    // No bug: every run of the limit, and the steps of one unsharded run.
    let flags = ["--strategy", "random", "--runs", "90"];
    let whole = racelab(&[&["check", "counter/locked"][..], &flags, &["--json"]].concat());
    let whole: serde_json::Value = serde_json::from_slice(&whole.stdout).expect("json");
    let (merged, _dir) = sharded("counter/locked", &flags, 4);
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    let text = stdout(&merged);
    assert!(text.contains("  no bug found in 90 runs (sampled over 4 shards, not exhaustive)"), "{text}");
    let steps = whole["report"]["steps"].as_u64().unwrap();
    assert!(text.contains(&format!("(90 runs and {steps} steps executed over the shards)")), "{text}");

    // Every run observes the lock at the fork: every shard restarts with release points, and the
    // merge names the lowest run that observed, as the unsharded run does.
    let flags = ["--strategy", "random", "--runs", "30"];
    let whole = racelab(&[&["check", "fork/before-threads"][..], &flags].concat());
    let whole = stdout(&whole);
    assert!(
        whole.contains("  release points: on after a restart (run 0 observed a lock: locked on log_lock)"),
        "{whole}"
    );
    let (merged, _dir) = sharded("fork/before-threads", &flags, 3);
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    let text = stdout(&merged);
    assert!(text.contains(" release-points=on restarted=\"run 0: locked on log_lock\""), "{text}");
    assert!(text.contains("  no bug found in 30 runs (sampled over 3 shards, not exhaustive)"), "{text}");
}

/// A dfs stopped at its run limit whose runs kept growing (a daemon's `while True` that some
/// schedules keep going round) says so, and what to try; one whose runs do not grow does not.
#[test]
fn a_dfs_whose_runs_keep_growing_says_so() {
    let out = stdout(&racelab(&["check", "event-consumers/seed", "--strategy", "dfs", "--runs", "800"]));
    let note = out
        .lines()
        .find(|l| l.starts_with("  note: the runs kept growing, from "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(note.ends_with("try sampling (--strategy pos) or a preemption bound (--preemption-bound 2, Config::preemption_bound), which ends the search unless the loop spins without yielding"), "{note}");
    let json = racelab(&["check", "event-consumers/seed", "--strategy", "dfs", "--runs", "800", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let growth = &json["report"]["growing_runs"];
    assert!(
        growth["longest_steps"].as_u64().unwrap() >= 4 * growth["first_steps"].as_u64().unwrap(),
        "{growth}"
    );
    let flat = stdout(&racelab(&["check", "semaphore-pool/limit", "--strategy", "dfs", "--runs", "800"]));
    assert!(flat.contains("not exhausted") && !flat.contains("note: the runs kept growing"), "{flat}");
}

/// A dfs split into shards: the merge numbers the lowest failure over the shards as the split
/// search on one process (`--shard 0/1`) numbers it, with the same replay; a pass is "every
/// interleaving explored", with that process's runs.
#[test]
fn merging_dfs_shards_gives_the_one_process_search() {
    let flags = ["--strategy", "dfs"];
    let one = stdout(&racelab(&["check", "notify-one/notify", "--strategy", "dfs", "--shard", "0/1"]));
    let bug_line = |t: &str| {
        t.lines().find(|l| l.trim().starts_with("BUG: ")).map(|l| l.trim().to_string()).unwrap_or_default()
    };
    let expected = bug_line(&one);
    let run = expected.strip_prefix("BUG: misdirected-wakeup in run ").and_then(|r| r.split(',').next());
    let run: u64 = run.and_then(|r| r.parse().ok()).unwrap_or_else(|| panic!("{one}"));
    assert!(run > 20, "the failure is not in the first subtree, so the shards' runs are numbered: {one}");
    let replay =
        |t: &str| t.lines().find(|l| l.trim().starts_with("replay: ")).map(str::trim).map(String::from);
    for shards in [3, 5] {
        let (merged, _dir) = sharded("notify-one/notify", &flags, shards);
        let text = stdout(&merged);
        assert_eq!(merged.status.code(), Some(1), "a bug: {text}{}", stderr(&merged));
        assert_eq!(
            bug_line(&text),
            format!("BUG: misdirected-wakeup in run {run}, with 0 preemptions (over {shards} shards) (expected bug: misdirected-wakeup; as expected)")
        );
        assert!(
            text.contains(&format!(
                "  coverage: {} runs as one process (--shard 0/1) would make them",
                run + 1
            )),
            "{text}"
        );
        assert_eq!(replay(&text), replay(&one), "the same failure, shrunk the same way");
    }

    let one = racelab(&["check", "queue-task-done/seed", "--strategy", "dfs", "--shard", "0/1", "--json"]);
    let one: serde_json::Value = serde_json::from_slice(&one.stdout).expect("json");
    let runs = one["report"]["runs"].as_u64().expect("runs");
    let whole = racelab(&["check", "queue-task-done/seed", "--strategy", "dfs", "--json"]);
    let whole: serde_json::Value = serde_json::from_slice(&whole.stdout).expect("json");
    assert!(runs > whole["report"]["runs"].as_u64().unwrap(), "every awake thread explored above the cut");
    let (merged, _dir) = sharded("queue-task-done/seed", &flags, 4);
    let text = stdout(&merged);
    assert_eq!(merged.status.code(), Some(0), "{text}{}", stderr(&merged));
    assert!(
        text.contains(&format!(
            "  no bug: every interleaving explored ({runs} runs over 4 shards, partial-order reduced)"
        )),
        "{text}"
    );

    // A program whose runs observe a lock: a sharded dfs takes release points from the start, so
    // no shard restarts on its own and the shards merge (in the default mode they would not).
    let (merged, _dir) = sharded("mp-terminate-reader/terminate", &flags, 4);
    let text = stdout(&merged);
    assert_eq!(merged.status.code(), Some(1), "{text}{}", stderr(&merged));
    assert!(text.contains(" release-points=on\n") && text.contains("  BUG: lost-data in run 0,"), "{text}");

    // A shard cut short by its run limit: the merge says the search was not exhausted.
    let (merged, _dir) = sharded("queue-task-done/seed", &["--strategy", "dfs", "--runs", "5"], 2);
    let text = stdout(&merged);
    assert!(text.contains("  no bug found in 10 runs over 2 shards (the search was not exhausted); shards 0, 1 stopped early (--max-time, --runs or Ctrl-C)"), "{text}");
}

#[test]
fn merge_refuses_missing_duplicate_and_mismatched_shards() {
    let dir = tempdir::Dir::new("merge-bad");
    let write = |name: &str, args: &[&str]| {
        let out = racelab(args);
        let file = dir.path().join(name);
        std::fs::write(&file, &out.stdout).unwrap();
        file.to_string_lossy().into_owned()
    };
    let base = ["check", "counter/locked", "--strategy", "random", "--runs", "20", "--json", "--shard"];
    let a = write("a.json", &[&base[..], &["0/2"]].concat());
    let b = write("b.json", &[&base[..], &["1/3"]].concat());
    let c = write(
        "c.json",
        &["check", "counter/locked", "--strategy", "random", "--runs", "21", "--json", "--shard", "1/2"],
    );
    // Shard 1 forced release points; shard 0 needed none (counter/locked observes no lock).
    let d = write("d.json", &[&base[..], &["1/2", "--release-points", "on"]].concat());
    let garbage = dir.path().join("g.json");
    std::fs::write(&garbage, "not json\n").unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    // dfs shards edited by hand: subtrees out of order, a subtree of another shard, a shard that
    // cannot exist, a failing run past its subtree's runs.
    let dfs0 = racelab(&["check", "counter/locked", "--strategy", "dfs", "--json", "--shard", "0/2"]);
    let dfs0: serde_json::Value = serde_json::from_slice(&dfs0.stdout).unwrap();
    let dfs1 =
        write("dfs1.json", &["check", "counter/locked", "--strategy", "dfs", "--json", "--shard", "1/2"]);
    let edited = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = dfs0.clone();
        edit(&mut v);
        let file = dir.path().join(name);
        std::fs::write(&file, format!("{v}\n")).unwrap();
        file.to_string_lossy().into_owned()
    };
    let swapped =
        edited("swapped.json", &|v| v["report"]["shard_subtrees"].as_array_mut().unwrap().swap(0, 1));
    let foreign = edited("foreign.json", &|v| v["report"]["shard_subtrees"][0]["subtree"] = 1.into());
    let no_shard = edited("zero.json", &|v| v["report"]["settings"]["shard"] = "0/0".into());
    let past = edited("past.json", &|v| {
        v["report"]["failure"] = serde_json::json!({"run": 5, "diagnosis": {"kind": "deadlock"}});
    });
    for (args, expected) in [
        (vec!["merge", swapped.as_str(), dfs1.as_str()], "is listed after a later one"),
        (vec!["merge", foreign.as_str(), dfs1.as_str()], "subtree 1 is not shard 0/2's"),
        (vec!["merge", no_shard.as_str(), dfs1.as_str()], "has shard `0/0`, which check --shard never gives"),
        (vec!["merge", past.as_str(), dfs1.as_str()], "the failing run 5 is in none of the shard's subtrees"),
        (vec!["merge", a.as_str()], "shard 1 of 2 missing"),
        (vec!["merge", a.as_str(), a.as_str()], "is also in"),
        (vec!["merge", a.as_str(), b.as_str()], "in 2 shards"),
        (vec!["merge", a.as_str(), c.as_str()], "other settings"),
        (vec!["merge", a.as_str(), d.as_str()], "Rerun every shard with --release-points on"),
        (vec!["merge", garbage.as_str()], "is not a line of `check --json` output"),
        (vec!["merge"], "merge needs the --json output of every shard"),
        (vec!["merge", "/nonexistent/shard.json"], "cannot read /nonexistent/shard.json"),
    ] {
        let out = racelab(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with("racelab: ") && err.contains(expected) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

#[test]
fn list_aligns_its_columns_however_long_the_ids() {
    let out = stdout(&racelab(&["list"]));
    // Every variant row has its verdict (`bug: ...` or `pass`) starting at the same column.
    let columns: Vec<usize> = out
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| l.find(" bug: ").or_else(|| l.find(" pass ")).expect("a verdict on every variant row"))
        .collect();
    assert!(columns.len() > 40, "{out}");
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "verdict columns differ: {columns:?}\n{out}");
    let long =
        out.lines().find(|l| l.contains("condition-buffer/if-spurious")).expect("the longest id is listed");
    assert!(!long.contains("if-spurious bug"), "the longest id is followed by a gap: {long}");
}

#[test]
fn show_prints_the_python_and_on_request_the_rust_model() {
    let plain = stdout(&racelab(&["show", "condition-buffer"]));
    assert!(plain.contains("condition.notify_all()") && !plain.contains("condition.notify()"), "{plain}");
    assert!(!plain.contains("Rust"), "{plain}");
    let with_rust = racelab(&["show", "condition-buffer", "--rust"]);
    assert_eq!(with_rust.status.code(), Some(0));
    let text = stdout(&with_rust);
    assert!(text.contains("Rust (the model, from scenarios/src/catalog/condition.rs):"), "{text}");
    assert!(text.contains("fn buffer(guard: Guard, consumers: usize)"), "{text}");
    assert!(text.contains("program: || buffer(Guard::If, 2),"), "{text}");
    assert!(!text.contains("fn mixed("), "only this scenario's model: {text}");
    assert!(text.lines().all(|l| l == l.trim_end()), "no trailing spaces");
}

#[test]
fn a_set_that_raises_an_events_flag_is_not_told_as_a_lost_wakeup() {
    // timer-cancel's bug is a deadline race; its Timer's own finished.set() calls were starred as
    // lost wake-ups, which sent a student after the wrong bug (second outside trial). A set that
    // raises the flag loses nothing; one that finds it up loses an announcement only for a thread
    // that waits later (event-consumers' producer, starred still).
    let out = racelab(&["check", "timer-cancel/buggy", "--explain"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let starred: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("* step")).collect();
    assert!(starred.iter().all(|l| !l.contains("set()")), "{text}");
    assert!(
        text.contains("timer sets timer.finished with nobody waiting yet; the flag stays up until cleared.")
    );
    let out = racelab(&[
        "replay",
        "event-consumers/seed",
        "--schedule",
        "v1 t0 t1 t2 t3*7 t0*2 t1*5 #2b90eca6",
        "--explain",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(
        "* step   8  producer1 calls set() on event, which is already set: this set changes nothing"
    ));
}

#[test]
fn a_shard_that_finds_nothing_does_not_call_the_variant_not_as_expected() {
    // One shard of several decides nothing alone (an outside trial read "NOT AS EXPECTED" with
    // exit code 0 on a shard that got no runs): the bug may be in another shard's runs.
    let out =
        racelab(&["check", "lock-order/buggy", "--strategy", "random", "--runs", "1", "--shard", "1/2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("(expected bug: deadlock; one shard alone: merge every shard's --json output"),
        "{text}"
    );
    assert!(!text.contains("NOT AS EXPECTED"), "{text}");
}
