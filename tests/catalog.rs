//! The catalog, checked as the CLI checks it: every variant gets its expected verdict, every
//! buggy variant its expected diagnosis, and every failure replays from its schedule to the
//! same diagnosis and the same trace bytes.

use racelab::{check, replay, Config, Report};
use racelab_scenarios::{all, Expected, Scenario, Variant};

fn config_for(s: &Scenario, v: &Variant) -> Config {
    (v.configure)((s.default_config)())
}

#[test]
fn every_variant_gets_its_expected_verdict_and_failures_replay() {
    let mut checked = 0;
    for s in all() {
        for v in s.variants {
            let config = config_for(s, v);
            let report = check(config.clone(), v.program);
            let name = format!("{}/{}", s.id, v.name);
            match (v.expected, &report.failure) {
                (Expected::Pass, None) => {}
                (Expected::Pass, Some(f)) => {
                    panic!("{name} should pass but failed:\n{report}\n{}", f.diagnosis)
                }
                (Expected::Bug(kind), None) => panic!("{name} should find a {kind} bug:\n{report}"),
                (Expected::Bug(kind), Some(f)) => {
                    assert_eq!(f.diagnosis.kind.name(), kind, "{name}:\n{report}");
                    // The replay, with the same semantics, gives the same diagnosis and bytes.
                    let sem = config.semantics();
                    let replay_config = Config::replay(f.schedule.clone())
                        .spurious_wakeups(sem.spurious_wakeups)
                        .adversarial_wakeups(sem.adversarial_wakeups)
                        .fail_on_daemon_cut_off(sem.fail_on_daemon_cut_off);
                    let again = check(replay_config, v.program);
                    let g = again.failure.as_ref().unwrap_or_else(|| panic!("{name}: the replay passed"));
                    assert_eq!(g.diagnosis, f.diagnosis, "{name}");
                    assert_eq!(g.trace.to_string(), f.trace.to_string(), "{name}");
                    assert_eq!(g.kind, f.kind, "{name}");
                    // And `replay` with the default semantics reproduces it when those are the defaults.
                    if sem == Config::dfs().semantics() {
                        let plain = replay(&f.schedule, v.program);
                        assert_eq!(plain.failure.map(|p| p.trace), Some(f.trace.clone()), "{name}");
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "the catalog has {checked} variants");
}

#[test]
fn every_scenario_has_a_story_python_and_a_seed_source() {
    for s in all() {
        assert!(s.story.len() > 80, "{}: the story is too short", s.id);
        assert!(s.python.lines().count() >= 3, "{}: show the Python it models", s.id);
        assert!(s.source.contains("seed") || s.source.contains("classic bug"), "{}: name its source", s.id);
        assert!(
            s.variants.iter().any(|v| matches!(v.expected, Expected::Bug(_))),
            "{}: no buggy variant",
            s.id
        );
    }
}

/// `racelab show` prints the Python a scenario models: it must say what the model does. Every
/// call the model's failing run makes on a primitive (notify_all, set, clear, put, get...) is in
/// the Python, with the same name (the bug of issue 14: `notify()` shown where the model calls
/// `notify_all()`), and the Python is Python (no Rust leaking into it).
#[test]
fn the_python_shown_names_every_call_the_model_makes() {
    const CALLS: &[&str] = &[
        "notify",
        "notify_all",
        "set",
        "clear",
        "put",
        "get",
        "task_done",
        "terminate",
        "cancel",
        "release",
        "wait",
    ];
    for s in all() {
        for word in [".unwrap()", "let mut ", "::", "Some(", "vec!", "=> "] {
            assert!(!s.python.contains(word), "{}: Rust `{word}` in the Python", s.id);
        }
        let Some(v) = s.variants.iter().find(|v| matches!(v.expected, Expected::Bug(_))) else { continue };
        let report = check(config_for(s, v), v.program);
        let failure = report.failure.unwrap_or_else(|| panic!("{}/{} found no bug", s.id, v.name));
        for e in &failure.trace.events {
            let call = e.operation.as_str();
            // A `with lock:` block releases its lock without a `.release()` call.
            let by_with = call == "release" && s.python.contains("with ");
            if CALLS.contains(&call) && e.object.is_some() && !by_with {
                assert!(
                    s.python.contains(&format!(".{call}(")),
                    "{}: the model calls {call}() on {} (step {}) but the Python shown never does",
                    s.id,
                    e.object.as_deref().unwrap_or("-"),
                    e.step
                );
            }
        }
    }
}

#[test]
fn the_portfolio_finds_each_bug_at_the_earlier_of_its_two_halves() {
    // The portfolio runs DPOR's runs 0, 1, 2 ... as its runs 0, 2, 4 ... and POS's as 1, 3, 5
    // ..., so a bug DPOR alone finds in its run `d` and POS alone in its run `p` comes out in
    // run min(2d, 2p + 1): never later than twice the better half. Fixed variants still pass.
    let mut by_pos = 0;
    for s in all() {
        for v in s.variants {
            let name = format!("{}/{}", s.id, v.name);
            let with = |c: Config| (v.configure)(c).shrink(false).runs(4_000);
            let portfolio = check(with(Config::portfolio(0)), v.program);
            match v.expected {
                Expected::Pass => {
                    assert!(portfolio.failure.is_none(), "{name}: {portfolio}");
                }
                Expected::Bug(kind) => {
                    let f = portfolio.failure.as_ref().unwrap_or_else(|| panic!("{name}: {portfolio}"));
                    assert_eq!(f.diagnosis.kind.name(), kind, "{name}");
                    let dpor = check(with(Config::dfs()), v.program).failure.map(|f| 2 * f.run);
                    let pos = check(with(Config::pos(0)), v.program).failure.map(|f| 2 * f.run + 1);
                    let expected = dpor.into_iter().chain(pos).min();
                    assert_eq!(Some(f.run), expected, "{name}: dpor {dpor:?}, pos {pos:?}");
                    let half = if f.run % 2 == 0 { "dpor" } else { "pos" };
                    assert_eq!(f.found_by, Some(half), "{name}");
                    by_pos += usize::from(half == "pos");
                }
            }
        }
    }
    assert!(by_pos > 0, "no catalog bug was found first by the sampled half");
}

#[test]
fn the_portfolio_reports_the_same_whatever_its_jobs() {
    // With --jobs, DPOR's runs are made on one OS thread and POS's on the others; the report is
    // the one-job report: the same failure (the lowest failing run), the same counts, the same
    // verdict ("every interleaving explored" included), at the catalog's run limit and at small
    // odd and even limits that cut DPOR short.
    let strip = |mut r: Report| {
        r.elapsed_micros = 0;
        r.settings = r.settings.replace(" jobs=2", "").replace(" jobs=3", "");
        r
    };
    let mut exhausted = 0;
    for s in all() {
        for v in s.variants {
            let name = format!("{}/{}", s.id, v.name);
            for runs in [4_000, 7, 8] {
                let with =
                    |jobs: usize| (v.configure)(Config::portfolio(3)).shrink(false).runs(runs).jobs(jobs);
                let one = check(with(1), v.program);
                exhausted += usize::from(one.exhausted);
                for jobs in [2, 3] {
                    let many = check(with(jobs), v.program);
                    assert_eq!(strip(many), strip(one.clone()), "{name}, {runs} runs, {jobs} jobs");
                }
            }
        }
    }
    assert!(exhausted > 5, "too few explorations were exhausted to test the verdict: {exhausted}");
}

#[test]
fn pct_reports_the_same_whatever_its_jobs() {
    // With --jobs, PCT's jobs make runs ahead with the run length known so far, and the calling
    // thread makes again, in order, those made with another: the one-job report (failure traced
    // and shrunk, counts, restart), at the catalog's limits and with seeds whose runs grow.
    let mut failures = 0;
    for s in all() {
        for v in s.variants {
            let name = format!("{}/{}", s.id, v.name);
            for (seed, depth) in [(0, 3), (5, 2)] {
                let with = |jobs: usize| (v.configure)(Config::pct(seed, depth)).runs(3_000).jobs(jobs);
                let one = check(with(1), v.program);
                failures += usize::from(one.failure.is_some());
                let mut two = check(with(2), v.program);
                two.settings = two.settings.replace(" jobs=2", "");
                two.elapsed_micros = one.elapsed_micros;
                if shrinking_ran_out_of_time(&one) || shrinking_ran_out_of_time(&two) {
                    // Shrinking's wall-time budget (10 s) ends where the machine's load says: on
                    // a loaded machine one side may stop earlier. The run found must agree.
                    let found = |r: &Report| {
                        let f = r.failure.as_ref()?;
                        Some((f.diagnosis.kind, f.shrunk_from.as_ref().map_or(f.run, |s| s.run), r.runs))
                    };
                    assert_eq!(found(&two), found(&one), "{name}, seed {seed}, depth {depth}");
                    continue;
                }
                assert_eq!(two, one, "{name}, seed {seed}, depth {depth}");
            }
        }
    }
    assert!(failures > 20, "too few failures to compare: {failures}");
}

/// True when the shrinking of `report`'s failure stopped at its wall-time budget.
fn shrinking_ran_out_of_time(report: &Report) -> bool {
    report
        .failure
        .as_ref()
        .and_then(|f| f.shrink_cut_short.as_deref())
        .is_some_and(|why| why.contains("time budget"))
}

#[test]
fn dpor_reports_the_same_whatever_its_jobs() {
    // With --jobs, other jobs explore subtrees ahead of the main search, which adopts them in
    // its own order: the same report (failure, counts, verdict), at a run limit most searches
    // finish within and at small limits that stop inside an adopted subtree (tests/dpor.rs
    // compares shrunk failures on random programs).
    let mut failures = 0;
    for s in all() {
        for v in s.variants {
            let name = format!("{}/{}", s.id, v.name);
            for runs in [600, 40, 41] {
                let with = |jobs: usize| (v.configure)(Config::dfs()).shrink(false).runs(runs).jobs(jobs);
                let one = check(with(1), v.program);
                failures += usize::from(one.failure.is_some());
                for jobs in [2, 3] {
                    let mut many = check(with(jobs), v.program);
                    many.settings = many.settings.replace(&format!(" jobs={jobs}"), "");
                    many.elapsed_micros = one.elapsed_micros;
                    assert_eq!(many, one, "{name}, {runs} runs, {jobs} jobs");
                }
            }
        }
    }
    assert!(failures > 10, "too few failures to compare: {failures}");
}
