//! Dataset output (atomic writes are `crate::fsio`): the manifest, and the ImageFolder / VisDA list layouts.
pub mod layout;
pub mod manifest;
pub mod merge;
pub mod predictions;
pub mod shard;
pub mod webdataset;

pub use manifest::{ManifestRecord, ManifestWriter, ModelInfo};

/// SHA-256 of a file, hex-encoded (recorded per image so runs can be compared byte for byte).
pub fn file_sha256(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path)?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
