//! Every numeric flag and study-spec field is checked before work starts: a value out of its
//! range is one line naming the flag (or field) and the fix, exit 2, and nothing is written.
//! The cases run the real binary; they are refused before any data is read, so they are fast.
#![cfg(feature = "train")]
mod common;

use std::path::Path;

/// One refusal: the arguments after the subcommand's fixed ones, and what the line must say.
struct Case {
    args: Vec<String>,
    expect: Vec<&'static str>,
}

fn case(args: &[&str], expect: &[&'static str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        expect: expect.to_vec(),
    }
}

/// Runs every case; returns the failures (one line each) instead of stopping at the first.
fn refusals(scratch: &Path, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let out = scratch.join(format!("out{i}"));
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| a.replace("{out}", out.to_str().unwrap()))
            .collect();
        let o = common::synthgen(scratch)
            .args(&args)
            .env("OMP_NUM_THREADS", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let line = lines.first().copied().unwrap_or("");
        let problem = if o.status.code() != Some(2) {
            Some(format!("exit {:?}", o.status.code()))
        } else if lines.len() != 1 {
            Some(format!("{} lines", lines.len()))
        } else if let Some(e) = c.expect.iter().find(|e| !line.contains(*e)) {
            Some(format!("does not say `{e}`"))
        } else if out.exists() {
            Some("wrote its --out folder".to_string())
        } else {
            None
        };
        match problem {
            Some(p) => failures.push(format!("{args:?}: {p}: {stderr}")),
            None => eprintln!(
                "refused {:?}: {line}",
                &args[args.len().saturating_sub(2)..]
            ),
        }
    }
    failures
}

/// A tiny ImageFolder: 2 classes of 2 images, 24 x 24.
fn image_folder(dir: &Path) {
    for class in ["a", "b"] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..2u8 {
            let img = image::RgbImage::from_fn(24, 24, |x, y| {
                image::Rgb([(x as u8) * 9, (y as u8) * 9, 100 * i])
            });
            img.save(dir.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
}

#[test]
fn every_number_out_of_range_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    image_folder(&data);
    let data = data.to_str().unwrap();
    let train = |extra: &[&str], expect: &[&'static str]| {
        let mut a = vec![
            "train", "--train", data, "--out", "{out}", "--device", "cpu",
        ];
        if !extra.contains(&"--arch") {
            a.extend(["--arch", "resnet_tiny"]);
        }
        a.extend(extra);
        case(&a, expect)
    };
    let adapt = |extra: &[&str], expect: &[&'static str]| {
        let mut a = vec![
            "adapt", "--source", data, "--target", data, "--out", "{out}",
        ];
        a.extend(["--method", "dann", "--device", "cpu"]);
        if !extra.contains(&"--arch") {
            a.extend(["--arch", "resnet_tiny"]);
        }
        a.extend(extra);
        case(&a, expect)
    };
    let fit = |extra: &[&str], expect: &[&'static str]| {
        let mut a = vec![
            "fit", "--preset", "base", "--target", data, "--out", "{out}",
        ];
        a.extend(extra);
        case(&a, expect)
    };
    let render = |extra: &[&str], expect: &[&'static str]| {
        let mut a = vec!["render", "--preset", "base", "--out", "{out}"];
        a.extend(extra);
        case(&a, expect)
    };
    let study = |set: &str, expect: &[&'static str]| {
        case(
            &["study", "pretrain-for-da", "--out", "{out}", "--set", set],
            expect,
        )
    };
    let at_least_one = "must be at least 1";
    let above_zero = "must be a number above 0";
    let cases = vec![
        train(&["--image-size", "0"], &["--image-size", at_least_one]),
        train(&["--batch-size", "0"], &["--batch-size", at_least_one]),
        train(&["--iters", "0"], &["--iters", at_least_one]),
        train(&["--epochs", "0"], &["--epochs", above_zero]),
        train(&["--epochs", "NaN"], &["--epochs", "finite"]),
        train(&["--lr", "0"], &["--lr", above_zero]),
        train(&["--lr", "-0.1"], &["--lr", above_zero]),
        train(&["--weight-decay=-1e-4"], &["--weight-decay", "at least 0"]),
        train(&["--eval-every", "0"], &["--eval-every", at_least_one]),
        train(&["--workers", "0"], &["--workers", at_least_one]),
        train(
            &["--batch-size", "x"],
            &["--batch-size", "not a whole number"],
        ),
        // The architecture's own needs: a ViT / Mixer takes a positive multiple of its patch.
        train(
            &["--arch", "vit_tiny", "--image-size", "30"],
            &[
                "--image-size",
                "vit_tiny",
                "multiple of the patch size 8",
                "32",
            ],
        ),
        train(
            &["--arch", "mixer_s16", "--image-size", "8"],
            &[
                "--image-size",
                "mixer_s16",
                "multiple of the patch size 16",
                "16",
            ],
        ),
        case(
            &[
                "train", "--stream", "base", "--out", "{out}", "--queue", "0",
            ],
            &["--queue", at_least_one],
        ),
        adapt(&["--image-size", "0"], &["--image-size", at_least_one]),
        adapt(&["--batch-size", "0"], &["--batch-size", at_least_one]),
        adapt(&["--iters", "0"], &["--iters", at_least_one]),
        adapt(&["--epochs", "0"], &["--epochs", above_zero]),
        adapt(&["--lr", "0"], &["--lr", above_zero]),
        adapt(&["--weight-decay", "-1"], &["--weight-decay", "at least 0"]),
        adapt(&["--lr", "-1"], &["--lr", above_zero]),
        adapt(&["--eval-every", "0"], &["--eval-every", at_least_one]),
        adapt(&["--workers", "0"], &["--workers", at_least_one]),
        adapt(
            &["--srdc-bottleneck", "0"],
            &["--srdc-bottleneck", at_least_one],
        ),
        adapt(&["--mcd-dropout", "1"], &["--mcd-dropout", "below 1"]),
        adapt(&["--mcd-dropout", "-0.5"], &["--mcd-dropout", "at least 0"]),
        adapt(
            &["--arch", "vit_tiny", "--image-size", "20"],
            &[
                "--image-size",
                "vit_tiny",
                "multiple of the patch size 8",
                "24",
            ],
        ),
        render(&["--per-class", "0"], &["--per-class", at_least_one]),
        render(&["--workers", "0"], &["--workers", at_least_one]),
        render(&["--shard", "0/4"], &["--shard", "1 <= I <= N"]),
        // Preset fields given by --set are checked by the preset's rules, field by field.
        render(
            &["--set", "render.resolution=0"],
            &["render.resolution", "between 16 and 4096"],
        ),
        render(
            &["--set", "split.test_fraction=1.5"],
            &["split.test_fraction"],
        ),
        fit(&["--probe-size", "0"], &["--probe-size", at_least_one]),
        fit(&["--rounds", "0"], &["--rounds", at_least_one]),
        fit(&["--iterations", "0"], &["--iterations", at_least_one]),
        fit(&["--val-steps", "0"], &["--val-steps", at_least_one]),
        fit(
            &["--holdout", "0"],
            &["--holdout", "strictly between 0 and 1"],
        ),
        fit(
            &["--holdout", "1"],
            &["--holdout", "strictly between 0 and 1"],
        ),
        fit(
            &["--min-ess", "1.5"],
            &["--min-ess", "strictly between 0 and 1"],
        ),
        study(
            "runs.pretrain.batch_size=0",
            &["runs.pretrain.batch_size", at_least_one],
        ),
        study("runs.pretrain.lr=0", &["runs.pretrain.lr", above_zero]),
        study(
            "runs.pretrain.eval_every=0",
            &["runs.pretrain.eval_every", at_least_one],
        ),
        study(
            "runs.pretrain.image_size=0",
            &[
                "runs.pretrain.image_size",
                "resnet_tiny",
                "at least 1 pixel",
            ],
        ),
        study(
            "adaptations.scratch_dann.batch_size=0",
            &["adaptations.scratch_dann.batch_size", at_least_one],
        ),
        study(
            "adaptations.scratch_dann.lr=-1",
            &["adaptations.scratch_dann.lr", above_zero],
        ),
        study(
            "runs.pretrain.iters=0",
            &["runs.pretrain.iters", "missing or 0"],
        ),
        study(
            "datasets.source.workers=0",
            &["workers.count", at_least_one],
        ),
        study(
            "datasets.source.per_class=0",
            &["datasets.source.per_class", "missing or 0"],
        ),
    ];
    let failures = refusals(d, &cases);
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The smallest sizes the checks allow do train: a ResNet at its computed minimum of 1 pixel
/// and a ViT at one patch.
#[test]
fn the_smallest_allowed_image_sizes_train() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    image_folder(&d.join("data"));
    for (arch, size) in [("resnet_tiny", "1"), ("vit_tiny", "8")] {
        let o = common::synthgen(d)
            .args(["train", "--train"])
            .arg(d.join("data"))
            .args(["--arch", arch, "--image-size", size, "--batch-size", "2"])
            .args(["--iters", "1", "--device", "cpu", "--out"])
            .arg(d.join(format!("run-{arch}")))
            .env("OMP_NUM_THREADS", "1")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{arch} at {size} px: {}",
            common::text(&o)
        );
    }
}
