//! The stage cache: each stage lives in `DIR/stages/<kind>-<name>-<hash>/`, where the hash
//! covers every input (the resolved preset, the run's settings, the hashes of the datasets it
//! reads, the synthgen version). `done.json` is written last, atomically: a folder without it
//! is an unfinished stage, which only `--resume` continues.
use super::error::StudyError;
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const DONE_FILE: &str = "done.json";

/// Hex SHA-256 over the parts, each length-prefixed so that ("ab","c") != ("a","bc").
pub fn hash_parts(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn stage_dir(out: &Path, kind: &str, name: &str, hash: &str) -> PathBuf {
    out.join("stages")
        .join(format!("{kind}-{name}-{}", &hash[..16]))
}

/// What a stage folder holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageState {
    Missing,
    Unfinished,
    Done,
}

pub fn state(dir: &Path) -> StageState {
    if dir.join(DONE_FILE).is_file() {
        StageState::Done
    } else if dir.exists() {
        StageState::Unfinished
    } else {
        StageState::Missing
    }
}

pub fn read_done<T: DeserializeOwned>(dir: &Path) -> Result<T, StudyError> {
    let path = dir.join(DONE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| StudyError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        StudyError::input(format!(
            "{}: not a stage record ({e}); delete that stage folder and run again",
            path.display()
        ))
    })
}

pub fn write_done<T: Serialize>(dir: &Path, value: &T) -> Result<(), StudyError> {
    let path = dir.join(DONE_FILE);
    let json = serde_json::to_vec_pretty(value).expect("stage records serialize");
    crate::fsio::write_atomic(&path, &json).map_err(|e| StudyError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_separates_parts_and_is_stable() {
        assert_ne!(hash_parts(&["ab", "c"]), hash_parts(&["a", "bc"]));
        assert_eq!(hash_parts(&["x"]), hash_parts(&["x"]));
        assert_eq!(hash_parts(&["x"]).len(), 64);
    }

    #[test]
    fn states_follow_the_done_marker() {
        let dir = tempfile::tempdir().unwrap();
        let stage = dir.path().join("s");
        assert_eq!(state(&stage), StageState::Missing);
        std::fs::create_dir_all(&stage).unwrap();
        assert_eq!(state(&stage), StageState::Unfinished);
        write_done(&stage, &serde_json::json!({"seconds": 1.0})).unwrap();
        assert_eq!(state(&stage), StageState::Done);
        let v: serde_json::Value = read_done(&stage).unwrap();
        assert_eq!(v["seconds"], 1.0);
    }
}
