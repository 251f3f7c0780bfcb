//! Keeps the README honest: every `$ racelab ...` line of its session exits with the code
//! listed here for it, and every output the session shows is what racelab prints.

#[path = "support/shell_words.rs"]
mod shell_words;

use shell_words::shell_words;

use std::process::Command;

/// Each command of the README's session and the exit code it must give (0 no bug, 1 bug). A
/// command added to the README must be added here, and one removed from it removed.
const EXIT_CODES: &[(&str, i32)] = &[
    ("check event-consumers/seed", 1),
    ("replay event-consumers/seed --schedule \"v1 t3*2 t0 t3*3 t1*5 t3*3 t1*5 t2 #f106c33c\"", 1),
    ("show event-consumers", 0),
    ("check lock-order/buggy", 1),
    ("check counter/buggy --strategy random --seed 7 --runs 500", 1),
    ("replay counter/buggy --seed 7 --run 0", 1),
    ("list", 0),
];

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

fn run(line: &str) -> (Option<i32>, String) {
    let args = shell_words(line);
    let out = Command::new(env!("CARGO_BIN_EXE_racelab")).args(&args).output().expect("racelab runs");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
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

/// The README's console session: each `$ racelab` command with the lines shown after it.
fn session() -> Vec<(String, Vec<String>)> {
    let text = readme();
    let block = text.split("```console\n").nth(1).expect("a console block");
    let block = block.split("\n```").next().unwrap_or("");
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("$ racelab ") {
            Some(command) => out.push((command.to_string(), Vec::new())),
            None => out.last_mut().expect("the session starts with a command").1.push(line.to_string()),
        }
    }
    out
}

#[test]
fn every_session_command_exits_as_listed() {
    let text = readme();
    let everywhere: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("$ racelab ")).collect();
    let session = session();
    let commands: Vec<&str> = session.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(everywhere, commands, "every `$ racelab` line is in the console session");
    let listed: Vec<&str> = EXIT_CODES.iter().map(|&(c, _)| c).collect();
    assert_eq!(commands, listed, "EXIT_CODES lists the README's commands, in order");
    for &(command, expected) in EXIT_CODES {
        let (code, _) = run(command);
        assert_eq!(code, Some(expected), "README command `racelab {command}`");
    }
}

#[test]
fn every_output_shown_is_what_racelab_prints() {
    let mut shown = 0;
    for (command, expected) in session() {
        if expected.is_empty() {
            continue;
        }
        let (_, printed) = run(&command);
        assert_eq!(
            without_timing(printed.trim_end()),
            without_timing(expected.join("\n").trim_end()),
            "README output of `racelab {command}` is out of date"
        );
        shown += 1;
    }
    assert_eq!(shown, 2, "the README shows a check and its replay");
}
