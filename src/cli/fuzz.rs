//! Fuzzing the arguments-to-plan step with proptest (a bounded number of cases, run by
//! `cargo test`): whatever the arguments, `plan_or_exit` returns a plan or exit code 0 or 2,
//! never panics, and every plan it returns is one the engine accepts (`Config::validate`), so
//! running it cannot fail on a setting. `PROPTEST_CASES` raises the case count.

use proptest::prelude::*;
use racelab_sim::schedule::MAX_DECISIONS;
use racelab_sim::StrategyConfig;

use super::plan::Plan;
use super::{plan_or_exit, EXIT_OK, EXIT_USAGE};

/// Numbers as a user (or a typo) writes them, with the edges of every integer type.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0u32..6).prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        4 => prop::sample::select(vec![
            "-1", "255", "256", "257", "100000", "4294967295", "4294967296", "9223372036854775808",
            "18446744073709551614", "18446744073709551615", "18446744073709551616", "1.5", "", "abc",
            " 7", "+1", "0x10",
        ])
        .prop_map(String::from),
    ]
}

fn shard() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (number(), number()).prop_map(|(k, n)| format!("{k}/{n}")),
        1 => prop::sample::select(vec!["", "/", "1", "0/0", "1/1/2", "-1/2", "a/b"]).prop_map(String::from),
    ]
}

fn schedule() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        8 => (prop::sample::select(vec!["t", "w", "o", "s", "r", "x"]), 0u32..4).prop_map(|(l, v)| format!("{l}{v}")),
        2 => ((0u32..4), number()).prop_map(|(v, r)| format!("t{v}*{r}")),
        1 => "\\PC{0,8}",
    ];
    (prop::sample::select(vec!["v1", "v1", "v1", "v2", ""]), prop::collection::vec(token, 0..12))
        .prop_map(|(v, ts)| std::iter::once(v.to_string()).chain(ts).collect::<Vec<_>>().join(" "))
}

/// One flag and its value(s), as separate arguments.
fn flag() -> impl Strategy<Value = Vec<String>> {
    let valued =
        |name: &'static str, value: BoxedStrategy<String>| value.prop_map(move |v| vec![name.to_string(), v]);
    let strategy = prop::sample::select(vec!["random", "pct", "dfs", "dsf", "", "RANDOM", "replay"])
        .prop_map(String::from)
        .boxed();
    prop_oneof![
        valued("--strategy", strategy),
        valued("--seed", number().boxed()),
        valued("--runs", number().boxed()),
        valued("--depth", number().boxed()),
        valued("--preemption-bound", number().boxed()),
        valued("--delay-bound", number().boxed()),
        valued("--max-steps", number().boxed()),
        valued("--spurious-wakeups", number().boxed()),
        valued("--jobs", number().boxed()),
        valued("--shard", shard().boxed()),
        valued("--run", number().boxed()),
        valued("--schedule", schedule().boxed()),
        valued(
            "--release-points",
            prop::sample::select(vec!["auto", "on", "off", "maybe", ""]).prop_map(String::from).boxed()
        ),
        prop::sample::select(vec![
            "--all",
            "--json",
            "--no-shrink",
            "--no-dpor",
            "--dpor",
            "--adversarial-wakeups",
            "--bogus",
            "-1",
            "--",
            "--seed",
            "--strat",
        ])
        .prop_map(|f| vec![f.to_string()]),
        "\\PC{0,10}".prop_map(|s| vec![s]),
    ]
}

fn argv() -> impl Strategy<Value = Vec<String>> {
    let command =
        prop::sample::select(vec!["check", "check", "replay", "replay", "list", "show", "frobnicate", ""]);
    let target = prop::sample::select(vec![
        "counter",
        "counter/buggy",
        "counter/locked",
        "lock-order/buggy",
        "lock-order",
        "lock-ordr",
        "semaphore-pool",
        "nope/nope",
        "a/b/c",
        "",
    ]);
    (command, prop::collection::vec(target, 0..3), prop::collection::vec(flag(), 0..7)).prop_map(
        |(command, targets, flags)| {
            let mut args = vec!["racelab".to_string(), command.to_string()];
            args.extend(targets.into_iter().map(String::from));
            args.extend(flags.into_iter().flatten());
            args
        },
    )
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(4096)
}

/// What a plan promises before it runs: the engine accepts every configuration, limits are at
/// least 1, a schedule is within its limit, and `replay --run N` explores exactly `N + 1` runs.
fn check_plan(plan: &Plan) -> Result<(), TestCaseError> {
    match plan {
        Plan::List { .. } | Plan::Show { .. } | Plan::Play { .. } => {}
        // Merging reads files: a plan exists only when every shard was found and parsed.
        Plan::Merge { targets, .. } => prop_assert!(!targets.is_empty()),
        Plan::Check { targets, .. } => {
            prop_assert!(!targets.is_empty());
            for (_, config) in targets {
                prop_assert!(config.validate().is_ok(), "{config}");
                prop_assert!(config.max_runs() >= 1 && config.step_limit() >= 1, "{config}");
            }
        }
        Plan::Replay { config, run, .. } => {
            prop_assert!(config.validate().is_ok(), "{config}");
            prop_assert!(config.step_limit() >= 1, "{config}");
            match (config.strategy(), run) {
                (StrategyConfig::Replay(s), None) => prop_assert!(s.len() <= MAX_DECISIONS),
                (StrategyConfig::Replay(_), Some(_)) => prop_assert!(false, "--schedule with --run"),
                (_, Some(n)) => prop_assert_eq!(config.max_runs(), n + 1),
                (_, None) => prop_assert!(false, "an exploration replay without --run"),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_arguments_give_a_valid_plan_or_exit_0_or_2(args in argv()) {
        match plan_or_exit(&args) {
            Ok(plan) => check_plan(&plan)?,
            Err(code) => prop_assert!(code == EXIT_OK || code == EXIT_USAGE, "{args:?}: exit {code}"),
        }
    }
}
