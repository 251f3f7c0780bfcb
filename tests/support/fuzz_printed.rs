//! racelab DPOR fuzzer, program 940: printed by `Program::to_rust`; a test file of any crate
//! that depends on racelab can hold it as it is.
#![allow(unused_variables, unused_mut)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use racelab::thread;
use racelab::{check, Config, Event};

/// The outcomes of the program over an exhaustive search, with DPOR or without.
pub fn outcomes(dpor: bool) -> BTreeSet<String> {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let sink = Arc::clone(&seen);
    let config = Config::dfs().dpor(dpor).spurious_wakeups(0);
    let report = check(config, move || {
        let o0 = Event::new();
        let mut log: Vec<String> = Vec::new();
        let w0 = thread::Builder::new()
            .name("w0".into())
            .spawn(move || {
                let mut log: Vec<String> = Vec::new();
                log.push(format!("ew={}", o0.wait_timeout(Duration::from_secs(1))));
                thread::yield_now();
                log
            })
            .unwrap();
        thread::sleep(Duration::from_secs(1));
        o0.set();
        log.push(format!("join0={}", w0.join().unwrap().join(",")));
        log.push(format!("final0={}", o0.is_set()));
        sink.lock().unwrap().insert(log.join(" "));
    });
    report.assert_passed();
    assert!(report.exhausted, "{report}");
    let set = seen.lock().unwrap().clone();
    set
}

#[test]
fn dpor_reaches_the_plain_searchs_outcomes() {
    assert_eq!(outcomes(true), outcomes(false));
}
