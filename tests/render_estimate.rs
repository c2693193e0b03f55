//! `render --estimate` through the real binary and real Blender renders (s2rda49 without
//! ShapeNet, so from the embedded stand-ins; 2 calibration images at 32 px, 4 samples): the
//! printed figures hold together (images = classes x per class, bytes scale with images,
//! wall = core-hours / cores / nodes), nothing is left behind, and bad input is one line,
//! exit 2.
mod common;

use common::{synthgen, text};
use std::path::Path;

/// The estimate's output for `--per-class`, run with its own TMPDIR.
fn estimate(scratch: &Path, per_class: u64) -> String {
    let tmp = scratch.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let o = synthgen(scratch)
        .env("TMPDIR", &tmp)
        .env_remove("SYNTHGEN_SHAPENET")
        .args([
            "render",
            "--preset",
            "s2rda49",
            "--estimate",
            "--calibrate",
            "2",
        ])
        .args(["--per-class", &per_class.to_string()])
        .args(["--nodes", "3", "--cores-per-node", "5"])
        .args(["--set", "render.resolution=32", "--set", "render.samples=4"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("embedded Sweet Home 3D stand-ins"),
        "the estimate says where its models came from: {}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the calibration leaves nothing in TMPDIR"
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The first number after `key: ` on the line that starts with it (after indentation).
fn figure(out: &str, key: &str) -> f64 {
    let line = out
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` line in\n{out}"));
    line[key.len() + 2..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// The number before `word` on the line that starts with `key: `.
fn figure_before(out: &str, key: &str, word: &str) -> f64 {
    let line = out
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(&format!("{key}: ")))
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == word).unwrap();
    words[at - 1].parse().unwrap()
}

#[test]
fn the_estimate_figures_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let one = estimate(&dir.path().join("a"), 12_000);
    let two = estimate(&dir.path().join("b"), 24_000);

    assert_eq!(figure(&one, "images"), 49.0 * 12_000.0, "{one}");
    assert_eq!(figure(&two, "images"), 49.0 * 24_000.0, "{two}");
    for out in [&one, &two] {
        let core_hours = figure(out, "core-hours");
        let wall = figure(out, "wall hours");
        assert!(core_hours > 0.0, "{out}");
        // Both are printed rounded (core-hours to 0.01, wall hours to 0.001).
        assert!(
            (wall - core_hours / 15.0).abs() <= 0.005 / 15.0 + 0.0005,
            "wall = core-hours / (3 nodes x 5 cores): {out}"
        );
    }
    // The calibration renders the same images whatever --per-class says, so the bytes of
    // twice the images are twice the bytes (up to the last byte of integer scaling).
    let (a, b) = (
        figure(&one, "imagefolder bytes"),
        figure(&two, "imagefolder bytes"),
    );
    assert!((b - 2.0 * a).abs() <= 1.0, "{a} then {b}");
    assert_eq!(
        figure_before(&two, "imagefolder bytes", "files,"),
        2.0 * figure_before(&one, "imagefolder bytes", "files,")
    );
    let shards = |out: &str| figure_before(out, "webdataset bytes", "shards");
    let end_markers = |out: &str| shards(out) * 1024.0;
    let (a, b) = (
        figure(&one, "webdataset bytes") - end_markers(&one),
        figure(&two, "webdataset bytes") - end_markers(&two),
    );
    assert!((b - 2.0 * a).abs() <= 1.0, "{a} then {b}");
    assert!(
        a > figure(&one, "imagefolder bytes"),
        "shards add headers and records"
    );
}

/// Runs `synthgen render ARGS` and returns its stderr, which must be one line, exit 2.
fn refused(scratch: &Path, args: &[&str]) -> String {
    let o = synthgen(scratch)
        .args(["render", "--preset", "s2rda49"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: one line: {err}"
    );
    err
}

#[test]
fn bad_estimate_input_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_arg = out.to_str().unwrap();
    assert!(refused(dir.path(), &["--estimate", "--nodes", "0"]).contains("--nodes"));
    assert!(refused(dir.path(), &["--estimate", "--calibrate", "0"]).contains("--calibrate"));
    assert!(refused(dir.path(), &["--estimate", "--out", out_arg]).contains("--out"));
    assert!(refused(dir.path(), &["--out", out_arg, "--nodes", "4"]).contains("--estimate"));
    assert!(refused(dir.path(), &[]).contains("--out"));
    assert!(!out.exists(), "a refused run writes nothing");
}
