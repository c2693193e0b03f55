//! The `wids` shard index: `{"__kind__": "wids-shard-index-v1", "wids_version": 1, "name": ..,
//! "shardlist": [{"url": .., "nsamples": .., "filesize": ..}]}`, the form `widsindex create`
//! writes and `wids.ShardListDataset` reads (urls relative to the index file's folder).
use super::{io_err, ShardError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const INDEX_FILE: &str = "wids-index.json";
pub const INDEX_KIND: &str = "wids-shard-index-v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub url: String,
    pub nsamples: u64,
    #[serde(default)]
    pub filesize: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardIndex {
    #[serde(rename = "__kind__")]
    pub kind: String,
    pub wids_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub shardlist: Vec<IndexEntry>,
}

impl ShardIndex {
    pub fn new(name: &str, shardlist: Vec<IndexEntry>) -> Self {
        ShardIndex {
            kind: INDEX_KIND.to_string(),
            wids_version: 1,
            name: Some(name.to_string()),
            shardlist,
        }
    }

    pub fn nsamples(&self) -> u64 {
        self.shardlist.iter().map(|s| s.nsamples).sum()
    }

    pub fn write(&self, path: &Path) -> Result<(), ShardError> {
        let mut json = serde_json::to_string_pretty(self).expect("index serializes");
        json.push('\n');
        crate::fsio::write_atomic(path, json.as_bytes()).map_err(io_err("write", path))
    }

    pub fn read(path: &Path) -> Result<Self, ShardError> {
        let text = std::fs::read_to_string(path).map_err(io_err("read", path))?;
        let index: ShardIndex = serde_json::from_str(&text).map_err(|e| {
            ShardError::Input(format!(
                "{}: not a wids shard index ({e}); expected {{\"__kind__\": \"{INDEX_KIND}\", \"wids_version\": 1, \"shardlist\": [{{\"url\", \"nsamples\"}}]}}",
                path.display()
            ))
        })?;
        if index.kind != INDEX_KIND || index.wids_version != 1 {
            return Err(ShardError::Input(format!(
                "{}: __kind__ {:?} / wids_version {}: only {INDEX_KIND} version 1 is read",
                path.display(),
                index.kind,
                index.wids_version
            )));
        }
        Ok(index)
    }

    /// The shard files, resolved against the index's folder (absolute urls stay as they are).
    pub fn shard_paths(&self, index_path: &Path) -> Vec<PathBuf> {
        let base = index_path.parent().unwrap_or(Path::new("."));
        self.shardlist
            .iter()
            .map(|s| {
                let url = s.url.strip_prefix("file://").unwrap_or(&s.url);
                base.join(url)
            })
            .collect()
    }
}
