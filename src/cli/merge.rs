//! `racelab merge`: reads the shards' `--json` files and hands their text to
//! [`racelab_sim::merge`], which gives one verdict (see there for why sharding needs it).

use std::path::PathBuf;

pub use racelab_sim::merge::{coverage, settings_line, verdict, MergedTarget};

/// The most a shard's file may hold. A shard's `--json` is one line per target, a failure's
/// trace included (a 100,000-step trace is about 20 MB); past this, the file is not one.
pub const MAX_SHARD_FILE: u64 = 1 << 30;

/// Reads the shards' output files and merges each target. Every problem is one message naming
/// the file and line, or the target and the shard that is missing.
pub fn plan(files: &[PathBuf]) -> Result<Vec<MergedTarget>, String> {
    let outputs = files
        .iter()
        .map(|file| read_shard(file).map(|text| (file.display().to_string(), text)))
        .collect::<Result<Vec<_>, _>>()?;
    racelab_sim::merge::merge(&outputs)
}

/// A shard's file, read whole: a regular file or a pipe (`<(racelab check ...)`), at most
/// [`MAX_SHARD_FILE`] bytes. A device such as `/dev/zero` would be read until memory ran out.
fn read_shard(file: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let cannot = |why: String| format!("cannot read {}: {why}", file.display());
    let kind = std::fs::metadata(file).map_err(|e| cannot(e.to_string()))?.file_type();
    #[cfg(unix)]
    let pipe = std::os::unix::fs::FileTypeExt::is_fifo(&kind);
    #[cfg(not(unix))]
    let pipe = false;
    if !(kind.is_file() || pipe) {
        return Err(cannot("not a file of check --json output (a directory or a device)".into()));
    }
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_SHARD_FILE + 1).read_to_string(&mut text))
        .map_err(|e| cannot(e.to_string()))?;
    if text.len() as u64 > MAX_SHARD_FILE {
        return Err(cannot(format!(
            "it holds more than {} MiB, more than a shard's output",
            MAX_SHARD_FILE >> 20
        )));
    }
    Ok(text)
}
