//! The `racelab` command: list, show, check and replay the built-in scenario catalog.
//!
//! Raw arguments become a validated plan (`cli::plan`), the plan runs (`cli::run`), and errors
//! are printed once as `racelab: <message>`. Exit codes scripts can rely on: 0 no bug found
//! (for several targets: every verdict as expected), 1 bug found (or a verdict not as
//! expected), 2 usage or internal error.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
