//! Models that keep failing are put on a denylist with their reason; the run goes on without
//! them. The list is a JSON-lines file in the output folder, appended as entries are added.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenyEntry {
    pub key: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DenylistError {
    #[error("cannot read or write the denylist {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a denylist entry ({message}); each line must be {{\"key\": \"<model key>\", \"reason\": \"...\"}}")]
    BadLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Default)]
pub struct Denylist {
    entries: BTreeMap<String, String>,
    file: Option<PathBuf>,
}

impl Denylist {
    /// Loads the list kept at `path` (missing file = empty list); new entries are appended there.
    pub fn open(path: &Path) -> Result<Self, DenylistError> {
        let mut list = Denylist {
            entries: BTreeMap::new(),
            file: Some(path.to_path_buf()),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(list),
            Err(source) => {
                return Err(DenylistError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: DenyEntry = serde_json::from_str(line).map_err(|e| DenylistError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })?;
            list.entries.insert(e.key, e.reason);
        }
        Ok(list)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub fn reason(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = DenyEntry> + '_ {
        self.entries.iter().map(|(k, r)| DenyEntry {
            key: k.clone(),
            reason: r.clone(),
        })
    }

    /// Adds a model; returns false when it was already listed.
    pub fn add(&mut self, key: &str, reason: &str) -> Result<bool, DenylistError> {
        if self.contains(key) {
            return Ok(false);
        }
        self.entries.insert(key.to_string(), reason.to_string());
        if let Some(path) = &self.file {
            let line = serde_json::to_string(&DenyEntry {
                key: key.to_string(),
                reason: reason.to_string(),
            })
            .expect("entries serialize");
            let io = |source| DenylistError::Io {
                path: path.clone(),
                source,
            };
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(io)?;
            writeln!(f, "{line}").map_err(io)?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_persist_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("denylist.jsonl");
        let mut d = Denylist::open(&p).unwrap();
        assert!(d.add("m1", "no faces").unwrap());
        assert!(!d.add("m1", "again").unwrap());
        let d2 = Denylist::open(&p).unwrap();
        assert_eq!(d2.reason("m1"), Some("no faces"));
        assert_eq!(d2.len(), 1);
    }

    #[test]
    fn bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("denylist.jsonl");
        std::fs::write(&p, "{\"key\":\"a\",\"reason\":\"r\"}\nnot json\n").unwrap();
        let msg = Denylist::open(&p).unwrap_err().to_string();
        assert!(msg.contains("denylist.jsonl:2:"), "{msg}");
    }
}
