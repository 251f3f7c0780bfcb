//! The lessons in `docs/lessons/` cannot rot: every `racelab` command in them runs (the `$ racelab`
//! lines of their console blocks and the `racelab ...` commands quoted inline), exits 0 or 1, and
//! prints every line shown under it; every lesson has a `play` exercise whose solution wins and a
//! question.

#[path = "support/shell_words.rs"]
mod shell_words;

use shell_words::shell_words;

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn lessons() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/lessons");
    let mut pages: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("docs/lessons exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (name, std::fs::read_to_string(&p).expect("a readable lesson"))
        })
        .collect();
    pages.sort();
    pages
}

/// Runs `racelab <command>` in a scratch directory with nothing on standard input.
fn run(command: &str, scratch: &std::path::Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_racelab"))
        .args(shell_words(command))
        .current_dir(scratch)
        .stdin(Stdio::null())
        .output()
        .expect("racelab runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each `$ racelab` command of the page's console blocks with the lines shown under it.
fn console_commands(page: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for block in page.split("```console\n").skip(1) {
        let block = block.split("```").next().unwrap_or("");
        for line in block.lines() {
            match line.strip_prefix("$ racelab ") {
                Some(c) => out.push((c.to_string(), Vec::new())),
                None => {
                    let (_, shown) = out.last_mut().expect("a console block starts with a command");
                    shown.push(line.to_string());
                }
            }
        }
    }
    out
}

/// The `racelab ...` commands quoted inline (in backticks, outside code blocks) with their
/// arguments; placeholders (`<scenario>`) and bare names (`racelab check`) left out.
fn inline_commands(page: &str) -> Vec<String> {
    let prose: String = page.split("```").step_by(2).collect::<Vec<_>>().join("\n");
    prose
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|q| q.strip_prefix("racelab "))
        // A command with its arguments: not a mere name (`racelab check`), not a placeholder.
        .filter(|c| !c.contains('<') && c.split_whitespace().count() >= 2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_in_the_lessons_runs_and_prints_what_the_lesson_shows() {
    let scratch = std::env::temp_dir().join(format!("racelab-lessons-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch directory");
    let mut ran = 0;
    for (name, page) in lessons() {
        for (command, shown) in console_commands(&page) {
            let (code, stdout, stderr) = run(&command, &scratch);
            assert!(matches!(code, Some(0 | 1)), "{name}: `racelab {command}` exited {code:?}: {stderr}");
            for line in shown.iter().filter(|l| !l.trim().is_empty()) {
                assert!(
                    stdout.lines().any(|l| l.contains(line.as_str())),
                    "{name}: `racelab {command}` no longer prints `{line}`:\n{stdout}"
                );
            }
            ran += 1;
        }
        for command in inline_commands(&page) {
            let (code, _, stderr) = run(&command, &scratch);
            assert!(matches!(code, Some(0 | 1)), "{name}: `racelab {command}` exited {code:?}: {stderr}");
            ran += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(ran >= 50, "only {ran} commands in the lessons");
}

#[test]
fn every_lesson_has_commands_a_winning_play_exercise_and_a_question() {
    let pages = lessons();
    assert_eq!(pages.len(), 10, "nine lessons and their index");
    for (name, page) in pages.iter().filter(|(n, _)| n != "README.md") {
        for section in ["## Run it", "## What you will see", "## Play", "## Question"] {
            assert!(page.contains(section), "{name}: no `{section}`");
        }
        let commands = console_commands(page);
        let won = commands.iter().any(|(c, shown)| {
            c.starts_with("play ")
                && shown.iter().any(|l| l == "YOU WIN: you drove the threads into the bug.")
        });
        assert!(won, "{name}: no play exercise shown winning");
        let question = page.split("## Question").nth(1).unwrap_or("");
        assert!(question.contains('?'), "{name}: the question asks nothing");
        let index = &pages.iter().find(|(n, _)| n == "README.md").expect("an index").1;
        assert!(index.contains(&format!("({name})")), "the index links {name}");
    }
}
