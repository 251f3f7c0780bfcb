//! `model(|| ..)`: defaults (DPOR when it finishes, PCT otherwise), the environment variables,
//! the failure message with its replay lines, and checks from several OS threads at once.

use std::collections::BTreeMap;
use std::time::Duration;

use racelab_primitives::Shared;
use racelab_sim::{replay, Semantics};
use racelab_std::model::{Model, DEFAULT_RUNS};
use racelab_std::{model, thread};

fn lost_update() {
    let counter = Shared::named("counter", 0u64);
    let ws: Vec<_> = (0..2)
        .map(|_| {
            thread::spawn(move || {
                let v = counter.load();
                counter.store(v + 1);
            })
        })
        .collect();
    for w in ws {
        w.join().unwrap();
    }
    assert_eq!(counter.load(), 2, "lost update");
}

fn correct_counter() {
    let counter = Shared::named("counter", 0u64);
    let ws: Vec<_> = (0..2).map(|_| thread::spawn(move || counter.update(|c| *c += 1))).collect();
    for w in ws {
        w.join().unwrap();
    }
    assert_eq!(counter.load(), 2);
}

/// Many interleavings, no bug: too many for a small run cap.
fn many_interleavings() {
    let counter = Shared::new(0u64);
    let ws: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..3 {
                    counter.update(|c| *c += 1);
                }
            })
        })
        .collect();
    for w in ws {
        w.join().unwrap();
    }
    assert_eq!(counter.load(), 12);
}

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Result<Option<String>, String> {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| Ok(map.get(name).cloned())
}

#[test]
fn a_small_program_is_proved_by_the_portfolio() {
    let report = Model::new().check(correct_counter);
    assert!(report.passed() && report.exhausted, "{report}");
    assert!(report.settings.starts_with("strategy=portfolio seed=0"), "{report}");
    assert!(report.settings.contains(&format!("runs={DEFAULT_RUNS}")), "{}", report.settings);
    model(correct_counter);
}

#[test]
fn a_search_that_cannot_finish_says_it_is_not_a_proof() {
    let report = Model::new().runs(5).check(many_interleavings);
    assert!(report.passed() && !report.exhausted, "{report}");
    assert_eq!(report.runs, 5);
    assert!(
        report.to_string().contains("not exhaustive: the exploration stopped at its run limit"),
        "{report}"
    );
    let config = Model::new().config();
    assert_eq!(config.max_runs(), DEFAULT_RUNS);
    assert_eq!(config.time_limit(), Some(Duration::from_secs(10)));
}

#[test]
fn a_failure_says_which_half_of_the_portfolio_found_it() {
    // DPOR makes the even runs, POS the odd ones: the report names the half of the failing run.
    for seed in 0..8 {
        let report = Model::new().seed(seed).check(lost_update);
        let failure = report.failure.expect("found");
        let expected = if failure.run % 2 == 0 { "dpor" } else { "pos" };
        assert_eq!(failure.found_by, Some(expected), "seed {seed}, run {}", failure.run);
    }
}

#[test]
fn a_failure_panics_with_the_report_and_both_replay_lines() {
    let payload = std::panic::catch_unwind(|| model(lost_update)).unwrap_err();
    let message = payload.downcast_ref::<String>().expect("a formatted message");
    assert!(message.starts_with("racelab::model found a bug (lost-update):\n"), "{message}");
    assert!(message.contains("settings: strategy=portfolio") && message.contains("lost update"), "{message}");
    let rust =
        message.lines().find(|l| l.starts_with("replay in Rust: racelab::replay(&\"v1 ")).expect(message);
    assert!(rust.ends_with("\".parse().unwrap(), program).assert_passed()"), "{rust}");
    let last = message.lines().last().unwrap();
    assert!(
        last.starts_with("replay this test: RACELAB_SCHEDULE=\"v1 ")
            && last
                .ends_with("\" cargo test a_failure_panics_with_the_report_and_both_replay_lines -- --exact"),
        "{last}"
    );
    // The pasted schedule replays the failure.
    let schedule = rust.split('"').nth(1).unwrap();
    let again = replay(&schedule.parse().unwrap(), lost_update);
    assert!(again.failure.is_some_and(|f| f.kind.name() == "panic"));
    // The replay as model runs it from RACELAB_SCHEDULE.
    let m = Model::from_vars(vars(&[("RACELAB_SCHEDULE", schedule)])).unwrap();
    let report = m.check(lost_update);
    assert!(report.settings.starts_with("strategy=replay"), "{}", report.settings);
    let text = m.failure_message(&report).unwrap();
    assert!(text.contains(&format!("environment: RACELAB_SCHEDULE={schedule}\n")), "{text}");
}

#[test]
fn environment_variables_set_the_settings_and_are_echoed() {
    let m =
        Model::from_vars(vars(&[("RACELAB_SEED", "7"), ("RACELAB_RUNS", "12"), ("RACELAB_MAX_TIME", "0.5")]))
            .unwrap();
    let config = m.config().to_string();
    assert!(
        config.contains("strategy=portfolio seed=7")
            && config.contains("runs=12 ")
            && config.contains("max-time=0.5s"),
        "{config}"
    );
    let report = m.check(lost_update);
    let text = m.failure_message(&report).expect("found");
    assert!(text.contains("environment: RACELAB_SEED=7 RACELAB_RUNS=12 RACELAB_MAX_TIME=0.5\n"), "{text}");
    assert_eq!(Model::from_vars(vars(&[])).unwrap(), Model::new());
    // Jobs change the wall time only: the same failure, the same counts.
    let two = Model::from_vars(vars(&[("RACELAB_JOBS", "2")])).unwrap();
    assert!(two.config().to_string().contains(" jobs=2 "), "{}", two.config());
    let (mut one, mut two) = (Model::new().check(lost_update), two.check(lost_update));
    (one.elapsed_micros, two.elapsed_micros) = (0, 0);
    two.settings = two.settings.replace(" jobs=2", "");
    assert!(one.failure.is_some());
    assert_eq!(one, two);
}

#[test]
fn a_bad_environment_value_is_a_clear_error_never_a_default() {
    let cases = [
        ("RACELAB_SEED", "-1", "racelab: RACELAB_SEED=\"-1\" is not a seed"),
        ("RACELAB_SEED", "", "racelab: RACELAB_SEED=\"\" is not a seed"),
        (
            "RACELAB_RUNS",
            "0",
            "racelab: RACELAB_RUNS=\"0\" is not a number of runs: a whole number, at least 1",
        ),
        ("RACELAB_RUNS", "lots", "is not a number of runs"),
        (
            "RACELAB_MAX_TIME",
            "10m",
            "racelab: RACELAB_MAX_TIME=\"10m\" is not a time budget: seconds above 0",
        ),
        ("RACELAB_MAX_TIME", "0", "is not a time budget"),
        ("RACELAB_MAX_TIME", "NaN", "is not a time budget"),
        // Below a nanosecond: a budget of 0, which stopped before the first run and was reported
        // as a bug found (`invalid-config`).
        ("RACELAB_MAX_TIME", "0.0000000001", "is not a time budget"),
        (
            "RACELAB_JOBS",
            "0",
            "racelab: RACELAB_JOBS=\"0\" is not a number of jobs: a whole number from 1 to 256",
        ),
        ("RACELAB_JOBS", "257", "is not a number of jobs"),
        ("RACELAB_SCHEDULE", "t1 t0", "is not a schedule (malformed schedule: token 1 `t1`"),
    ];
    for (name, value, expected) in cases {
        let e = Model::from_vars(vars(&[(name, value)])).unwrap_err();
        assert!(e.contains(expected) && e.ends_with("fix or unset it"), "{name}={value}: {e}");
    }
}

/// Also the child of the test below: run alone with a bad `RACELAB_RUNS`, it must fail.
#[test]
fn model_checks_a_correct_program_from_the_environment() {
    model(correct_counter);
}

#[test]
fn a_bad_environment_variable_fails_the_test_that_calls_model() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "model_checks_a_correct_program_from_the_environment",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RACELAB_RUNS", "abc")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("racelab: RACELAB_RUNS=\"abc\" is not a number of runs: a whole number, at least 1; fix or unset it"),
        "{stderr}"
    );
    assert!(stdout.contains("1 failed"), "{stdout}");
}

#[test]
fn several_os_threads_run_checks_at_once() {
    let reports: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                s.spawn(move || {
                    if i % 2 == 0 {
                        Model::new().check(lost_update)
                    } else {
                        Model::new().check(correct_counter)
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failing: Vec<_> =
        reports.iter().step_by(2).map(|r| r.failure.as_ref().expect("found").schedule.clone()).collect();
    assert_eq!(failing[0], failing[1], "the same check gives the same failure on any OS thread");
    assert!(reports.iter().skip(1).step_by(2).all(|r| r.passed() && r.exhausted));
    assert_eq!(Model::new().semantics(Semantics::DEFAULT), Model::new());
}

#[test]
fn the_printed_rust_line_compiles_and_replays() {
    let payload = std::panic::catch_unwind(|| Model::new().run(lost_update)).unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    // The line `model` printed for `lost_update`, pasted as it is (with `lost_update` as the
    // program):
    let report = racelab_sim::replay(&"v1 t1 t2*2 t1 #1308ffb7".parse().unwrap(), lost_update);
    assert!(
        message.contains(&format!("racelab::replay(&\"{}\"", report.failure.as_ref().unwrap().schedule)),
        "{message}"
    );
    assert!(report.replay_differs.is_none() && report.failure.unwrap().kind.name() == "panic");
}

#[test]
fn a_model_of_zero_runs_is_refused_as_racelab_runs_0_is() {
    // It was raised to 1 run and passed.
    let report = Model::new().runs(0).check(|| {});
    let failure = report.failure.expect("refused");
    assert_eq!(failure.kind.name(), "invalid-config");
    assert!(failure.kind.to_string().contains("runs(0) checks nothing"), "{}", failure.kind);
    let panicked = std::panic::catch_unwind(|| Model::new().runs(0).run(|| {}));
    assert!(panicked.is_err(), "Model::run panics with the refusal");
    // So are a zero time limit ("passed: 0 runs") and zero jobs (raised to 1).
    for (model, expected) in [
        (Model::new().max_time(std::time::Duration::ZERO), "max_time(0) stops before the first run"),
        (Model::new().jobs(0), "0 jobs is out of range"),
    ] {
        let failure = model.check(|| {}).failure.expect("refused");
        assert!(failure.kind.to_string().contains(expected), "{}", failure.kind);
    }
}
