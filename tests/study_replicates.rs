//! `synthgen study` with replicates, per-image predictions and an optional real column,
//! through real Blender and libtorch: replicate stages and seeds, the predictions joined with
//! the evaluated dataset's manifest (and with a real folder's files), the paired test's
//! counts recomputed from those predictions, breakdowns, and the real column left out
//! without `--real` (the report says so) and evaluated with it.
#![cfg(feature = "train")]
mod common;

use common::{synthgen, text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use synthgen::dataset::manifest::read_manifest;
use synthgen::dataset::predictions::{self, Prediction};

const SPEC: &str = "name: reps
description: replicates and predictions
replicates: 2
dataset_defaults:
  preset: demo
  classes: [chair, table]
  resolution: 32
  samples: 4
  workers: 1
datasets:
  train: {per_class: 4, seed: 1, split: train, per_replicate: true}
  test: {per_class: 4, seed: 2, split: test}
  real: {real: true, optional: true}
run_defaults: {arch: resnet_tiny, iters: 6, batch_size: 4, image_size: 32, eval_every: 3, eval: [test, real]}
runs:
  a: {train: train}
  b: {train: train, aug: strong, lr: 0.2}
tables:
  - title: Reps
    baseline: a
    columns: [{eval: test}, {eval: real}]
    rows: [{run: a, paper: {test: 50.0}}, {run: b, paper: {test: 40.0}}]
breakdowns:
  - {title: By background, eval: test, by: params.background.kind, rows: [a, b]}
  - {title: By view, eval: test, by: view_angle, view: {elevation_deg: 20, azimuth_deg: 45}, bins: [0, 90, 180], rows: [a]}
";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The run folder of the stage `train-<name>-<hash>`.
fn run_dir(out: &Path, name: &str) -> PathBuf {
    let prefix = format!("train-{name}-");
    let stage = std::fs::read_dir(out.join("stages"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let f = p.file_name().unwrap().to_string_lossy();
            // `a-` must not match `a@1-`.
            f.starts_with(&prefix) && !f[prefix.len()..].contains('-')
        })
        .unwrap_or_else(|| panic!("no stage {prefix}"));
    stage.join("run")
}

fn stage_data(out: &Path, kind_name: &str) -> PathBuf {
    std::fs::read_dir(out.join("stages"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let f = p.file_name().unwrap().to_string_lossy();
            f.starts_with(kind_name) && !f[kind_name.len()..].contains('-')
        })
        .unwrap_or_else(|| panic!("no stage {kind_name}"))
        .join("data")
}

/// A small real ImageFolder: plain PNGs in one folder per class.
fn real_folder(root: &Path) {
    for (class, colour) in [("chair", [200u8, 40, 40]), ("table", [40, 40, 200])] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..3u8 {
            let img = image::RgbImage::from_pixel(
                40,
                40,
                image::Rgb([colour[0], colour[1] + 30 * i, colour[2]]),
            );
            img.save(dir.join(format!("photo {i}.png"))).unwrap();
        }
    }
}

#[test]
fn replicates_predictions_breakdowns_and_the_optional_real_column() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let spec = s.join("reps.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = s.join("out");
    let o = synthgen(s)
        .args([
            "study",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("study: expected time: about "), "{err}");
    for line in [
        "render train: ran",
        "render train@1: ran",
        "render test: ran",
        "train a: ran",
        "train a@1: ran",
        "train b: ran",
        "train b@1: ran",
    ] {
        assert!(err.contains(&format!("study: {line}")), "{line}: {err}");
    }
    // The per-replicate training set is another rendering (its own seed); the test set is one.
    let (t0, t1) = (
        stage_data(&out, "render-train-"),
        stage_data(&out, "render-train@1-"),
    );
    let seeds = |d: &Path| {
        read_manifest(&d.join("manifest.jsonl"))
            .unwrap()
            .iter()
            .map(|r| r.seed)
            .collect::<Vec<_>>()
    };
    assert_ne!(seeds(&t0), seeds(&t1));

    // Every run's last evaluation wrote its predictions, which join with the test manifest.
    let test_manifest =
        read_manifest(&stage_data(&out, "render-test-").join("manifest.jsonl")).unwrap();
    let preds: BTreeMap<&str, Vec<Prediction>> = ["a", "a@1", "b", "b@1"]
        .into_iter()
        .map(|n| {
            (
                n,
                predictions::read(&run_dir(&out, n).join("predictions-test.jsonl")).unwrap(),
            )
        })
        .collect();
    for (name, p) in &preds {
        assert_eq!(p.len(), 8, "{name}");
        let (joined, missing) = predictions::join_manifest(p, &test_manifest);
        assert_eq!((joined.len(), missing), (8, 0), "{name}");
        for (pr, rec) in joined {
            assert_eq!(pr.label, rec.label);
            assert_eq!(pr.id, rec.id);
            assert!(
                pr.predicted < 2 && (0.5..=1.0).contains(&pr.confidence),
                "{pr:?}"
            );
        }
        // The last evaluation's accuracy is the run's reported one.
        assert!(!run_dir(&out, name).join("predictions-real.jsonl").exists());
    }

    // tables.csv: the mean over 2 replicates, SE over them, and the paired counts equal to
    // those recomputed from the predictions (replicate k against replicate k, pooled).
    let tables = read(&out.join("tables.csv"));
    let lines: Vec<&str> = tables.lines().collect();
    assert_eq!(lines.len(), 3, "{tables}");
    assert!(lines[0].starts_with("table,metric,row,column,synthgen,se,se_over,replicates,best,paper,direction,p_value,baseline_only,row_only"));
    let f: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(&f[..4], ["Reps", "acc", "b", "test"], "{tables}");
    assert_eq!((f[6], f[7]), ("replicates", "2"), "{tables}");
    let acc =
        |p: &[Prediction]| 100.0 * p.iter().filter(|x| x.correct()).count() as f64 / p.len() as f64;
    let mean_b = (acc(&preds["b"]) + acc(&preds["b@1"])) / 2.0;
    assert_eq!(f[4], format!("{mean_b:.1}"), "{tables}");
    let (mut bo, mut ro) = (0, 0);
    for (base, row) in [("a", "b"), ("a@1", "b@1")] {
        for (x, y) in preds[base].iter().zip(&preds[row]) {
            assert_eq!(x.path, y.path, "the same images in the same order");
            bo += u64::from(x.correct() && !y.correct());
            ro += u64::from(!x.correct() && y.correct());
        }
    }
    assert_eq!(
        (f[12], f[13]),
        (bo.to_string().as_str(), ro.to_string().as_str()),
        "{tables}"
    );
    let p = synthgen::study::stats::exact_p_value(bo, ro);
    assert_eq!(f[11], format!("{p:.6}"));
    let mark = f[10];
    let expected = if p >= 0.05 || bo == ro {
        "within noise"
    } else if ro < bo {
        "holds" // the paper's row is lower than its baseline
    } else {
        "reversed"
    };
    assert_eq!(mark, expected, "{tables}");

    let md = read(&out.join("report.md"));
    assert!(md.contains("repeated over 2 replicates"), "{md}");
    assert!(
        md.contains("The real-image column `real` was left out: no --real folder was given."),
        "{md}"
    );
    assert!(
        md.contains("## By background") && md.contains("## By view"),
        "{md}"
    );
    // The view breakdown's groups count every test image of both replicates of `a`.
    let by_view = md.split("## By view").nth(1).unwrap();
    let counts: u64 = by_view
        .lines()
        .find(|l| l.starts_with("| a |"))
        .unwrap()
        .split('(')
        .skip(1)
        .map(|c| c.split(')').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counts, 16, "{by_view}");

    // With --real: the real column is evaluated, its predictions join the folder's files.
    let real = s.join("real");
    real_folder(&real);
    let o = synthgen(s)
        .args([
            "study",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--real",
            real.to_str().unwrap(),
        ])
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("study: render test: cached") && err.contains("study: train a: ran"),
        "{err}"
    );
    // The eval list is in the run's hash: a new stage, named on the `ran ->` line.
    let stage = err
        .lines()
        .find_map(|l| l.strip_prefix("study: train a: ran -> "))
        .expect("train a ran");
    let p =
        predictions::read(&Path::new(stage).join("run").join("predictions-real.jsonl")).unwrap();
    assert_eq!(p.len(), 6);
    for x in &p {
        assert!(real.join(&x.path).is_file(), "{} joins no file", x.path);
        assert_eq!(x.label, usize::from(x.path.starts_with("table/")));
    }
    let tables = read(&out.join("tables.csv"));
    assert_eq!(tables.lines().count(), 5, "{tables}");
    assert!(tables.contains("Reps,acc,a,real,"), "{tables}");
    assert!(!read(&out.join("report.md")).contains("was left out"));
}
