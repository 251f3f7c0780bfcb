//! What an outside Rust user's trial (session 14) found, each fixed.

use racelab_sim::{check, diagnose, Config, DiagnosisKind};
use racelab_std::sync::atomic::{AtomicUsize, Ordering};
use racelab_std::sync::Arc;
use racelab_std::thread;

#[test]
fn a_traces_columns_line_up_when_an_operation_name_is_long() {
    // `compare_exchange` is 16 characters: in columns of fixed width it pushed its line's object
    // and result out of line with every other line.
    let report = check(Config::dfs().runs(100), || {
        let a = Arc::new(AtomicUsize::new(0));
        let b = Arc::clone(&a);
        let h = thread::spawn(move || {
            let _ = b.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
        });
        let _ = a.compare_exchange(0, 2, Ordering::SeqCst, Ordering::SeqCst);
        h.join().unwrap();
        assert_eq!(a.load(Ordering::SeqCst), 1);
    });
    let failure = report.failure.expect("main's exchange can come first");
    let text = failure.trace.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let column = |line: &str, word: &str| line.find(word).unwrap_or_else(|| panic!("{word:?} in {line:?}"));
    let object_at = column(lines[0], "object");
    let result_at = column(lines[0], "result");
    let mut exchanges = 0;
    for line in &lines[1..] {
        if line.contains("AtomicUsize-1") {
            assert_eq!(column(line, "AtomicUsize-1"), object_at, "object column:\n{text}");
            assert!(
                line.len() > result_at && &line[result_at - 2..result_at] == "  ",
                "result column:\n{text}"
            );
            exchanges += usize::from(line.contains("compare_exchange"));
        }
    }
    assert_eq!(exchanges, 2, "{text}");
}

#[test]
fn a_check_inside_a_run_is_diagnosed_as_racelabs_misuse_not_an_assertion() {
    let report = check(Config::dfs(), || {
        let _ = check(Config::dfs(), || {});
    });
    let failure = report.failure.expect("a nested check fails the run");
    let diagnosis = diagnose(&failure.kind, &failure.trace);
    assert_eq!(diagnosis.kind, DiagnosisKind::RacelabMisuse, "{diagnosis}");
    assert!(diagnosis.to_string().contains("cannot be nested"), "{diagnosis}");
}

thread_local! {
    static RUNS_SEEN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

#[test]
fn a_divergence_keeps_the_programs_own_failure_and_names_state_kept_between_runs() {
    // The report said "run 1 failed with a panic, but replaying its schedule gave a different
    // failure (panic)": the program's assertion message appeared nowhere, and the likely cause
    // (a `thread_local!` outliving its run) was not among those listed.
    let report = check(Config::dfs(), || {
        let seen = RUNS_SEEN.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        let h = thread::spawn(|| {});
        h.join().unwrap();
        assert_eq!(seen, 1, "the thread-local was shared between runs");
    });
    let failure = report.failure.expect("the second run fails, and its replay does not");
    let text = failure.kind.to_string();
    assert_eq!(failure.kind.name(), "divergence", "{text}");
    assert!(text.contains("the thread-local was shared between runs"), "{text}");
    assert!(text.contains("`thread_local!`"), "{text}");
    assert!(text.contains("left: 3"), "the replay's own failure: {text}");
}

#[test]
fn a_librarys_objects_are_marked_in_the_trace_and_left_out_of_the_story() {
    // A front-end marks what its library code makes (racelab-py: an executor's queue, a
    // future's condition): their events stay in the trace, marked, and the narration tells
    // only what decides the bug.
    let report = check(Config::dfs().runs(100), || {
        racelab_sim::rt::library_objects(true);
        let internal = racelab_std::sync::Mutex::new(0);
        racelab_sim::rt::library_objects(false);
        *internal.lock().unwrap() += 1;
        let n = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&n);
        let h = thread::spawn(move || {
            let v = m.load(Ordering::SeqCst);
            m.store(v + 1, Ordering::SeqCst);
        });
        let v = n.load(Ordering::SeqCst);
        n.store(v + 1, Ordering::SeqCst);
        h.join().unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 2, "lost update");
    });
    let failure = report.failure.expect("the lost update is found");
    let marked: Vec<_> = failure.trace.events.iter().filter(|e| e.library).collect();
    assert!(
        !marked.is_empty() && marked.iter().all(|e| e.object.as_deref() == Some("Mutex-1")),
        "{marked:?}"
    );
    assert!(
        failure.trace.to_json().contains("\"library\": true")
            || failure.trace.to_json().contains("\"library\":true")
    );
    let story = racelab_sim::narrate::narrate(&failure, None).to_string();
    assert!(!story.contains("Mutex-1"), "{story}");
}
