//! Finds the classic lock-order deadlock and prints racelab's report.
//!
//! Run with `cargo run --example lock_order`.

use racelab::{check, thread, Config, Lock};

fn main() {
    let report = check(Config::random(42).runs(100), || {
        let a = Lock::named("a");
        let b = Lock::named("b");
        let t1 = thread::Builder::new()
            .name("worker-1".into())
            .spawn(move || {
                let _ga = a.lock();
                let _gb = b.lock();
            })
            .unwrap();
        let t2 = thread::Builder::new()
            .name("worker-2".into())
            .spawn(move || {
                let _gb = b.lock();
                let _ga = a.lock();
            })
            .unwrap();
        t1.join().unwrap();
        t2.join().unwrap();
    });
    #[allow(clippy::print_stdout)]
    {
        println!("{report}");
    }
}
