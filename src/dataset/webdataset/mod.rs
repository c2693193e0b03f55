//! WebDataset output: tar shards `<name>-%06d.tar` holding, per sample, `<key>.png`,
//! `<key>.cls` (the class index in ASCII), `<key>.json` (the manifest record) and
//! `<key>.mask.png` when masks are written; the `wids` index; validation of shards.
//!
//! - `tar`: fixed-header ustar writing and streaming reading;
//! - `writer`: samples -> shards, each sealed by a rename once complete;
//! - `assemble`: a render's saved images -> shards in canonical order, whatever the order
//!   in which workers finish them;
//! - `index`: the `wids-shard-index-v1` JSON;
//! - `check`: streaming validation of a shard set;
//! - `merge`: the index and combined manifest over the outputs of `render --shard I/N` tasks.
pub mod assemble;
pub mod check;
pub mod index;
pub mod merge;
pub mod tar;
pub mod writer;

pub use index::{ShardIndex, INDEX_FILE};
pub use writer::{ShardLimits, ShardNaming, ShardWriter};

/// The sample key of an image id (ids are `<class>_<index>`; presets refuse classes with dots).
pub fn key_of(id: &str) -> String {
    id.replace('.', "_")
}

/// The member extensions synthgen writes, in the order it writes them.
pub const EXT_IMAGE: &str = "png";
pub const EXT_MASK: &str = "mask.png";
pub const EXT_CLASS: &str = "cls";
pub const EXT_RECORD: &str = "json";

/// The member extensions a reader takes as a sample's image (WebDataset's usual image keys).
pub const READ_IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp"];

/// The class index a `.cls` member holds (ASCII digits, surrounding whitespace allowed).
pub fn class_id(cls: &[u8]) -> Option<usize> {
    std::str::from_utf8(cls).ok()?.trim().parse().ok()
}

/// Splits a member name into key and extension at its first dot (WebDataset's rule).
pub fn split_member(name: &str) -> Option<(&str, &str)> {
    let base_start = name.rfind('/').map_or(0, |i| i + 1);
    let dot = name[base_start..].find('.')? + base_start;
    Some((&name[..dot], &name[dot + 1..]))
}

/// The image path a manifest record of a shard holds: `<shard file>#<key>.png`.
pub fn member_path(shard: &str, key: &str, ext: &str) -> String {
    format!("{shard}#{key}.{ext}")
}

/// The shard file of a record path written by [`member_path`].
pub fn shard_of_path(path: &str) -> Option<&str> {
    path.split_once('#').map(|(s, _)| s)
}

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("{0}")]
    Input(String),
    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: {cause}")]
    Tar {
        path: std::path::PathBuf,
        cause: tar::TarError,
    },
}

pub(crate) fn io_err(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> ShardError {
    let path = path.to_path_buf();
    move |cause| ShardError::Io {
        action,
        path,
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_split_at_the_first_dot_of_the_basename() {
        assert_eq!(
            split_member("chair_000001.mask.png"),
            Some(("chair_000001", "mask.png"))
        );
        assert_eq!(split_member("a.b/c_1.json"), Some(("a.b/c_1", "json")));
        assert_eq!(split_member("noext"), None);
        assert_eq!(
            shard_of_path(&member_path("s-000001.tar", "k_1", "png")),
            Some("s-000001.tar")
        );
    }
}
