//! `racelab play`: the user as the scheduler, driven by scripted moves and by standard input
//! (plain line mode), to the seed's bugs and not on their fixed variants; undo and hints.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn play(target: &str, moves: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_racelab"))
        .args(["play", target, "--moves", moves])
        .stdin(Stdio::null())
        .output()
        .expect("racelab runs")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The seed's Event producer/consumer, played into its bug (the README's schedule, move by move).
const EVENT_MOVES: &str = "0,1,2,3,3,3,3,3,3,3,0,0,1,1,1,1,1";
/// Condition with `if`: consumer-1 waits, the producer puts and notifies, consumer-2 takes the
/// item first, consumer-1 pops from the empty queue.
const CONDITION_MOVES: &str = "0,2,1,1,3,2";

fn assert_won(out: &Output, diagnosis: &str) {
    let t = text(out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("YOU WIN: you drove the threads into the bug."), "{t}");
    assert!(t.contains(&format!("\n{diagnosis}: ")), "diagnosed as {diagnosis}: {t}");
    assert!(t.contains("<-- fails here"), "{t}");
}

fn assert_not_won(out: &Output) {
    let t = text(out);
    assert!(!t.contains("YOU WIN"), "{t}");
    assert_ne!(out.status.code(), Some(1), "{t}");
}

#[test]
fn scripted_moves_reach_the_event_producer_consumer_bug_and_not_on_the_queue_fix() {
    assert_won(&play("event-consumers/seed", EVENT_MOVES), "lost-data");
    let fixed = play("event-consumers/queue", EVENT_MOVES);
    assert_not_won(&fixed);
    let t = text(&fixed);
    assert!(t.contains("The run ended without the bug."), "{t}");
    assert!(t.contains("is a fixed variant: `racelab check` explored every order"), "{t}");
    assert!(t.contains("(the run ended with 11 scripted moves left unplayed)"), "{t}");
}

#[test]
fn scripted_moves_reach_the_condition_if_bug_and_not_with_while() {
    let won = play("condition-buffer/if", CONDITION_MOVES);
    assert_won(&won, "stolen-wakeup");
    let t = text(&won);
    assert!(t.contains("consumer-2 took the lock first (step 8)"), "{t}");
    // The state shown along the way: the data the lock protects, and who waits.
    assert!(t.contains("queue: [0]") && t.contains("condition: waiting: consumer-1"), "{t}");
    assert!(t.contains("[3] consumer-2     can move; next: acquire lock: ok"), "{t}");
    assert_not_won(&play("condition-buffer/while", CONDITION_MOVES));
}

#[test]
fn the_run_played_ends_with_a_schedule_that_replays_it() {
    let t = text(&play("condition-buffer/if", CONDITION_MOVES));
    let line = t.lines().find_map(|l| l.strip_prefix("your run: ")).expect("the schedule is printed");
    let schedule = line.split('"').nth(1).expect("a quoted schedule");
    let replay = Command::new(env!("CARGO_BIN_EXE_racelab"))
        .args(["replay", "condition-buffer/if", "--schedule", schedule])
        .output()
        .expect("racelab runs");
    assert_eq!(replay.status.code(), Some(1));
    assert!(text(&replay).starts_with("racelab replay condition-buffer/if"));
    assert!(text(&replay).contains("stolen-wakeup: consumer-1 was notified by producer at step 4"));
}

#[test]
fn undo_takes_moves_back() {
    // Two detours undone give the same game as none.
    let straight = play("condition-buffer/if", CONDITION_MOVES);
    let detour = play("condition-buffer/if", "u,0,3,u,2,1,3,u,u,1,1,3,2");
    assert_won(&detour, "stolen-wakeup");
    let t = text(&detour);
    assert!(t.contains("nothing to undo: this is the start of the run"), "{t}");
    assert!(t.contains("undone: back to move 2"), "{t}");
    let tail = |o: &Output| text(o).split("--- the run is over").nth(1).map(str::to_string);
    assert_eq!(tail(&detour), tail(&straight));
}

#[test]
fn following_the_hints_wins_and_a_fixed_variant_says_no_order_breaks_it() {
    let mut moves: Vec<String> = Vec::new();
    for _ in 0..40 {
        let mut script = moves.clone();
        script.push("h".into());
        let out = play("condition-buffer/if", &script.join(","));
        let t = text(&out);
        let hint =
            t.lines().find_map(|l| l.strip_prefix("hint: play ")).unwrap_or_else(|| panic!("a hint: {t}"));
        moves.push(hint.split_whitespace().next().expect("a move").to_string());
        let out = play("condition-buffer/if", &moves.join(","));
        if out.status.code() == Some(1) {
            assert_won(&out, "stolen-wakeup");
            return;
        }
    }
    panic!("40 hinted moves did not reach the bug: {moves:?}");
}

#[test]
fn hints_on_a_fixed_variant_and_after_a_wrong_turn() {
    let t = text(&play("condition-buffer/while", "h"));
    assert!(t.contains("hint: no order of moves breaks condition-buffer/while"), "{t}");
    // Away from the shortest failing run, the hint says how far to go back.
    let t = text(&play("condition-buffer/if", "1,h"));
    assert!(
        t.contains(
            "hint: the shortest failing run known left your run at move 1: undo 1 move (u), then play 2"
        ),
        "{t}"
    );
}

#[test]
fn plain_line_mode_reads_moves_from_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_racelab"))
        .args(["play", "condition-buffer/if"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("racelab runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"0\nnonsense\n7\n2\n1\n1\n3\n2\n").expect("moves written");
    drop(stdin);
    let out = child.wait_with_output().expect("racelab ends");
    assert_won(&out, "stolen-wakeup");
    let t = text(&out);
    assert!(t.contains("`nonsense` is not a move"), "{t}");
    assert!(t.contains("7 cannot be chosen now; choose one of 1, 2, 3"), "{t}");
    assert!(!t.contains('\u{1b}'), "no terminal control codes without a terminal");
}

#[test]
fn bad_scripted_moves_are_one_line_and_exit_2() {
    let out = play("condition-buffer/if", "0,9");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("racelab: move 2: 9 cannot be chosen now"), "{err}");
    let out = play("condition-buffer", "0");
    assert_eq!(out.status.code(), Some(2), "a variant is needed");
}

#[test]
fn where_racelab_would_choose_the_player_chooses() {
    // Which waiter a notify wakes (with --adversarial-wakeups; CPython wakes the oldest).
    let out = Command::new(env!("CARGO_BIN_EXE_racelab"))
        .args(["play", "notify-one/notify", "--adversarial-wakeups", "--moves", "0,2,3,1"])
        .stdin(Stdio::null())
        .output()
        .expect("racelab runs");
    let t = text(&out);
    assert!(t.contains("racelab would choose here: a waiter choice"), "{t}");
    assert!(t.contains("  [1] wake consumer-2; next: producer notify condition: woke consumer-2"), "{t}");
    // A spurious wake-up, where the variant allows one.
    let t = text(&play("condition-buffer/if-spurious", "2,0"));
    assert!(t.contains("racelab would choose here: a spurious wake-up choice"), "{t}");
    assert!(t.contains("[1] a spurious wake-up: the wait returns without a notify"), "{t}");
    // While racelab's choice is pending, the other threads wait for it (an outside trial: they
    // read "cannot move", with a stale "blocked" from before the lock was released).
    let at_choice = t.split("racelab would choose here: a spurious").next().unwrap_or_default();
    let threads = at_choice.rsplit("threads:").next().unwrap_or_default();
    assert!(threads.contains("waits for the choice below") && !threads.contains("cannot move"), "{threads}");
    assert_won(&play("condition-buffer/if-spurious", "2,0,1,1"), "spurious-wakeup");
}
