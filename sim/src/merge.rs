//! Merging the `--json` output of an exploration split into shards: one verdict.
//!
//! Why it exists: `check --shard K/N` (`Config::shard`) splits an exploration into N independent
//! processes, so any engine that runs N copies of a command (a Kubernetes Indexed Job, a CI
//! matrix, a shell loop, `racelab-py check --jobs`) can spread one exploration over many cores or
//! machines; racelab does not need a scheduler of its own. What it needs is the step back: the
//! verdict, the lowest failing run and the coverage that one unsharded run gives. A shard explores
//! its run indices in increasing order and stops at its first failure, so the shard holding the
//! lowest failing index overall reports exactly that failure (traced and shrunk as an unsharded
//! run would have), and the runs an unsharded run would have made are the indices up to it,
//! whoever ran them.
//!
//! A `dfs` shard numbers its runs itself, so its output lists the subtrees of the search it
//! explored with their runs (`shard_subtrees`): the runs of all shards, ordered by subtree, are
//! the runs of the whole search in its order, which numbers the lowest failure over all shards
//! (the one in the lowest failing subtree) as the whole search would.
//!
//! The input is the text of each shard's output (a JSON line per target, as `racelab check
//! --json` and `racelab-py check --json` print them: `target`, `report`, `replay`, and for a
//! catalog variant `expected`), each with the place it came from for error messages; reading
//! files is the front-end's. Every problem is one message naming the place, or the target and
//! the shard that is missing: the front-ends print it as their usage error.

use std::collections::BTreeMap;

use serde_json::Value;

/// One target's shards, validated: the merged result is computed from them.
#[derive(Debug)]
pub struct MergedTarget {
    /// What the shards checked: a catalog variant, or a script's path.
    pub target: String,
    /// A catalog variant's expected verdict (`pass`, `bug: lost-update`); none for a program
    /// of the user's (a Python script).
    pub expected: Option<String>,
    /// The shard count N.
    pub shards: u64,
    /// The lowest failing run over all shards (numbered as one unsharded run numbers it), with
    /// its shard's output line.
    pub lowest: Option<(u64, Value)>,
    /// A split `dfs`, whose shards together explore every interleaving when each is exhausted.
    pub exhaustive: bool,
    /// Every shard of a split `dfs` was exhausted (and none failed): the search is complete.
    pub exhausted: bool,
    /// Runs every shard executed, summed.
    pub runs_executed: u64,
    /// Steps every shard executed, summed.
    pub steps_executed: u64,
    /// Shards that stopped early at a time budget or Ctrl-C (not exhaustive of their share).
    pub cut_short: Vec<u64>,
    /// The settings line shared by the shards, without the shard.
    pub settings: Value,
}

impl MergedTarget {
    /// The runs one unsharded exploration would have made: every index up to the lowest
    /// failure, or every run of the limit. Only exact when no shard was cut short.
    pub fn runs(&self) -> u64 {
        match &self.lowest {
            Some((run, _)) => run + 1,
            None => self.runs_executed,
        }
    }

    /// The merged report's failure (the lowest failing shard's), as JSON.
    fn failure(&self) -> Option<&Value> {
        self.lowest.as_ref().map(|(_, line)| &line["report"]["failure"])
    }

    /// The diagnosis name of the failure, if any (`lost-update`).
    pub fn diagnosis(&self) -> Option<String> {
        self.failure().and_then(|f| f["diagnosis"]["kind"].as_str()).map(str::to_string)
    }

    /// Whether the merged verdict is the one the variant expects (none without an expectation).
    pub fn as_expected(&self) -> Option<bool> {
        let expected = self.expected.as_deref()?;
        Some(match self.diagnosis() {
            None => expected == "pass",
            Some(d) => expected == format!("bug: {d}"),
        })
    }

    /// True when a shard failed: the merged exploration found a bug (or another failure).
    pub fn failed(&self) -> bool {
        self.lowest.is_some()
    }

    /// The replay command of the lowest failure.
    pub fn replay(&self) -> Option<&str> {
        self.lowest.as_ref().and_then(|(_, line)| line["replay"].as_str())
    }

    /// The merged result as one JSON line, in the shape of `check --json` plus what merging
    /// adds (`shards`, `runs_executed`, `steps_executed`, `cut_short`).
    pub fn to_json(&self) -> String {
        let report = serde_json::json!({
            "settings": self.settings,
            "runs": self.runs(),
            "runs_executed": self.runs_executed,
            "steps_executed": self.steps_executed,
            "failure": self.failure().cloned().unwrap_or(Value::Null),
            "cut_short": self.cut_short,
            "exhaustive_search": self.exhaustive,
            "exhausted": self.exhausted,
        });
        serde_json::json!({
            "target": self.target,
            "expected": self.expected,
            "as_expected": self.as_expected(),
            "replay": self.replay(),
            "shards": self.shards,
            "report": report,
        })
        .to_string()
    }
}

/// Merges each target of the shards' outputs, given as `(where it came from, its text)`. Every
/// problem is one message naming the place (`shard-1.json:2`), or the target and the shard that
/// is missing.
pub fn merge(outputs: &[(String, String)]) -> Result<Vec<MergedTarget>, String> {
    if outputs.is_empty() {
        return Err("merge needs the --json output of every shard: merge shard-*.json".into());
    }
    // target -> shard index -> (file:line, the line's JSON)
    let mut by_target: BTreeMap<String, BTreeMap<u64, (String, Value)>> = BTreeMap::new();
    let mut shard_counts: BTreeMap<String, u64> = BTreeMap::new();
    for (from, text) in outputs {
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let place = format!("{from}:{}", i + 1);
            let v: Value = serde_json::from_str(line).map_err(|e| {
                format!("{place} is not a line of `check --json` output ({e}); merge reads what check --shard K/N --json prints")
            })?;
            let target =
                v["target"].as_str().ok_or_else(|| format!("{place} has no \"target\""))?.to_string();
            let (k, n) = match v["report"]["settings"]["shard"].as_str() {
                None => {
                    return Err(format!(
                        "{place}: {target} was not checked with --shard K/N, so there is nothing to merge it with"
                    ))
                }
                Some(text) => shard_of(&v).ok_or_else(|| {
                    format!(
                        "{place}: {target} has shard `{text}`, which check --shard never gives: K/N with K below N"
                    )
                })?,
            };
            match shard_counts.insert(target.clone(), n) {
                Some(m) if m != n => {
                    return Err(format!(
                        "{place}: {target} shard {k}/{n}, but another file has it in {m} shards"
                    ))
                }
                _ => {}
            }
            let shards = by_target.entry(target.clone()).or_default();
            if let Some((other, _)) = shards.insert(k, (place.clone(), v)) {
                return Err(format!(
                    "{place}: shard {k}/{n} of {target} is also in {other}; give each shard once"
                ));
            }
        }
    }
    if by_target.is_empty() {
        return Err(
            "the files hold no check output: run check ... --shard K/N --json > shard-K.json for every K"
                .into(),
        );
    }
    // Every target's missing shards in one message, not the first target's only.
    let missing: Vec<String> =
        by_target.iter().filter_map(|(target, shards)| missing_shards(target, shards)).collect();
    if !missing.is_empty() {
        return Err(format!("{}; merge needs every shard's output to give one verdict", missing.join("; ")));
    }
    by_target.into_iter().map(|(target, shards)| merge_target(target, shards)).collect()
}

/// "`target`: shards 1, 2 of 3 missing", or `None` when every shard of `target` is there.
fn missing_shards(target: &str, shards: &BTreeMap<u64, (String, Value)>) -> Option<String> {
    let n = shard_of(&shards.values().next().expect("a target has a shard").1).expect("checked").1;
    let missing: Vec<String> = (0..n).filter(|k| !shards.contains_key(k)).map(|k| k.to_string()).collect();
    if missing.is_empty() {
        return None;
    }
    let shown: Vec<String> = missing.iter().take(10).cloned().collect();
    let more = if missing.len() > 10 { format!(" and {} more", missing.len() - 10) } else { String::new() };
    Some(format!(
        "{target}: shard{} {}{more} of {n} missing",
        if missing.len() == 1 { "" } else { "s" },
        shown.join(", ")
    ))
}

/// The `K/N` of a line's settings.
fn shard_of(v: &Value) -> Option<(u64, u64)> {
    let text = v["report"]["settings"]["shard"].as_str()?;
    let (k, n) = text.split_once('/')?;
    let (k, n): (u64, u64) = (k.parse().ok()?, n.parse().ok()?);
    // What `check --shard` accepts: a shard that exists.
    (k < n).then_some((k, n))
}

fn merge_target(target: String, shards: BTreeMap<u64, (String, Value)>) -> Result<MergedTarget, String> {
    debug_assert!(
        missing_shards(&target, &shards).is_none(),
        "racelab invariant: merging a target with shards missing"
    );
    let n = shard_of(&shards.values().next().expect("a target has a shard").1).expect("checked").1;
    // The restart note names the shard's own run: shards of one exploration differ there.
    // The engine's settings, and racelab-py's granularity (its scheduling points, which the
    // engine does not see), shared by every shard.
    let without_shard = |v: &Value| {
        let mut s = v["report"]["settings"].clone();
        if let Some(o) = s.as_object_mut() {
            o.remove("shard");
            o.remove("jobs");
            o.remove("restarted");
            if let Some(granularity) = v.get("granularity") {
                o.insert("granularity".into(), granularity.clone());
            }
        }
        s
    };
    let (first_place, first) = shards.values().next().expect("a target has a shard");
    let mut settings = without_shard(first);
    for (place, v) in shards.values() {
        let mode = |v: &Value| release_points_mode(&v["report"]["settings"]);
        if mode(v) != mode(first) {
            return Err(format!(
                "{target}: {place} explored {} and {first_place} {}: a shard in the default mode starts again \
                 with a point before every lock release when one of its runs observes a lock (try_acquire, \
                 locked...), so its runs are not the other shards'. Rerun every shard with --release-points on",
                mode(v),
                mode(first)
            ));
        }
        if without_shard(v) != settings {
            return Err(format!(
                "{target}: {place} was checked with other settings than {first_place} ({} vs {}); shards of one \
                 exploration share every flag but --shard and --jobs",
                without_shard(v),
                settings
            ));
        }
    }
    // Every shard restarted (or none did): the lowest run that observed a lock over all shards is
    // the one an unsharded exploration restarts at.
    let restarts = shards.values().filter_map(|(_, v)| v["report"]["settings"]["restarted"].as_str());
    if let Some(note) = restarts.min_by_key(|note| restart_run(note)) {
        if let Some(o) = settings.as_object_mut() {
            o.insert("restarted".into(), note.into());
        }
    }
    let exhaustive = settings["strategy"].as_str() == Some("dfs");
    let mut merged = MergedTarget {
        expected: first["expected"].as_str().map(str::to_string),
        target,
        shards: n,
        lowest: None,
        exhaustive,
        exhausted: exhaustive,
        runs_executed: 0,
        steps_executed: 0,
        cut_short: Vec::new(),
        settings,
    };
    // A split dfs: every subtree's runs, and each failing shard's failure as (subtree, its run
    // within the subtree, the line).
    let mut subtree_runs: BTreeMap<u64, u64> = BTreeMap::new();
    let mut failing: Vec<(u64, u64, Value)> = Vec::new();
    // A dfs shard that stopped early, and the last subtree it listed.
    let mut stopped_at: Vec<(u64, Option<u64>)> = Vec::new();
    for (k, (place, v)) in shards {
        let report = &v["report"];
        let too_many = || format!("{place}: the runs or steps do not add up (past 2^64); is the file whole?");
        let count = |name: &str| {
            report[name].as_u64().ok_or_else(|| {
                format!("{place}: \"{name}\" is {}, not a whole number; is the file whole?", report[name])
            })
        };
        let runs = count("runs")?;
        merged.runs_executed = merged.runs_executed.checked_add(runs).ok_or_else(too_many)?;
        merged.steps_executed = merged.steps_executed.checked_add(count("steps")?).ok_or_else(too_many)?;
        let failed = report["failure"]["run"].as_u64();
        let stopped = report["interrupted"] == true || report["out_of_time"] == true;
        let last = if exhaustive {
            subtrees_of(&merged.target, &place, report, runs, k, n, &mut subtree_runs)?
        } else {
            None
        };
        if exhaustive && failed.is_none() && (stopped || report["exhausted"] != true) {
            stopped_at.push((k, last.map(|(subtree, _)| subtree)));
        } else if stopped {
            merged.cut_short.push(k);
        }
        if exhaustive {
            merged.exhausted &= failed.is_none() && report["exhausted"] == true;
            if let Some(run) = failed {
                // The failing run is the last subtree's: among its runs, not before them.
                let within = last.and_then(|(subtree, start)| {
                    let within = run.checked_sub(start)?;
                    (within < subtree_runs[&subtree]).then_some((subtree, within))
                });
                let (subtree, within) = within.ok_or_else(|| {
                    format!("{place}: the failing run {run} is in none of the shard's subtrees; is the file whole?")
                })?;
                failing.push((subtree, within, v));
            }
        } else if let Some(run) = failed {
            if merged.lowest.as_ref().is_none_or(|(low, _)| run < *low) {
                merged.lowest = Some((run, v));
            }
        }
    }
    let lowest = failing.into_iter().min_by_key(|(subtree, _, _)| *subtree);
    // A dfs shard that stopped early matters only if it may have left out subtrees below the
    // lowest failing one (it explores its subtrees in order).
    let failing_subtree = lowest.as_ref().map(|(subtree, _, _)| *subtree);
    merged.cut_short.extend(
        stopped_at
            .into_iter()
            .filter(|(_, last)| failing_subtree.is_none_or(|f| last.is_none_or(|l| l < f)))
            .map(|(k, _)| k),
    );
    merged.cut_short.sort_unstable();
    if let Some((subtree, within, line)) = lowest {
        let before = subtree_runs.range(..subtree).try_fold(0u64, |sum, (_, runs)| sum.checked_add(*runs));
        let run = before.and_then(|b| b.checked_add(within));
        let run = run.ok_or_else(|| {
            format!("{}: the runs before the failure add up past 2^64; are the files whole?", merged.target)
        })?;
        merged.lowest = Some((run, line));
    }
    Ok(merged)
}

/// Records the subtrees a dfs shard's report lists, checking that each is the shard's and given
/// once, and that their runs are the shard's (`shard_runs`); returns the last one (where a
/// failure is) with the shard's runs before it.
fn subtrees_of(
    target: &str,
    place: &str,
    report: &Value,
    shard_runs: u64,
    k: u64,
    n: u64,
    runs: &mut BTreeMap<u64, u64>,
) -> Result<Option<(u64, u64)>, String> {
    let list = report["shard_subtrees"].as_array().ok_or_else(|| {
        format!("{place}: {target} is a dfs shard without its \"shard_subtrees\": check it again with this racelab")
    })?;
    let mut before = 0u64;
    let mut last = None;
    for entry in list {
        let (Some(subtree), Some(count)) = (entry["subtree"].as_u64(), entry["runs"].as_u64()) else {
            return Err(format!(
                "{place}: a subtree entry without a whole \"subtree\" and \"runs\": {entry}"
            ));
        };
        if last.is_some_and(|(previous, _)| subtree <= previous) {
            return Err(format!(
                "{place}: subtree {subtree} is listed after a later one; is the file whole?"
            ));
        }
        if subtree % n != k || runs.insert(subtree, count).is_some() {
            return Err(format!(
                "{place}: subtree {subtree} is not shard {k}/{n}'s, or is listed twice; is the file whole?"
            ));
        }
        last = Some((subtree, before));
        before = before.saturating_add(count);
    }
    // Every run of a split dfs is in one of its shard's subtrees (the probe runs are not counted).
    if before != shard_runs {
        return Err(format!(
            "{place}: its subtrees hold {before} runs and its report {shard_runs}; is the file whole?"
        ));
    }
    Ok(last)
}

/// How a shard's settings say it treated lock releases: forced (`--release-points on`/`off`),
/// restarted with points, or the default mode without a restart.
fn release_points_mode(settings: &Value) -> &'static str {
    match (&settings["release_points"], settings["restarted"].is_string()) {
        (Value::Bool(true), true) => "with release points after a restart",
        (Value::Bool(true), false) => "with --release-points on",
        (Value::Bool(false), _) => "with --release-points off",
        _ => "without release points (nothing observed a lock)",
    }
}

/// The run of a restart note, `run 12: try_acquire on Lock-1` (`u64::MAX` if it names none).
fn restart_run(note: &str) -> u64 {
    note.strip_prefix("run ")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// The shared settings as `check` echoes them (`strategy=random seed=5 runs=2000 ...`).
pub fn settings_line(m: &MergedTarget) -> String {
    let Some(fields) = m.settings.as_object() else { return m.settings.to_string() };
    let value = |v: &Value| match v {
        Value::Bool(true) => "on".to_string(),
        Value::Bool(false) => "off".to_string(),
        Value::Null => "none".to_string(),
        Value::String(s) if s.contains(' ') => format!("\"{s}\""),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let order = ["strategy", "seed", "depth", "runs", "max_steps", "spurious_wakeups", "adversarial_wakeups"];
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort_by_key(|k| (order.iter().position(|o| o == k).unwrap_or(order.len()), k.as_str()));
    keys.iter()
        .map(|k| format!("{}={}", k.replace('_', "-"), value(&fields[k.as_str()])))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The verdict line, as `check` words it.
pub fn verdict(m: &MergedTarget) -> String {
    let cut = if m.cut_short.is_empty() {
        String::new()
    } else {
        let ks: Vec<String> = m.cut_short.iter().map(u64::to_string).collect();
        let why = if m.exhaustive { "--max-time, --runs or Ctrl-C" } else { "--max-time or Ctrl-C" };
        format!(
            "; shard{} {} stopped early ({why}): not every run was made",
            plural(ks.len() as u64),
            ks.join(", ")
        )
    };
    // A failure whose line names no diagnosis (edited by hand) is still the merged failure.
    let named = |line: &Value| line["report"]["failure"]["kind"].as_str().unwrap_or("a failure").to_string();
    match (&m.lowest, m.diagnosis()) {
        (Some((run, line)), d) => {
            let d = d.unwrap_or_else(|| named(line));
            let preemptions = line["report"]["failure"]["preemptions"].as_u64().unwrap_or(0);
            format!(
                "BUG: {d} in run {run}, with {preemptions} preemption{} (over {} shards){cut}",
                plural(preemptions),
                m.shards
            )
        }
        _ if m.exhausted => format!(
            "no bug: every interleaving explored ({} run{} over {} shards, partial-order reduced)",
            m.runs(),
            plural(m.runs()),
            m.shards
        ),
        _ if m.exhaustive => format!(
            "no bug found in {} run{} over {} shards (the search was not exhausted){cut}",
            m.runs(),
            plural(m.runs()),
            m.shards
        ),
        _ => format!(
            "no bug found in {} run{} (sampled over {} shards, not exhaustive){cut}",
            m.runs(),
            plural(m.runs()),
            m.shards
        ),
    }
}

/// The coverage line, as `check` words it: the runs one unsharded exploration would have made,
/// and what the shards executed.
pub fn coverage(m: &MergedTarget) -> String {
    format!(
        "{} run{} as {} would make them ({} runs and {} steps executed over the shards)",
        m.runs(),
        plural(m.runs()),
        if m.exhaustive { "one process (--shard 0/1)" } else { "one unsharded run" },
        m.runs_executed,
        m.steps_executed
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random shard's output line, failing at `failing_run` if given.
    fn line(k: u64, n: u64, failing_run: Option<u64>, diagnosis: Option<&str>) -> (String, String) {
        let failure = failing_run.map_or(Value::Null, |run| {
            let mut f = serde_json::json!({ "run": run, "kind": "panic", "preemptions": 1 });
            if let Some(d) = diagnosis {
                f["diagnosis"] = serde_json::json!({ "kind": d });
            }
            f
        });
        let v = serde_json::json!({
            "target": "prog.py",
            "replay": failing_run.map(|_| "racelab-py replay prog.py --schedule \"v1 t1\""),
            "report": {
                "settings": { "strategy": "random", "seed": 0, "runs": 100, "shard": format!("{k}/{n}") },
                "runs": 10, "steps": 50, "failure": failure,
            },
        });
        (format!("shard-{k}.json"), v.to_string())
    }

    #[test]
    fn the_lowest_failure_over_the_shards_is_the_merged_one() {
        let merged =
            merge(&[line(0, 2, Some(6), Some("lost-update")), line(1, 2, Some(3), Some("deadlock"))])
                .expect("the shards merge");
        let m = &merged[0];
        assert_eq!(m.lowest.as_ref().map(|(run, _)| *run), Some(3));
        assert_eq!(m.runs(), 4);
        assert_eq!((m.runs_executed, m.steps_executed), (20, 100));
        assert_eq!(m.expected, None);
        assert_eq!(m.as_expected(), None);
        assert!(
            verdict(m).starts_with("BUG: deadlock in run 3, with 1 preemption (over 2 shards)"),
            "{}",
            verdict(m)
        );
    }

    #[test]
    fn a_failure_that_names_no_diagnosis_is_still_a_bug() {
        let merged = merge(&[line(0, 2, None, None), line(1, 2, Some(5), None)]).expect("the shards merge");
        assert!(merged[0].failed());
        assert!(verdict(&merged[0]).starts_with("BUG: panic in run 5"), "{}", verdict(&merged[0]));
    }

    #[test]
    fn counts_that_are_not_whole_numbers_are_refused() {
        for (field, value) in
            [("runs", serde_json::json!(-5)), ("steps", serde_json::json!("12")), ("runs", Value::Null)]
        {
            let (place, text) = line(1, 2, None, None);
            let mut v: Value = serde_json::from_str(&text).expect("json");
            v["report"][field] = value;
            let e = merge(&[line(0, 2, None, None), (place, v.to_string())]).expect_err("refused");
            assert!(e.contains(&format!("\"{field}\" is")) && e.contains("not a whole number"), "{e}");
        }
    }

    #[test]
    fn a_dfs_shard_whose_subtrees_do_not_hold_its_runs_is_refused() {
        // A hand-edited shard: its runs kept, its subtrees emptied. It used to merge, to a
        // different failing run.
        let dfs = |k: u64, subtrees: Value, runs: u64| {
            let v = serde_json::json!({
                "target": "prog.py",
                "report": {
                    "settings": { "strategy": "dfs", "runs": 1000, "shard": format!("{k}/2") },
                    "runs": runs, "steps": 50, "exhausted": true, "failure": null, "shard_subtrees": subtrees,
                },
            });
            (format!("shard-{k}.json"), v.to_string())
        };
        let whole = [
            dfs(0, serde_json::json!([{ "subtree": 0, "runs": 3 }, { "subtree": 2, "runs": 4 }]), 7),
            dfs(1, serde_json::json!([{ "subtree": 1, "runs": 5 }]), 5),
        ];
        let merged = merge(&whole).expect("the shards merge");
        assert_eq!(merged[0].runs_executed, 12);
        let e = merge(&[whole[0].clone(), dfs(1, serde_json::json!([]), 5)]).expect_err("refused");
        assert!(e.contains("its subtrees hold 0 runs and its report 5"), "{e}");
    }

    #[test]
    fn a_missing_shard_is_named() {
        let e = merge(&[line(0, 3, None, None), line(2, 3, None, None)]).expect_err("shard 1 is missing");
        assert!(e.contains("shard 1 of 3 missing"), "{e}");
    }
}
