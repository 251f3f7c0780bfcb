//! Notes: what a primitive wants a deadlock report to say about why a wait will never end.
//!
//! Primitives leave notes on hot paths (every notify that wakes nobody, every get that blocks),
//! while reports that read them are rare, so a note is a template and a few numbers, rendered
//! only when a report needs it: no formatting, no allocation when it is written.

use crate::ids::ThreadId;

/// A note to render later. In `template`, `{0}`, `{1}`, `{2}` stand for `values`, `{step}`
/// for the step it was written at and `{thread}` for the name of the thread that wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note {
    /// The text, with placeholders.
    pub template: &'static str,
    /// Up to three numbers for `{0}`..`{2}`.
    pub values: [u64; 3],
    pub(crate) step: u64,
    pub(crate) thread: ThreadId,
}

impl Note {
    pub(crate) fn render(&self, thread_name: &str) -> String {
        let mut out =
            self.template.replace("{step}", &self.step.to_string()).replace("{thread}", thread_name);
        for (i, v) in self.values.iter().enumerate() {
            out = out.replace(&format!("{{{i}}}"), &v.to_string());
        }
        out
    }
}
