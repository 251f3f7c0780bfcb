//! Fuzzing the schedule parser with proptest (a bounded number of cases, run by `cargo test`):
//! whatever the text, `Schedule::from_str` returns, never panics, and allocates in proportion
//! to what it returns, never more than the schedule limit allows.
//!
//! This file is its own test binary with one test, so the counting allocator below sees only
//! the parser's allocations. `PROPTEST_CASES` raises the case count for a longer session.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use racelab_sim::schedule::MAX_DECISIONS;
use racelab_sim::Schedule;

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = IN_USE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated while `f` runs, above what was in use before it.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = IN_USE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let r = f();
    (r, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

/// Numbers as a user (or a typo) writes them: small, at the edges of u32/u64 and the repeat
/// limit, negative, fractional, empty, not numbers.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => (0u32..12).prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        3 => prop::sample::select(vec![
            "0", "4294967295", "4294967296", "18446744073709551615", "18446744073709551616",
            "10000000", "10000001", "9999999", "-1", "+3", "1.5", "", "1e3", "٣", "0x10", "00",
        ])
        .prop_map(String::from),
    ]
}

/// A repeat count: mostly small, sometimes at or past the limit (those cost real memory, so
/// they are rare).
fn repeat() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => (0u32..40).prop_map(|n| n.to_string()),
        4 => number(),
        1 => prop::sample::select(vec!["10000000", "5000000", "9999999", "10000001", "4294967295"])
            .prop_map(String::from),
    ]
}

fn token() -> impl Strategy<Value = String> {
    // Mostly valid tokens, so that many texts parse and long schedules are reached.
    let letter = prop_oneof![
        12 => prop::sample::select(vec!["t", "w", "o", "s", "r"]),
        1 => prop::sample::select(vec!["x", "T", "", "é", "*", "v"]),
    ];
    prop_oneof![
        40 => (letter, number(), prop::option::weighted(0.3, repeat())).prop_map(|(l, v, r)| match r {
            Some(r) => format!("{l}{v}*{r}"),
            None => format!("{l}{v}"),
        }),
        1 => "\\PC{0,12}",
        1 => prop::sample::select(vec!["v1", "v2", "*", "**", "t1**2", "t*3", "t1*2*3"]).prop_map(String::from),
    ]
}

fn schedule_text() -> impl Strategy<Value = String> {
    let version = prop::sample::select(vec!["v1", "v1", "v1", "v1", "v0", "V1", "", "v1t0"]);
    let sep = prop::sample::select(vec![" ", " ", "  ", "\t", "\n", "\u{a0}"]);
    (version, prop::collection::vec((sep, token()), 0..24), any::<bool>()).prop_map(|(v, tokens, lead)| {
        let mut text = if lead { format!(" {v}") } else { v.to_string() };
        for (sep, t) in tokens {
            text.push_str(sep);
            text.push_str(&t);
        }
        text
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(4096)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_schedule_parser_never_panics_and_allocates_in_bounds(text in schedule_text()) {
        let (parsed, peak) = peak_during(|| text.parse::<Schedule>());
        let tokens = text.split_whitespace().count();
        match parsed {
            Ok(schedule) => {
                prop_assert!(schedule.len() <= MAX_DECISIONS);
                // The decisions, at most twice over while the vector grows, and the text.
                let bound = 3 * std::mem::size_of::<racelab_sim::Choice>() * schedule.len() + 4 * text.len() + 4096;
                prop_assert!(peak <= bound, "{peak} bytes for {} decisions", schedule.len());
                // What parses prints back to text that parses to the same schedule.
                let again: Schedule = schedule.to_string().parse().expect("printed schedules parse");
                prop_assert_eq!(again, schedule);
            }
            Err(e) => {
                prop_assert!(e.token_index >= 1 && e.token_index <= tokens.max(1), "{e}");
                let message = e.to_string();
                prop_assert!(message.starts_with("malformed schedule: token ") && !message.contains('\n'), "{message}");
                let bound = 3 * std::mem::size_of::<racelab_sim::Choice>() * MAX_DECISIONS + 4 * text.len() + 4096;
                prop_assert!(peak <= bound, "{peak} bytes for a refused schedule");
            }
        }
    }
}
