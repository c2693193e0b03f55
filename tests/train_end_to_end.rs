//! End-to-end checks of `synthgen train` on tiny generated image sets with the real libtorch
//! (CPU): overfitting, outputs, resume equivalence, --init, and bad inputs.
#![cfg(feature = "train")]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use synthgen::nn::{checkpoint, TrainError};
use synthgen::train::{train, Length, TrainConfig};

const CLASSES: [&str; 3] = ["circle", "square", "triangle"];

/// Writes `per_class` 40 x 40 PNGs per class: a coloured shape of random size and position on a
/// noisy background (class = shape and colour).
fn write_shapes(root: &Path, per_class: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (c, name) in CLASSES.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let (cx, cy) = (rng.random_range(14..26i32), rng.random_range(14..26i32));
            let r = rng.random_range(7..11i32);
            let noise: Vec<u8> = (0..40 * 40).map(|_| rng.random_range(0..60)).collect();
            let img = image::RgbImage::from_fn(40, 40, |x, y| {
                let (dx, dy) = (x as i32 - cx, y as i32 - cy);
                let inside = match c {
                    0 => dx * dx + dy * dy <= r * r,
                    1 => dx.abs() <= r && dy.abs() <= r,
                    _ => dy <= r && dy >= -r && dx.abs() <= (dy + r) / 2,
                };
                let n = noise[(y * 40 + x) as usize];
                if inside {
                    let mut px = [n / 2; 3];
                    px[c] = 230;
                    image::Rgb(px)
                } else {
                    image::Rgb([n, n, n])
                }
            });
            img.save(dir.join(format!("{i:03}.png"))).unwrap();
        }
    }
}

fn tiny_config(train_dir: &Path, out: &Path) -> TrainConfig {
    let mut cfg = TrainConfig::new(train_dir.to_path_buf(), out.to_path_buf());
    cfg.arch = "resnet_tiny".into();
    cfg.image_size = 32;
    cfg.batch_size = 8;
    cfg.lr = 0.05;
    cfg.workers = Some(1);
    cfg.device = synthgen::nn::device::DeviceChoice::Cpu;
    cfg
}

#[test]
fn cli_overfits_tiny_shapes_and_writes_all_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    // `SYNTHGEN_TEST_SEED=k` (default 0) shifts the data and training seeds to measure the margin.
    let k: u64 = std::env::var("SYNTHGEN_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    write_shapes(&data, 8, 1 + 100 * k);
    let out = dir.path().join("run");
    let status = Command::new(env!("CARGO_BIN_EXE_synthgen"))
        .args(["train", "--train"])
        .arg(&data)
        .arg("--eval")
        .arg(format!("train={}", data.display()))
        .args([
            "--arch",
            "resnet_tiny",
            "--image-size",
            "32",
            "--aug",
            "none",
        ])
        .args([
            "--iters",
            "60",
            "--batch-size",
            "8",
            "--lr",
            "0.05",
            "--eval-every",
            "30",
        ])
        .args(["--device", "cpu", "--seed"])
        .arg((3 + 100 * k).to_string())
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let acc = summary["evals"]["train"]["last_acc"].as_f64().unwrap();
    eprintln!("train accuracy {acc:.3} after 60 steps (seed shift {k})");
    // Measured: 1.000 (24/24) at seed shifts 0-4, OMP_NUM_THREADS=1 and 2; margin 0.1 (2 images).
    assert!(acc >= 0.9, "train accuracy {acc} after 60 steps");
    assert_eq!(summary["steps"], 60);
    assert_eq!(summary["status"], "completed");
    for f in [
        "metrics.jsonl",
        "metrics.csv",
        "loss.png",
        "accuracy.png",
        "confusion_train.png",
        "checkpoint-last.safetensors",
        "checkpoint-last.json",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("step,kind,set,loss,acc,mean,lr,images_per_s"));
    assert_eq!(
        csv.lines().filter(|l| l.contains(",eval,train,")).count(),
        2
    );
}

#[test]
fn resume_continues_exactly_like_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    write_shapes(&data, 4, 2);
    let full = dir.path().join("full");
    let part = dir.path().join("part");
    let mut cfg = tiny_config(&data, &full);
    cfg.augment = synthgen::nn::augment::Augment::Strong;
    cfg.length = Length::Iters(8);
    cfg.eval_every = Some(100);
    cfg.workers = Some(3);
    train(&cfg).unwrap();

    let mut first = cfg.clone();
    first.out = part.clone();
    first.stop_after = Some(4);
    first.workers = Some(1); // another worker count must not change the data
    assert_eq!(train(&first).unwrap().status, "stopped");
    let mut rest = first.clone();
    rest.stop_after = None;
    rest.resume = true;
    let s = train(&rest).unwrap();
    assert_eq!((s.status.as_str(), s.steps), ("completed", 8));

    let (a, b) = (common::train_losses(&full), common::train_losses(&part));
    assert_eq!(a.len(), 8);
    assert_eq!(
        a.iter().map(|x| x.0).collect::<Vec<_>>(),
        b.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    for ((step, la), (_, lb)) in a.iter().zip(&b) {
        assert!((la - lb).abs() < 1e-4, "step {step}: {la} vs {lb}");
    }
    let (ta, tb) = (
        common::last_checkpoint_tensors(&full),
        common::last_checkpoint_tensors(&part),
    );
    assert_eq!(ta.len(), tb.len());
    for (k, t) in &ta {
        let diff = (t - &tb[k]).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "{k} differs by {diff}");
    }
    assert!(ta.keys().any(|k| k.starts_with("optim.momentum.")));
}

/// `synthgen train` on `data` for 6 steps into `out`, with `extra` flags; (exit code, stderr).
fn train_cli(data: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_synthgen"))
        .args(["train", "--train"])
        .arg(data)
        .args([
            "--arch",
            "resnet_tiny",
            "--image-size",
            "32",
            "--aug",
            "none",
        ])
        .args(["--iters", "6", "--batch-size", "8", "--lr", "0.05"])
        .args(["--eval-every", "100", "--workers", "1", "--device", "cpu"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into())
}

/// A checkpoint written before the metadata went inside the tensor file (JSON sidecar only)
/// still resumes to the uninterrupted result; resuming it with another optimizer is refused.
/// WHY through the CLI: each run in its own process, so that tests running in parallel in this
/// one cannot touch its (process-global) torch generator.
#[test]
fn an_older_checkpoint_resumes_and_another_optimizer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    write_shapes(&data, 4, 5);
    let full = dir.path().join("full");
    let part = dir.path().join("part");
    assert_eq!(train_cli(&data, &full, &[]).0, Some(0));
    assert_eq!(train_cli(&data, &part, &["--stop-after", "3"]).0, Some(0));
    let file = part.join("checkpoint-last.safetensors");
    let mut old: Vec<(String, tch::Tensor)> = common::last_checkpoint_tensors(&part)
        .into_iter()
        .filter(|(k, _)| k != checkpoint::META_KEY)
        .collect();
    old.sort_by(|a, b| a.0.cmp(&b.0));
    tch::Tensor::write_safetensors(&old, &file).unwrap();

    let (code, err) = train_cli(&data, &part, &["--resume", "--optimizer", "adam"]);
    assert!(
        code == Some(2) && err.contains("this run is adam"),
        "{code:?}: {err}"
    );
    let (code, err) = train_cli(&data, &part, &["--resume"]);
    assert_eq!(code, Some(0), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(part.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        (summary["status"].as_str(), summary["steps"].as_u64()),
        (Some("completed"), Some(6))
    );
    let (ta, tb) = (
        common::last_checkpoint_tensors(&full),
        common::last_checkpoint_tensors(&part),
    );
    let mut compared = 0;
    for (k, t) in ta.iter().filter(|(k, _)| !k.starts_with("meta")) {
        let diff = (t - &tb[k]).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "{k} differs by {diff}");
        compared += 1;
    }
    assert!(compared > 20 && ta.keys().any(|k| k.starts_with("optim.momentum.")));
}

#[test]
fn init_loads_backbone_and_skips_a_head_of_another_size() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    write_shapes(&data, 2, 3);
    let pre = dir.path().join("pre");
    let mut cfg = tiny_config(&data, &pre);
    cfg.length = Length::Iters(1);
    train(&cfg).unwrap();
    // Same backbone, 2 classes instead of 3.
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _m = synthgen::nn::models::Classifier::new(&vs.root(), "resnet_tiny", 2, 32).unwrap();
    let r = checkpoint::load_init(&vs, &pre.join("checkpoint-last.safetensors"), false).unwrap();
    // The head is dropped whatever its shape (the released code drops every `fc` key).
    assert_eq!(r.dropped, vec!["head.bias", "head.weight"]);
    assert!(r.shape_mismatch.is_empty());
    assert!(r.missing.is_empty());
    assert!(r.loaded.iter().all(|n| n.starts_with("backbone.")) && r.loaded.len() > 20);
    let src = common::last_checkpoint_tensors(&pre);
    let w = vs.variables()["backbone.conv1.weight"].shallow_clone();
    assert!(
        (w - &src["model.backbone.conv1.weight"])
            .abs()
            .max()
            .double_value(&[])
            < 1e-7
    );
}

#[test]
fn bad_inputs_give_clear_errors_and_corrupt_images_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let msg = |p: PathBuf| train(&tiny_config(&p, &out)).unwrap_err().to_string();

    let missing = dir.path().join("nope");
    assert!(msg(missing).contains("nope"));

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("a")).unwrap();
    let e = msg(empty);
    assert!(e.contains("no .png"), "{e}");

    let list = dir.path().join("list.txt");
    std::fs::write(&list, "a/1.png 0\na/2.png\n").unwrap();
    let e = msg(list);
    assert!(e.contains("Line 2") && e.contains("list.txt"), "{e}");

    let data = dir.path().join("shapes");
    write_shapes(&data, 3, 4);
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join("circle")).unwrap();
    std::fs::create_dir_all(other.join("hexagon")).unwrap();
    std::fs::copy(data.join("circle/000.png"), other.join("hexagon/x.png")).unwrap();
    let mut cfg = tiny_config(&data, &out);
    cfg.evals = vec![("real".into(), other)];
    let e = train(&cfg).unwrap_err();
    assert!(matches!(e, TrainError::ClassMismatch { .. }));
    let e = e.to_string();
    assert!(
        e.contains("square, triangle") && e.contains("[hexagon]"),
        "{e}"
    );

    std::fs::write(data.join("square/001.png"), b"garbage").unwrap();
    let mut cfg = tiny_config(&data, &out);
    cfg.non_repetitive = true;
    cfg.length = Length::Iters(100);
    let s = train(&cfg).unwrap();
    assert_eq!(s.skipped_images, 1);
    assert_eq!(s.images_seen, 8);
    assert_eq!(s.steps, 2); // 9 samples / batch 8: the data ran out
    assert!(s.skipped_examples[0].ends_with("square/001.png"));
}

#[test]
fn non_finite_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    write_shapes(&data, 2, 5);
    let out = dir.path().join("run");
    let mut cfg = tiny_config(&data, &out);
    cfg.lr = 1e30; // the first update blows the weights up
    cfg.weight_decay = 0.0;
    cfg.length = Length::Iters(20);
    cfg.eval_every = Some(1);
    let e = train(&cfg).unwrap_err();
    let TrainError::NonFiniteLoss { step, .. } = e else {
        panic!("expected a non-finite loss, got {e}");
    };
    assert!(e.to_string().contains("lower --lr"), "{e}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "diverged");
    let meta = checkpoint::read_meta(&out.join("checkpoint-last.json")).unwrap();
    assert_eq!(
        meta.step,
        step - 1,
        "the checkpoint is the last finite step"
    );
}

/// A stream option on a run that reads a folder would be ignored: `train` and `adapt` refuse
/// it with one line naming the flag and the fix, before reading anything.
#[test]
fn stream_options_without_stream_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    write_shapes(&data, 2, 6);
    let data_s = data.to_str().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    let keep = dir.path().join("kept");
    let keep_s = keep.to_str().unwrap();
    let train = ["train", "--train", data_s, "--out", out_s];
    let adapt = [
        "adapt", "--method", "dann", "--source", data_s, "--target", data_s, "--out", out_s,
    ];
    let cases: [(&[&str], &[&str], &str); 5] = [
        (&train, &["--keep", keep_s], "--keep"),
        (&train, &["--queue", "4"], "--queue"),
        (&train, &["--set", "render.samples=2"], "--set"),
        (&adapt, &["--keep", keep_s], "--keep"),
        (&adapt, &["--weights", "w.json"], "--weights"),
    ];
    for (command, extra, flag) in cases {
        let o = Command::new(env!("CARGO_BIN_EXE_synthgen"))
            .args(command)
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{command:?} {extra:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(&format!("{flag} only applies to a render stream"))
                && err.contains("add --stream PRESET"),
            "{err}"
        );
        assert!(!out.exists() && !keep.exists(), "nothing is written");
    }
}
