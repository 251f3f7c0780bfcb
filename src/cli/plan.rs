//! Validated plans: every name resolved, every flag combination checked, before anything runs.

use racelab_scenarios::{Scenario, Variant};
use racelab_sim::config::MAX_JOBS;
use racelab_sim::{Config, ReleasePoints, Schedule, StrategyConfig};

use super::args::{Cli, Command, ExploreArgs, ReleasePointsName, StrategyName, TeachArgs};

/// A scenario variant to run.
#[derive(Clone, Copy)]
pub struct Target {
    pub scenario: &'static Scenario,
    pub variant: &'static Variant,
}

impl Target {
    pub fn name(&self) -> String {
        format!("{}/{}", self.scenario.id, self.variant.name)
    }
}

/// The largest `--max-time`: a year of wall time, far past any exploration anyone waits for.
const MAX_TIME_SECS: u64 = 365 * 24 * 3600;

/// What to do, fully resolved.
pub enum Plan {
    List {
        json: bool,
    },
    Show {
        scenario: &'static Scenario,
        rust: bool,
    },
    Check {
        targets: Vec<(Target, Config)>,
        json: bool,
        explore: ExploreArgs,
        teach: TeachArgs,
    },
    Replay {
        target: Target,
        config: Config,
        json: bool,
        explore: ExploreArgs,
        run: Option<u64>,
        teach: TeachArgs,
    },
    Merge {
        targets: Vec<super::merge::MergedTarget>,
        json: bool,
    },
    Play {
        target: Target,
        config: Config,
        moves: Option<String>,
    },
}

pub fn plan(cli: Cli) -> Result<Plan, String> {
    match cli.command {
        Command::List { json } => Ok(Plan::List { json }),
        Command::Show { scenario, rust } => Ok(Plan::Show { scenario: scenario_named(&scenario)?, rust }),
        Command::Merge { files, json } => Ok(Plan::Merge { targets: super::merge::plan(&files)?, json }),
        Command::Play { target, moves, spurious_wakeups, adversarial_wakeups } => {
            let target = resolve(&target, false)?[0];
            let mut config = (target.variant.configure)((target.scenario.default_config)());
            if let Some(n) = spurious_wakeups {
                config = config.spurious_wakeups(n);
            }
            if adversarial_wakeups {
                config = config.adversarial_wakeups(true);
            }
            valid(&config)?;
            Ok(Plan::Play { target, config, moves })
        }
        Command::Check { targets, all, explore, json, teach } => {
            explain_without_json(teach.explain, json)?;
            html_writable(&teach)?;
            let resolved = match (all, targets.is_empty()) {
                (true, false) => return Err("give either --all or scenario names, not both".into()),
                (false, true) => {
                    return Err("nothing to check: name a scenario (see `racelab list`) or pass --all".into())
                }
                (true, true) => racelab_scenarios::all()
                    .iter()
                    .flat_map(|s| s.variants.iter().map(move |v| Target { scenario: s, variant: v }))
                    .collect(),
                (false, false) => {
                    let mut out = Vec::new();
                    for t in &targets {
                        out.extend(resolve(t, true)?);
                    }
                    out
                }
            };
            if teach.html.is_some() && resolved.len() > 1 {
                return Err(format!(
                    "--html draws one run: name one variant (<scenario>/<variant>), not {} targets",
                    resolved.len()
                ));
            }
            let mut planned = Vec::new();
            for t in resolved {
                let config = exploration(&explore, t.scenario, t.variant)?;
                valid(&config)?;
                planned.push((t, config));
            }
            Ok(Plan::Check { targets: planned, json, explore, teach })
        }
        Command::Replay { target, schedule, explore, run, json, teach } => {
            explain_without_json(teach.explain, json)?;
            html_writable(&teach)?;
            let targets = resolve(&target, false)?;
            let target = targets[0];
            if explore.jobs.is_some() || explore.shard.is_some() {
                return Err(
                    "replay shows one run: --jobs and --shard apply to check only (run N of a seed is \
                     the same run whatever the jobs or shard)"
                        .into(),
                );
            }
            if explore.max_time.is_some() {
                return Err(
                    "replay shows one run: --max-time applies to check only (a time budget could stop the \
                     exploration before run N, or cut nothing from one recorded run); drop it"
                        .into(),
                );
            }
            let config = match schedule {
                Some(text) => {
                    if explore.strategy.is_some()
                        || explore.seed.is_some()
                        || explore.runs.is_some()
                        || run.is_some()
                    {
                        return Err(
                            "--schedule replays exactly one recorded run: drop --strategy, --seed, --runs and --run"
                                .into(),
                        );
                    }
                    let exploring = exploration_only_flags(&explore);
                    if !exploring.is_empty() {
                        return Err(format!(
                            "--schedule replays exactly one recorded run: drop {} (it shapes an exploration, \
                             and the schedule already holds every decision)",
                            exploring.join(", ")
                        ));
                    }
                    if explore.max_steps == Some(0) {
                        return Err("--max-steps must be at least 1".into());
                    }
                    let schedule: Schedule = text.parse().map_err(|e| format!("{e}"))?;
                    semantics((target.variant.configure)(Config::replay(schedule)), &explore)
                }
                None => {
                    let Some(run) = run else {
                        return Err(
                            "replay needs --schedule \"v1 ...\", or --seed/--strategy with --run N".into()
                        );
                    };
                    if explore.runs.is_some() {
                        return Err("--runs has no meaning for replay: --run N picks the run to show".into());
                    }
                    let runs =
                        run.checked_add(1).ok_or_else(|| format!("--run must be below {}", u64::MAX))?;
                    exploration(&explore, target.scenario, target.variant)?.runs(runs).trace_run(run)
                }
            };
            valid(&config)?;
            Ok(Plan::Replay { target, config, json, explore, run, teach })
        }
    }
}

/// The flags that only shape an exploration, given: meaningless for a replay by schedule.
fn exploration_only_flags(args: &ExploreArgs) -> Vec<&'static str> {
    let given = [
        ("--depth", args.depth.is_some()),
        ("--preemption-bound", args.preemption_bound.is_some()),
        ("--delay-bound", args.delay_bound.is_some()),
        ("--dpor", args.dpor),
        ("--no-dpor", args.no_dpor),
        ("--no-shrink", args.no_shrink),
        ("--jobs", args.jobs.is_some()),
        ("--shard", args.shard.is_some()),
        ("--release-points", args.release_points.is_some()),
    ];
    given.into_iter().filter(|&(_, on)| on).map(|(flag, _)| flag).collect()
}

/// The engine's own range checks (`Config::validate`), as a CLI error.
fn valid(config: &Config) -> Result<(), String> {
    config.validate().map_err(|e| format!("{e}"))
}

fn scenario_named(id: &str) -> Result<&'static Scenario, String> {
    if let Some((scenario, _)) = id.split_once('/').filter(|(s, _)| racelab_scenarios::find(s).is_some()) {
        return Err(format!(
            "`{id}` names a variant; show takes a scenario: racelab show {scenario} (it shows every variant)"
        ));
    }
    racelab_scenarios::find(id).ok_or_else(|| {
        let hint = match racelab_scenarios::nearest(id) {
            Some(n) => format!(" (did you mean `{n}`?)"),
            None => " (see `racelab list`)".to_string(),
        };
        format!("unknown scenario `{id}`{hint}")
    })
}

/// `scenario` (every variant, when allowed) or `scenario/variant`.
fn resolve(text: &str, whole_scenario_ok: bool) -> Result<Vec<Target>, String> {
    let (id, variant) = match text.split_once('/') {
        Some((id, v)) => (id, Some(v)),
        None => (text, None),
    };
    let scenario = scenario_named(id)?;
    match variant {
        Some(v) => {
            let variant = scenario.variant(v).ok_or_else(|| {
                let names: Vec<&str> = scenario.variants.iter().map(|v| v.name).collect();
                format!("scenario `{id}` has no variant `{v}`; its variants are: {}", names.join(", "))
            })?;
            Ok(vec![Target { scenario, variant }])
        }
        None if whole_scenario_ok => {
            Ok(scenario.variants.iter().map(|v| Target { scenario, variant: v }).collect())
        }
        None => {
            let names: Vec<String> = scenario.variants.iter().map(|v| format!("{id}/{}", v.name)).collect();
            Err(format!("name one variant of `{id}`: {}", names.join(", ")))
        }
    }
}

/// `--explain` writes sentences for a person, `--json` one object per line for a program: asked
/// together, one of them would be lost.
fn explain_without_json(explain: bool, json: bool) -> Result<(), String> {
    if explain && json {
        return Err("--explain prints sentences and --json prints JSON lines: choose one (the JSON has the \
                    trace with typed events to narrate from)"
            .into());
    }
    Ok(())
}

/// `--html FILE` into a directory that exists, checked before the exploration: a check that
/// found a bug and then could not write its page would end with exit 2 instead of 1.
fn html_writable(teach: &TeachArgs) -> Result<(), String> {
    let Some(path) = &teach.html else { return Ok(()) };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "--html {}: the directory {} does not exist; create it, or write the page elsewhere",
            path.display(),
            dir.display()
        ));
    }
    if path.is_dir() {
        return Err(format!(
            "--html {}: is a directory; give the file to write the page into",
            path.display()
        ));
    }
    // Tried, not inferred from permission bits (root ignores them; a read-only file system does
    // not): an existing file is opened to append nothing, a new one is made and removed again.
    let tried = if path.exists() {
        std::fs::OpenOptions::new().append(true).open(path).map(drop)
    } else if path.symlink_metadata().is_ok() {
        // A link to a file yet to be made: writing the page will make it; nothing to try here.
        Ok(())
    } else {
        std::fs::OpenOptions::new().write(true).create_new(true).open(path).and_then(|f| {
            drop(f);
            std::fs::remove_file(path)
        })
    };
    tried.map_err(|e| format!("--html {}: cannot write it: {e}; write the page elsewhere", path.display()))
}

/// The refusal of a bound outside an exhaustive dfs.
fn bound_needs_dfs(flag: &str, strategy: Option<StrategyName>) -> String {
    match strategy {
        None => format!("{flag} bounds an exhaustive search: add --strategy dfs (without --strategy the scenario's default exploration runs, which takes no bound)"),
        Some(_) => format!("{flag} applies only to --strategy dfs"),
    }
}

/// The exploration for `scenario` under the flags, with contradictions refused.
pub fn exploration(args: &ExploreArgs, scenario: &Scenario, variant: &Variant) -> Result<Config, String> {
    let strategy = args.strategy.or(args.seed.map(|_| StrategyName::Random));
    if args.depth.is_some() && strategy != Some(StrategyName::Pct) {
        return Err("--depth applies only to --strategy pct".into());
    }
    // Without --strategy the scenario's default exploration runs (the portfolio, or random
    // sampling), which a bound does not apply to: say so rather than ignore the flag.
    if args.preemption_bound.is_some() && strategy != Some(StrategyName::Dfs) {
        return Err(bound_needs_dfs("--preemption-bound", strategy));
    }
    if args.delay_bound.is_some() && strategy != Some(StrategyName::Dfs) {
        return Err(bound_needs_dfs("--delay-bound", strategy));
    }
    if args.seed.is_some() && strategy == Some(StrategyName::Dfs) {
        return Err("--seed has no meaning for --strategy dfs, which explores every schedule in order".into());
    }
    if args.max_steps == Some(0) {
        return Err("--max-steps must be at least 1".into());
    }
    if let Some(s) = args.watchdog {
        if !(s.is_finite() && (0.0..=86_400.0).contains(&s)) {
            return Err(format!("--watchdog takes seconds of wall time, 0 (off) to 86400, not {s}"));
        }
    }
    if let Some(jobs) = args.jobs.filter(|j| !(1..=MAX_JOBS).contains(j)) {
        return Err(format!(
            "--jobs must be from 1 to {MAX_JOBS}, got {jobs} (more jobs than cores only adds switching)"
        ));
    }
    if args.shard.is_some()
        && !matches!(strategy, Some(StrategyName::Random | StrategyName::Pos | StrategyName::Dfs))
    {
        return Err(
            "--shard applies to --strategy random, pos and dfs (pct's and the portfolio's runs depend on the runs \
             before them)"
                .into(),
        );
    }
    let max_time = match args.max_time {
        None => None,
        Some(secs) => {
            Some(
                std::time::Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|d| !d.is_zero() && d.as_secs() <= MAX_TIME_SECS)
                    .ok_or_else(|| {
                        format!(
                            "--max-time takes seconds of wall time above 0 and at most {MAX_TIME_SECS} (a year), \
                             e.g. 60 or 0.5; got `{}`",
                            if secs.abs() >= 1e9 { format!("{secs:e}") } else { format!("{secs}") }
                        )
                    })?,
            )
        }
    };
    let shard = match &args.shard {
        None => None,
        Some(text) => Some(parse_shard(text)?),
    };
    if args.runs == Some(0) {
        return Err("--runs must be at least 1".into());
    }
    if args.depth == Some(0) {
        return Err("--depth must be at least 1".into());
    }
    let seed = args.seed.unwrap_or(0);
    let mut config = match strategy {
        None => (scenario.default_config)(),
        Some(StrategyName::Random) => Config::random(seed),
        Some(StrategyName::Pct) => Config::pct(seed, args.depth.unwrap_or(3)),
        Some(StrategyName::Pos) => Config::pos(seed),
        Some(StrategyName::Portfolio) => Config::portfolio(seed),
        Some(StrategyName::Dfs) => Config::dfs(),
    };
    config = (variant.configure)(config).shrink(!args.no_shrink);
    if args.no_dpor {
        config = config.dpor(false);
    }
    if args.dpor {
        config = config.dpor(true);
    }
    if let Some(j) = args.jobs {
        config = config.jobs(j);
    }
    if let Some((k, n)) = shard {
        config = config.shard(k, n);
    }
    if let Some(b) = args.preemption_bound {
        config = config.preemption_bound(b);
    }
    if let Some(d) = args.delay_bound {
        config = config.delay_bound(d);
    }
    if let Some(r) = args.runs {
        config = config.runs(r);
    }
    if let Some(t) = max_time {
        config = config.max_time(t);
    }
    if args.jobs.is_some() {
        let parallel = match config.strategy() {
            StrategyConfig::Random { .. }
            | StrategyConfig::Pos { .. }
            | StrategyConfig::Pct { .. }
            | StrategyConfig::Portfolio { .. } => true,
            StrategyConfig::Dfs { preemption_bound: None, .. } => config.uses_dpor(),
            _ => false,
        };
        if !parallel {
            let shown = config.to_string();
            let strategy = shown.split(' ').next().unwrap_or("").trim_start_matches("strategy=");
            let why = match strategy {
                "dfs" => "dfs on several jobs needs DPOR and no bound (the bounded and plain searches run on one thread)",
                _ => "this exploration runs on one thread",
            };
            return Err(format!(
                "--jobs applies to --strategy random, pos, pct, portfolio (the default) and dfs: {why}"
            ));
        }
    }
    if args.shard.is_some() && matches!(config.strategy(), StrategyConfig::Dfs { .. }) {
        if !config.splits_dfs_search() {
            return Err(
                "--shard splits a dfs with DPOR and no bound: drop --preemption-bound, --delay-bound or --no-dpor"
                    .into(),
            );
        }
        if args.jobs.is_some_and(|j| j > 1) {
            return Err(
                "--shard with --strategy dfs runs on one job: run more shards instead of --jobs".into()
            );
        }
    }
    if let Some(mode) = args.release_points {
        config = config.release_points(match mode {
            ReleasePointsName::Auto => ReleasePoints::Auto,
            ReleasePointsName::On => ReleasePoints::On,
            ReleasePointsName::Off => ReleasePoints::Off,
        });
    }
    if args.shard.is_some()
        && config.splits_dfs_search()
        && config.release_points_mode() == ReleasePoints::Auto
    {
        // As the engine runs a sharded dfs (`Config::shard`), so that the settings line says so.
        config = config.release_points(ReleasePoints::On);
    }
    let flag = if args.dpor { Some("--dpor") } else { args.no_dpor.then_some("--no-dpor") };
    if let Some(flag) = flag {
        match config.strategy() {
            StrategyConfig::Dfs { delay_bound: Some(_), .. } if args.dpor => {
                return Err(
                    "--dpor does not combine with --delay-bound: a delay-bounded dfs is always plain".into()
                )
            }
            StrategyConfig::Dfs { .. } => {}
            _ => {
                return Err(format!(
                    "{flag} applies only to --strategy dfs (this exploration is {})",
                    config.to_string().split(' ').next().unwrap_or("")
                ))
            }
        }
    }
    Ok(semantics(config, args))
}

/// The flags every run honours, replays included: limits and primitive semantics.
fn semantics(mut config: Config, args: &ExploreArgs) -> Config {
    if let Some(m) = args.max_steps {
        config = config.max_steps(m);
    }
    if let Some(s) = args.watchdog {
        config = config.watchdog(std::time::Duration::from_secs_f64(s));
    }
    if let Some(n) = args.spurious_wakeups {
        config = config.spurious_wakeups(n);
    }
    if args.adversarial_wakeups {
        config = config.adversarial_wakeups(true);
    }
    config
}

/// `K/N` with `K < N`.
fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard wants K/N with 0 <= K < N, e.g. 0/4; got `{text}`");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}
