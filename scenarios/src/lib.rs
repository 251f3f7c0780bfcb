//! racelab's scenario catalog: programs from the seed documents, each a buggy and a fixed
//! variant, with the story of the bug, the Python it models and the verdict each variant must
//! get.
//!
//! A scenario is data: the CLI lists, shows and checks scenarios through this one table, and
//! the tests check every variant's expected verdict through it.

mod catalog;

use racelab_sim::Config;

/// What a variant must get from `racelab check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// No run fails, exhaustively when the search can cover it.
    Pass,
    /// A run fails with this diagnosis (`deadlock`, `lost-wakeup`, `stolen-wakeup`, `misuse`...).
    Bug(&'static str),
}

impl Expected {
    /// `pass`, or `bug: <kind>`.
    pub fn describe(self) -> String {
        match self {
            Expected::Pass => "pass".to_string(),
            Expected::Bug(kind) => format!("bug: {kind}"),
        }
    }
}

/// One variant of a scenario: a program and its expected verdict.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// Short name: `buggy`, `fixed`, `while`, `rlock`...
    pub name: &'static str,
    /// One line on what this variant does differently.
    pub summary: &'static str,
    /// The verdict it must get.
    pub expected: Expected,
    /// The program: the main thread of each run.
    pub program: fn(),
    /// Adjusts the scenario's exploration for this variant (e.g. spurious wake-ups off);
    /// command-line flags still apply on top.
    pub configure: fn(Config) -> Config,
}

/// The default exploration: exhaustive DPOR and POS (seed 0) in turn, so a scenario is proved
/// when DPOR finishes and a bug that sampling reaches first is found early.
pub fn portfolio() -> Config {
    Config::portfolio(0)
}

/// The `configure` of a variant that needs nothing special.
pub fn as_is(config: Config) -> Config {
    config
}

/// A scenario of the catalog.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Identifier used on the command line, e.g. `lock-order`.
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// Where it comes from: the seed passage or the bug catalogue entry.
    pub source: &'static str,
    /// The Python code the scenario models.
    pub python: &'static str,
    /// What goes wrong, why, and the fix, in a few plain sentences.
    pub story: &'static str,
    /// The variants, buggy first.
    pub variants: &'static [Variant],
    /// The exploration `racelab check` uses by default for this scenario: [`portfolio`] for
    /// all but one.
    pub default_config: fn() -> Config,
}

impl Scenario {
    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&'static Variant> {
        self.variants.iter().find(|v| v.name == name)
    }
}

/// The catalog's modules' sources, with their paths: what [`rust_source`] cuts from.
const MODULE_SOURCES: &[(&str, &str)] = &[
    ("scenarios/src/catalog/classics.rs", include_str!("catalog/classics.rs")),
    ("scenarios/src/catalog/condition.rs", include_str!("catalog/condition.rs")),
    ("scenarios/src/catalog/event.rs", include_str!("catalog/event.rs")),
    ("scenarios/src/catalog/locks.rs", include_str!("catalog/locks.rs")),
    ("scenarios/src/catalog/processes.rs", include_str!("catalog/processes.rs")),
    ("scenarios/src/catalog/queue.rs", include_str!("catalog/queue.rs")),
    ("scenarios/src/catalog/semaphore.rs", include_str!("catalog/semaphore.rs")),
    ("scenarios/src/catalog/shared_data.rs", include_str!("catalog/shared_data.rs")),
    ("scenarios/src/catalog/threads.rs", include_str!("catalog/threads.rs")),
];

/// The Rust that models `s`, as it stands in the catalog's source: the functions written for it
/// (everything between the previous scenario and this one) and its variants. Returns the source
/// file's path and the text.
pub fn rust_source(s: &Scenario) -> Option<(&'static str, String)> {
    let marker = format!("id: \"{}\",", s.id);
    let (path, text) = MODULE_SOURCES.iter().find(|(_, text)| text.contains(&marker))?;
    let at = text.find(&marker)?;
    let start = text[..at].rfind("pub(crate) const ")?;
    // After the previous scenario's `};`, or after the module's `use` lines.
    let before = text[..start]
        .rfind("\n};\n")
        .map(|i| i + 4)
        .or_else(|| text[..start].rfind("use crate::").and_then(|i| text[i..].find('\n').map(|j| i + j + 1)))
        .unwrap_or(0);
    let variants_at = at + text[at..].find("    variants: &[")?;
    let variants_end = variants_at + text[variants_at..].find("\n    ],\n")? + "\n    ],".len();
    let helpers = text[before..start].trim();
    let variants = &text[variants_at..variants_end];
    Some((path, format!("{helpers}\n\n// {}'s variants:\n{variants}", s.id).trim_start().to_string()))
}

/// Every scenario, in catalog order.
pub fn all() -> &'static [Scenario] {
    catalog::SCENARIOS
}

/// The scenario called `id`.
pub fn find(id: &str) -> Option<&'static Scenario> {
    all().iter().find(|s| s.id == id)
}

/// The catalog id closest to `id`, for "did you mean" (see [`nearest_of`]).
pub fn nearest(id: &str) -> Option<&'static str> {
    nearest_of(id, all().iter().map(|s| s.id))
}

/// The name among `names` closest to `word`, for "did you mean": the fewest edits (insertions,
/// deletions, substitutions and swaps of neighbours, `strsim`'s Damerau-Levenshtein distance),
/// at most a third of the word's length and at least 2.
pub fn nearest_of<'a>(word: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    names
        .into_iter()
        .map(|name| (strsim::damerau_levenshtein(word, name), name))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_variants_named() {
        let mut ids: Vec<&str> = all().iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all().len());
        for s in all() {
            assert!(!s.variants.is_empty(), "{} has no variants", s.id);
            assert!(s.variants.iter().any(|v| v.expected == Expected::Pass), "{} has no fixed variant", s.id);
        }
    }

    #[test]
    fn nearest_suggests_typos() {
        assert_eq!(nearest("lock-ordr"), Some("lock-order"));
        assert_eq!(nearest("zzzzzzzzzzzz"), None);
        assert_eq!(nearest("lock-odrer"), Some("lock-order"), "a swap is one edit");
        assert_eq!(nearest_of("dsf", ["random", "pct", "dfs"]), Some("dfs"));
    }
}
