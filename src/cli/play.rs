//! `racelab play <scenario>/<variant>`: the game of `racelab_sim::play` on a catalog variant,
//! with the scenario's Python beside it.

use racelab_sim::play::{play as play_game, Playable};
use racelab_sim::{check, Config, Event};

use super::plan::Target;

/// Plays `target` (see `racelab_sim::play::play`).
pub fn play(target: Target, base: Config, moves: Option<String>) -> Result<i32, String> {
    let python: Vec<String> = target.scenario.python.lines().map(str::to_string).collect();
    let program = target.variant.program;
    let check_it = move |config: Config| check(config, program);
    let line_of = |thread: &str, next: &[Event]| {
        let lines: Vec<&str> = python.iter().map(String::as_str).collect();
        next.first().and_then(|e| python_line(&lines, thread, &e.operation))
    };
    let playable = Playable {
        name: target.name(),
        summary: target.variant.summary.to_string(),
        python: target.scenario.python.to_string(),
        check: &check_it,
        line_of: &line_of,
        replay_command: format!("racelab replay {}", target.name()),
        play_command: format!("racelab play {}", target.name()),
        check_command: "racelab check".to_string(),
        no_bug_words: "is a fixed variant".to_string(),
    };
    play_game(&playable, base, moves)
}

/// The line of `python` where `thread` (a function named like it) does `operation`.
pub(crate) fn python_line(python: &[&str], thread: &str, operation: &str) -> Option<usize> {
    let role: String =
        thread.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_').replace('-', "_");
    let start = python.iter().position(|l| l.trim_start().starts_with(&format!("def {role}")));
    let end = start.map(|s| {
        python[s + 1..]
            .iter()
            .position(|l| !l.starts_with(' ') && !l.trim().is_empty())
            .map_or(python.len(), |e| s + 1 + e)
    });
    let range = match (start, end) {
        (Some(s), Some(e)) => s..e,
        _ => return None,
    };
    let needles: Vec<String> = match operation {
        "acquire" | "lock" => vec![".acquire(".into(), "with ".into()],
        "release" | "unlock" => vec![".release(".into()],
        "load" | "update" | "store" | "change" => return None,
        op => vec![format!(".{op}(")],
    };
    range.into_iter().find(|&i| needles.iter().any(|n| python[i].contains(n.as_str())))
}
