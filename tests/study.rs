//! `synthgen study`: bad input (one line, exit 2, nothing written), and a tiny study end to end
//! through real Blender, libtorch and Chromium: caching, one changed dataset, kills in a
//! render, a training and an adaptation stage + resume to the same tables and weights, and the
//! report as a browser renders it.
#![cfg(feature = "train")]
mod common;

use common::{synthgen, text};
use rand::SeedableRng;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Two classes the embedded catalog covers well, tiny renders, a few steps of resnet_tiny.
const TINY: &str = "name: tiny
description: a tiny study for the tests
dataset_defaults:
  preset: demo
  classes: [chair, table]
  resolution: 32
  samples: 4
  workers: 1
datasets:
  train: {per_class: 6, seed: 1, split: train}
  test: {per_class: 4, seed: 2, split: test}
runs:
  r:
    train: train
    eval: [test]
    arch: resnet_tiny
    iters: 12
    batch_size: 4
    image_size: 32
    eval_every: 3
adaptations:
  da:
    source: train
    target: test
    method: dann
    init: r
    arch: resnet_tiny
    iters: 8
    batch_size: 4
    image_size: 32
    eval_every: 2
tables:
  - title: Tiny
    baseline: r
    columns: [{eval: test}]
    rows: [{run: r, paper: {test: 50.0}}, {run: da, paper: {test: 55.0}}]
";

fn study(scratch: &Path, args: &[&str]) -> Output {
    synthgen(scratch)
        .arg("study")
        .args(args)
        .output()
        .expect("synthgen runs")
}

fn assert_input_error(o: &Output, needle: &str, out: &Path) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {}", text(o));
    assert!(err.contains(needle), "`{needle}` missing: {}", text(o));
    assert!(!out.exists(), "nothing may be written: {}", out.display());
}

#[test]
fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let out = s.join("out");
    let out_s = out.to_str().unwrap();

    let o = study(s, &["no-such-study", "--out", out_s]);
    assert_input_error(&o, "unknown study `no-such-study`", &out);
    let o = study(s, &["factor-ablation", "--scale", "huge", "--out", out_s]);
    assert_input_error(&o, "no `huge` scale", &out);

    // A run evaluating on a dataset nobody defined: file:line:col of the name.
    let spec = s.join("undefined.yaml");
    std::fs::write(&spec, TINY.replace("eval: [test]", "eval: [tset]")).unwrap();
    let o = study(s, &[spec.to_str().unwrap(), "--out", out_s]);
    assert_input_error(
        &o,
        "undefined.yaml:15:12: runs.r: dataset `tset` is not defined",
        &out,
    );

    // A misspelt field: serde's location.
    let spec = s.join("field.yaml");
    std::fs::write(&spec, TINY.replace("    iters: 12", "    itres: 12")).unwrap();
    let o = study(s, &[spec.to_str().unwrap(), "--out", out_s]);
    assert_input_error(&o, "field.yaml:17:5: runs.r: unknown field `itres`", &out);
    assert!(String::from_utf8_lossy(&o.stderr).contains("itres"));

    // --set reaches the spec and is checked like the file.
    let spec = s.join("tiny.yaml");
    std::fs::write(&spec, TINY).unwrap();
    let o = study(
        s,
        &[
            spec.to_str().unwrap(),
            "--out",
            out_s,
            "--set",
            "runs.r.aug=heavy",
        ],
    );
    assert_input_error(
        &o,
        "runs.r.aug: `heavy` is not none, crop, weak or strong",
        &out,
    );

    // A real folder whose classes do not match the training data's.
    let real_spec = TINY.replace(
        "  test: {per_class: 4, seed: 2, split: test}",
        "  test: {real: true}",
    );
    std::fs::write(&spec, real_spec).unwrap();
    let real = s.join("real");
    for class in ["chair", "sofa"] {
        std::fs::create_dir_all(real.join(class)).unwrap();
        image::RgbImage::new(8, 8)
            .save(real.join(class).join("a.png"))
            .unwrap();
    }
    let o = study(s, &[spec.to_str().unwrap(), "--out", out_s]);
    assert_input_error(&o, "pass it with --real DIR", &out);
    let o = study(
        s,
        &[
            spec.to_str().unwrap(),
            "--out",
            out_s,
            "--real",
            real.to_str().unwrap(),
        ],
    );
    assert_input_error(&o, "its class folders (chair, sofa) do not match", &out);

    // The S2RDA DA specs adapt to the --real folder: its classes must be the spec's.
    for study_name in ["s2rda49-da", "s2rda-ms39-da"] {
        let o = study(s, &[study_name, "--out", out_s]);
        assert_input_error(&o, "pass it with --real DIR", &out);
        let o = study(
            s,
            &[study_name, "--out", out_s, "--real", real.to_str().unwrap()],
        );
        assert_input_error(&o, "its class folders (chair, sofa) do not match", &out);
    }
}

fn stage_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| {
            l.starts_with("study: ")
                && !l.contains("done in")
                && !l.starts_with("study: expected time")
        })
        .map(|l| {
            l.split(" -> ")
                .next()
                .unwrap_or(l)
                .split(" (")
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Headless Chromium's DOM of the page after load (Debian's chromium, installed by setup).
fn rendered_dom(html: &Path, scratch: &Path) -> String {
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            &format!("--user-data-dir={}", scratch.join("chromium").display()),
            "--dump-dom",
        ])
        .arg(format!("file://{}", html.display()))
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs (scripts/setup.sh installs it)");
    assert!(o.status.success(), "chromium failed: {:?}", o.status);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn tiny_study_caches_resumes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let spec = s.join("tiny.yaml");
    std::fs::write(&spec, TINY).unwrap();
    let spec = spec.to_str().unwrap();
    let out = s.join("a");
    let a = out.to_str().unwrap();

    let o = study(s, &[spec, "--out", a]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        stage_lines(&o),
        [
            "study: render test: ran",
            "study: render train: ran",
            "study: train r: ran",
            "study: adapt da: ran"
        ]
    );
    let tables = read(&out.join("tables.csv"));
    assert!(
        tables.starts_with("table,metric,row,column,synthgen,se,se_over,replicates,best,paper,direction,p_value,baseline_only,row_only\nTiny,acc,r,test,"),
        "{tables}"
    );
    assert_eq!(tables.lines().count(), 3, "{tables}");
    assert!(
        tables
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("Tiny,acc,da,test,"),
        "{tables}"
    );
    assert!(read(&out.join("report.md")).contains("| r | "));

    // The report as a browser renders it: the table, the curve, every image decoded.
    let dom = rendered_dom(&out.join("report.html"), s);
    assert_eq!(dom.matches("<table class=\"results\"").count(), 1);
    assert_eq!(
        dom.matches("<svg class=\"chart\"").count(),
        2,
        "a curve per run"
    );
    assert_eq!(
        dom.matches("<img class=\"tsne\"").count(),
        1,
        "the adaptation's t-SNE"
    );
    let imgs = dom.matches("<img ").count();
    assert_eq!(
        imgs,
        1 + 2 * 6 + 2 * 4,
        "t-SNE + a sample grid per dataset (6 per class at most)"
    );
    assert!(
        dom.contains(&format!("data-images-loaded=\"{imgs}\"")),
        "images did not decode"
    );

    // Nothing changed: every stage is cached, the tables are the same.
    let o = study(s, &[spec, "--out", a]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        stage_lines(&o),
        [
            "study: render test: cached",
            "study: render train: cached",
            "study: train r: cached",
            "study: adapt da: cached"
        ]
    );
    assert_eq!(read(&out.join("tables.csv")), tables);

    // One dataset changes: it and the run that reads it rerun, the other dataset does not.
    let o = study(s, &[spec, "--out", a, "--set", "datasets.test.per_class=3"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        stage_lines(&o),
        [
            "study: render test: ran",
            "study: render train: cached",
            "study: train r: ran",
            "study: adapt da: ran"
        ]
    );

    // Killed mid-render at a seeded random image (the renders write 8 test then 12 train
    // images; the 8th is a stage boundary, so it is skipped): refused without --resume,
    // finished with it, to the same tables.
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(29);
    let kill_after = loop {
        let k: usize = rand::Rng::random_range(&mut rng, 1..20);
        if k != 8 {
            break k;
        }
    };
    eprintln!("study: killing after {kill_after} rendered images");
    let b = s.join("b");
    let mut child = synthgen(s)
        .args(["study", spec, "--out", b.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let killed_mid_stage = loop {
        let rendered: usize = walkdir::WalkDir::new(&b)
            .into_iter()
            .flatten()
            .filter(|e| e.file_name() == "manifest.jsonl")
            .map(|e| read(e.path()).lines().count())
            .sum();
        let partial = rendered >= kill_after;
        if partial {
            child.kill().unwrap();
            break true;
        }
        if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(120) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = child.wait();
    assert!(
        killed_mid_stage,
        "the run ended before a render stage was half done"
    );
    let o = study(s, &[spec, "--out", b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("finish it with --resume"));

    // Resumed, then killed again once the training stage has checkpointed a seeded random
    // step (12 steps, a checkpoint every 3), and once more in the adaptation stage (8
    // iterations, a checkpoint every 2): each resume continues from the stage's last
    // checkpoint, not from step 0.
    let (train_at, adapt_at) = (
        3 * rand::Rng::random_range(&mut rng, 1..=2u64),
        2 * rand::Rng::random_range(&mut rng, 1..=2u64),
    );
    let (err, train_step) = resume_and_kill(s, spec, &b, "train-r-", train_at);
    assert!(
        err.contains("study: render ") && err.contains(": resumed"),
        "{err}"
    );
    let (err, adapt_step) = resume_and_kill(s, spec, &b, "adapt-da-", adapt_at);
    assert!(err.contains("study: train r: resumed"), "{err}");
    assert!(
        err.contains(&format!("resuming after {train_step} of 12 steps")),
        "{err}"
    );
    let o = study(s, &[spec, "--out", b.to_str().unwrap(), "--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("study: adapt da: resumed"), "{err}");
    assert!(
        err.contains(&format!("resuming after {adapt_step} of 8 iterations")),
        "{err}"
    );
    assert_eq!(read(&b.join("tables.csv")), tables);
    for prefix in ["train-r-", "adapt-da-"] {
        // The uninterrupted run's stage of the same inputs (same hash, same folder name).
        let resumed = stage(&b, prefix);
        let uninterrupted = out.join("stages").join(resumed.file_name().unwrap());
        let (ta, tb) = (weights(&uninterrupted), weights(&resumed));
        assert_eq!(ta.len(), tb.len(), "{prefix}");
        for (k, t) in &ta {
            let diff = (t - &tb[k]).abs().max().double_value(&[]);
            assert!(diff < 1e-4, "{prefix}: {k} differs by {diff}");
        }
    }
}

/// The stage folder of `out` whose name starts with `prefix`, once it exists.
fn find_stage(out: &Path, prefix: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir(out.join("stages"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
}

fn stage(out: &Path, prefix: &str) -> std::path::PathBuf {
    find_stage(out, prefix).unwrap_or_else(|| panic!("no {prefix} stage in {}", out.display()))
}

/// The step of a stage's last checkpoint, once there is one.
fn checkpoint_step(out: &Path, prefix: &str) -> Option<u64> {
    let json = find_stage(out, prefix)?.join("run/checkpoint-last.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).ok()?).ok()?;
    v["step"].as_u64()
}

/// The model, optimizer and method tensors of a stage's last checkpoint (floats, as f64).
fn weights(stage: &Path) -> std::collections::HashMap<String, tch::Tensor> {
    tch::Tensor::read_safetensors(stage.join("run/checkpoint-last.safetensors"))
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k != "meta.json")
        .map(|(k, t)| (k, t.to_kind(tch::Kind::Double)))
        .collect()
}

/// `study --resume` into `out`, SIGKILLed once the `prefix` stage has a checkpoint of step
/// `at` or later (the kill lands in a later step); returns its stderr and the step its stage's
/// last checkpoint holds, after checking that the stage did not finish.
fn resume_and_kill(scratch: &Path, spec: &str, out: &Path, prefix: &str, at: u64) -> (String, u64) {
    let log = scratch.join(format!("{prefix}kill.log"));
    let mut child = synthgen(scratch)
        .args(["study", spec, "--out", out.to_str().unwrap(), "--resume"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while checkpoint_step(out, prefix).is_none_or(|s| s < at) {
        assert!(
            child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(300),
            "no {prefix} checkpoint of step {at}: {}",
            read(&log)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let step = checkpoint_step(out, prefix).unwrap();
    assert!(
        !stage(out, prefix).join("done.json").exists(),
        "the {prefix} stage finished before the kill (step {step})"
    );
    eprintln!("study: killed in stage {prefix} at step {step} (asked {at})");
    (read(&log), step)
}

/// generate-then-train as one command at a tiny `--set` scale, through real Blender and
/// libtorch: render, the fit stage (probe renders, descriptors, MMD fit), the weighted render,
/// pre-training, DANN, and the report with the fitted weights as a browser renders it.
#[test]
fn generate_then_train_fits_weights_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let out = s.join("gtt");
    let o_s = out.to_str().unwrap();
    let sets = [
        "dataset_defaults.classes=[chair, table]",
        "dataset_defaults.resolution=32",
        "dataset_defaults.samples=4",
        "dataset_defaults.workers=1",
        "datasets.plain.per_class=6",
        // 30 target images, half held out: 3 held-out images left the clamped held-out
        // MMD^2 at 0 before and after on 2 of 5 seeds.
        "datasets.target.per_class=15",
        "fits.to_target.holdout=0.5",
        "fits.to_target.seed=0",
        "datasets.weighted.per_class=6",
        "fits.to_target.probe_per_class=20",
        "fits.to_target.rounds=1",
        "fits.to_target.iterations=100",
        "run_defaults.iters=4",
        "run_defaults.batch_size=4",
        "run_defaults.image_size=32",
        "run_defaults.eval_every=2",
        "adaptations.plain_dann.iters=4",
        "adaptations.plain_dann.batch_size=4",
        "adaptations.plain_dann.image_size=32",
        "adaptations.weighted_dann.iters=4",
        "adaptations.weighted_dann.batch_size=4",
        "adaptations.weighted_dann.image_size=32",
    ];
    let mut args = vec!["generate-then-train", "--scale", "mini", "--out", o_s];
    for set in &sets {
        args.extend(["--set", set]);
    }
    let o = study(s, &args);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        stage_lines(&o),
        [
            "study: render plain: ran",
            "study: render target: ran",
            "study: fit to_target: ran",
            "study: render weighted: ran",
            "study: train plain: ran",
            "study: train weighted: ran",
            "study: adapt plain_dann: ran",
            "study: adapt weighted_dann: ran"
        ]
    );

    // The fit stage's summary: every factor of the preset, weights summing to 1, and the
    // held-out MMD lowered: at these sizes, fit seeds 0-4 gave after/before 0.62, 0.87,
    // 0.37, 0.52 and 0.29 (`synthgen study generate-then-train` with these sets, 2026-12-01).
    let stages = out.join("stages");
    let fit_dir = std::fs::read_dir(&stages)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("fit-to_target-")
        })
        .expect("a fit stage folder");
    let summary: serde_json::Value =
        serde_json::from_str(&read(&fit_dir.join("fit.json"))).unwrap();
    let factors = summary["factors"].as_array().unwrap();
    assert!(factors.len() >= 5, "{summary}");
    for f in factors {
        let after: f64 = f["after"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .sum();
        assert!((after - 1.0).abs() < 1e-6, "{f}");
    }
    let (before, after) = (
        summary["heldout_mmd2_before"].as_f64().unwrap(),
        summary["heldout_mmd2_after"].as_f64().unwrap(),
    );
    assert!(after < before, "held-out MMD^2 {before} -> {after}");
    assert_eq!(summary["probe_images"], 40, "{summary}");

    // The weighted dataset rendered with the fitted weights: its resolved preset draws the
    // continuous factors from bins, the unweighted one does not.
    let preset_of = |prefix: &str| {
        let d = std::fs::read_dir(&stages)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap();
        read(&d.join("data").join("preset.yaml"))
    };
    assert!(preset_of("render-weighted-").contains("binned"));
    assert!(!preset_of("render-plain-").contains("binned"));

    let md = read(&out.join("report.md"));
    assert!(md.contains("## Fitted weights: `to_target`"), "{md}");
    assert!(md.contains("fitted to rendered dataset `target`"), "{md}");
    assert!(md.contains(&format!(
        "Held-out MMD^2: {before:.5} before, {after:.5} after"
    )));
    assert_eq!(read(&out.join("tables.csv")).lines().count(), 1 + 8);
    let dom = rendered_dom(&out.join("report.html"), s);
    assert_eq!(
        dom.matches("<img class=\"weights\"").count(),
        1,
        "the weights chart"
    );
    assert_eq!(
        dom.matches("<table class=\"weights\"").count(),
        factors.len(),
        "a table per factor"
    );
    let imgs = dom.matches("<img ").count();
    assert!(
        dom.contains(&format!("data-images-loaded=\"{imgs}\"")),
        "images did not decode"
    );

    // Nothing changed: the fit is cached like every other stage.
    let o = study(s, &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stage_lines(&o).iter().all(|l| l.ends_with(": cached")),
        "{}",
        text(&o)
    );
}
