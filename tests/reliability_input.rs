//! No input crashes or hangs racelab: each case here once aborted, hung, allocated gigabytes,
//! exited 2 with nothing said, or printed a wrong result. Each now gets one `racelab: ...` line
//! and exit 2, or a right answer.

use std::process::{Command, Output};
use std::time::Duration;

fn racelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_racelab")).args(args).output().expect("racelab runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts one `racelab: ` line on stderr containing `expected`, exit 2, nothing on stdout.
#[track_caller]
fn refused(args: &[&str], expected: &str) {
    let out = racelab(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.starts_with("racelab: ") && err.contains(expected), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert_eq!(stdout(&out), "", "{args:?}: nothing runs, nothing is printed");
}

#[test]
fn a_schedule_is_capped_in_total_not_per_token() {
    // 240 bytes that used to expand to 200 million decisions (1.6 GB) and abort.
    let schedule = format!("v1{}", " t0*10000000".repeat(20));
    refused(
        &["replay", "counter/buggy", "--schedule", &schedule],
        "malformed schedule: token 3 `t0*10000000`: the schedule would hold more than 10000000 decisions in all",
    );
}

#[test]
fn jobs_and_shards_are_refused_where_the_report_would_depend_on_them() {
    refused(
        &["check", "counter/buggy", "--strategy", "dfs", "--no-dpor", "--jobs", "2"],
        "--jobs applies to --strategy random, pos, pct, portfolio (the default) and dfs: dfs on several jobs needs \
         DPOR and no bound (the bounded and plain searches run on one thread)",
    );
    refused(
        &["check", "counter/buggy", "--strategy", "dfs", "--preemption-bound", "1", "--jobs", "2"],
        "dfs on several jobs needs DPOR and no bound",
    );
    refused(
        &["check", "counter/buggy", "--shard", "0/2"],
        "--shard applies to --strategy random, pos and dfs (pct's and the portfolio's runs depend on the runs \
         before them)",
    );
    refused(
        &["check", "counter/buggy", "--strategy", "dfs", "--preemption-bound", "1", "--shard", "0/2"],
        "--shard splits a dfs with DPOR and no bound: drop --preemption-bound, --delay-bound or --no-dpor",
    );
    refused(
        &["check", "counter/buggy", "--strategy", "dfs", "--no-dpor", "--shard", "0/2"],
        "--shard splits a dfs with DPOR and no bound",
    );
    refused(
        &["check", "counter/buggy", "--strategy", "dfs", "--jobs", "2", "--shard", "1/2"],
        "--shard with --strategy dfs runs on one job: run more shards instead of --jobs",
    );
}

/// The library refuses what the CLI refuses, as an `invalid-config` failure with no run.
#[test]
fn config_validate_refuses_shards_that_cannot_be() {
    use racelab::{check, Config};
    let cases = [
        (Config::random(0).shard(2, 2), "shard 2 of 2 does not exist"),
        (Config::random(0).shard(0, 0), "shard 0 of 0 does not exist"),
        (Config::pct(0, 3).shard(0, 2), "pct and the portfolio cannot be split into shards"),
        (Config::portfolio(0).shard(1, 2), "pct and the portfolio cannot be split into shards"),
        (
            Config::dfs().preemption_bound(1).shard(0, 2),
            "only an unbounded dfs with DPOR is split into shards",
        ),
        (Config::dfs().dpor(false).shard(0, 2), "only an unbounded dfs with DPOR is split into shards"),
        (Config::dfs().jobs(2).shard(0, 2), "a sharded dfs runs on one job"),
        // It passed, "no bug found in 0 runs".
        (Config::random(0).runs(0), "runs(0) checks nothing"),
        (Config::dfs().runs(0), "runs(0) checks nothing"),
        // These passed too: "0 runs" for a zero time limit; jobs and depth were raised to 1
        // where the CLI refuses them.
        (Config::random(0).max_time(Duration::ZERO), "max_time(0) stops before the first run"),
        (Config::random(0).jobs(0), "0 jobs is out of range: from 1 to 256"),
        (Config::random(0).jobs(257), "257 jobs is out of range"),
        (Config::pct(0, 0), "pct depth 0 has no meaning"),
    ];
    for (config, expected) in cases {
        let err = config.validate().expect_err(expected);
        assert!(err.to_string().contains(expected), "{err}");
        let report = check(config, || {});
        assert_eq!(report.runs, 0);
        assert_eq!(report.failure.map(|f| f.kind.name()), Some("invalid-config"));
    }
    assert!(Config::dfs().shard(1, 2).validate().is_ok());
    assert!(Config::random(0).shard(0, 1).validate().is_ok());
}

#[test]
fn jobs_are_capped() {
    for jobs in ["100000", "257", "18446744073709551615", "0"] {
        refused(
            &["check", "counter/buggy", "--strategy", "random", "--jobs", jobs],
            &format!("--jobs must be from 1 to 256, got {jobs}"),
        );
        // The range is what is wrong, whatever the strategy.
        refused(
            &["check", "counter/buggy", "--jobs", jobs],
            &format!("--jobs must be from 1 to 256, got {jobs}"),
        );
    }
}

#[test]
fn explain_and_json_are_refused_together() {
    for command in
        [&["check", "counter/buggy"][..], &["replay", "counter/buggy", "--seed", "1", "--run", "0"]]
    {
        let mut args = command.to_vec();
        args.extend(["--json", "--explain"]);
        refused(&args, "--explain prints sentences and --json prints JSON lines: choose one");
    }
}

/// The verdict line and the coverage line's run count of a single-target `check`.
fn verdict_and_runs(out: &Output) -> (String, String) {
    let text = stdout(out);
    let verdict = text.lines().nth(1).unwrap_or("").trim().to_string();
    let runs = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("coverage: "))
        .and_then(|c| c.split(',').next())
        .unwrap_or("")
        .to_string();
    (verdict, runs)
}

#[test]
fn huge_shard_counts_neither_hang_nor_miscount() {
    // The stride jobs × shards wrapped to 0: the same run forever.
    let out = racelab(&[
        "check",
        "counter/locked",
        "--strategy",
        "random",
        "--jobs",
        "2",
        "--shard",
        "0/9223372036854775808",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        verdict_and_runs(&out),
        (
            "no bug found in 1 run (sampled, not exhaustive) (expected pass; as expected)".into(),
            "1 run".into()
        )
    );
    // The shard holds run 1 only; three jobs used to report 25 runs.
    let out = racelab(&[
        "check",
        "counter/locked",
        "--strategy",
        "random",
        "--jobs",
        "3",
        "--shard",
        "1/6148914691236517206",
        "--runs",
        "50",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(verdict_and_runs(&out).1, "1 run");
    // The largest shard index: run u64::MAX - 1 is past the 1000-run limit, so nothing runs.
    let out = racelab(&[
        "check",
        "counter/locked",
        "--strategy",
        "random",
        "--jobs",
        "2",
        "--shard",
        "18446744073709551614/18446744073709551615",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(verdict_and_runs(&out).1, "0 runs");
}

#[test]
fn the_run_counts_do_not_depend_on_jobs() {
    let coverage = |jobs: &str| {
        let out = racelab(&[
            "check",
            "counter/buggy",
            "--strategy",
            "random",
            "--seed",
            "3",
            "--runs",
            "400",
            "--no-shrink",
            "--jobs",
            jobs,
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let text = stdout(&out);
        let line =
            text.lines().find_map(|l| l.trim().strip_prefix("coverage: ")).expect("coverage").to_string();
        // Runs and steps; the wall time after `;` differs.
        line.split(';').next().unwrap_or("").to_string()
    };
    let one = coverage("1");
    for jobs in ["2", "3"] {
        assert_eq!(coverage(jobs), one, "--jobs {jobs}");
    }
}

#[test]
fn replaying_a_run_past_the_end_of_the_exploration_says_so() {
    // The exploration runs (its command is printed first, before the runs), then the error.
    for (run, expected) in [
        ("1000", "the exploration ended after 60 runs, having explored everything; run 1000 does not exist"),
        ("18446744073709551614", "run 18446744073709551614 does not exist"),
    ] {
        let out = racelab(&["replay", "counter/locked", "--strategy", "dfs", "--run", run]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.starts_with("racelab: ") && err.contains(expected) && err.lines().count() == 1, "{err}");
        assert_eq!(stdout(&out), format!("racelab replay counter/locked --strategy dfs --run {run}\n"));
    }
    refused(
        &["replay", "counter/locked", "--strategy", "dfs", "--run", "18446744073709551615"],
        "--run must be below 18446744073709551615",
    );
}

#[test]
fn an_html_page_into_a_missing_directory_is_refused_before_the_check() {
    // It used to run the whole check, print the bug, and then exit 2 for the page.
    refused(
        &["check", "counter/buggy", "--html", "/nonexistent/page.html"],
        "--html /nonexistent/page.html: the directory /nonexistent does not exist",
    );
    refused(
        &["replay", "counter/buggy", "--seed", "0", "--run", "0", "--html", "."],
        "--html .: is a directory",
    );
}

#[test]
fn merge_refuses_devices_and_directories_before_reading_them() {
    // `/dev/zero` used to be read until the OS killed racelab for its memory.
    refused(&["merge", "/dev/zero"], "cannot read /dev/zero: not a file of check --json output");
    refused(&["merge", "."], "cannot read .: not a file of check --json output");
}

#[test]
fn replay_refuses_jobs_and_shards() {
    for extra in [&["--jobs", "2"], &["--shard", "0/2"]] {
        let mut args = vec!["replay", "lock-order/buggy", "--seed", "3", "--run", "0"];
        args.extend_from_slice(extra);
        refused(&args, "replay shows one run: --jobs and --shard apply to check only");
    }
}

#[test]
fn replay_by_schedule_refuses_what_it_would_ignore() {
    let base = ["replay", "lock-order/buggy", "--schedule", "v1 t0 t1 t2"];
    refused(&[&base[..], &["--max-steps", "0"]].concat(), "--max-steps must be at least 1");
    for (flags, named) in [
        (&["--preemption-bound", "1"][..], "drop --preemption-bound"),
        (&["--depth", "2"], "drop --depth"),
        (&["--dpor"], "drop --dpor"),
        (&["--delay-bound", "1", "--no-dpor"], "drop --delay-bound, --no-dpor"),
        (&["--no-shrink"], "drop --no-shrink"),
        // The schedule says whether its run had release points (release-points=off, or none: on).
        (&["--release-points", "off"], "drop --release-points"),
    ] {
        refused(&[&base[..], flags].concat(), named);
    }
}

#[test]
fn a_bound_without_strategy_dfs_is_refused_not_ignored() {
    // Without --strategy the scenario's default (the portfolio, or random) runs; it takes no
    // bound, and a bound silently dropped would change the verdict under the user's feet.
    for flag in ["--preemption-bound", "--delay-bound"] {
        refused(
            &["check", "lock-order/buggy", flag, "0"],
            &format!("{flag} bounds an exhaustive search: add --strategy dfs"),
        );
        refused(
            &["replay", "counter/buggy", flag, "1", "--run", "0"],
            &format!("{flag} bounds an exhaustive search"),
        );
        refused(
            &["check", "counter/buggy", "--strategy", "random", flag, "1"],
            &format!("{flag} applies only to --strategy dfs"),
        );
    }
}

#[test]
fn a_schedule_longer_than_its_run_is_reported_not_cut() {
    refused(
        &["replay", "lock-order/buggy", "--schedule", "v1 t0 t1 t2 t1 t2 t0"],
        "the schedule does not fit lock-order/buggy: the run ended with a deadlock at step 3, but the schedule \
         goes on: 3 decisions unused from decision 4 (`t1 t2 t0`)",
    );
    // A long tail is quoted in the schedule's own tokens (it said `t1*10 ...` for `t1*37`).
    refused(
        &["replay", "lock-order/buggy", "--schedule", "v1 t0 t1 t2 t1*37 t0"],
        "38 decisions unused from decision 4 (`t1*37 t0`)",
    );
    // The schedule check prints is exactly as long as its run.
    let out = racelab(&["replay", "lock-order/buggy", "--schedule", "v1 t0 t1 t2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn typos_in_values_get_the_nearest_value_and_the_list() {
    refused(
        &["check", "counter", "--strategy", "dsf"],
        "invalid value `dsf` for --strategy: did you mean `dfs`? its values are: random, pct, pos, dfs",
    );
    refused(
        &["check", "counter", "--strategy", "xyzzy"],
        "invalid value `xyzzy` for --strategy: its values are: random, pct, pos, dfs",
    );
}

#[test]
fn negative_and_fractional_numbers_say_the_range() {
    for (flag, value, min, max) in [
        ("--seed", "-1", "0", "18446744073709551615"),
        ("--runs", "-5", "1", "18446744073709551615"),
        ("--runs", "0", "1", "18446744073709551615"),
        ("--seed", "1.5", "0", "18446744073709551615"),
        ("--depth", "-3", "0", "4294967295"),
        ("--max-steps", "99999999999999999999", "0", "18446744073709551615"),
    ] {
        let out = racelab(&["check", "counter", flag, value]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(&format!("invalid value '{value}' for '{flag}")), "{err}");
        assert!(err.contains(&format!("expected a whole number from {min} to {max}")), "{err}");
        assert!(!err.contains("-- "), "no advice to pass `-- {value}`, which fails: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// The JSON objects printed, one per line.
fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out).lines().map(|l| serde_json::from_str(l).expect("each line is a JSON object")).collect()
}

#[test]
fn check_and_replay_print_one_json_shape() {
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let check = racelab(&["check", "lock-order/buggy", "--json"]);
    assert_eq!(check.status.code(), Some(1));
    let checked = json_lines(&check);
    assert_eq!(checked.len(), 1, "one target, one object");
    let c = &checked[0];
    assert_eq!(keys(c), ["as_expected", "expected", "replay", "report", "target"]);
    assert_eq!((&c["target"], &c["as_expected"]), (&"lock-order/buggy".into(), &true.into()));
    assert_eq!(c["report"]["settings"]["strategy"], "portfolio");
    assert_eq!(c["report"]["settings"]["seed"], 0);
    assert_eq!(c["report"]["failure"]["found_by"], "dpor");
    assert_eq!(c["report"]["settings"]["max_steps"], 100_000);

    let replay_line = c["replay"].as_str().expect("a replay command");
    let schedule = replay_line.split('"').nth(1).expect("a quoted schedule");
    let replay = racelab(&["replay", "lock-order/buggy", "--schedule", schedule, "--json"]);
    assert_eq!(replay.status.code(), Some(1));
    let replayed = json_lines(&replay);
    assert_eq!(replayed.len(), 1);
    let r = &replayed[0];
    assert_eq!(keys(r), keys(c));
    assert_eq!(r["report"]["settings"]["strategy"], "replay");
    assert_eq!(r["report"]["settings"]["schedule"], schedule);
    assert_eq!(r["report"]["failure"]["trace"], c["report"]["failure"]["trace"]);
    assert_eq!(r["replay"], c["replay"]);

    let many = racelab(&["check", "lock-order", "--json"]);
    assert_eq!(many.status.code(), Some(0));
    let targets: Vec<_> =
        json_lines(&many).iter().map(|v| v["target"].as_str().unwrap().to_string()).collect();
    assert_eq!(targets, ["lock-order/buggy", "lock-order/fixed"]);
}

mod end_to_end {
    //! The whole binary on generated arguments whose work is bounded (few runs, few steps):
    //! whatever it is asked, it exits 0, 1 or 2, and on 2 says one `racelab:` line.

    use super::*;
    use proptest::prelude::*;

    fn small() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (0u32..30).prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec!["-1", "1.5", "", "18446744073709551615", "4294967296", "257"])
                .prop_map(String::from),
        ]
    }

    fn flags() -> impl Strategy<Value = Vec<String>> {
        let one = prop_oneof![
            (prop::sample::select(vec!["random", "pct", "dfs", "dsf"]))
                .prop_map(|s| vec!["--strategy".into(), s.into()]),
            any::<u64>().prop_map(|s| vec!["--seed".to_string(), s.to_string()]),
            small().prop_map(|n| vec!["--depth".to_string(), n]),
            small().prop_map(|n| vec!["--preemption-bound".to_string(), n]),
            small().prop_map(|n| vec!["--delay-bound".to_string(), n]),
            small().prop_map(|n| vec!["--spurious-wakeups".to_string(), n]),
            (1u32..4).prop_map(|n| vec!["--jobs".to_string(), n.to_string()]),
            prop::sample::select(vec!["auto", "on", "off"])
                .prop_map(|m| vec!["--release-points".to_string(), m.to_string()]),
            (small(), small()).prop_map(|(k, n)| vec!["--shard".to_string(), format!("{k}/{n}")]),
            prop::sample::select(vec![
                "--no-shrink",
                "--no-dpor",
                "--dpor",
                "--adversarial-wakeups",
                "--json"
            ])
            .prop_map(|f| vec![f.to_string()]),
        ];
        prop::collection::vec(one, 0..3).prop_map(|f| f.into_iter().flatten().collect())
    }

    fn target() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "counter/buggy",
            "counter/locked",
            "lock-order/buggy",
            "lock-order/fixed",
            "semaphore-pool/extra-release",
            "semaphore-pool/bounded",
            "event-consumers/seed",
            "event-consumers/queue",
        ])
    }

    /// `check` with at most 30 runs of at most 10,000 steps, or `replay` of run < 30 or of a
    /// schedule.
    fn argv() -> impl Strategy<Value = Vec<String>> {
        let check = (target(), flags(), 1u32..30, 1u32..10_000).prop_map(|(t, f, runs, steps)| {
            let mut a = vec!["check".to_string(), t.to_string(), "--runs".into(), runs.to_string()];
            a.extend(["--max-steps".to_string(), steps.to_string()]);
            a.extend(f);
            a
        });
        // A replay re-runs the exploration up to run N: keep N small (a valid `--run 4294967296`
        // is 4 billion runs), with the malformed values that are refused at once.
        let run = prop_oneof![
            4 => (0u32..30).prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec!["-1", "1.5", "", "18446744073709551615"]).prop_map(String::from),
        ];
        let replay_run = (target(), flags(), run).prop_map(|(t, f, run)| {
            let mut a = vec!["replay".to_string(), t.to_string(), "--run".into(), run];
            a.extend(["--max-steps".to_string(), "10000".to_string()]);
            a.extend(f);
            a
        });
        let schedule =
            prop::collection::vec((prop::sample::select(vec!["t", "w", "s", "r", "o"]), 0u32..4), 0..12)
                .prop_map(|ts| {
                    std::iter::once("v1".to_string())
                        .chain(ts.iter().map(|(l, v)| format!("{l}{v}")))
                        .collect::<Vec<_>>()
                        .join(" ")
                });
        let replay_schedule =
            (target(), schedule, prop::option::of(Just("--json"))).prop_map(|(t, s, json)| {
                let mut a = vec!["replay".to_string(), t.to_string(), "--schedule".into(), s];
                a.extend(json.map(String::from));
                a
            });
        prop_oneof![check, replay_run, replay_schedule]
    }

    proptest! {
        // A fixed seed: CI runs the same 64 command lines every time.
        #![proptest_config(ProptestConfig {
            cases: 64,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_2026),
            ..ProptestConfig::default()
        })]

        #[test]
        fn every_exit_is_0_1_or_2(args in argv()) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = racelab(&args);
            let err = stderr(&out);
            prop_assert!(matches!(out.status.code(), Some(0..=2)), "{args:?}: {:?} {err}", out.status);
            prop_assert!(!err.contains("panicked"), "{args:?}: {err}");
            if out.status.code() == Some(2) {
                prop_assert!(err.starts_with("racelab: ") && err.lines().count() == 1, "{args:?}: {err}");
            } else {
                prop_assert!(err.is_empty(), "{args:?}: {err}");
            }
        }
    }
}

#[test]
fn show_with_a_variant_and_replay_with_a_time_budget_say_what_to_do() {
    let out = racelab(&["show", "counter/buggy"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "racelab: `counter/buggy` names a variant; show takes a scenario: racelab show counter (it shows every variant)\n"
    );
    for args in [
        &["replay", "counter/atomic", "--seed", "1", "--run", "30", "--max-time", "1"][..],
        &["replay", "counter/buggy", "--schedule", "v1 t1", "--max-time", "1"][..],
    ] {
        let out = racelab(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).starts_with("racelab: replay shows one run: --max-time applies to check only"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_flag_without_its_value_says_the_value_is_missing() {
    // It printed "invalid value `` for --seed: its values are:  (see ...)", an empty list.
    for flag in ["--seed", "--shard", "--html", "--strategy"] {
        refused(&["check", "condition-buffer/if", flag], &format!("{flag} needs a value"));
    }
    refused(&["replay", "condition-buffer/if", "--schedule"], "--schedule needs a value");
    refused(&["merge", ""], "an empty FILES argument");
}

#[test]
fn a_closed_standard_error_keeps_the_exit_code() {
    // An error written to a closed pipe panicked with exit code 101.
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_racelab"))
        .args(["replay", "condition-buffer/if", "--schedule", "v1 t99"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("racelab starts");
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(2));
}
