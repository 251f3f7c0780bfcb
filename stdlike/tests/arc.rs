//! `racelab::sync::Arc`: the search sees its counts. Which thread drops a value last, what
//! `strong_count`, `try_unwrap` and `Weak::upgrade` return: the reduced search reaches every
//! outcome the plain search reaches; a value without a destructor costs the reduced search no
//! extra run; and the type works as std's does, inside a run and outside.

use std::collections::BTreeSet;

use racelab_sim::{check, Config, Report};
use racelab_std::sync::atomic::{AtomicUsize, Ordering};
use racelab_std::sync::{mpsc, Arc, Mutex, Weak};
use racelab_std::thread;

mod support;
use support::{explore, set};

/// The reduced search and the plain one: the same outcomes.
fn same_outcomes(program: fn() -> String) -> BTreeSet<String> {
    let (reduced, _) = explore(Config::dfs(), program);
    let (plain, _) = explore(Config::dfs().dpor(false), program);
    assert_eq!(reduced, plain, "DPOR reached different outcomes than the plain search");
    plain
}

/// Records, in its destructor, the thread that dropped it.
struct DroppedBy(Arc<Mutex<String>>);

impl Drop for DroppedBy {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = thread::current().name().unwrap_or("?").to_string();
    }
}

#[test]
fn the_search_explores_which_thread_drops_a_value_last() {
    let outcomes = same_outcomes(|| {
        let who = Arc::new(Mutex::new(String::new()));
        let value = Arc::new(DroppedBy(Arc::clone(&who)));
        let theirs = Arc::clone(&value);
        let h = thread::Builder::new().name("worker".into()).spawn(move || drop(theirs)).unwrap();
        drop(value);
        h.join().unwrap();
        let who = who.lock().unwrap().clone();
        who
    });
    assert_eq!(outcomes, set(&["main", "worker"]));
}

/// The last owner's destructor sends on a rendezvous channel only main receives from.
struct Notifier(mpsc::SyncSender<&'static str>);

impl Drop for Notifier {
    fn drop(&mut self) {
        self.0.send("closed").unwrap();
    }
}

#[test]
fn the_reduced_search_finds_a_deadlock_decided_by_the_last_drop() {
    // An outside trial's program (session 14): with std's `Arc` the reduced search called it
    // proven in 4 runs. main's own drop can be the last, and then main sends to itself.
    let program = || {
        let (tx, rx) = mpsc::sync_channel(0);
        let n = Arc::new(Notifier(tx));
        let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (n2, b2) = (Arc::clone(&n), Arc::clone(&b));
        let h = thread::spawn(move || {
            b2.fetch_add(1, Ordering::SeqCst);
            b2.fetch_add(1, Ordering::SeqCst);
            drop(n2);
        });
        a.fetch_add(1, Ordering::SeqCst);
        drop(n);
        a.fetch_add(1, Ordering::SeqCst);
        assert_eq!(rx.recv().unwrap(), "closed");
        h.join().unwrap();
    };
    for config in [Config::dfs(), Config::dfs().dpor(false), Config::dfs()] {
        let report = check(config.clone(), program);
        let failure = report.failure.unwrap_or_else(|| panic!("{config:?}: main's drop can be the last"));
        assert_eq!(failure.kind.name(), "deadlock", "{}", failure.kind);
    }
}

#[test]
fn strong_count_tells_whether_another_owner_is_left() {
    // "The last one out cleans up": each thread drops its handle and checks whether it was the
    // last. Both can see another owner (each checks before the other's drop): then nobody cleans
    // up.
    let outcomes = same_outcomes(|| {
        let a = Arc::new(0u8);
        let b = Arc::clone(&a);
        let h = thread::spawn(move || {
            let mine = Arc::clone(&b);
            drop(b);
            Arc::strong_count(&mine) == 1
        });
        let mine = Arc::clone(&a);
        drop(a);
        let main_last = Arc::strong_count(&mine) == 1;
        drop(mine);
        format!("main {main_last}, worker {}", h.join().unwrap())
    });
    assert_eq!(
        outcomes,
        set(&["main false, worker false", "main false, worker true", "main true, worker false"])
    );
}

#[test]
fn try_unwrap_and_upgrade_race_with_the_other_owners_drop() {
    let outcomes = same_outcomes(|| {
        let a = Arc::new(7u8);
        let weak: Weak<u8> = Arc::downgrade(&a);
        let b = Arc::clone(&a);
        let h = thread::spawn(move || drop(b));
        let unwrapped = match Arc::try_unwrap(a) {
            Ok(v) => format!("unwrapped {v}"),
            Err(a) => {
                drop(a);
                "shared".to_string()
            }
        };
        let upgraded = weak.upgrade().map(|v| *v);
        h.join().unwrap();
        format!("{unwrapped}, {upgraded:?}")
    });
    // main unwraps after the worker's drop; or fails, and then the value lives while the worker
    // has not dropped its handle yet.
    assert_eq!(outcomes, set(&["shared, None", "shared, Some(7)", "unwrapped 7, None"]));
}

/// Threads that each drop their handle of a value whose destructor touches nothing racelab
/// sees, with std's `Arc` or racelab's.
fn quiet_drops<A: Clone + Send + 'static>(
    value: A,
    lock: impl Fn(&A) + Send + Sync + Copy + 'static,
) -> String {
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let mine = value.clone();
            thread::spawn(move || {
                lock(&mine);
                drop(mine);
            })
        })
        .collect();
    drop(value);
    for h in hs {
        h.join().unwrap();
    }
    String::new()
}

#[test]
fn counting_costs_the_reduced_search_nothing_for_a_value_without_a_destructor() {
    let (_, with_std) = explore(Config::dfs(), || {
        quiet_drops(std::sync::Arc::new(Mutex::new(1)), |m| *m.lock().unwrap() += 1)
    });
    let (_, with_racelab) =
        explore(Config::dfs(), || quiet_drops(Arc::new(Mutex::new(1)), |m| *m.lock().unwrap() += 1));
    assert_eq!(with_racelab.runs, with_std.runs, "who drops last matters only with a destructor");
    // With one (a `Vec`'s, which does nothing racelab sees), the search tries each thread as the
    // last: measured here, not bounded.
    let (_, vec_std) = explore(Config::dfs(), || {
        quiet_drops(std::sync::Arc::new(Mutex::new(vec![1])), |m| m.lock().unwrap().push(2))
    });
    let (_, vec_racelab) =
        explore(Config::dfs(), || quiet_drops(Arc::new(Mutex::new(vec![1])), |m| m.lock().unwrap().push(2)));
    eprintln!(
        "3 threads racing to drop an Arc<Mutex<Vec>>: {} runs with std's Arc, {} with racelab's",
        vec_std.runs, vec_racelab.runs
    );
    assert!(vec_racelab.runs >= vec_std.runs);
}

/// A destructor that reads what another thread wrote through its own handle before dropping it.
struct ReadsOnDrop(racelab_std::cell::UnsafeCell<u32>);

impl Drop for ReadsOnDrop {
    fn drop(&mut self) {
        // SAFETY: the cell holds a `u32` for as long as the value lives; the detector checks the
        // access against the worker's write.
        let v = self.0.with(|p| unsafe { *p });
        assert!(v <= 1);
    }
}

#[test]
fn the_last_drop_comes_after_every_other_owners_accesses() {
    // std's `Arc` orders a value's destructor after every access made through the other
    // handles (a release per drop, an acquire at the last): no data race between the worker's
    // write and the destructor's read, whichever thread runs it.
    let report = check(Config::dfs(), || {
        let a = Arc::new(ReadsOnDrop(racelab_std::cell::UnsafeCell::new(0)));
        let b = Arc::clone(&a);
        let h = thread::spawn(move || {
            // SAFETY: a `u32` the cell holds; the detector checks the write.
            b.0.with_mut(|p| unsafe { *p = 1 });
            drop(b);
        });
        drop(a);
        h.join().unwrap();
    });
    report.assert_passed();
    assert!(report.exhausted, "{report}");
}

trait Speaks: Send + Sync {
    fn word(&self) -> &'static str;
}

struct Dog;

impl Speaks for Dog {
    fn word(&self) -> &'static str {
        "woof"
    }
}

#[test]
fn arc_works_as_stds_inside_a_run_and_outside() {
    fn exercise() -> String {
        let mut out = Vec::new();
        // Trait objects come from std's `Arc` or a `Box`.
        let dog: Arc<dyn Speaks> = Arc::from_std(std::sync::Arc::new(Dog) as std::sync::Arc<dyn Speaks>);
        let boxed: Arc<dyn Speaks> = Arc::from(Box::new(Dog) as Box<dyn Speaks>);
        out.push(format!("{} {}", dog.word(), boxed.word()));
        let any: Arc<dyn std::any::Any + Send + Sync> = Arc::from_std(std::sync::Arc::new(5u32));
        out.push(format!("{:?}", any.downcast::<u32>().map(|v| *v).ok()));
        let slice: Arc<[u8]> = vec![1, 2].into();
        let text: Arc<str> = Arc::from("hi");
        out.push(format!("{slice:?} {text} {}", Arc::new(3) == Arc::new(3)));
        let mut shared = Arc::new(vec![1]);
        let other = Arc::clone(&shared);
        Arc::make_mut(&mut shared).push(2);
        out.push(format!("{shared:?} {other:?} {}", Arc::ptr_eq(&shared, &other)));
        let mut alone = Arc::new(1);
        *Arc::get_mut(&mut alone).unwrap() += 1;
        out.push(format!("{:?} {:?}", Arc::into_inner(alone), Arc::into_inner(other)));
        struct Node {
            me: Weak<Node>,
        }
        let node = Arc::new_cyclic(|me| Node { me: me.clone() });
        out.push(format!("{}", Arc::ptr_eq(&node.me.upgrade().unwrap(), &node)));
        let raw = Arc::into_raw(Arc::new(9));
        // SAFETY: `raw` came from `into_raw` just above, given back once.
        let back = unsafe { Arc::from_raw(raw) };
        out.push(format!("{back} {}", Weak::<u8>::new().upgrade().is_none()));
        out.join("; ")
    }
    let expected = "woof woof; Some(5); [1, 2] hi true; [1, 2] [1] false; Some(2) Some([1]); true; 9 true";
    assert_eq!(exercise(), expected, "outside a run");
    let report = check(Config::dfs(), move || assert_eq!(exercise(), expected, "inside a run"));
    report.assert_passed();
}

#[test]
fn try_unwrap_after_a_done_signal_fails_while_the_worker_still_holds_its_clone() {
    // A classic: the worker sends "done" and only then, at the end of its closure, drops its
    // clone; main unwraps as soon as it hears "done". Without a point before the worker's drop,
    // the drop would join its send's step and the failure could never be seen.
    let report = check(Config::dfs(), || {
        let data = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let theirs = Arc::clone(&data);
        let h = thread::spawn(move || {
            theirs.lock().unwrap().push(1);
            tx.send(()).unwrap();
        });
        rx.recv().unwrap();
        let data = Arc::try_unwrap(data).expect("the worker is done with it");
        assert_eq!(data.into_inner().unwrap(), vec![1]);
        h.join().unwrap();
    });
    let failure = report.failure.expect("main can unwrap before the worker's drop");
    assert!(failure.kind.to_string().contains("the worker is done with it"), "{}", failure.kind);
    let trace = failure.trace.to_string();
    assert!(trace.contains("Arc<Mutex<Vec<i32>>>: shared: Err"), "{trace}");
    // The mark is on the failing operation, not on the receiver main's unwinding dropped.
    let marked = failure.trace.excerpt_marked("", failure.failing_event()).whole().to_string();
    let line = marked.lines().find(|l| l.contains("fails here")).unwrap_or_default().to_string();
    assert!(line.contains("try_unwrap"), "{marked}");
    assert!(report.settings.contains("restarted=\"run 0: Arc::try_unwrap\""), "{}", report.settings);
}

// A reviewer's programs (session 15): each reached outcomes the reduced search missed, or a
// verdict that depended on what the process had checked before.

#[test]
fn a_weak_sees_the_only_owner_cloned_at_its_own_moment() {
    // main may read between the worker's store and its clone: "flag 1 strong 1" (missed when the
    // clone joined the store's step).
    let outcomes = same_outcomes(|| {
        let a = Arc::new(0u8);
        let w = Arc::downgrade(&a);
        let flag = std::sync::Arc::new(AtomicUsize::new(0));
        let f2 = std::sync::Arc::clone(&flag);
        let (tx, rx) = mpsc::channel::<()>();
        let h = thread::spawn(move || {
            f2.store(1, Ordering::SeqCst);
            let c = Arc::clone(&a);
            rx.recv().unwrap();
            drop(c);
            drop(a);
        });
        let f = flag.load(Ordering::SeqCst);
        let n = w.strong_count();
        tx.send(()).unwrap();
        h.join().unwrap();
        format!("flag {f} strong {n}")
    });
    assert_eq!(outcomes, set(&["flag 0 strong 1", "flag 0 strong 2", "flag 1 strong 1", "flag 1 strong 2"]));
}

#[test]
fn another_owner_sees_the_first_downgrade_at_its_own_moment() {
    let outcomes = same_outcomes(|| {
        let a = Arc::new(0u8);
        let b = Arc::clone(&a);
        let flag = std::sync::Arc::new(AtomicUsize::new(0));
        let f2 = std::sync::Arc::clone(&flag);
        let (tx, rx) = mpsc::channel::<()>();
        let h = thread::spawn(move || {
            f2.store(1, Ordering::SeqCst);
            let w = Arc::downgrade(&b);
            rx.recv().unwrap();
            drop(w);
            drop(b);
        });
        let f = flag.load(Ordering::SeqCst);
        let n = Arc::weak_count(&a);
        tx.send(()).unwrap();
        h.join().unwrap();
        format!("flag {f} weak {n}")
    });
    assert_eq!(outcomes, set(&["flag 0 weak 0", "flag 0 weak 1", "flag 1 weak 0", "flag 1 weak 1"]));
}

#[test]
fn handles_made_apart_on_one_allocation_share_its_count() {
    let wrapped_twice = same_outcomes(|| {
        let s = std::sync::Arc::new(5u8);
        let a = Arc::from_std(std::sync::Arc::clone(&s));
        let b = Arc::from_std(s);
        let h = thread::spawn(move || drop(b));
        let n = Arc::strong_count(&a);
        h.join().unwrap();
        format!("{n}")
    });
    assert_eq!(wrapped_twice, set(&["1", "2"]));
    let from_raw = same_outcomes(|| {
        let a = Arc::new(5u8);
        let p = Arc::into_raw(Arc::clone(&a)) as usize;
        // SAFETY: `p` came from `into_raw`, given back once.
        let h = thread::spawn(move || drop(unsafe { Arc::from_raw(p as *const u8) }));
        let n = Arc::strong_count(&a);
        h.join().unwrap();
        format!("{n}")
    });
    assert_eq!(from_raw, set(&["1", "2"]));
}

#[test]
fn an_owner_rebuilt_from_a_raw_pointer_releases_to_the_last_drop() {
    // No data race between the worker's write and the destructor's read, whichever search.
    for config in [Config::dfs(), Config::dfs().dpor(false)] {
        let report = check(config, || {
            let a = Arc::new(ReadsOnDrop(racelab_std::cell::UnsafeCell::new(0)));
            let p = Arc::into_raw(Arc::clone(&a)) as usize;
            let h = thread::spawn(move || {
                // SAFETY: `p` came from `into_raw`, given back once.
                let b = unsafe { Arc::from_raw(p as *const ReadsOnDrop) };
                // SAFETY: a `u32` the cell holds; the detector checks the write.
                b.0.with_mut(|p| unsafe { *p = 1 });
                drop(b);
            });
            drop(a);
            h.join().unwrap();
        });
        report.assert_passed();
    }
}

/// Bumps an atomic in its destructor only when main drops it.
struct ActsOnlyInMain(std::sync::Arc<AtomicUsize>);

impl Drop for ActsOnlyInMain {
    fn drop(&mut self) {
        if thread::current().name() == Some("main") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn main_may_drop_last() -> String {
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let (x, y) = (std::sync::Arc::new(AtomicUsize::new(0)), std::sync::Arc::new(AtomicUsize::new(0)));
    let a = Arc::new(ActsOnlyInMain(std::sync::Arc::clone(&hits)));
    let b = Arc::clone(&a);
    let h = thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            y.fetch_add(1, Ordering::SeqCst);
            drop(b);
        })
        .unwrap();
    x.fetch_add(1, Ordering::SeqCst);
    drop(a);
    h.join().unwrap();
    format!("hits {}", hits.load(Ordering::SeqCst))
}

#[test]
fn a_destructor_that_acts_only_in_some_thread_is_explored_in_each() {
    // When a type's destructor counted as acting only once seen to act, the reduction never tried
    // main as the last owner here.
    assert_eq!(same_outcomes(main_may_drop_last), set(&["hits 0", "hits 1"]));
}

#[test]
fn a_verdict_does_not_depend_on_what_the_process_checked_before() {
    // When the acting types were learned per process, the reduced search passed before a plain
    // search ran the same program and failed after.
    let summary = |r: &Report| r.failure.as_ref().map(|f| (f.run, f.schedule.to_string()));
    let program = || assert_eq!(main_may_drop_last(), "hits 0", "main dropped it last");
    let first = check(Config::dfs(), program);
    let plain = check(Config::dfs().dpor(false), program);
    let again = check(Config::dfs(), program);
    assert!(first.failure.is_some() && plain.failure.is_some(), "{first}\n{plain}");
    assert_eq!(summary(&first), summary(&again));
}

/// A value whose destructor only drops a nested `Arc` (no racelab operation).
struct HoldsAnArc(#[allow(dead_code)] Arc<u8>);

#[test]
fn a_destructor_that_only_drops_a_nested_arc_does_not_act() {
    let (_, report) = explore(Config::dfs(), || {
        let v = Arc::new(HoldsAnArc(Arc::new(1)));
        let mine = Arc::clone(&v);
        let h = thread::spawn(move || drop(mine));
        drop(v);
        h.join().unwrap();
        String::new()
    });
    assert!(report.restarted().is_none(), "{report}");
}

/// Sends "dropped" when dropped.
struct Tell(mpsc::Sender<&'static str>);

impl Drop for Tell {
    fn drop(&mut self) {
        let _ = self.0.send("dropped");
    }
}

#[test]
fn a_panicking_threads_handle_may_be_dropped_after_the_others() {
    // An outside trial's program (session 15): the worker says it is about to fail, then panics,
    // its clone dropped as it unwinds; main then drops its own and expects the destructor to
    // have run. The worker may not have unwound yet: every search said "every interleaving
    // explored" while the drop in the unwinding joined the worker's send step.
    let program = || {
        let (tx, rx) = mpsc::channel();
        let t = Arc::new(Tell(tx));
        let t2 = Arc::clone(&t);
        let (stx, srx) = mpsc::channel();
        let h = thread::spawn(move || {
            let _t2 = t2;
            stx.send(()).unwrap();
            panic!("boom");
        });
        srx.recv().unwrap();
        drop(t);
        assert_eq!(rx.try_recv().ok(), Some("dropped"), "the worker had already dropped its clone");
        let _ = h.join();
    };
    for config in [Config::dfs(), Config::dfs().dpor(false)] {
        let report = check(config.thread_panics(racelab_sim::ThreadPanics::Join), program);
        let failure = report.failure.expect("main's drop need not be the last");
        assert!(failure.kind.to_string().contains("already dropped its clone"), "{}", failure.kind);
    }
}

#[test]
fn a_failure_whose_message_shows_addresses_is_not_a_divergence() {
    // An outside trial's `assert_eq!(Arc::as_ptr(&a), before)` after `make_mut`: its replay
    // failed with other addresses in the message, and the report called the program
    // nondeterministic.
    let report = check(Config::dfs(), || {
        let mut a = Arc::new(vec![1]);
        let b = Arc::clone(&a);
        let h = thread::spawn(move || drop(b));
        let before = Arc::as_ptr(&a);
        Arc::make_mut(&mut a).push(2);
        assert_eq!(Arc::as_ptr(&a), before, "make_mut moved the value");
        h.join().unwrap();
    });
    let failure = report.failure.expect("the worker may still hold its clone");
    assert_eq!(failure.kind.name(), "panic", "{}", failure.kind);
    assert!(failure.kind.to_string().contains("make_mut moved the value"), "{}", failure.kind);
}

#[test]
fn every_count_step_a_failure_turns_on_has_its_line_in_the_trace() {
    // An outside trial: the failing trace showed `Weak::upgrade` finding the value dropped, and
    // no line for main's drop of its last owner (an `Arc<i32>`: no destructor), nor for the
    // steps the count points took (the step numbers skipped).
    let report = check(Config::dfs(), || {
        let a = Arc::new(5);
        let w: Weak<i32> = Arc::downgrade(&a);
        let h = thread::spawn(move || w.upgrade().expect("still alive"));
        drop(a);
        h.join().unwrap();
    });
    let failure = report.failure.expect("the worker can upgrade after main's drop");
    let trace = failure.trace.to_string();
    let drop_line = trace
        .lines()
        .position(|l| l.contains(" main ") && l.contains("Arc<i32>: the last owner, drops the value"));
    let upgrade_line = trace.lines().position(|l| l.contains("upgrade"));
    assert!(drop_line.is_some() && drop_line < upgrade_line, "{drop_line:?} {upgrade_line:?}\n{trace}");
    // With a point before every count access that can matter, every step has a line: the
    // steps told are 0, 1, 2 ... without a gap (main's downgrade of a shared value, the clone
    // of a `Weak`, the drops of both `Weak`s).
    let report = check(Config::dfs().release_points(racelab_sim::ReleasePoints::On), || {
        let a = Arc::new(5);
        let b = Arc::clone(&a);
        let w: Weak<i32> = Arc::downgrade(&a);
        let w2 = w.clone();
        let h = thread::spawn(move || w2.upgrade().expect("still alive"));
        drop(w);
        drop(a);
        drop(b);
        h.join().unwrap();
    });
    let failure = report.failure.expect("the worker can upgrade after main's drops");
    let mut steps: Vec<u64> = failure.trace.events.iter().map(|e| e.step).collect();
    steps.dedup();
    assert!(steps.len() > 3 && steps.windows(2).all(|w| w[1] == w[0] + 1), "{steps:?}\n{}", failure.trace);
    let trace = failure.trace.to_string();
    for told in [
        "downgrade",
        "Arc<i32>: the first Weak of a shared value",
        "clone",
        "Weak of Arc<i32>",
        "one owner left",
    ] {
        assert!(trace.contains(told), "{told}\n{trace}");
    }
}
