//! racelab DPOR fuzzer, program 12285: printed by `Program::to_rust`; a test file of any crate
//! that depends on racelab can hold it as it is.
#![allow(unused_variables, unused_mut)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use racelab::sync::atomic::Ordering::SeqCst;
use racelab::{check, Config, Process};

/// The outcomes of the program over an exhaustive search, with DPOR or without.
pub fn outcomes(dpor: bool) -> BTreeSet<String> {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let sink = Arc::clone(&seen);
    let config = Config::dfs().dpor(dpor).spurious_wakeups(1);
    let report = check(config, move || {
        let o0 = &*Box::leak(Box::new((
            racelab::sync::Mutex::new(()),
            racelab::sync::Mutex::new(()),
            racelab::sync::Condvar::new(),
            racelab::sync::atomic::AtomicUsize::new(0),
        )));
        let mut log: Vec<String> = Vec::new();
        {
            let seen = o0.3.load(SeqCst);
            let (_g, w) = o0.2.wait_timeout(o0.1.lock().unwrap(), Duration::from_secs(1)).unwrap();
            log.push(format!("scw2={seen},{}", !w.timed_out()));
        }
        let w0 = Process::start("w0", move || {
            let mut log: Vec<String> = Vec::new();
            {
                let g = o0.0.lock().unwrap();
                let seen = o0.3.load(SeqCst);
                let (_g, w) = o0.2.wait_timeout(g, Duration::from_secs(2)).unwrap();
                log.push(format!("scw={seen},{}", !w.timed_out()));
            }
            {
                let _g = o0.0.lock().unwrap();
                o0.3.fetch_add(1, SeqCst);
                o0.2.notify_one();
            }
            drop(log);
        });
        let w1 = Process::start("w1", move || {
            let mut log: Vec<String> = Vec::new();
            o0.2.notify_all();
            o0.2.notify_one();
            drop(log);
        });
        w0.join();
        log.push(format!("exit0={:?}", w0.exitcode()));
        w1.join();
        log.push(format!("exit1={:?}", w1.exitcode()));
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
