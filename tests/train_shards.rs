//! `synthgen train` from WebDataset shards (real libtorch, CPU): a folder of shards is detected
//! without a flag, a run stopped mid-epoch and resumed equals the uninterrupted run, and an
//! evaluation set in shards gives what the same render as an ImageFolder gives.
#![cfg(feature = "train")]
mod common;

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use synthgen::dataset::webdataset::{ShardLimits, ShardNaming, ShardWriter};
use synthgen::train::{train, Length, TrainConfig};

/// 3 classes x `per_class` 40 x 40 PNGs (a coloured square on noise) in shards of 5 samples,
/// with classes.txt beside them.
fn write_shards(dir: &Path, per_class: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut w = ShardWriter::new(
        dir,
        ShardNaming::single("shapes"),
        ShardLimits {
            max_samples: 5,
            max_bytes: 1 << 30,
        },
        0,
    );
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..per_class {
        for c in 0..3usize {
            let (cx, cy, r) = (
                rng.random_range(14..26i32),
                rng.random_range(14..26i32),
                rng.random_range(6..10i32),
            );
            let img = image::RgbImage::from_fn(40, 40, |x, y| {
                let n = rng.random_range(0..60u8);
                if (x as i32 - cx).abs() <= r && (y as i32 - cy).abs() <= r {
                    let mut px = [n / 2; 3];
                    px[c] = 230;
                    image::Rgb(px)
                } else {
                    image::Rgb([n, n, n])
                }
            });
            let mut png = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            let cls = c.to_string();
            w.append(
                &format!("c{c}_{i:04}"),
                &[("png", &png), ("cls", cls.as_bytes())],
            )
            .unwrap();
        }
    }
    w.finish().unwrap();
    std::fs::write(dir.join("classes.txt"), "a\nb\nc\n").unwrap();
}

#[test]
fn training_from_shards_resumes_mid_epoch_like_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    write_shards(&shards, 4);
    let (full, part) = (dir.path().join("full"), dir.path().join("part"));
    let mut cfg = TrainConfig::new(shards.clone(), full.clone());
    cfg.arch = "resnet_tiny".into();
    cfg.image_size = 32;
    cfg.batch_size = 5;
    cfg.lr = 0.05;
    cfg.augment = synthgen::nn::augment::Augment::Strong;
    cfg.length = Length::Iters(8);
    cfg.eval_every = Some(100);
    cfg.workers = Some(3);
    cfg.device = synthgen::nn::device::DeviceChoice::Cpu;
    let s = train(&cfg).unwrap();
    assert_eq!(s.train_images, 12, "every shard sample counted");
    assert_eq!(s.classes, ["a", "b", "c"]);
    assert_eq!(s.images_seen, 40);

    // Stopped at step 3 (mid-epoch: 15 of 12 + 12 samples), resumed with another thread count.
    let mut first = cfg.clone();
    first.out = part.clone();
    first.stop_after = Some(3);
    first.workers = Some(1);
    assert_eq!(train(&first).unwrap().status, "stopped");
    let mut rest = first.clone();
    rest.stop_after = None;
    rest.resume = true;
    let r = train(&rest).unwrap();
    assert_eq!((r.status.as_str(), r.steps), ("completed", 8));

    let (a, b) = (common::train_losses(&full), common::train_losses(&part));
    assert_eq!(a.len(), 8);
    for ((sa, la), (sb, lb)) in a.iter().zip(&b) {
        assert_eq!(sa, sb);
        assert!((la - lb).abs() < 1e-4, "step {sa}: {la} vs {lb}");
    }
    let (ta, tb) = (
        common::last_checkpoint_tensors(&full),
        common::last_checkpoint_tensors(&part),
    );
    for (k, t) in &ta {
        let diff = (t - &tb[k]).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "{k} differs by {diff}");
    }
}

/// `prediction id -> (label, predicted)` of one evaluation set's predictions file.
fn predictions(file: &Path) -> std::collections::BTreeMap<String, (u64, u64)> {
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                (
                    v["label"].as_u64().unwrap(),
                    v["predicted"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

/// One demo render (chair, table; 5 each at 32 px) written both as an ImageFolder and as
/// shards of 3 samples: `train --eval` over each (the shards streamed) gives the same labels,
/// predictions, Acc and Mean (adaptation on shards: tests/adapt_shards.rs).
#[test]
fn an_evaluation_set_in_shards_scores_like_the_same_render_as_an_imagefolder() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let (folder, shards) = (scratch.join("folder"), scratch.join("shards"));
    for (out, extra) in [
        (&folder, vec![]),
        (
            &shards,
            vec!["--format", "webdataset", "--set", "output.shard_samples=3"],
        ),
    ] {
        let o = common::synthgen(scratch)
            .args(common::fit_render_args(out, 5))
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", common::text(&o));
    }
    let run = scratch.join("run");
    let o = common::synthgen(scratch)
        .env("OMP_NUM_THREADS", "1")
        .args([
            "train",
            "--arch",
            "resnet_tiny",
            "--iters",
            "3",
            "--batch-size",
            "4",
        ])
        .args(["--image-size", "32", "--device", "cpu"])
        .arg("--train")
        .arg(&folder)
        .arg(format!("--eval=folder={}", folder.display()))
        .arg(format!("--eval=shards={}", shards.display()))
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let evals = &summary["evals"];
    for key in ["last_acc", "last_mean", "last_per_class"] {
        assert_eq!(evals["folder"][key], evals["shards"][key], "{key}: {evals}");
    }
    let (a, b) = (
        predictions(&run.join(synthgen::dataset::predictions::file_name("folder"))),
        predictions(&run.join(synthgen::dataset::predictions::file_name("shards"))),
    );
    assert_eq!(a.len(), 10);
    assert_eq!(a, b, "the same images, labels and predictions by id");
}
