//! Fewer scheduling points, the same outcomes. A notify by the thread that holds the lock is no
//! longer a scheduling point of its own (it joins the step before it): this checks, with the
//! plain exhaustive search (every interleaving, no reduction), that every program of the
//! differential fuzzer that uses a Condition reaches exactly the same outcomes (or fails the same
//! way) with the old points and the new ones, and that it never takes more runs.
//!
//! Alone in its test binary: the old points come back through a process-wide switch
//! (`rt::NOTIFY_POINTS_FOR_TESTS`), which would leak into other tests running at the same time.

#[path = "support/program_fuzz.rs"]
mod program_fuzz;

use std::sync::atomic::Ordering;

use program_fuzz::{Obj, Program, Verdict};
use racelab_sim::rt::NOTIFY_POINTS_FOR_TESTS;

/// Runs per search before a program is skipped as too big for this test.
const CAP: u64 = 4_000;

fn explore_with_old_points(p: &Program, old: bool) -> Verdict {
    NOTIFY_POINTS_FOR_TESTS.store(old, Ordering::SeqCst);
    let v = p.explore(false, CAP, None);
    NOTIFY_POINTS_FOR_TESTS.store(false, Ordering::SeqCst);
    v
}

#[test]
fn a_notify_under_the_lock_needs_no_point_of_its_own() {
    let programs = Program::pairs().into_iter().chain((0..300).map(Program::generate));
    let (mut compared, mut old_runs, mut new_runs) = (0, 0, 0);
    for p in programs.filter(|p| p.objects.iter().any(|o| matches!(o, Obj::Cond))) {
        let old = explore_with_old_points(&p, true);
        let new = explore_with_old_points(&p, false);
        match (&old, &new) {
            (Verdict::Unfinished, _) | (_, Verdict::Unfinished) => continue,
            (Verdict::Outcomes(a, ra), Verdict::Outcomes(b, rb)) => {
                assert_eq!(a, b, "program {}: outcomes differ\n{}", p.seed, p.to_rust());
                assert!(rb <= ra, "program {}: {rb} runs with fewer points, {ra} before", p.seed);
                old_runs += ra;
                new_runs += rb;
            }
            (a, b) => assert_eq!(a, b, "program {}: verdicts differ\n{}", p.seed, p.to_rust()),
        }
        compared += 1;
    }
    eprintln!("{compared} programs with a Condition: plain dfs {old_runs} runs before, {new_runs} now");
    assert!(compared >= 100, "only {compared} programs compared");
    assert!(new_runs < old_runs, "no program got cheaper: {new_runs} vs {old_runs}");
}
