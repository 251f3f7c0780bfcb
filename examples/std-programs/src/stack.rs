//! A lock-free stack (Treiber's) of slot indices over a fixed arena, on `AtomicUsize`s.
//!
//! `pop` reads the head and its successor, then swings the head to the successor with a
//! `compare_exchange`. [`Stack::untagged`] compares the head's index only, which is the ABA
//! bug: the head can be popped and pushed back between the read and the exchange, which then
//! succeeds on a stale successor.
//!
//! ```text
//! stack: 0 -> 1 -> 2
//! thread A: pop: head 0, next 1 ...                      (preempted)
//! thread B: pop 0, pop 1, push 0          stack: 0 -> 2  (B owns 1)
//! thread A: ... compare_exchange(0, 1) succeeds: head = 1, though B owns 1
//! -> 1 is handed out twice
//! ```
//!
//! [`Stack::tagged`] packs a counter beside the index, bumped by every change of the head, so
//! the stale exchange fails and `pop` retries. Slots are indices, never freed memory: the bug
//! corrupts the stack without undefined behaviour, which is what lets racelab explore it.

use racelab::sync::atomic::{AtomicUsize, Ordering};

/// "No slot": the end of the list.
const NIL: usize = 0xffff_ffff;
const INDEX: usize = 0xffff_ffff;

/// A stack of the slots `0..n` of an arena.
pub struct Stack {
    /// The top slot, in the low 32 bits; a change counter above them when tagged.
    head: AtomicUsize,
    /// Each slot's successor.
    next: Vec<AtomicUsize>,
    tagged: bool,
}

impl Stack {
    /// The ABA-prone stack holding `0 -> 1 -> ... -> n-1`.
    pub fn untagged(n: usize) -> Self {
        Stack::new(n, false)
    }

    /// The fixed stack holding `0 -> 1 -> ... -> n-1`: its head carries a change counter.
    pub fn tagged(n: usize) -> Self {
        Stack::new(n, true)
    }

    fn new(n: usize, tagged: bool) -> Self {
        assert!(n < NIL, "slot indices fit in 32 bits");
        let next = (0..n).map(|i| AtomicUsize::new(if i + 1 < n { i + 1 } else { NIL })).collect();
        Stack { head: AtomicUsize::new(if n > 0 { 0 } else { NIL }), next, tagged }
    }

    /// The head value that puts `index` on top after `old`.
    fn head_after(&self, old: usize, index: usize) -> usize {
        if self.tagged {
            ((old >> 32).wrapping_add(1) << 32) | index
        } else {
            index
        }
    }

    /// Takes the top slot, if any.
    pub fn pop(&self) -> Option<usize> {
        loop {
            let head = self.head.load(Ordering::Acquire);
            let top = head & INDEX;
            if top == NIL {
                return None;
            }
            let next = self.next[top].load(Ordering::Acquire);
            let new = self.head_after(head, next);
            if self.head.compare_exchange(head, new, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return Some(top);
            }
        }
    }

    /// Puts slot `index` (which the caller owns) back on top.
    pub fn push(&self, index: usize) {
        loop {
            let head = self.head.load(Ordering::Acquire);
            self.next[index].store(head & INDEX, Ordering::Release);
            let new = self.head_after(head, index);
            if self.head.compare_exchange(head, new, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return;
            }
        }
    }
}
