//! `racelab merge`: reads the shards' `--json` files and hands their text to
//! [`racelab_sim::merge`], which gives one verdict (see there for why sharding needs it).

use std::path::PathBuf;

pub use racelab_sim::merge::{coverage, settings_line, verdict, MergedTarget};

/// Reads the shards' output files and merges each target. Every problem is one message naming
/// the file and line, or the target and the shard that is missing.
pub fn plan(files: &[PathBuf]) -> Result<Vec<MergedTarget>, String> {
    let outputs = files
        .iter()
        .map(|file| {
            std::fs::read_to_string(file)
                .map(|text| (file.display().to_string(), text))
                .map_err(|e| format!("cannot read {}: {e}", file.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    racelab_sim::merge::merge(&outputs)
}
