//! `train --stream --keep DIR` with `output.format: webdataset`: the kept images go into shards
//! (real Blender workers, real libtorch, CPU). A run stopped part-way and resumed leaves the
//! shards `render --format webdataset` writes for the same preset, byte for byte, and trains
//! as an uninterrupted run; a later run streams the kept images back out of the shards; they
//! validate, the PyPI `webdataset` and `wids` packages read the ImageFolder render's images and
//! labels from them, and `train --train DIR` trains on them.
#![cfg(feature = "train")]
mod common;

use common::stream::*;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;

const SHARDS: [&str; 4] = [
    "--set",
    "output.format=webdataset",
    "--set",
    "output.shard_samples=3",
];

/// `train --stream demo` kept as shards: resnet_tiny at 32 px, batch 4, `iters` steps.
fn stream_run(scratch: &Path, archives: &Path, out: &Path, kept: &Path, extra: &[&str]) {
    let o = command(scratch, archives)
        .env("OMP_NUM_THREADS", "1")
        .args(["train", "--stream", "demo", "--out"])
        .arg(out)
        .arg("--keep")
        .arg(kept)
        .args(set_args())
        .args(SHARDS)
        .args([
            "--arch",
            "resnet_tiny",
            "--image-size",
            "32",
            "--batch-size",
            "4",
        ])
        .args([
            "--device",
            "cpu",
            "--workers",
            "1",
            "--eval-every",
            "1",
            "--iters",
            "2",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

/// Every `.tar` file of a folder, by name, with its bytes.
fn tars(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn a_kept_stream_in_shards_matches_render_validates_and_is_read_by_webdataset() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path();
    let archives = write_sh3f(&s.join("archives"), &good_models());
    // What the stream must keep: render's shards and ImageFolder of 4 images per class.
    let (folder, rendered) = (s.join("folder"), s.join("rendered"));
    render_reference(s, &archives, 4, &folder);
    let o = command(s, &archives)
        .args(["render", "--preset", "demo", "--per-class", "4", "--out"])
        .arg(&rendered)
        .args(set_args())
        .args(SHARDS)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // 2 steps x 4 images = positions 0..8 = images 0..4 of both classes; stopped after the
    // first step (staged images, no shards yet), then resumed.
    let (kept, run) = (s.join("kept"), s.join("run"));
    stream_run(s, &archives, &run, &kept, &["--stop-after", "1"]);
    assert!(
        tars(&kept).is_empty(),
        "shards are assembled when the stream ends"
    );
    stream_run(s, &archives, &run, &kept, &["--resume"]);
    assert_eq!(summary(&run)["status"], "completed");

    // The resumed run trained on the images an uninterrupted one did (kept images reused at
    // their positions).
    let (kept_full, full) = (s.join("kept-full"), s.join("full"));
    stream_run(s, &archives, &full, &kept_full, &[]);
    let (ta, tb) = (
        last_checkpoint_tensors(&full),
        last_checkpoint_tensors(&run),
    );
    for (k, t) in ta.iter().filter(|(k, _)| *k != "meta.json") {
        let diff = (t.to_kind(tch::Kind::Double) - tb[k].to_kind(tch::Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-4, "{k} differs by {diff}");
    }
    assert_eq!(tars(&kept_full), tars(&kept));
    // A new run streaming over the finished kept folder reads every image from its shards
    // (none rendered) and trains as the first did; the shards stay as they were.
    let run2 = s.join("run2");
    let before = tars(&kept);
    stream_run(s, &archives, &run2, &kept, &["--resume"]);
    let sm = summary(&run2);
    assert_eq!(
        (
            sm["stream"]["reused"].as_u64(),
            sm["stream"]["rendered"].as_u64()
        ),
        (Some(8), Some(0)),
        "{sm}"
    );
    let tc = last_checkpoint_tensors(&run2);
    for (k, t) in ta.iter().filter(|(k, _)| *k != "meta.json") {
        let diff = (t.to_kind(tch::Kind::Double) - tc[k].to_kind(tch::Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-4, "{k} differs by {diff}");
    }
    assert_eq!(tars(&kept), before);

    let (got, want) = (tars(&kept), tars(&rendered));
    assert_eq!(want.len(), 3);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &want {
        assert!(got[name] == *bytes, "{name} differs from render's");
    }
    assert!(kept.join("wids-index.json").is_file());
    assert!(!kept.join("image_list.txt").exists());
    assert!(!kept.join(".synthgen/staging").exists(), "staging removed");
    assert_eq!(count_pngs(&kept), 0, "no loose images left");

    let o = synthgen(s).arg("validate").arg(&kept).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("8 samples in 3 shards"),
        "{}",
        text(&o)
    );

    // The PyPI clients read the ImageFolder render's images and labels from the kept shards.
    assert_pypi_clients_read(
        &kept.join("wids-index.json"),
        &kept.join("demo-{000000..000002}.tar"),
        &folder,
        &s.join("wids-cache"),
    );

    // A rerun on the kept shards reads them (no flag says they are shards).
    let again = s.join("again");
    let o = synthgen(s)
        .env("OMP_NUM_THREADS", "1")
        .args(["train", "--arch", "resnet_tiny", "--image-size", "32"])
        .args(["--batch-size", "4", "--iters", "2", "--device", "cpu"])
        .arg("--train")
        .arg(&kept)
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let sm = summary(&again);
    assert_eq!(sm["train_images"], 8, "{sm}");
    assert_eq!(sm["status"], "completed", "{sm}");
}
