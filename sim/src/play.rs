//! `play`: the user is the scheduler. The game runs any [`Playable`] program: a catalog
//! scenario for `racelab play`, a Python script for `racelab-py play`.
//!
//! A game is a list of moves, each the option the user took at one decision of the run (a thread
//! to step, or, where racelab would choose, which waiter a notify wakes, whether a wait wakes
//! spuriously, whether a timeout fires first). The game never steers the engine itself: every
//! position is computed through the public API, by running the program under the `guided`
//! strategy (relative choices: the user's moves, then "no preemption" to the end of the run).
//! Runs of a catalog program are deterministic and short, so a position costs one run per
//! option:
//!
//! - the options at decision `k` are the distinct decisions `k` of the runs whose `k`-th relative
//!   choice is 0, 1, 2... (the recorded schedule names each in absolute terms: `t2`, `w1`);
//! - the state at the decision is the common prefix of the traces of two such runs (they are
//!   the same run up to the decision), rebuilt by `narrate::SharedState`;
//! - each thread's next step is what its run does right after the decision;
//! - the run is over when the run that follows the moves has no decision left: the bug (a
//!   failure) is reached, or the run ended without it.
//!
//! Moves are typed, or given with `--moves 1,2,2,1` (`u` undoes, `h` asks for a hint): the number
//! shown in brackets, which for a thread is its id (`t1` is 1, as in schedules and traces). A
//! hint is the next move of the shortest failing run `check` knows.
//!
//! Every run of a game has a scheduling point before each lock release
//! ([`ReleasePoints::On`]): the probes of one position must all be runs of the same mode (an
//! `auto` run that observes a lock would switch mode under the player), and the player may stop
//! a thread right before it releases a lock, which is every interleaving there is.

use std::io::{BufRead, IsTerminal, Write};

use crate::narrate::SharedState;
use crate::{Choice, ChoiceKind, Config, Event, Failure, ReleasePoints, Report, Schedule, Trace};

/// Exit code: the run ended without the bug (or the game stopped).
pub const EXIT_OK: i32 = 0;
/// Exit code: the bug was reached.
pub const EXIT_BUG: i32 = 1;

/// What the game plays: a program, how to run a check of it, and how to name and show it.
pub struct Playable<'a> {
    /// How commands name it: `condition-buffer/if`, `prog.py`.
    pub name: String,
    /// One line on what the program is.
    pub summary: String,
    /// The Python the player reads (a scenario's model, the script itself).
    pub python: String,
    /// Runs a check of the program under the configuration given (the game asks for guided
    /// runs, and once, for a hint, for the exploration `base`).
    pub check: &'a dyn Fn(Config) -> Report,
    /// The line (0-based) of `python` where a thread stands, given its name and the events of
    /// its next step.
    pub line_of: &'a dyn Fn(&str, &[Event]) -> Option<usize>,
    /// The command that replays a schedule, without the schedule: `racelab replay x/y`.
    pub replay_command: String,
    /// The command that plays it, without moves: `racelab play x/y`.
    pub play_command: String,
    /// The command whose exploration a hint follows, for messages: `racelab check`.
    pub check_command: String,
    /// What the game says of a program whose check passes: `is a fixed variant`.
    pub no_bug_words: String,
}

/// `println!` that ignores a closed pipe.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

/// The most options a decision offers that the game lists (a notify among many waiters).
const MAX_OPTIONS: u32 = 32;

/// One option at a decision.
struct Option_ {
    /// The decision, as a schedule records it.
    choice: Choice,
    /// What the user types for it: a thread's id, or the option's index.
    key: u32,
    /// The relative choice that takes it (for the guided run).
    relative: u32,
    /// What it does: the events of the step it leads to.
    next: Vec<Event>,
}

/// Where the game stands.
enum Position {
    /// A decision is due.
    Decision {
        kind: ChoiceKind,
        options: Vec<Option_>,
        /// The run up to the decision.
        trace: Trace,
        /// Every thread seen so far, by id.
        threads: Vec<(u32, String)>,
        /// The decisions so far, absolute.
        so_far: Vec<Choice>,
    },
    /// The run is over: with the bug, or without it.
    Over { failure: Option<Box<Failure>>, schedule: Schedule, trace: Trace },
}

/// A game on one program.
struct Game<'a> {
    target: &'a Playable<'a>,
    base: Config,
    /// Relative choices taken so far.
    moves: Vec<u32>,
    /// The shortest failing schedule `check` finds (computed on the first hint).
    known_failure: Option<Option<Schedule>>,
    /// How many runs the check made when it passed, and whether they were every order.
    passes_after: Option<(u64, bool)>,
}

/// The outcome of one run the game asked for.
struct Probe {
    schedule: Schedule,
    trace: Trace,
    failure: Option<Box<Failure>>,
}

impl<'a> Game<'a> {
    fn new(target: &'a Playable<'a>, base: Config) -> Self {
        Game { target, base, moves: Vec::new(), known_failure: None, passes_after: None }
    }

    /// The variant's run following `relative` choices, then "no preemption".
    fn probe(&self, relative: Vec<u32>) -> Probe {
        let sem = self.base.semantics();
        let config = Config::guided(relative)
            .trace_run(0)
            .spurious_wakeups(sem.spurious_wakeups)
            .adversarial_wakeups(sem.adversarial_wakeups)
            .fail_on_daemon_cut_off(sem.fail_on_daemon_cut_off)
            .release_points(ReleasePoints::On)
            .max_steps(self.base.step_limit());
        let report = (self.target.check)(config);
        match (report.failure, report.traced) {
            (Some(f), _) => {
                Probe { schedule: f.schedule.clone(), trace: f.trace.clone(), failure: Some(Box::new(f)) }
            }
            (None, Some(t)) => Probe { schedule: t.schedule, trace: t.trace, failure: None },
            (None, None) => {
                Probe { schedule: Schedule::from_choices(Vec::new()), trace: Trace::default(), failure: None }
            }
        }
    }

    fn position(&self) -> Position {
        let k = self.moves.len();
        let with = |j: u32| {
            let mut r = self.moves.clone();
            r.push(j);
            self.probe(r)
        };
        let first = with(0);
        let Some(&c0) = first.schedule.choices().get(k) else {
            // No decision left: the moves made decide the rest.
            return Position::Over { failure: first.failure, schedule: first.schedule, trace: first.trace };
        };
        let so_far = first.schedule.choices()[..k].to_vec();
        let mut probes = vec![(0u32, c0, first)];
        for j in 1..MAX_OPTIONS {
            let p = with(j);
            let Some(&c) = p.schedule.choices().get(k) else { break };
            // The guided strategy wraps (threads) or caps (other choices): a repeat ends the list.
            if probes.iter().any(|(_, seen, _)| *seen == c) {
                break;
            }
            probes.push((j, c, p));
        }
        let cut = match probes.get(1) {
            Some((_, _, second)) => common_prefix(&probes[0].2.trace, &second.trace),
            None => probes[0].2.trace.events.len(),
        };
        let mut threads: Vec<(u32, String)> = Vec::new();
        for (_, _, p) in &probes {
            for e in &p.trace.events {
                if !threads.iter().any(|(id, _)| *id == e.thread_id) {
                    threads.push((e.thread_id, e.thread.clone()));
                }
            }
        }
        threads.sort();
        let kind = c0.kind;
        let options: Vec<Option_> = probes
            .iter()
            .map(|(j, c, p)| {
                let events = &p.trace.events;
                let step = events.get(cut).map(|e| e.step);
                let next: Vec<Event> = events[cut.min(events.len())..]
                    .iter()
                    .take_while(|e| Some(e.step) == step)
                    .cloned()
                    .collect();
                Option_ { choice: *c, key: c.value, relative: *j, next }
            })
            .collect();
        let mut options: Vec<Option_> = options;
        options.sort_by_key(|o| o.key);
        let mut trace = probes[0].2.trace.clone();
        trace.events.truncate(cut);
        Position::Decision { kind, options, trace, threads, so_far }
    }

    /// The shortest failing schedule `check` finds for this variant (`None`: it passes).
    fn known_failure(&mut self) -> Option<Schedule> {
        if self.known_failure.is_none() {
            let report = (self.target.check)(self.base.clone().release_points(ReleasePoints::On));
            if report.failure.is_none() {
                self.passes_after = Some((report.runs, report.exhausted));
            }
            self.known_failure = Some(report.failure.map(|f| f.schedule));
        }
        self.known_failure.clone().flatten()
    }
}

fn common_prefix(a: &Trace, b: &Trace) -> usize {
    a.events.iter().zip(&b.events).take_while(|(x, y)| x == y).count()
}

/// How a game session ends.
enum Input {
    Move(u32),
    Undo,
    Hint,
    Quit,
}

fn parse(token: &str) -> Result<Input, String> {
    match token.trim() {
        "u" | "undo" => Ok(Input::Undo),
        "h" | "hint" => Ok(Input::Hint),
        "q" | "quit" => Ok(Input::Quit),
        t => t.strip_prefix('t').unwrap_or(t).parse().map(Input::Move).map_err(|_| {
            format!("`{t}` is not a move: type the number in brackets, u (undo), h (hint) or q (quit)")
        }),
    }
}

/// Plays `target`: scripted `moves` when given (then stops), else moves read from standard input,
/// one per line. Returns the exit code: 1 when the bug is reached, 0 otherwise; bad moves in a
/// script are an error (exit 2).
pub fn play(target: &Playable<'_>, base: Config, moves: Option<String>) -> Result<i32, String> {
    let mut game = Game::new(target, base);
    let tty = std::io::stdin().is_terminal() && moves.is_none();
    say!("{}: you are the scheduler.", target.play_command);
    say!("{}", target.summary);
    say!("Pick who moves next by the number in brackets; u undoes a move, h gives a hint, q quits.");
    say!();
    say!("Python:");
    for line in target.python.lines() {
        say!("    {line}");
    }
    let mut script: Option<Vec<String>> =
        moves.map(|m| m.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect());
    let mut script_at = 0;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut shown = None;
    loop {
        let position = game.position();
        let Position::Decision { kind, options, trace, threads, so_far } = &position else {
            if let Some(left) = script.as_ref().map(|s| s.len().saturating_sub(script_at)).filter(|&n| n > 0)
            {
                say!();
                say!(
                    "(the run ended with {left} scripted move{} left unplayed)",
                    if left == 1 { "" } else { "s" }
                );
            }
            return Ok(over(&mut game, position));
        };
        // A hint or a refused move leaves the position as it was: it is not shown again.
        if shown != Some(game.moves.clone()) {
            show(&game, *kind, options, trace, threads, tty);
            shown = Some(game.moves.clone());
        }
        let token = match script.as_mut() {
            Some(s) => match s.get(script_at) {
                Some(t) => {
                    script_at += 1;
                    say!("> {t}");
                    t.clone()
                }
                None => {
                    say!();
                    say!("the scripted moves are used up before the run ended; go on with");
                    let moves = keys(&game, so_far);
                    if moves.is_empty() {
                        // Undone to the start: `--moves ` with nothing after it is refused.
                        say!("  {}", target.play_command);
                    } else {
                        say!("  {} --moves {}", target.play_command, moves.join(","));
                    }
                    return Ok(EXIT_OK);
                }
            },
            None => {
                if tty {
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "> ");
                    let _ = out.flush();
                }
                match lines.next() {
                    Some(Ok(l)) if l.trim().is_empty() => continue,
                    Some(Ok(l)) => {
                        if !tty {
                            say!("> {}", l.trim());
                        }
                        l
                    }
                    _ => {
                        say!("(no more moves)");
                        return Ok(EXIT_OK);
                    }
                }
            }
        };
        let input = match parse(&token) {
            Ok(i) => i,
            Err(e) if script.is_some() => return Err(format!("move {script_at}: {e}")),
            Err(e) => {
                say!("{e}");
                continue;
            }
        };
        match input {
            Input::Quit => {
                say!("moves so far: {}", keys(&game, so_far).join(","));
                return Ok(EXIT_OK);
            }
            Input::Undo => {
                if game.moves.pop().is_none() {
                    say!("nothing to undo: this is the start of the run");
                } else {
                    say!("undone: back to move {}", game.moves.len() + 1);
                }
            }
            Input::Hint => say!("hint: {}", hint(&mut game, options, so_far)),
            Input::Move(key) => match options.iter().find(|o| o.key == key) {
                Some(o) => game.moves.push(o.relative),
                None => {
                    let valid: Vec<String> = options.iter().map(|o| o.key.to_string()).collect();
                    let e = format!("{key} cannot be chosen now; choose one of {}", valid.join(", "));
                    if script.is_some() {
                        return Err(format!("move {script_at}: {e}"));
                    }
                    say!("{e}");
                }
            },
        }
    }
}

/// The keys of the decisions so far: what `--moves` takes to come back here.
fn keys(_game: &Game<'_>, so_far: &[Choice]) -> Vec<String> {
    so_far.iter().map(|c| c.value.to_string()).collect()
}

fn show(
    game: &Game<'_>,
    kind: ChoiceKind,
    options: &[Option_],
    trace: &Trace,
    threads: &[(u32, String)],
    tty: bool,
) {
    let state = SharedState::at(trace, trace.events.len());
    let step = trace.events.last().map_or(0, |e| e.step);
    say!();
    if tty {
        say!("\x1b[1m--- move {}: after step {step} ---\x1b[0m", game.moves.len() + 1);
    } else {
        say!("--- move {}: after step {step} ---", game.moves.len() + 1);
    }
    say!("threads:");
    for (id, name) in threads {
        let option = options.iter().find(|o| kind == ChoiceKind::Thread && o.key == *id);
        let status = match option {
            Some(o) => format!("can move; next: {}", describe(&o.next, Some(name))),
            None if state.finished.contains(name) => "finished".into(),
            None => match state.waiters.iter().find(|(_, w)| w.contains(name)) {
                Some((obj, _)) => format!("blocked on {obj}"),
                // Racelab decides something else first (a wake-up, a value): which threads move
                // after it is the next move's question, not an answer to give now.
                None if kind != ChoiceKind::Thread => "waits for the choice below".into(),
                None => match trace.events.iter().rev().find(|e| e.thread == *name) {
                    Some(e) => format!("cannot move (last: {})", describe(std::slice::from_ref(e), None)),
                    None => "cannot move".into(),
                },
            },
        };
        let key = if option.is_some() { format!("[{id}]") } else { String::new() };
        say!("  {key:>5} {name:<14} {status}");
    }
    say!("shared state:");
    for line in state.lines() {
        say!("    {line}");
    }
    if kind != ChoiceKind::Thread {
        say!("racelab would choose here: {}", kind.describe());
        for o in options {
            say!("  [{}] {}; next: {}", o.key, choice_label(kind, o), describe(&o.next, None));
        }
    }
    let python = python_markers(game, options, threads, kind);
    if !python.is_empty() {
        say!("in the Python:");
        for l in python {
            say!("    {l}");
        }
    }
    let keys: Vec<String> = options.iter().map(|o| o.key.to_string()).collect();
    say!("your move: {} (u undo, h hint, q quit)", keys.join(" / "));
}

/// The Python lines where the threads that can move stand, marked with their keys: the line of
/// each thread's function (`def consumer` for consumer-1) that names its next operation.
fn python_markers(
    game: &Game<'_>,
    options: &[Option_],
    threads: &[(u32, String)],
    kind: ChoiceKind,
) -> Vec<String> {
    if kind != ChoiceKind::Thread {
        return Vec::new();
    }
    let python: Vec<&str> = game.target.python.lines().collect();
    let mut marks: Vec<(usize, String)> = Vec::new();
    for o in options {
        let Some(name) = threads.iter().find(|(id, _)| *id == o.key).map(|(_, n)| n.as_str()) else {
            continue;
        };
        let own: Vec<Event> = o.next.iter().filter(|e| e.thread == name).cloned().collect();
        if own.is_empty() {
            continue;
        }
        if let Some(line) = (game.target.line_of)(name, &own).filter(|&l| l < python.len()) {
            marks.push((line, format!("[{}] {name}", o.key)));
        }
    }
    marks.sort();
    marks.into_iter().map(|(i, who)| format!("{:<60} <- {who}", python[i].trim_end())).collect()
}

/// What a non-thread option means, in words.
fn choice_label(kind: ChoiceKind, o: &Option_) -> String {
    match (kind, o.key) {
        (ChoiceKind::Spurious, 0) => "no spurious wake-up".into(),
        (ChoiceKind::Spurious, _) => "a spurious wake-up: the wait returns without a notify".into(),
        (ChoiceKind::Timeout, 0) => "the wake-up comes first".into(),
        (ChoiceKind::Timeout, _) => "the timeout fires first".into(),
        (ChoiceKind::Waiter, k) => {
            let woken = o.next.iter().find_map(|e| match &e.kind {
                Some(crate::EventKind::Notify { woken, .. }) => woken.first().cloned(),
                Some(crate::EventKind::Released { woken }) => woken.first().cloned(),
                _ => None,
            });
            match woken {
                Some(w) => format!("wake {w}"),
                None => format!("wake waiter {k}"),
            }
        }
        (_, k) => format!("option {k}"),
    }
}

/// A step's events in a few words: `notify_all condition: woke consumer-1`.
fn describe(events: &[Event], thread: Option<&str>) -> String {
    let own: Vec<&Event> = events.iter().filter(|e| thread.is_none_or(|t| e.thread == t)).collect();
    if own.is_empty() {
        return "(a step with nothing to show)".into();
    }
    // What follows a choice of racelab's (a wake-up, a value) says whose steps they are.
    let whose = thread.is_none();
    own.iter()
        .map(|e| {
            let who = if whose { format!("{} ", e.thread) } else { String::new() };
            match &e.object {
                Some(o) => format!("{who}{} {o}: {}", e.operation, e.result),
                None => format!("{who}{}: {}", e.operation, e.result),
            }
        })
        .collect::<Vec<_>>()
        .join(", then ")
}

fn hint(game: &mut Game<'_>, options: &[Option_], so_far: &[Choice]) -> String {
    let Some(failing) = game.known_failure() else {
        let (runs, every) = game.passes_after.unwrap_or((0, false));
        return if every {
            format!(
                "no order of moves breaks {}: `{}` explored every order ({runs} runs) and found no bug.",
                game.target.name, game.target.check_command
            )
        } else {
            format!(
                "`{}` found no bug in {} in {runs} runs (not every order): no hint to give.",
                game.target.check_command, game.target.name
            )
        };
    };
    let target = failing.choices();
    let k = so_far.len();
    match so_far.iter().zip(target).position(|(a, b)| a != b) {
        None => match target.get(k).and_then(|c| options.iter().find(|o| o.choice == *c)) {
            Some(o) => format!("play {} (the shortest failing run known goes on with {})", o.key, o.choice),
            None => "the shortest failing run known ends here: keep going".into(),
        },
        Some(m) => format!(
            "the shortest failing run known left your run at move {}: undo {} move{} (u), then play {}",
            m + 1,
            k - m,
            if k - m == 1 { "" } else { "s" },
            target[m].value
        ),
    }
}

/// The end of the run: the diagnosis when the bug is reached, the replayable schedule either way.
fn over(game: &mut Game<'_>, position: Position) -> i32 {
    let Position::Over { failure, schedule, trace } = position else { return EXIT_OK };
    let name = game.target.name.clone();
    say!();
    say!(
        "--- the run is over after {} move{} ---",
        game.moves.len(),
        if game.moves.len() == 1 { "" } else { "s" }
    );
    let state = SharedState::at(&trace, trace.events.len());
    say!("shared state:");
    for line in state.lines() {
        say!("    {line}");
    }
    let code = match &failure {
        Some(f) => {
            say!("YOU WIN: you drove the threads into the bug.");
            say!("{}", f.diagnosis);
            say!();
            let marked = f.trace.excerpt_marked("", f.failing_event()).whole();
            say!("trace:");
            let _ = write!(std::io::stdout().lock(), "{marked}");
            EXIT_BUG
        }
        None => {
            say!("The run ended without the bug.");
            if game.known_failure().is_none() {
                match game.passes_after.unwrap_or((0, false)) {
                    (runs, true) => say!(
                        "{name} {}: `{}` explored every order ({runs} runs) and none breaks it.",
                        game.target.no_bug_words,
                        game.target.check_command
                    ),
                    (runs, false) => say!(
                        "`{}` found no bug in {name} in {runs} runs (not every order).",
                        game.target.check_command
                    ),
                }
            } else {
                say!(
                    "This variant has a bug: undo (run play again with fewer --moves) or ask for a hint (h)."
                );
            }
            EXIT_OK
        }
    };
    let schedule = if failure.is_some() { schedule } else { schedule.with_trace_hash(trace.hash()) };
    say!("your run: {} --schedule \"{schedule}\"", game.target.replay_command);
    code
}
