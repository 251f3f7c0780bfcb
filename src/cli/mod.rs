//! The command line: arguments, the plan they make, and running it.

mod args;
mod plan;
mod run;

use clap::Parser;

/// Exit code: no bug found (or, for several targets, every verdict as expected).
pub const EXIT_OK: i32 = 0;
/// Exit code: a bug found (or, for several targets, a verdict not as expected).
pub const EXIT_BUG: i32 = 1;
/// Exit code: usage or internal error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: interrupted by Ctrl-C (128 + SIGINT, as shells report it); the partial verdict
/// was printed.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Parses, plans and runs; returns the exit code.
pub fn main() -> i32 {
    let args = match args::Cli::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's own output.
            let _ = e.print();
            return EXIT_OK;
        }
        Err(e) => {
            eprintln!("racelab: {}", one_line(&e.to_string()));
            return EXIT_USAGE;
        }
    };
    match plan::plan(args).and_then(run::run) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("racelab: {message}");
            EXIT_USAGE
        }
    }
}

/// clap's multi-line usage error as one line: its first line without the `error: ` prefix,
/// its tip if any, and where to look.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad arguments").trim_start_matches("error: ").to_string();
    let tip = lines.find_map(|l| l.strip_prefix("tip: ")).map(|t| format!("; {t}")).unwrap_or_default();
    format!("{first}{tip} (see `racelab --help`)")
}
