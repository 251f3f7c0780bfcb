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
