//! `synthgen study` with its datasets written as WebDataset shards (`format: webdataset`), through
//! real Blender and libtorch: training, evaluation, adaptation and the per-image predictions
//! (joined with the shards' manifest for a breakdown) give the report the same table and
//! breakdown values as the same study with ImageFolder datasets; the format is part of the
//! render stages' hashes.
#![cfg(feature = "train")]
mod common;

use common::{synthgen, text};
use std::path::{Path, PathBuf};

const SPEC: &str = "name: tinyshards
description: a tiny study whose datasets may be shards
dataset_defaults:
  preset: demo
  classes: [chair, table]
  resolution: 32
  samples: 4
  workers: 1
datasets:
  train: {per_class: 4, seed: 1, split: train}
  test: {per_class: 4, seed: 2, split: test}
runs:
  r: {train: train, eval: [test], arch: resnet_tiny, iters: 6, batch_size: 3, image_size: 32, eval_every: 3, aug: strong}
adaptations:
  da: {source: train, target: test, method: dann, init: r, arch: resnet_tiny, iters: 4, batch_size: 3, image_size: 32, eval_every: 2}
tables:
  - title: Tiny
    baseline: r
    columns: [{eval: test}]
    rows: [{run: r, paper: {test: 50.0}}, {run: da, paper: {test: 55.0}}]
breakdowns:
  - {title: By background, eval: test, by: params.background.kind, rows: [r]}
";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The stage folders of `out` whose names start with `prefix`.
fn stage(out: &Path, prefix: &str) -> PathBuf {
    std::fs::read_dir(out.join("stages"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no stage {prefix}"))
}

/// The report.md lines of its result tables and breakdowns (rows starting with `|`), without
/// the provenance (stage times and hashes).
fn result_rows(out: &Path) -> Vec<String> {
    let md = read(&out.join("report.md"));
    let body = md.split("## Provenance").next().unwrap().to_string();
    body.lines()
        .filter(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_study_on_shard_datasets_reports_what_the_imagefolder_study_reports() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let spec = s.join("tiny.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let (folders, shards) = (s.join("folders"), s.join("shards"));
    for (out, extra) in [
        (&folders, vec![]),
        (&shards, vec!["--set", "dataset_defaults.format=webdataset"]),
    ] {
        let o = synthgen(s)
            .env("OMP_NUM_THREADS", "1")
            .arg("study")
            .arg(&spec)
            .arg("--out")
            .arg(out)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    // The shard study rendered shards; its render stages hash differently.
    let data = stage(&shards, "render-test-").join("data");
    assert!(data.join("wids-index.json").is_file());
    assert!(!data.join("chair").exists());
    assert_ne!(
        stage(&shards, "render-test-").file_name(),
        stage(&folders, "render-test-").file_name()
    );
    // Predictions name shard samples `<shard>#<key>`, with the key as the manifest id.
    let preds = synthgen::dataset::predictions::read(
        &stage(&shards, "train-r-")
            .join("run")
            .join(synthgen::dataset::predictions::file_name("test")),
    )
    .unwrap();
    assert_eq!(preds.len(), 8);
    assert!(
        preds
            .iter()
            .all(|p| p.path == format!("demo-000000.tar#{}", p.id)),
        "{preds:?}"
    );

    let tables = read(&folders.join("tables.csv"));
    assert_eq!(tables.lines().count(), 3, "{tables}");
    assert_eq!(read(&shards.join("tables.csv")), tables);
    let rows = result_rows(&folders);
    // The breakdown's row counts every test image once (the predictions joined the manifest).
    let breakdown = rows.iter().rev().find(|r| r.starts_with("| r |")).unwrap();
    let counted: u64 = breakdown
        .split('(')
        .skip(1)
        .map(|c| c.split(')').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, 8, "{rows:?}");
    assert_eq!(result_rows(&shards), rows);
    assert!(
        !read(&shards.join("report.md")).contains("no manifest to join"),
        "the breakdown joined the shards' manifest"
    );
}
