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

/// Parses, plans and runs; returns the exit code.
pub fn main() -> i32 {
    let args = match args::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
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
