//! Keeps the README honest: every `$ racelab ...` line of its session runs without a usage
//! error, and the output it shows for the first one is what racelab prints.

use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

fn run(line: &str) -> (Option<i32>, String) {
    let args = shell_words(line);
    let out = Command::new(env!("CARGO_BIN_EXE_racelab")).args(&args).output().expect("racelab runs");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Splits a command line on spaces, keeping double-quoted parts together.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The coverage line ends with wall time and throughput, which differ from run to run: they
/// are cut off (everything after the `;`) before comparing.
fn without_timing(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix("  coverage: ") {
            Some(rest) => format!("  coverage: {}", rest.split(';').next().unwrap_or("")),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_session_command_runs() {
    let text = readme();
    let commands: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("$ racelab ")).collect();
    assert!(commands.len() >= 4, "the README shows a session");
    for c in commands {
        let (code, _) = run(c);
        assert!(matches!(code, Some(0) | Some(1)), "README command `racelab {c}` exited {code:?}");
    }
}

#[test]
fn every_output_shown_is_what_racelab_prints() {
    let text = readme();
    let session = text.split("```console\n").nth(1).expect("a console block");
    let session = session.split("\n```").next().unwrap_or("");
    let mut shown = 0;
    let mut lines = session.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(command) = line.strip_prefix("$ racelab ") else { continue };
        let mut expected = Vec::new();
        while let Some(next) = lines.peek() {
            if next.starts_with("$ ") {
                break;
            }
            expected.push(*next);
            lines.next();
        }
        if expected.is_empty() {
            continue;
        }
        let (_, printed) = run(command);
        assert_eq!(
            without_timing(printed.trim_end()),
            without_timing(expected.join("\n").trim_end()),
            "README output of `racelab {command}` is out of date"
        );
        shown += 1;
    }
    assert!(shown >= 2, "the README shows a check and its replay");
}
