//! The schedule: every nondeterministic decision of one run, as a value.
//!
//! Replay, exhaustive search and shrinking are all functions of this value, so it has a
//! readable, versioned text form that survives being pasted into an issue or a shell:
//!
//! ```text
//! v1 t1 t2*3 w0 t0 s1 r4
//! ```
//!
//! The first token names the format version. Each further token is one decision: a letter for
//! its kind and a number for what was decided, optionally followed by `*N` when the same
//! decision was taken N times in a row.
//!
//! | letter | decision | number |
//! | --- | --- | --- |
//! | `t` | which thread runs the next step | the thread id (`0` is main) |
//! | `w` | which waiter a wake-up picks | index among the waiters, oldest first |
//! | `o` | whether a timed wait times out before it is woken | `1` timed out, `0` woken |
//! | `s` | whether a condition wait wakes spuriously | `1` spurious wake-up, `0` none |
//! | `r` | a random value the program asked for (`racelab::choose`) | the value |
//!
//! Decisions with a single option (only one thread can run) are not recorded: they are forced,
//! and replay forces them the same way.
//!
//! Right after the version come the settings the run was recorded under that differ from the
//! defaults, as `key=value` tokens, so that a replay needs nothing but the schedule:
//!
//! ```text
//! v1 spurious-wakeups=0 adversarial-wakeups=on t1 t2*3 w1
//! ```
//!
//! | key | setting | values (default) |
//! | --- | --- | --- |
//! | `spurious-wakeups` | `Config::spurious_wakeups` | a number (`1`) |
//! | `adversarial-wakeups` | `Config::adversarial_wakeups` | `on`, `off` (`off`) |
//! | `daemon-cut-off` | `Config::fail_on_daemon_cut_off` | `fail`, `ignore` (`ignore`) |
//! | `thread-panics` | `Config::thread_panics` | `fail`, `join`, `join-or-ignore` (`fail`) |
//! | `release-points` | whether a lock release was a scheduling point ([`Config::release_points`](crate::Config::release_points)) | `on`, `off` (`on`) |
//!
//! A schedule without them (every schedule racelab printed before they existed) has the
//! defaults, and [`Config::replay`](crate::Config::replay) takes them from the schedule. That is
//! why `release-points` defaults to `on` here although explorations start without release points:
//! schedules printed before the mode existed were recorded with a point before every release, and
//! replay as they did then.
//!
//! A schedule racelab prints ends with `#` and 8 hex digits: a hash of the run's trace
//! ([`Trace::hash`](crate::trace::Trace::hash)). It plays no part in the replay; after one, the
//! replayed trace's hash is compared with it, so a program that now does something else under
//! the same decisions (a value or a message changed, not the threads' choices) is reported
//! instead of replaying silently into a different run. A schedule without it replays the same.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::{Semantics, ThreadPanics};

/// The version written as the first token of every schedule.
pub const FORMAT_VERSION: &str = "v1";

/// What kind of decision a [`Choice`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChoiceKind {
    /// Which runnable thread takes the next step.
    Thread,
    /// Which of several waiters a wake-up picks.
    Waiter,
    /// Whether a timeout fires before a wake-up that lands on the same instant.
    Timeout,
    /// Whether a condition wait returns without a notify.
    Spurious,
    /// A random value the program under test asked for.
    Random,
}

impl ChoiceKind {
    const ALL: [ChoiceKind; 5] = [
        ChoiceKind::Thread,
        ChoiceKind::Waiter,
        ChoiceKind::Timeout,
        ChoiceKind::Spurious,
        ChoiceKind::Random,
    ];

    /// The letter that stands for this kind in the text form.
    pub fn letter(self) -> char {
        match self {
            ChoiceKind::Thread => 't',
            ChoiceKind::Waiter => 'w',
            ChoiceKind::Timeout => 'o',
            ChoiceKind::Spurious => 's',
            ChoiceKind::Random => 'r',
        }
    }

    fn from_letter(c: char) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.letter() == c)
    }

    /// A short human description, used in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            ChoiceKind::Thread => "a thread choice",
            ChoiceKind::Waiter => "a waiter choice",
            ChoiceKind::Timeout => "a timeout choice",
            ChoiceKind::Spurious => "a spurious wake-up choice",
            ChoiceKind::Random => "a random value",
        }
    }
}

/// One recorded decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Choice {
    /// What was decided.
    pub kind: ChoiceKind,
    /// The option taken: a thread id for [`ChoiceKind::Thread`], an index otherwise.
    pub value: u32,
}

impl Choice {
    /// A decision of `kind` that took `value`.
    pub fn new(kind: ChoiceKind, value: u32) -> Self {
        Choice { kind, value }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.letter(), self.value)
    }
}

/// Every decision of one run, in order, and the hash of the run's trace when it is known.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schedule {
    choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trace_hash: Option<u32>,
    /// The settings the run was recorded under (the defaults when the text carried none).
    #[serde(default)]
    semantics: Semantics,
    /// Whether a lock release was a scheduling point in the run (true for schedules recorded
    /// before the mode existed, which had one before every release).
    #[serde(default = "release_points_on")]
    release_points: bool,
}

fn release_points_on() -> bool {
    true
}

impl Default for Schedule {
    /// No decision, the default settings: `v1`.
    fn default() -> Self {
        Schedule::from_choices(Vec::new())
    }
}

impl Schedule {
    /// A schedule of the given decisions.
    pub fn from_choices(choices: Vec<Choice>) -> Self {
        Schedule { choices, trace_hash: None, semantics: Semantics::DEFAULT, release_points: true }
    }

    /// The same decisions, recorded with (`true`) or without a scheduling point before each lock
    /// release (see [`Config::release_points`](crate::Config::release_points)).
    pub fn with_release_points(mut self, on: bool) -> Self {
        self.release_points = on;
        self
    }

    /// Whether the run had a scheduling point before each lock release: what a replay of it does.
    pub fn release_points(&self) -> bool {
        self.release_points
    }

    /// The same decisions, recorded under `semantics` (which the text form then carries).
    pub fn with_semantics(mut self, semantics: Semantics) -> Self {
        self.semantics = semantics;
        self
    }

    /// The settings the run was recorded under: what a replay of it uses.
    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    /// The same decisions, marked with the hash of the trace they gave (see the module
    /// documentation).
    pub fn with_trace_hash(mut self, hash: u32) -> Self {
        self.trace_hash = Some(hash);
        self
    }

    /// The hash of the trace the schedule gave when it was recorded, if it carries one.
    pub fn trace_hash(&self) -> Option<u32> {
        self.trace_hash
    }

    /// The decisions, in order.
    pub fn choices(&self) -> &[Choice] {
        &self.choices
    }

    /// How many decisions were recorded.
    pub fn len(&self) -> usize {
        self.choices.len()
    }

    /// True when the run made no decision at all (a single thread that never blocked).
    pub fn is_empty(&self) -> bool {
        self.choices.is_empty()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FORMAT_VERSION)?;
        write_settings(f, &self.semantics)?;
        if !self.release_points {
            f.write_str(" release-points=off")?;
        }
        let mut i = 0;
        while i < self.choices.len() {
            let c = self.choices[i];
            let run = self.choices[i..].iter().take_while(|&&d| d == c).count();
            if run > 1 {
                write!(f, " {c}*{run}")?;
            } else {
                write!(f, " {c}")?;
            }
            i += run;
        }
        if let Some(h) = self.trace_hash {
            write!(f, " #{h:08x}")?;
        }
        Ok(())
    }
}

/// The settings that differ from the defaults, each ` key=value` (see the module docs).
fn write_settings(f: &mut fmt::Formatter<'_>, s: &Semantics) -> fmt::Result {
    let d = Semantics::DEFAULT;
    if s.spurious_wakeups != d.spurious_wakeups {
        write!(f, " spurious-wakeups={}", s.spurious_wakeups)?;
    }
    if s.adversarial_wakeups != d.adversarial_wakeups {
        write!(f, " adversarial-wakeups={}", if s.adversarial_wakeups { "on" } else { "off" })?;
    }
    if s.fail_on_daemon_cut_off != d.fail_on_daemon_cut_off {
        write!(f, " daemon-cut-off={}", if s.fail_on_daemon_cut_off { "fail" } else { "ignore" })?;
    }
    if s.thread_panics != d.thread_panics {
        write!(f, " thread-panics={}", s.thread_panics.name())?;
    }
    Ok(())
}

/// Reads one `key=value` settings token into `s`, or says what is wrong with it.
fn read_setting(s: &mut Semantics, key: &str, value: &str) -> Result<(), String> {
    let on_off = |v: &str, on: &str, off: &str| match v {
        _ if v == on => Ok(true),
        _ if v == off => Ok(false),
        _ => Err(format!("`{key}` is `{on}` or `{off}`")),
    };
    match key {
        "spurious-wakeups" => {
            s.spurious_wakeups = value.parse().map_err(|_| {
                if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                    format!("`{key}` is at most {}", u32::MAX)
                } else {
                    format!("`{key}` is a non-negative number")
                }
            })?;
        }
        "adversarial-wakeups" => s.adversarial_wakeups = on_off(value, "on", "off")?,
        "daemon-cut-off" => s.fail_on_daemon_cut_off = on_off(value, "fail", "ignore")?,
        "thread-panics" => {
            s.thread_panics = ThreadPanics::from_name(value)
                .ok_or_else(|| format!("`{key}` is `fail`, `join` or `join-or-ignore`"))?;
        }
        _ => {
            return Err(
                "a setting is one of spurious-wakeups, adversarial-wakeups, daemon-cut-off, thread-panics, \
                 release-points"
                    .into(),
            )
        }
    }
    Ok(())
}

/// Why a schedule's text could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseScheduleError {
    /// The 1-based position of the offending token (the version is token 1).
    pub token_index: usize,
    /// The offending token.
    pub token: String,
    /// What was wrong and what was expected.
    pub reason: String,
}

impl fmt::Display for ParseScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed schedule: token {} `{}`: {}", self.token_index, self.token, self.reason)
    }
}

impl std::error::Error for ParseScheduleError {}

/// The most decisions a schedule's text may hold, `*N` repeats counted out: a limit against a
/// typo or a hostile paste that would otherwise allocate gigabytes (`v1` and twenty
/// `t0*10000000` tokens is 240 bytes and would be 200 million decisions, 1.6 GB). A run of the
/// default 100,000 steps records far fewer; ten million decisions take 80 MB.
pub const MAX_DECISIONS: usize = 10_000_000;

impl FromStr for Schedule {
    type Err = ParseScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut tokens = text.split_whitespace().enumerate();
        let err = |i: usize, token: &str, reason: String| ParseScheduleError {
            token_index: i + 1,
            token: token.to_string(),
            reason,
        };
        match tokens.next() {
            Some((_, v)) if v == FORMAT_VERSION => {}
            Some((i, v)) => {
                return Err(err(i, v, format!("expected the format version `{FORMAT_VERSION}` first")))
            }
            None => {
                return Err(ParseScheduleError {
                    token_index: 1,
                    token: String::new(),
                    reason: format!(
                        "empty schedule: expected `{FORMAT_VERSION}` and then decisions such as `t1 t0*3`"
                    ),
                })
            }
        }
        let mut choices = Vec::new();
        let mut trace_hash = None;
        let mut semantics = Semantics::DEFAULT;
        let mut release_points = true;
        let mut keys_seen: Vec<&str> = Vec::new();
        for (i, token) in tokens {
            if trace_hash.is_some() {
                return Err(err(i, token, "the trace hash `#...` comes last".into()));
            }
            if let Some((key, value)) = token.split_once('=') {
                if !choices.is_empty() {
                    return Err(err(
                        i,
                        token,
                        format!("settings come right after `{FORMAT_VERSION}`, before the decisions"),
                    ));
                }
                if keys_seen.contains(&key) {
                    return Err(err(i, token, format!("`{key}` is set twice: give each setting once")));
                }
                keys_seen.push(key);
                if key == "release-points" {
                    release_points = match value {
                        "on" => true,
                        "off" => false,
                        _ => return Err(err(i, token, format!("`{key}` is `on` or `off`"))),
                    };
                    continue;
                }
                read_setting(&mut semantics, key, value).map_err(|reason| err(i, token, reason))?;
                continue;
            }
            if let Some(hex) = token.strip_prefix('#') {
                let hash = Some(hex)
                    .filter(|h| h.len() == 8)
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .ok_or_else(|| err(i, token, "a trace hash is `#` and 8 hex digits".into()))?;
                trace_hash = Some(hash);
                continue;
            }
            let mut chars = token.chars();
            let letter = chars.next().unwrap_or(' ');
            let kind = ChoiceKind::from_letter(letter).ok_or_else(|| {
                err(i, token, "a decision starts with one of the letters t, w, o, s, r".into())
            })?;
            let rest = chars.as_str();
            let (value, repeat) = match rest.split_once('*') {
                Some((v, n)) => (v, Some(n)),
                None => (rest, None),
            };
            let value: u32 = value.parse().map_err(|_| {
                let why = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                    format!("`{value}` is too large: a decision is at most {}", u32::MAX)
                } else {
                    format!("`{value}` is not a non-negative number")
                };
                err(i, token, why)
            })?;
            let repeat: usize = match repeat {
                None => 1,
                Some(n) => n.parse().ok().filter(|&n| (1..=MAX_DECISIONS).contains(&n)).ok_or_else(|| {
                    err(i, token, format!("the repeat count after `*` must be between 1 and {MAX_DECISIONS}"))
                })?,
            };
            if repeat > MAX_DECISIONS - choices.len() {
                return Err(err(
                    i,
                    token,
                    format!(
                        "the schedule would hold more than {MAX_DECISIONS} decisions in all (the limit on a \
                         schedule's length, `*N` repeats counted out)"
                    ),
                ));
            }
            let choice = Choice::new(kind, value);
            choices.extend(std::iter::repeat_n(choice, repeat));
        }
        debug_assert!(choices.len() <= MAX_DECISIONS);
        Ok(Schedule { choices, trace_hash, semantics, release_points })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_with_runs() {
        let s = Schedule::from_choices(vec![
            Choice::new(ChoiceKind::Thread, 1),
            Choice::new(ChoiceKind::Thread, 2),
            Choice::new(ChoiceKind::Thread, 2),
            Choice::new(ChoiceKind::Thread, 2),
            Choice::new(ChoiceKind::Waiter, 0),
            Choice::new(ChoiceKind::Spurious, 1),
        ]);
        let text = s.to_string();
        assert_eq!(text, "v1 t1 t2*3 w0 s1");
        assert_eq!(text.parse::<Schedule>().unwrap(), s);
    }

    #[test]
    fn the_trace_hash_is_the_last_token_and_round_trips() {
        let s = Schedule::from_choices(vec![Choice::new(ChoiceKind::Thread, 1)]).with_trace_hash(0x00ab_12cd);
        assert_eq!(s.to_string(), "v1 t1 #00ab12cd");
        let back: Schedule = "v1 t1 #00ab12cd".parse().unwrap();
        assert_eq!((back.trace_hash(), back.choices()), (Some(0x00ab_12cd), s.choices()));
        assert_eq!("v1 t1".parse::<Schedule>().unwrap().trace_hash(), None);
        let e = "v1 #00ab12cd t1".parse::<Schedule>().unwrap_err();
        assert_eq!((e.token_index, e.token.as_str()), (3, "t1"));
        assert!(e.to_string().contains("comes last"), "{e}");
        for bad in ["v1 t1 #12", "v1 t1 #zzzzzzzz", "v1 t1 #123456789"] {
            let e = bad.parse::<Schedule>().unwrap_err();
            assert!(e.to_string().contains("8 hex digits"), "{bad}: {e}");
        }
    }

    #[test]
    fn settings_round_trip_and_old_schedules_keep_the_defaults() {
        let semantics = Semantics {
            spurious_wakeups: 0,
            adversarial_wakeups: true,
            fail_on_daemon_cut_off: true,
            thread_panics: ThreadPanics::Join,
        };
        let s = Schedule::from_choices(vec![Choice::new(ChoiceKind::Thread, 1)])
            .with_semantics(semantics)
            .with_trace_hash(0x1234_5678);
        let text = s.to_string();
        assert_eq!(
            text,
            "v1 spurious-wakeups=0 adversarial-wakeups=on daemon-cut-off=fail thread-panics=join t1 #12345678"
        );
        assert_eq!(text.parse::<Schedule>().unwrap(), s);
        // Only what differs from the defaults is written; a schedule without settings has them.
        let one = Semantics { spurious_wakeups: 3, ..Semantics::DEFAULT };
        assert_eq!(Schedule::default().with_semantics(one).to_string(), "v1 spurious-wakeups=3");
        assert_eq!("v1 t1 t0 #00ab12cd".parse::<Schedule>().unwrap().semantics(), Semantics::DEFAULT);
        assert_eq!(Schedule::from_choices(vec![]).with_semantics(Semantics::DEFAULT).to_string(), "v1");
    }

    #[test]
    fn the_release_points_mode_round_trips_and_old_schedules_had_points() {
        let off = Schedule::from_choices(vec![Choice::new(ChoiceKind::Thread, 1)])
            .with_semantics(Semantics { spurious_wakeups: 0, ..Semantics::DEFAULT })
            .with_release_points(false)
            .with_trace_hash(0x1234_5678);
        let text = off.to_string();
        assert_eq!(text, "v1 spurious-wakeups=0 release-points=off t1 #12345678");
        assert_eq!(text.parse::<Schedule>().unwrap(), off);
        assert!(!off.release_points());
        // Written before the mode existed: a point before every release, as then.
        assert!("v1 t1 t0 #00ab12cd".parse::<Schedule>().unwrap().release_points());
        assert!("v1 release-points=on t1".parse::<Schedule>().unwrap().release_points());
        assert_eq!(Schedule::default().to_string(), "v1");
        let e = "v1 release-points=maybe".parse::<Schedule>().unwrap_err();
        assert_eq!((e.token_index, e.token.as_str()), (2, "release-points=maybe"));
        assert!(e.to_string().contains("`on` or `off`"), "{e}");
        // Old JSON (no field) reads as on too.
        let json = r#"{"choices":[],"semantics":{}}"#;
        assert!(serde_json::from_str::<Schedule>(json).unwrap().release_points());
    }

    #[test]
    fn bad_settings_name_the_token() {
        let e = "v1 t1 spurious-wakeups=0".parse::<Schedule>().unwrap_err();
        assert_eq!((e.token_index, e.token.as_str()), (3, "spurious-wakeups=0"));
        assert!(e.to_string().contains("right after `v1`"), "{e}");
        let e = "v1 spurious-wakeups=x".parse::<Schedule>().unwrap_err();
        assert!(e.to_string().contains("non-negative number"), "{e}");
        let e = "v1 spurious-wakeups=99999999999999999999 t1".parse::<Schedule>().unwrap_err();
        assert!(e.to_string().contains("`spurious-wakeups` is at most 4294967295"), "{e}");
        // A decision too large for its type is told so, not called negative (an outside trial).
        for text in ["v1 r4294967296", "v1 t99999999999999999999"] {
            let e = text.parse::<Schedule>().unwrap_err().to_string();
            assert!(e.contains("is too large: a decision is at most 4294967295"), "{e}");
        }
        let e = "v1 t-1".parse::<Schedule>().unwrap_err().to_string();
        assert!(e.contains("`-1` is not a non-negative number"), "{e}");
        let e = "v1 spurious-wakeups=0 spurious-wakeups=1 t2".parse::<Schedule>().unwrap_err();
        assert_eq!((e.token_index, e.token.as_str()), (3, "spurious-wakeups=1"));
        assert!(e.to_string().contains("set twice"), "{e}");
        let e = "v1 adversarial-wakeups=yes".parse::<Schedule>().unwrap_err();
        assert!(e.to_string().contains("`on` or `off`"), "{e}");
        let e = "v1 thread-panics=maybe".parse::<Schedule>().unwrap_err();
        assert!(e.to_string().contains("`join-or-ignore`"), "{e}");
        let e = "v1 speed=11".parse::<Schedule>().unwrap_err();
        assert!(e.to_string().contains("one of spurious-wakeups"), "{e}");
    }

    #[test]
    fn empty_schedule_is_just_the_version() {
        assert_eq!(Schedule::default().to_string(), "v1");
        assert!("v1".parse::<Schedule>().unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_token() {
        let e = "v2 t1".parse::<Schedule>().unwrap_err();
        assert_eq!((e.token_index, e.token.as_str()), (1, "v2"));
        let e = "v1 t1 x3".parse::<Schedule>().unwrap_err();
        assert_eq!((e.token_index, e.token.as_str()), (3, "x3"));
        assert!(e.to_string().contains("t, w, o, s, r"), "{e}");
        let e = "v1 t-1".parse::<Schedule>().unwrap_err();
        assert!(e.to_string().contains("not a non-negative number"), "{e}");
        let e = "v1 t1*0".parse::<Schedule>().unwrap_err();
        assert!(e.to_string().contains("repeat count"), "{e}");
        assert!("".parse::<Schedule>().unwrap_err().to_string().contains("empty schedule"));
    }

    #[test]
    fn the_total_length_is_capped_not_just_each_repeat() {
        // 240 bytes that would be 200 million decisions (1.6 GB) if each token were capped alone.
        let text = format!("v1{}", " t0*10000000".repeat(20));
        let e = text.parse::<Schedule>().unwrap_err();
        assert_eq!(e.token_index, 3, "{e}");
        assert!(e.to_string().contains("more than 10000000 decisions in all"), "{e}");
        // Up to the limit exactly is fine.
        let max = format!("v1 t0*{} t1*{}", MAX_DECISIONS - 1, 1);
        assert_eq!(max.parse::<Schedule>().unwrap().len(), MAX_DECISIONS);
        let e = format!("v1 t0*{} t1", MAX_DECISIONS).parse::<Schedule>().unwrap_err();
        assert_eq!((e.token_index, e.token.as_str()), (3, "t1"));
        let e = format!("v1 t0*{}", MAX_DECISIONS + 1).parse::<Schedule>().unwrap_err();
        assert!(e.to_string().contains("between 1 and 10000000"), "{e}");
    }
}
