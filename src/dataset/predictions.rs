//! Per-image predictions of one evaluation: `predictions-<set>.jsonl` in a run folder, one JSON
//! line per evaluated image. `path` is the image's path relative to the evaluated dataset's
//! root, as the manifest's `path` field writes it (`<class>/<id>.png`) and as a real
//! ImageFolder has it (`<class>/<file>`), so the rows join with the manifest, or with a real
//! folder's files, by path.
use super::manifest::ManifestRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name of a set's predictions in a run folder.
pub fn file_name(set: &str) -> String {
    format!("predictions-{set}.jsonl")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Relative to the dataset root, `/`-separated.
    pub path: String,
    /// The file stem (a synthgen image's manifest `id`).
    pub id: String,
    pub label: usize,
    pub predicted: usize,
    /// Softmax probability of the predicted class.
    pub confidence: f32,
}

impl Prediction {
    pub fn correct(&self) -> bool {
        self.label == self.predicted
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PredictionsError {
    #[error("cannot read or write {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "{path}:{line}: not a prediction record ({message}); delete the file and evaluate again"
    )]
    BadLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// `image` relative to `root` (a dataset folder, or the folder of a list file), `/`-separated;
/// the whole path when it lies elsewhere.
pub fn relative_path(root: &Path, image: &Path) -> String {
    let Ok(rel) = image.strip_prefix(root) else {
        return image.to_string_lossy().into_owned();
    };
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Writes the rows (temp file, then rename: never a partial file).
pub fn write(path: &Path, rows: &[Prediction]) -> std::io::Result<()> {
    let mut text = String::with_capacity(rows.len() * 96);
    for r in rows {
        text.push_str(&serde_json::to_string(r).expect("a prediction serializes"));
        text.push('\n');
    }
    crate::fsio::write_atomic(path, text.as_bytes())
}

pub fn read(path: &Path) -> Result<Vec<Prediction>, PredictionsError> {
    let text = std::fs::read_to_string(path).map_err(|cause| PredictionsError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| PredictionsError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Each prediction with its manifest record (joined on `path`; a shard's record path
/// `<shard file>#<key>.png` joins the row named `<shard file>#<key>`); predictions without a
/// record (a real folder has no manifest) are left out, and counted in the second value.
pub fn join_manifest<'a>(
    predictions: &'a [Prediction],
    manifest: &'a [ManifestRecord],
) -> (Vec<(&'a Prediction, &'a ManifestRecord)>, usize) {
    let by_path: BTreeMap<&str, &ManifestRecord> =
        manifest.iter().map(|r| (sample_name(&r.path), r)).collect();
    let mut joined = Vec::with_capacity(predictions.len());
    let mut missing = 0;
    for p in predictions {
        match by_path.get(p.path.as_str()) {
            Some(r) => joined.push((p, *r)),
            None => missing += 1,
        }
    }
    (joined, missing)
}

/// The name a prediction row gives a record's image: its path, or for a shard member
/// `<shard file>#<key>.<ext>` the sample `<shard file>#<key>` (keys hold no dot).
fn sample_name(path: &str) -> &str {
    match path.split_once('#') {
        Some((shard, member)) => member
            .find('.')
            .map_or(path, |dot| &path[..shard.len() + 1 + dot]),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_record_joins_the_row_named_shard_hash_key() {
        assert_eq!(
            sample_name("d-000001.tar#chair_000002.png"),
            "d-000001.tar#chair_000002"
        );
        assert_eq!(
            sample_name("chair/chair_000002.png"),
            "chair/chair_000002.png"
        );
    }

    #[test]
    fn rows_round_trip_and_paths_are_relative() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        assert_eq!(
            relative_path(&root, &root.join("chair").join("chair_000003.png")),
            "chair/chair_000003.png"
        );
        assert_eq!(relative_path(&root, Path::new("/x/y.png")), "/x/y.png");
        let rows = vec![Prediction {
            path: "chair/a b,c.png".into(),
            id: "a b,c".into(),
            label: 0,
            predicted: 1,
            confidence: 0.75,
        }];
        let file = dir.path().join(file_name("iid"));
        write(&file, &rows).unwrap();
        assert_eq!(read(&file).unwrap(), rows);
        std::fs::write(&file, "{\"path\": 3}\n").unwrap();
        let e = read(&file).unwrap_err().to_string();
        assert!(
            e.contains("predictions-iid.jsonl:1: not a prediction record"),
            "{e}"
        );
    }
}
