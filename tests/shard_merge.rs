//! `render --shard I/N` + `merge` on a fixture ShapeNet tree, through real Blender: three
//! shards merged equal one run with the same seed (params, image hashes, lists).
mod common;
mod shapenet_fixture;

use common::{manifest_digests, synthgen, text};
use std::path::Path;

fn render(scratch: &Path, root: &Path, out: &Path, shard: Option<&str>) {
    let mut c = synthgen(scratch);
    c.args([
        "render",
        "--preset",
        "s2rda49",
        "--classes",
        "chair,table",
        "--per-class",
        "3",
    ])
    .args(["--set", "render.resolution=32", "--set", "render.samples=4"])
    .args(["--set", "render.denoise=false", "--seed", "5", "--shapenet"])
    .arg(root)
    .arg("--out")
    .arg(out);
    if let Some(s) = shard {
        c.args(["--shard", s]);
    }
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

fn merge(scratch: &Path, shards: &[&Path], out: &Path) -> std::process::Output {
    synthgen(scratch)
        .arg("merge")
        .args(shards)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn three_shards_merged_equal_a_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let root = shapenet_fixture::write_tree(&scratch.join("ShapeNetCore"));
    let single = scratch.join("single");
    render(scratch, &root, &single, None);
    let shards: Vec<_> = (1..=3).map(|i| scratch.join(format!("shard{i}"))).collect();
    for (i, s) in shards.iter().enumerate() {
        render(scratch, &root, s, Some(&format!("{}/3", i + 1)));
    }
    // Each shard holds a disjoint part; together all six images.
    let counts: Vec<usize> = shards.iter().map(|s| manifest_digests(s).len()).collect();
    assert_eq!(counts, [2, 2, 2]);

    let merged = scratch.join("merged");
    let refs: Vec<&Path> = shards.iter().map(|p| p.as_path()).collect();
    let o = merge(scratch, &refs, &merged);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(manifest_digests(&merged), manifest_digests(&single));
    for f in ["image_list.txt", "classes.txt", "preset.yaml"] {
        assert_eq!(read(&merged.join(f)), read(&single.join(f)), "{f}");
    }
    for d in manifest_digests(&single) {
        let class = d.id.rsplit_once('_').unwrap().0;
        let image = merged.join(class).join(format!("{}.png", d.id));
        let bytes = std::fs::read(&image).unwrap();
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, d.sha256, "{}", image.display());
        assert!(merged
            .join("masks")
            .join(class)
            .join(format!("{}.png", d.id))
            .is_file());
    }
    // Only ShapeNet models were used (the fixture has both synsets).
    for d in manifest_digests(&single) {
        assert_eq!(d.model["source"], "shapenet", "{:?}", d.model);
    }

    // The merged folder is a valid dataset on its own.
    let o = synthgen(scratch)
        .arg("validate")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A missing or repeated shard is refused with one line, exit 2.
    let o = merge(scratch, &refs[..2], &scratch.join("m2"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("3/3 are missing"),
        "{}",
        text(&o)
    );
    let o = merge(scratch, &[refs[0], refs[1], refs[1]], &scratch.join("m3"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("given twice"),
        "{}",
        text(&o)
    );
    let o = merge(scratch, &[refs[0], single.as_path()], &scratch.join("m4"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--shard"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_shard_folder_resumes_only_as_the_same_shard() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let root = shapenet_fixture::write_tree(&scratch.join("ShapeNetCore"));
    let out = scratch.join("shard2");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("manifest.jsonl"), "").unwrap();
    std::fs::write(out.join("shard.json"), r#"{"index":2,"count":3}"#).unwrap();
    for (flags, says) in [
        (vec!["--shard", "1/3"], "resume it with --shard 2/3"),
        (vec![], "resume it with --shard 2/3"),
    ] {
        let o = synthgen(scratch)
            .args([
                "render",
                "--preset",
                "s2rda49",
                "--classes",
                "chair",
                "--resume",
            ])
            .arg("--shapenet")
            .arg(&root)
            .arg("--out")
            .arg(&out)
            .args(&flags)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{}",
            text(&o)
        );
    }
    // A folder without a dataset is not a shard.
    let o = merge(scratch, &[scratch], &scratch.join("m"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("holds no dataset"),
        "{}",
        text(&o)
    );
}
