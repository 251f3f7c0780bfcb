//! `Model::run` obeys `RACELAB_SCHEDULE` on a model built without the environment: the line a
//! failure prints ("replay this test: RACELAB_SCHEDULE=... cargo test ...") must replay the run
//! however the test built its model. In a binary of its own: it sets the process environment.

use racelab_std::sync::atomic::{AtomicUsize, Ordering};
use racelab_std::sync::Arc;
use racelab_std::{thread, Model};

fn lost_update() {
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
}

#[test]
fn a_builder_models_run_replays_the_schedule_its_failure_printed() {
    let model = Model::new().seed(7);
    let found = model.check(lost_update);
    let schedule = found.failure.as_ref().expect("the lost update is found").schedule.to_string();
    // The only test of this binary: no other thread reads the environment meanwhile.
    std::env::set_var("RACELAB_SCHEDULE", &schedule);
    let panic =
        std::panic::catch_unwind(|| model.run(lost_update)).expect_err("the replay fails as the run did");
    let text = panic.downcast_ref::<String>().expect("a formatted panic");
    assert!(text.contains(&format!("environment: RACELAB_SCHEDULE={schedule}\n")), "{text}");
    assert!(!text.contains("strategy=portfolio"), "it explored instead of replaying:\n{text}");
    std::env::set_var("RACELAB_SCHEDULE", "garbage");
    let panic = std::panic::catch_unwind(|| model.run(lost_update)).expect_err("a bad schedule is an error");
    let text = panic.downcast_ref::<String>().expect("a formatted panic");
    assert!(text.contains("RACELAB_SCHEDULE=\"garbage\" is not a schedule"), "{text}");
    std::env::remove_var("RACELAB_SCHEDULE");
}
