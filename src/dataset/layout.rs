//! File layout of a dataset folder and the list files trainers read.
//!
//! ```text
//! <out>/<class>/<id>.png          ImageFolder (label = alphabetical class index)
//! <out>/masks/<class>/<id>.png    object masks (optional)
//! <out>/manifest.jsonl            one record per image
//! <out>/image_list.txt            "relative/path label" (VisDA format)
//! <out>/classes.txt               one class name per line, in label order
//! <out>/preset.yaml               the fully resolved preset
//! <out>/denylist.jsonl            models that kept failing, with the reason
//! <out>/summary.json              counts and timings of the last run
//! ```
use super::manifest::{sort_records, ManifestRecord, MANIFEST_FILE};
use crate::fsio::write_atomic;
use std::path::Path;

pub const IMAGE_LIST_FILE: &str = "image_list.txt";
pub const CLASSES_FILE: &str = "classes.txt";
pub const PRESET_FILE: &str = "preset.yaml";
pub const DENYLIST_FILE: &str = "denylist.jsonl";
pub const SUMMARY_FILE: &str = "summary.json";
pub const FAILURES_FILE: &str = "failures.jsonl";
/// Scratch space of a run (worker temp files, logs); safe to delete after a run.
pub const WORK_DIR: &str = ".synthgen";

pub fn image_rel_path(class: &str, id: &str) -> String {
    format!("{class}/{id}.png")
}

pub fn mask_rel_path(class: &str, id: &str) -> String {
    format!("masks/{class}/{id}.png")
}

/// Class names in label order: alphabetical, as torchvision's ImageFolder does.
pub fn label_order(classes: &[String]) -> Vec<String> {
    let mut v = classes.to_vec();
    v.sort();
    v.dedup();
    v
}

pub fn write_classes(out: &Path, classes: &[String]) -> std::io::Result<()> {
    let mut text = classes.join("\n");
    text.push('\n');
    write_atomic(&out.join(CLASSES_FILE), text.as_bytes())
}

/// Rewrites the manifest in canonical order and writes the VisDA image list, so that two runs
/// of the same command produce the same files whatever the worker timing was.
pub fn finalize_lists(out: &Path, records: &mut [ManifestRecord]) -> std::io::Result<()> {
    sort_records(records);
    let mut manifest = String::new();
    let mut list = String::new();
    for r in records.iter() {
        manifest.push_str(&serde_json::to_string(r).expect("records always serialize"));
        manifest.push('\n');
        list.push_str(&format!("{} {}\n", r.path, r.label));
    }
    write_atomic(&out.join(MANIFEST_FILE), manifest.as_bytes())?;
    write_atomic(&out.join(IMAGE_LIST_FILE), list.as_bytes())
}

/// Rewrites the manifest alone in canonical order (WebDataset output: no image list, the
/// images are shard members).
pub fn finalize_manifest(out: &Path, records: &mut [ManifestRecord]) -> std::io::Result<()> {
    sort_records(records);
    let mut manifest = String::new();
    for r in records.iter() {
        manifest.push_str(&serde_json::to_string(r).expect("records always serialize"));
        manifest.push('\n');
    }
    write_atomic(&out.join(MANIFEST_FILE), manifest.as_bytes())
}
