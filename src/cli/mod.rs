//! The command line: arguments, the plan they make, and running it.

/// `eprintln!` that ignores a closed standard error (`racelab ... 2>&1 | head -1`) instead of
/// panicking with exit code 101: the exit code stays the one the run gives.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($t)*);
    }};
}

mod args;
#[cfg(test)]
mod fuzz;
mod merge;
mod plan;
mod play;
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
    match plan_or_exit(std::env::args_os()) {
        Ok(plan) => match run::run(plan) {
            Ok(code) => code,
            Err(message) => usage_error(&message),
        },
        Err(code) => code,
    }
}

/// Arguments to a validated plan, or the exit code to leave with (0 after `--help` or
/// `--version`, 2 after printing the one-line error). Nothing runs here: the fuzz tests drive
/// this step in-process.
fn plan_or_exit<I, T>(args: I) -> Result<plan::Plan, i32>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = match args::Cli::try_parse_from(args) {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's own output.
            let _ = e.print();
            return Err(EXIT_OK);
        }
        Err(e) => return Err(usage_error(&clap_error(&e))),
    };
    plan::plan(args).map_err(|message| usage_error(&message))
}

/// Prints `racelab: <message>` once and gives the usage exit code.
fn usage_error(message: &str) -> i32 {
    debug_assert!(!message.is_empty() && !message.contains('\n'), "one line: {message:?}");
    errln!("racelab: {message}");
    EXIT_USAGE
}

/// A clap error as one line. An unknown value of a flag with a fixed set of values names the
/// nearest value and every value (clap's own tip misses swapped letters: `dsf` for `dfs`).
fn clap_error(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::InvalidValue {
        if let (
            Some(ContextValue::String(flag)),
            Some(ContextValue::String(value)),
            Some(ContextValue::Strings(valid)),
        ) =
            (e.get(ContextKind::InvalidArg), e.get(ContextKind::InvalidValue), e.get(ContextKind::ValidValue))
        {
            let flag = flag.split_whitespace().next().unwrap_or(flag);
            if value.is_empty() {
                // `--seed` last on the line, or `--seed ""`: clap lists no values for a free one.
                if flag.starts_with('-') {
                    return format!("{flag} needs a value (see `racelab --help`)");
                }
                let name = flag.trim_matches(|c| c == '[' || c == ']' || c == '.' || c == '<' || c == '>');
                return format!("an empty {name} argument: give a non-empty value (see `racelab --help`)");
            }
            let hint = racelab_scenarios::nearest_of(value, valid.iter().map(String::as_str))
                .map(|n| format!("did you mean `{n}`? "))
                .unwrap_or_default();
            return format!(
                "invalid value `{value}` for {flag}: {hint}its values are: {} (see `racelab --help`)",
                valid.join(", ")
            );
        }
    }
    one_line(&e.to_string())
}

/// clap's multi-line usage error as one line: its first line without the `error: ` prefix,
/// its tip if any, and where to look.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad arguments").trim_start_matches("error: ").to_string();
    let tip = lines.find_map(|l| l.strip_prefix("tip: ")).map(|t| format!("; {t}")).unwrap_or_default();
    format!("{first}{tip} (see `racelab --help`)")
}
