//! Running a plan and printing what it found. Standard output carries the results; errors go
//! to standard error once, from `cli::main`.

/// `println!` that ignores a closed pipe (`racelab list | head`) instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `print!` that ignores a closed pipe.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

use racelab_scenarios::Expected;
use std::io::IsTerminal;

use racelab_sim::{
    check, check_with_progress, Config, FailureKind, ReleasePoints, Report, StopFlag, StrategyConfig,
};

use super::args::{ExploreArgs, TeachArgs};
use super::plan::{Plan, Target};
use super::{EXIT_BUG, EXIT_INTERRUPTED, EXIT_OK};

pub fn run(plan: Plan) -> Result<i32, String> {
    match plan {
        Plan::List { json } => Ok(list(json)),
        Plan::Show { scenario, rust } => {
            show(scenario, rust);
            Ok(EXIT_OK)
        }
        Plan::Check { targets, json, explore, teach } => {
            let stop = on_ctrl_c()?;
            check_targets(&targets, json, &explore, &teach, &stop)
        }
        Plan::Replay { target, config, json, explore, run, teach } => {
            let stop = on_ctrl_c()?;
            replay(target, config.stop_flag(stop), json, &explore, run, &teach)
        }
        Plan::Merge { targets, json } => Ok(merge(&targets, json)),
        Plan::Play { target, config, moves } => super::play::play(target, config, moves),
    }
}

/// Prints the merged verdict of each target's shards; exit codes as `check`'s.
fn merge(targets: &[super::merge::MergedTarget], json: bool) -> i32 {
    for m in targets {
        if json {
            outln!("{}", m.to_json());
            continue;
        }
        outln!("racelab merge {}: {} shards of {}", m.target, m.shards, super::merge::settings_line(m));
        match (&m.expected, m.as_expected()) {
            (Some(expected), Some(as_expected)) => {
                let mark = if as_expected { "as expected" } else { "NOT AS EXPECTED" };
                outln!("  {} (expected {expected}; {mark})", super::merge::verdict(m));
            }
            // A program of the user's (racelab-py's shards): no expectation to compare with.
            _ => outln!("  {}", super::merge::verdict(m)),
        }
        outln!("  coverage: {}", super::merge::coverage(m));
        if let Some(cmd) = m.replay() {
            outln!("  replay: {cmd}");
        }
    }
    let code = if targets.len() > 1 {
        if targets.iter().all(|m| m.as_expected().unwrap_or(!m.failed())) {
            EXIT_OK
        } else {
            EXIT_BUG
        }
    } else if targets.iter().any(|m| m.failed()) {
        EXIT_BUG
    } else {
        EXIT_OK
    };
    if targets.len() > 1 && !json {
        let verdict =
            if code == EXIT_OK { "every verdict as expected" } else { "some verdicts NOT as expected" };
        outln!("{} targets: {verdict}", targets.len());
    }
    code
}

fn list(json: bool) -> i32 {
    let scenarios = racelab_scenarios::all();
    if json {
        let value: Vec<serde_json::Value> = scenarios
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "title": s.title,
                    "source": s.source,
                    "variants": s.variants.iter().map(|v| serde_json::json!({
                        "name": v.name,
                        "summary": v.summary,
                        "expected": v.expected.describe(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        return EXIT_OK;
    }
    // Columns as wide as their longest entry, so a long id never pushes a row out of line.
    let target_width = scenarios
        .iter()
        .flat_map(|s| s.variants.iter().map(move |v| s.id.len() + 1 + v.name.len()))
        .max()
        .unwrap_or(0);
    let id_width = scenarios.iter().map(|s| s.id.len()).max().unwrap_or(0).max(target_width + 2);
    let verdict_width = scenarios
        .iter()
        .flat_map(|s| s.variants.iter().map(|v| v.expected.describe().len()))
        .max()
        .unwrap_or(0);
    for s in scenarios {
        outln!("{:<id_width$} {}", s.id, s.title);
        for v in s.variants {
            outln!(
                "  {:<target_width$} {:<verdict_width$} {}",
                format!("{}/{}", s.id, v.name),
                v.expected.describe(),
                v.summary
            );
        }
    }
    EXIT_OK
}

fn show(s: &racelab_scenarios::Scenario, rust: bool) {
    outln!("{}: {}", s.id, s.title);
    outln!("source: {}", s.source);
    outln!();
    outln!("{}", s.story);
    outln!();
    outln!("Python:");
    for line in s.python.lines() {
        outln!("    {line}");
    }
    if rust {
        if let Some((path, code)) = racelab_scenarios::rust_source(s) {
            outln!();
            outln!("Rust (the model, from {path}):");
            for line in code.lines() {
                outln!("{}", format!("    {line}").trim_end());
            }
        }
    }
    outln!();
    outln!("variants:");
    let name_width = s.variants.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let verdict_width = s.variants.iter().map(|v| v.expected.describe().len()).max().unwrap_or(0);
    for v in s.variants {
        outln!("  {:<name_width$} {:<verdict_width$} {}", v.name, v.expected.describe(), v.summary);
    }
    outln!();
    outln!("check it:  racelab check {}", s.id);
}

/// `"s"` unless `n` is 1.
fn plural<N: PartialEq + From<u8>>(n: N) -> &'static str {
    if n == N::from(1) {
        ""
    } else {
        "s"
    }
}

/// The flags that reproduce `config`'s exploration on the command line.
fn exploration_flags(config: &Config) -> String {
    let mut flags = match config.strategy() {
        StrategyConfig::Random { seed } => format!("--strategy random --seed {seed}"),
        StrategyConfig::Pct { seed, depth } => format!("--strategy pct --seed {seed} --depth {depth}"),
        StrategyConfig::Pos { seed } => format!("--strategy pos --seed {seed}"),
        StrategyConfig::Portfolio { seed } => format!("--strategy portfolio --seed {seed}"),
        StrategyConfig::Dfs { preemption_bound, delay_bound } => {
            let mut flags = "--strategy dfs".to_string();
            if let Some(b) = preemption_bound {
                flags.push_str(&format!(" --preemption-bound {b}"));
            }
            if let Some(d) = delay_bound {
                flags.push_str(&format!(" --delay-bound {d}"));
            }
            // The reduction is on by default but for a delay bound; spell it out when it differs.
            let default_dpor = delay_bound.is_none();
            if config.uses_dpor() != default_dpor {
                flags.push_str(if config.uses_dpor() { " --dpor" } else { " --no-dpor" });
            }
            flags
        }
        // Neither comes from the command line: the report's schedule is the way back.
        StrategyConfig::Replay(_) | StrategyConfig::Guided(_) => String::new(),
    };
    flags.push_str(&limit_flags(config));
    flags.push_str(&primitive_semantics_flags(config));
    if config.release_points_mode() != ReleasePoints::Auto {
        flags.push_str(&format!(" --release-points {}", config.release_points_mode().name()));
    }
    flags
}

/// Says that the exploration started again with release points, from the report's note
/// (`run 0: locked on log_lock`).
fn restart_line(note: &str) -> String {
    let (run, how) = note.split_once(": ").unwrap_or((note, "?"));
    format!("release points: on after a restart ({run} observed a lock: {how})")
}

/// The flags that give a replay the same limits as the run it replays.
fn limit_flags(config: &Config) -> String {
    let mut flags = String::new();
    if config.step_limit() != racelab_sim::config::DEFAULT_MAX_STEPS {
        flags.push_str(&format!(" --max-steps {}", config.step_limit()));
    }
    match config.watchdog_limit() {
        Some(d) if d == racelab_sim::config::DEFAULT_WATCHDOG => {}
        Some(d) => flags.push_str(&format!(" --watchdog {}", d.as_secs_f64())),
        None => flags.push_str(" --watchdog 0"),
    }
    flags
}

/// The semantics flags: a seed's replay needs them; a schedule carries them itself.
fn primitive_semantics_flags(config: &Config) -> String {
    let mut flags = String::new();
    let sem = config.semantics();
    if sem.spurious_wakeups != racelab_sim::config::DEFAULT_SPURIOUS_WAKEUPS {
        flags.push_str(&format!(" --spurious-wakeups {}", sem.spurious_wakeups));
    }
    if sem.adversarial_wakeups {
        flags.push_str(" --adversarial-wakeups");
    }
    flags
}

fn replay_command(target: &Target, report: &Report, config: &Config) -> Option<String> {
    let failure = report.failure.as_ref()?;
    Some(format!(
        "racelab replay {} --schedule \"{}\"{}",
        target.name(),
        failure.schedule,
        limit_flags(config)
    ))
}

/// One target's result as one line of JSON, the same shape for `check` and `replay`:
/// `{"target", "expected", "as_expected", "replay", "report"}`, the report with its settings as
/// fields. Several targets give one line each (JSON Lines).
fn result_json(target: &Target, report: &Report, config: &Config) -> String {
    let value = serde_json::json!({
        "target": target.name(),
        "expected": target.variant.expected.describe(),
        "as_expected": verdict_matches(target.variant.expected, report),
        "replay": replay_command(target, report, config),
        "report": report,
    });
    serde_json::to_string(&value)
        .unwrap_or_else(|e| format!("{{\"error\": \"report not serializable: {e}\"}}"))
}

fn verdict_matches(expected: Expected, report: &Report) -> bool {
    match (expected, &report.failure) {
        (Expected::Pass, None) => true,
        (Expected::Bug(kind), Some(f)) => f.diagnosis.kind.name() == kind,
        _ => false,
    }
}

/// How a verdict names the half of the portfolio that found a bug.
fn half_name(half: &str) -> &str {
    match half {
        "dpor" => "the portfolio's exhaustive DPOR",
        "pos" => "the portfolio's POS sampling",
        other => other,
    }
}

fn verdict(report: &Report, config: &Config) -> String {
    let bound = match config.strategy() {
        StrategyConfig::Dfs { preemption_bound: Some(b), delay_bound: None } => {
            format!(" with at most {b} preemption{}", plural(*b))
        }
        StrategyConfig::Dfs { preemption_bound: None, delay_bound: Some(d) } => {
            format!(" with at most {d} delay{}", plural(*d))
        }
        StrategyConfig::Dfs { preemption_bound: Some(b), delay_bound: Some(d) } => {
            format!(" with at most {b} preemption{} and {d} delay{}", plural(*b), plural(*d))
        }
        _ => String::new(),
    };
    let dfs = matches!(config.strategy(), StrategyConfig::Dfs { .. } | StrategyConfig::Portfolio { .. });
    let within = config.time_limit().map(|t| format!(" within {} s", secs(t))).unwrap_or_default();
    match &report.failure {
        None if report.interrupted => format!(
            "interrupted: no bug found in {} run{} so far{bound} (not exhaustive)",
            report.runs,
            plural(report.runs)
        ),
        None if report.out_of_time && dfs => format!(
            "no bug found{bound} in {} run{}{within} (the search stopped at --max-time, not exhausted)",
            report.runs,
            plural(report.runs)
        ),
        None if report.out_of_time => format!(
            "no bug found in {} run{}{within} (sampled, not exhaustive)",
            report.runs,
            plural(report.runs)
        ),
        None if report.exhausted => {
            let reduced = if config.uses_dpor() {
                ", partial-order reduced"
            } else if matches!(config.strategy(), StrategyConfig::Portfolio { .. }) {
                ", DPOR with POS runs in between"
            } else {
                ""
            };
            format!(
                "no bug: every interleaving{bound} explored ({} run{}{reduced})",
                report.runs,
                plural(report.runs)
            )
        }
        None if dfs => format!(
            "no bug found{bound} in {} runs (the search stopped at the run limit, not exhausted)",
            report.runs
        ),
        None => {
            format!("no bug found in {} run{} (sampled, not exhaustive)", report.runs, plural(report.runs))
        }
        Some(f) => format!(
            "BUG: {} in run {}{}, with {} preemption{}",
            f.diagnosis.kind,
            f.run,
            f.found_by.map(|half| format!(" (found by {})", half_name(half))).unwrap_or_default(),
            f.preemptions,
            plural(f.preemptions)
        ),
    }
}

/// Makes Ctrl-C raise the returned flag: the exploration under way stops after its current run
/// and its partial report is printed. A second Ctrl-C exits at once.
fn on_ctrl_c() -> Result<StopFlag, String> {
    let stop = StopFlag::new();
    let raised = stop.clone();
    ctrlc::set_handler(move || {
        if raised.is_stopped() {
            std::process::exit(EXIT_INTERRUPTED);
        }
        raised.stop();
    })
    .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    Ok(stop)
}

/// Seconds, without a fraction when whole.
fn secs(d: std::time::Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        d.as_secs_f64().to_string()
    }
}

fn check_targets(
    targets: &[(Target, Config)],
    json: bool,
    _explore: &ExploreArgs,
    teach: &TeachArgs,
    stop: &StopFlag,
) -> Result<i32, String> {
    let many = targets.len() > 1;
    let mut all_as_expected = true;
    let mut any_bug = false;
    let mut interrupted = false;
    let mut checked = 0;
    for (target, config) in targets {
        if !json {
            outln!("racelab check {}: {config}", target.name());
        }
        let config = &config.clone().stop_flag(stop.clone());
        let report = check_with_bar(config, target, json);
        interrupted |= report.interrupted;
        checked += 1;
        // One shard of several that found nothing decides nothing: the bug may be in another
        // shard's runs, which `racelab merge` puts together.
        let partial = config.shard_of().is_some_and(|(_, n)| n > 1) && report.failure.is_none();
        let matches = verdict_matches(target.variant.expected, &report);
        let as_expected = matches || partial;
        all_as_expected &= as_expected;
        any_bug |= report.failure.is_some();
        let replay = replay_command(target, &report, config);
        if let (Some(path), Some(f)) = (&teach.html, &report.failure) {
            write_html(path, &format!("racelab check {}", target.name()), target, &f.trace, Some(f))?;
        } else if let Some(path) = &teach.html {
            // Not an error: the check's verdict and exit code stand (a CI job that draws failures
            // must not read a pass as a usage error); no page is written.
            errln!(
                "racelab: {} passed: there is no failure for --html to draw, so {} was not written (replay one \
                 of its runs to draw it)",
                target.name(),
                path.display()
            );
        }
        if json {
            outln!("{}", result_json(target, &report, config));
            if interrupted {
                break;
            }
            continue;
        }
        let mark = if report.interrupted && report.failure.is_none() {
            "interrupted before a verdict"
        } else if partial && !matches {
            "one shard alone: merge every shard's --json output for the verdict"
        } else if as_expected {
            "as expected"
        } else {
            "NOT AS EXPECTED"
        };
        outln!("  {} (expected {}; {mark})", verdict(&report, config), target.variant.expected.describe());
        if let Some(why) = report.restarted() {
            outln!("  {}", restart_line(why));
        }
        if let Some(s) = report.failure.as_ref().and_then(|f| f.shrunk_from.as_ref().map(|s| (f, s))) {
            let (f, from) = s;
            outln!(
                "  shrunk from {} steps and {} preemption{} to {} steps and {} preemption{}",
                from.steps,
                from.preemptions,
                plural(from.preemptions),
                f.step,
                f.preemptions,
                plural(f.preemptions)
            );
        }
        if !many {
            outln!("  coverage: {}", report.coverage());
            if let Some(note) = report.growth_note() {
                outln!("  note: {note}");
            }
            if let Some(f) = &report.failure {
                outln!();
                outln!("{}", f.diagnosis);
                outln!();
                outln!("{}", f.kind);
                if let Some(why) = &f.shrink_cut_short {
                    outln!("shrinking stopped at {why}: a smaller failing run may exist");
                    outln!();
                }
                outln!("trace:");
                out!(
                    "{}",
                    f.trace
                        .excerpt_marked("the replay command below prints the whole trace", f.failing_event())
                );
                outln!();
                if teach.explain {
                    out!("{}", explain(target, f));
                    outln!();
                }
            }
        } else if let Some(f) = &report.failure {
            outln!("  {}", f.diagnosis);
            if teach.explain {
                out!("{}", explain(target, f));
            }
        }
        if let Some(cmd) = replay {
            outln!("  replay: {cmd}");
        }
        if interrupted {
            break;
        }
    }
    if interrupted {
        if !json {
            outln!(
                "interrupted (Ctrl-C): {checked} of {} target{} checked",
                targets.len(),
                plural(targets.len())
            );
        }
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(if many {
        if !json {
            let verdict =
                if all_as_expected { "every verdict as expected" } else { "some verdicts NOT as expected" };
            outln!("{} targets: {verdict}", targets.len());
        }
        if all_as_expected {
            EXIT_OK
        } else {
            EXIT_BUG
        }
    } else if any_bug {
        EXIT_BUG
    } else {
        EXIT_OK
    })
}

fn replay(
    target: Target,
    config: Config,
    json: bool,
    _explore: &ExploreArgs,
    run: Option<u64>,
    teach: &TeachArgs,
) -> Result<i32, String> {
    let exploring = !matches!(config.strategy(), StrategyConfig::Replay(_));
    if exploring && !json {
        // First, before the runs up to N (which may take a while), the command in full.
        outln!("racelab replay {} {} --run {}", target.name(), exploration_flags(&config), run.unwrap_or(0));
    }
    // `--run N` makes the exploration's runs up to N: a progress bar, and Ctrl-C stops them.
    let report = if exploring {
        check_with_bar(&config, &target, json)
    } else {
        check(config.clone(), target.variant.program)
    };
    if report.interrupted && report.failure.is_none() && report.traced.is_none() {
        errln!(
            "racelab: interrupted after {} run{}, before run {} was reached",
            report.runs,
            plural(report.runs),
            run.unwrap_or(0)
        );
        return Ok(EXIT_INTERRUPTED);
    }
    if let Some(f) = &report.failure {
        if let FailureKind::Divergence { message } = &f.kind {
            if matches!(config.strategy(), StrategyConfig::Replay(_)) {
                return Err(format!(
                    "the schedule does not fit {}: {} Was it recorded from another scenario or variant?",
                    target.name(),
                    message.trim_end()
                ));
            }
        }
    }
    if report.failure.is_none() && report.traced.is_none() {
        // Only `--run N` asks for a run the exploration may not reach.
        let ended = if report.exhausted { ", having explored everything" } else { "" };
        return Err(format!(
            "the exploration ended after {} run{}{ended}; run {} does not exist",
            report.runs,
            plural(report.runs),
            run.unwrap_or(0)
        ));
    }
    if let Some(path) = &teach.html {
        let title = format!("racelab replay {}", target.name());
        match (&report.failure, &report.traced) {
            (Some(f), _) => write_html(path, &title, &target, &f.trace, Some(f))?,
            (None, Some(t)) => write_html(path, &title, &target, &t.trace, None)?,
            (None, None) => {}
        }
    }
    if json {
        outln!("{}", result_json(&target, &report, &config));
    } else {
        outln!("racelab replay {}: {config}", target.name());
        if let Some(why) = report.restarted() {
            outln!("{}", restart_line(why));
        }
        if let Some(note) = &report.replay_differs {
            outln!("note: {note}");
        }
        match (&report.failure, &report.traced) {
            (Some(f), _) => {
                if Some(f.run) != run && run.is_some() {
                    outln!("run {} failed before run {} was reached:", f.run, run.unwrap_or(0));
                }
                outln!("{}", f.diagnosis);
                outln!();
                outln!("{}", f.kind);
                outln!("schedule: {}", f.schedule);
                outln!("trace:");
                out!("{}", f.trace.excerpt_marked("", f.failing_event()).whole());
                if teach.explain {
                    outln!();
                    out!("{}", explain(&target, f));
                }
            }
            (None, Some(t)) => {
                outln!("run {} passed", t.run);
                if !t.cut_off.is_empty() {
                    let names: Vec<&str> = t.cut_off.iter().map(|c| c.name.as_str()).collect();
                    outln!("daemon threads cut off at the end: {}", names.join(", "));
                }
                outln!("schedule: {}", t.schedule);
                outln!("trace:");
                out!("{}", t.trace);
            }
            (None, None) => unreachable!("checked above: a replay shows a failure or its traced run"),
        }
    }
    Ok(if report.failure.is_some() { EXIT_BUG } else { EXIT_OK })
}

/// Writes the timeline of a run to `path` (and says so on standard error, keeping standard
/// output the report's).
fn write_html(
    path: &std::path::Path,
    title: &str,
    target: &Target,
    trace: &racelab_sim::Trace,
    failure: Option<&racelab_sim::Failure>,
) -> Result<(), String> {
    let narration = failure.map(|f| explain(target, f));
    let python: Vec<&str> = target.scenario.python.lines().collect();
    let source = racelab_sim::html::Source {
        text: target.scenario.python,
        line_of: trace
            .events
            .iter()
            .map(|e| super::play::python_line(&python, &e.thread, &e.operation))
            .collect(),
    };
    let page = racelab_sim::html::timeline(title, trace, failure, narration.as_ref(), Some(&source));
    std::fs::write(path, page)
        .map_err(|e| format!("cannot write the timeline to {}: {e}", path.display()))?;
    errln!("timeline: {}", path.display());
    Ok(())
}

/// The failing run of `target` told for a class, with the fix in the scenario's own words: the
/// last sentence of its story (the diagnosis's general fix when that is missing).
fn explain(target: &Target, failure: &racelab_sim::Failure) -> racelab_sim::narrate::Narration {
    let story_fix = target
        .scenario
        .story
        .trim_end()
        .trim_end_matches('.')
        .rsplit(". ")
        .next()
        .map(|s| format!("{}.", s.trim()));
    racelab_sim::narrate::narrate(failure, story_fix.as_deref())
}

/// Checks `target`, with a progress bar on standard error when it is a terminal (and nothing
/// otherwise: scripts and CI see no control characters).
fn check_with_bar(config: &Config, target: &Target, json: bool) -> Report {
    if json || !std::io::stderr().is_terminal() {
        return check(config.clone(), target.variant.program);
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(config.max_runs()),
        indicatif::ProgressDrawTarget::term_like(Box::new(RoomForCtrlC(console::Term::stderr()))),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {pos}/{len} runs ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(target.name());
    let report =
        check_with_progress(config.clone(), target.variant.program, &mut |runs| bar.set_position(runs));
    bar.finish_and_clear();
    report
}

/// Standard error as the progress bar's terminal, a few columns narrower than it is. indicatif
/// pads the bar to the terminal's width and leaves the cursor in the last column; the `^C` a
/// terminal echoes on Ctrl-C would then wrap to a new line and the bar could no longer clear
/// itself. With room left for the echo, it can.
#[derive(Debug)]
struct RoomForCtrlC(console::Term);

impl indicatif::TermLike for RoomForCtrlC {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(4).max(20)
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.write_str(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}
