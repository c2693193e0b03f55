//! The parsed Sweet Home 3D index, cached as JSON and valid while every archive keeps its
//! path, size and modification time (and the parser its format version).
use super::entry::{ModelEntry, SkippedModel};
use super::error::AssetError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Bump when parsing rules or `ModelEntry` change, so old caches are rebuilt.
const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveStamp {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: u128,
}

#[derive(Serialize, Deserialize)]
struct IndexFile {
    format_version: u32,
    archives: Vec<ArchiveStamp>,
    entries: Vec<ModelEntry>,
    skipped: Vec<SkippedModel>,
}

pub fn stamp_archives(archives: &[PathBuf]) -> Result<Vec<ArchiveStamp>, AssetError> {
    archives
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).map_err(|e| AssetError::io("stat", path, e))?;
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            Ok(ArchiveStamp {
                path: path.clone(),
                size: meta.len(),
                mtime_ns,
            })
        })
        .collect()
}

/// The cached index when it matches `stamps`; `None` (rebuild) when absent, stale or unreadable.
pub fn load(index: &Path, stamps: &[ArchiveStamp]) -> Option<(Vec<ModelEntry>, Vec<SkippedModel>)> {
    let bytes = std::fs::read(index).ok()?;
    let file: IndexFile = match serde_json::from_slice(&bytes) {
        Ok(file) => file,
        Err(err) => {
            tracing::warn!("Ignoring unreadable index {}: {err}", index.display());
            return None;
        }
    };
    (file.format_version == FORMAT_VERSION && file.archives == stamps)
        .then_some((file.entries, file.skipped))
}

/// Writes the index atomically (temp file, then rename), so readers never see half a file.
pub fn store(
    index: &Path,
    stamps: &[ArchiveStamp],
    entries: &[ModelEntry],
    skipped: &[SkippedModel],
) -> Result<(), AssetError> {
    let dir = index.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| AssetError::io("create", dir, e))?;
    let file = IndexFile {
        format_version: FORMAT_VERSION,
        archives: stamps.to_vec(),
        entries: entries.to_vec(),
        skipped: skipped.to_vec(),
    };
    let json =
        serde_json::to_vec(&file).map_err(|e| AssetError::io("serialize", index, e.into()))?;
    let tmp = dir.join(format!(".index.json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, json).map_err(|e| AssetError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, index).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        AssetError::io("rename into place", index, e)
    })
}
