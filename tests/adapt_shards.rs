//! `synthgen adapt` with WebDataset shards as its source and target (real Blender renders,
//! real libtorch on the CPU): the shards are a random-access list of their members
//! (`nn::data_shards`), so a DANN run on the shards equals, loss for loss and prediction for
//! prediction, the run on the same renders as ImageFolders; a run stopped part-way and resumed
//! equals the uninterrupted one; the t-SNE picture is drawn from the shards.
#![cfg(feature = "train")]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use synthgen::adapt::{adapt, AdaptConfig, AdaptSummary, MethodKind};
use synthgen::nn::device::DeviceChoice;

/// Renders the demo preset (chair, table; 4 each at 32 px) with `seed` as an ImageFolder and
/// as shards of 3 samples (a folder of shards, and its wids index).
fn render_both(scratch: &Path, name: &str, seed: &str) -> (PathBuf, PathBuf) {
    let (folder, shards) = (
        scratch.join(format!("{name}-folder")),
        scratch.join(format!("{name}-shards")),
    );
    for (out, extra) in [
        (&folder, vec![]),
        (
            &shards,
            vec!["--format", "webdataset", "--set", "output.shard_samples=3"],
        ),
    ] {
        let o = common::synthgen(scratch)
            .args(common::fit_render_args(out, 4))
            .args(["--seed", seed])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", common::text(&o));
    }
    (folder, shards)
}

fn config(source: &Path, target: &Path, out: PathBuf) -> AdaptConfig {
    let mut cfg = AdaptConfig::new(source.into(), target.into(), MethodKind::Dann, out);
    cfg.arch = "resnet_tiny".into();
    cfg.image_size = 32;
    cfg.batch_size = 3;
    cfg.iters = Some(6);
    cfg.eval_every = Some(2);
    cfg.lr = Some(0.01);
    cfg.tsne_points = 6;
    cfg.workers = Some(2);
    cfg.device = DeviceChoice::Cpu;
    cfg
}

/// `id -> (label, predicted, confidence)` of a run's predictions on its target.
fn predictions(out: &Path) -> BTreeMap<String, (usize, usize, f32)> {
    let file = out.join(synthgen::dataset::predictions::file_name("target"));
    synthgen::dataset::predictions::read(&file)
        .unwrap()
        .into_iter()
        .map(|p| (p.id, (p.label, p.predicted, p.confidence)))
        .collect()
}

fn evals(s: &AdaptSummary) -> String {
    serde_json::to_string(&s.evals).unwrap()
}

#[test]
fn adapting_on_shards_equals_adapting_on_the_same_renders_as_imagefolders_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let (src_folder, src_shards) = render_both(scratch, "source", "11");
    let (tgt_folder, tgt_shards) = render_both(scratch, "target", "12");

    let folders = adapt(&config(&src_folder, &tgt_folder, scratch.join("a"))).unwrap();
    // The source as a folder of shards, the target as its wids index.
    let index = tgt_shards.join("wids-index.json");
    let shards = adapt(&config(&src_shards, &index, scratch.join("b"))).unwrap();
    assert_eq!((shards.source_images, shards.target_images), (8, 8));
    assert!(shards.target_labelled);
    assert_eq!(shards.classes, ["chair", "table"]);
    assert_eq!(shards.status, "completed");

    let (la, lb) = (
        common::train_losses(&scratch.join("a")),
        common::train_losses(&scratch.join("b")),
    );
    assert_eq!(la.len(), 6);
    assert_eq!(la, lb, "every step's loss, exactly");
    assert_eq!(evals(&folders), evals(&shards));
    let (pa, pb) = (
        predictions(&scratch.join("a")),
        predictions(&scratch.join("b")),
    );
    assert_eq!(pa.len(), 8);
    assert_eq!(
        pa, pb,
        "the same images, labels, predictions and confidences by id"
    );
    let rows = synthgen::dataset::predictions::read(
        &scratch
            .join("b")
            .join(synthgen::dataset::predictions::file_name("target")),
    )
    .unwrap();
    assert!(rows[0].path.starts_with("demo-00000"), "{:?}", rows[0]);
    assert_eq!(rows[0].path, format!("demo-000000.tar#{}", rows[0].id));
    assert!(scratch.join("b/tsne.png").is_file());

    // Stopped after 3 iterations (mid-epoch, with other decode threads) and resumed.
    let mut first = config(&src_shards, &index, scratch.join("c"));
    first.stop_after = Some(3);
    first.workers = Some(1);
    assert_eq!(adapt(&first).unwrap().status, "stopped");
    let mut rest = first.clone();
    rest.stop_after = None;
    rest.resume = true;
    let resumed = adapt(&rest).unwrap();
    assert_eq!((resumed.status.as_str(), resumed.steps), ("completed", 6));
    let lc = common::train_losses(&scratch.join("c"));
    assert_eq!(lc.len(), 6);
    for ((sa, a), (sc, c)) in lb.iter().zip(&lc) {
        assert_eq!(sa, sc);
        assert!((a - c).abs() < 1e-4, "step {sa}: {a} vs {c}");
    }
    let (tb, tc) = (
        common::last_checkpoint_tensors(&scratch.join("b")),
        common::last_checkpoint_tensors(&scratch.join("c")),
    );
    for (k, t) in &tb {
        let diff = (t.to_kind(tch::Kind::Double) - tc[k].to_kind(tch::Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-4, "{k} differs by {diff}");
    }
}
