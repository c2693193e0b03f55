//! Datasets written before the scene had one shape (719d48c: the flat, string-kinded
//! `params`) still validate, merge and answer manifest paths. The fixtures are real output of
//! that commit: `synthgen render --preset demo --seed 5 --per-class 1 --classes chair,table
//! --set render.resolution=16 --set render.samples=2 --workers 1 --shard I/2`, and 16 lines of
//! four base-preset runs that draw every kind (see src/scene/tests.rs).
mod common;

use std::path::{Path, PathBuf};
use synthgen::dataset::manifest::{read_manifest, MANIFEST_FILE};
use synthgen::study::stats::predictions::field;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn old_shards_validate_and_merge_into_a_manifest_of_the_current_shape() {
    let dir = tempfile::tempdir().unwrap();
    let shards: Vec<PathBuf> = ["1", "2"]
        .iter()
        .map(|s| {
            let to = dir.path().join(s);
            copy_dir(&fixtures().join("shards-719d48c").join(s), &to);
            to
        })
        .collect();
    for shard in &shards {
        let o = common::synthgen(dir.path())
            .arg("validate")
            .arg(shard)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", common::text(&o));
    }
    let merged = dir.path().join("merged");
    let o = common::synthgen(dir.path())
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
    let o = common::synthgen(dir.path())
        .arg("validate")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));

    let old: Vec<_> = shards
        .iter()
        .flat_map(|s| read_manifest(&s.join(MANIFEST_FILE)).unwrap())
        .collect();
    let new = read_manifest(&merged.join(MANIFEST_FILE)).unwrap();
    assert_eq!(new.len(), 2);
    assert_eq!(new, old);
    let text = std::fs::read_to_string(merged.join(MANIFEST_FILE)).unwrap();
    assert!(!text.contains("sky_turbidity"), "{text}");
}

#[test]
fn manifest_paths_read_the_same_values_from_old_records() {
    let path = fixtures().join("manifest-719d48c.jsonl");
    let records = read_manifest(&path).unwrap();
    let lines = std::fs::read_to_string(&path).unwrap();
    assert_eq!(records.len(), lines.lines().count());
    for (r, line) in records.iter().zip(lines.lines()) {
        let old: serde_json::Value = serde_json::from_str(line).unwrap();
        for p in [
            "params.background.kind",
            "params.material.family",
            "params.material.keep_original",
            "params.camera.azimuth_deg",
            "params.camera.elevation_deg",
            "params.light.world.kind",
            "params.light.world.strength",
            "params.scale.size",
            "model.key",
        ] {
            let want = p.split('.').fold(&old, |v, k| &v[k]);
            assert_eq!(field(r, p).as_ref(), Some(want), "{p} of {line}");
        }
    }
}
