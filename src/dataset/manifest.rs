//! The manifest: one JSON line per image with everything needed to reproduce it.
use crate::scene::params::SceneParams;
use crate::validate::ValidationReport;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub const MANIFEST_FILE: &str = "manifest.jsonl";

/// Where the model of an image came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub source: String,
    pub key: String,
    pub name: String,
    pub license: String,
    /// "train" or "test": the model-level split the image was drawn from.
    pub split: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub id: String,
    /// Image path relative to the dataset root (`<class>/<id>.png`).
    pub path: String,
    /// Mask path relative to the dataset root, when masks are kept.
    pub mask: Option<String>,
    pub class: String,
    pub label: usize,
    pub model: ModelInfo,
    pub seed: u64,
    pub index: u64,
    /// 0 for the first try; each failed render or validation moves to the next attempt.
    pub attempt: u32,
    /// Of the attempts before `attempt`, those re-sampled without rendering because the
    /// predicted view broke a validation threshold (`render::predict`).
    #[serde(default)]
    pub predicted_rejections: u32,
    /// The predicted coverage and truncation of the kept view (None: no prediction).
    #[serde(default)]
    pub prediction: Option<crate::validate::ViewPrediction>,
    /// Why the sampled `keep_original` was turned off before rendering (the model's own
    /// colours would fail validation); absent when the sampled material was rendered as drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material_override: Option<String>,
    /// Textures of the model's own materials that Blender could not load, so it rendered the
    /// sampled material (or the base colour) in their place: the pixels differ from what
    /// `keep_original` says. Absent when every texture loaded (and in older manifests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_textures: Vec<String>,
    pub cycles_seed: u32,
    /// The scene as sampled, sent to Blender and composited; manifests written before the
    /// scene had one shape (the flat, string-kinded `params`) read too (`scene::legacy`).
    #[serde(deserialize_with = "crate::scene::legacy::deserialize_params")]
    pub params: SceneParams,
    pub render_seconds: f64,
    pub validation: ValidationReport,
    /// SHA-256 of the saved image file.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    // `cause`, not `source`: the message names it once (a source would be printed again).
    #[error("cannot read or write the manifest {path}: {cause}; if its disk is full or read-only, free space or make it writable and run again with --resume: the records written so far are kept")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}:{line}: this manifest line is not a valid record ({message}); the file was edited or truncated mid-line, delete that line and run with --resume to re-render it")]
    BadLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Reads every record of a manifest. A last line without its newline (a write cut by a crash)
/// is ignored: that image is simply rendered again by `--resume`.
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestRecord>, ManifestError> {
    let io = |cause| ManifestError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    let mut records = Vec::new();
    for (i, line) in BufReader::new(complete.as_bytes()).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let rec = serde_json::from_str(&line).map_err(|e| ManifestError::BadLine {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        records.push(rec);
    }
    Ok(records)
}

/// Append-only manifest writer, flushed after every line.
pub struct ManifestWriter {
    file: File,
    path: PathBuf,
}

impl ManifestWriter {
    pub fn open(path: &Path) -> Result<Self, ManifestError> {
        let io = |cause| ManifestError::Io {
            path: path.to_path_buf(),
            cause,
        };
        // A last line cut short (a crash or a full disk mid-write) is dropped, so the next
        // record starts on a line of its own instead of extending the broken one.
        if let Ok(bytes) = std::fs::read(path) {
            if bytes.last().is_some_and(|b| *b != b'\n') {
                let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(keep as u64))
                    .map_err(io)?;
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|cause| ManifestError::Io {
                path: path.to_path_buf(),
                cause,
            })?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn append(&mut self, rec: &ManifestRecord) -> Result<(), ManifestError> {
        let mut line = serde_json::to_string(rec).expect("records always serialize");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|cause| ManifestError::Io {
                path: self.path.clone(),
                cause,
            })
    }
}

/// Canonical order of a finished dataset: by label, then index.
pub fn sort_records(records: &mut [ManifestRecord]) {
    records.sort_by_key(|r| (r.label, r.index));
}

#[cfg(test)]
mod tests {
    use super::ManifestRecord;

    /// A manifest line written by 8e54fc7 (`synthgen render --preset demo --per-class 1
    /// --classes chair`), before `missing_textures` was recorded.
    const OLD_LINE: &str = include_str!("testdata/manifest-8e54fc7.jsonl");

    #[test]
    fn old_manifests_read_and_write_back_unchanged_but_for_the_scene_shape() {
        let line = OLD_LINE.trim_end();
        let rec: ManifestRecord = serde_json::from_str(line).unwrap();
        assert!(rec.missing_textures.is_empty());
        // Without a fallback the record writes back the same fields and values, the scene
        // in its current shape (scene::tests checks the flat-to-typed conversion).
        let mut old: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut new = serde_json::to_value(&rec).unwrap();
        let flat = old["params"].take();
        assert_eq!(
            crate::scene::legacy::params_of_value(&flat).unwrap(),
            rec.params
        );
        new["params"] = serde_json::Value::Null;
        assert_eq!(new, old);
    }

    /// Lines of 719d48c's manifests (every material, lamp, world and background kind): each
    /// reads, writes in the current shape, and that reads back as the same record.
    #[test]
    fn manifests_of_the_flat_scene_read_and_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::MANIFEST_FILE);
        std::fs::write(
            &path,
            include_str!("../../tests/fixtures/manifest-719d48c.jsonl"),
        )
        .unwrap();
        let records = super::read_manifest(&path).unwrap();
        assert_eq!(records.len(), 16);
        let again = dir.path().join("again.jsonl");
        let mut w = super::ManifestWriter::open(&again).unwrap();
        for r in &records {
            w.append(r).unwrap();
        }
        assert_eq!(super::read_manifest(&again).unwrap(), records);
        let text = std::fs::read_to_string(&again).unwrap();
        assert!(!text.contains("sky_turbidity") && text.contains("\"shadow_radius\":"));
    }

    #[test]
    fn a_texture_fallback_is_in_the_record() {
        let mut rec: ManifestRecord = serde_json::from_str(OLD_LINE.trim_end()).unwrap();
        rec.missing_textures = vec!["wood.jpg".into()];
        let json = serde_json::to_string(&rec).unwrap();
        assert!(
            json.contains(r#""missing_textures":["wood.jpg"]"#),
            "{json}"
        );
        let back: ManifestRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.missing_textures, ["wood.jpg"]);
    }
}
