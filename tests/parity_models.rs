//! Parity with PyTorch: synthgen's ResNets against torchvision's on the same weights (read from
//! a `torch.save` .pth and from safetensors) and the same batch, one supervised step of
//! `synthgen train` against the same step in plain PyTorch, the torchvision batch-norm
//! initialisation and the one-line refusals of bad `--init` files. The PyTorch side is the
//! real thing, run from the `.venv-torch` venv that scripts/setup.sh installs
//! (tests/parity/*.py).
#![cfg(feature = "train")]
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use synthgen::nn::checkpoint;
use synthgen::nn::models::Classifier;
use tch::{nn, Device, Kind, Tensor};

fn parity_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity")
        .join(name)
}

/// Runs a tests/parity script with the PyTorch venv's interpreter.
fn torch_python(script: &str, args: &[&str]) {
    let python = synthgen::paths::torch_python();
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it installs PyTorch + torchvision into .venv-torch) or set SYNTHGEN_TORCH_VENV",
        python.display()
    );
    let out = Command::new(&python)
        .arg(parity_script(script))
        .args(args)
        .env("OMP_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        common::text(&out)
    );
}

fn read(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

/// max |a - b| / max(max |b|, 1e-12): the error relative to the tensor's scale.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_kind(Kind::Double);
    let b = b.to_kind(Kind::Double);
    max_abs(&(&a - &b)) / max_abs(&b).max(1e-12)
}

/// A classifier for `arch` with 10 classes, initialised from `weights` by `--init`'s loader and
/// given torchvision's `fc` as its head (the loader drops `fc`, as the released code does).
fn classifier_from(
    arch: &str,
    size: i64,
    weights: &Path,
    reference: &HashMap<String, Tensor>,
) -> (nn::VarStore, Classifier) {
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Classifier::new(&vs.root(), arch, 10, size).unwrap();
    let report = checkpoint::load_init(&vs, weights, false).unwrap();
    assert_eq!(
        report.dropped,
        vec!["head.bias", "head.weight"],
        "fc is dropped"
    );
    assert!(report.missing.is_empty());
    assert!(report.shape_mismatch.is_empty());
    let vars = vs.variables();
    tch::no_grad(|| {
        for name in ["head.weight", "head.bias"] {
            vars[name].shallow_clone().copy_(&reference[name]);
        }
    });
    (vs, model)
}

fn logits_match(arch: &str, size: i64, batch: usize, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (size_s, batch_s, seed_s) = (size.to_string(), batch.to_string(), seed.to_string());
    torch_python(
        "torchvision_models.py",
        &[arch, &size_s, &batch_s, &seed_s, d.to_str().unwrap()],
    );
    let reference = read(&d.join("reference.safetensors"));
    let x = &reference["x"];
    for file in ["weights.pth", "weights.safetensors"] {
        let (vs, model) = classifier_from(arch, size, &d.join(file), &reference);
        let eval = tch::no_grad(|| model.forward(x, false));
        let e = rel_err(&eval, &reference["logits_eval"]);
        eprintln!("{arch} {file} seed {seed}: eval logits rel err {e:.2e}");
        assert!(
            e < 1e-4,
            "{arch} from {file}: eval-mode logits differ by {e:.2e} relative"
        );
        let train = tch::no_grad(|| model.forward(x, true));
        let e = rel_err(&train, &reference["logits_train"]);
        eprintln!("{arch} {file} seed {seed}: train-mode logits rel err {e:.2e}");
        assert!(
            e < 1e-4,
            "{arch} from {file}: train-mode logits differ by {e:.2e} relative"
        );
        // The train-mode pass updated the running statistics as torchvision's did.
        let vars = vs.variables();
        let mut stats = 0;
        for (k, want) in reference.iter().filter(|(k, _)| k.starts_with("after.")) {
            let name = format!("backbone.{}", &k["after.".len()..]);
            let e = rel_err(&vars[&name], want);
            assert!(
                e < 1e-4,
                "{arch} from {file}: {name} differs by {e:.2e} relative"
            );
            stats += 1;
        }
        assert!(stats >= 40, "only {stats} running statistics compared");
    }
}

#[test]
fn resnet18_logits_match_torchvision_from_pth_and_safetensors() {
    logits_match("resnet18", 64, 4, 1);
}

#[test]
fn resnet50_logits_match_torchvision_from_pth_and_safetensors() {
    logits_match("resnet50", 64, 4, 2);
}

/// One step of `synthgen train` (the CLI, so it holds whatever the engine looks like inside)
/// against torchvision + torch.optim.SGD on the same init, batch and hyper-parameters.
#[test]
fn one_supervised_step_matches_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (arch, size, lr) = ("resnet18", "56", "0.01");
    torch_python(
        "torchvision_train_step.py",
        &["prepare", arch, size, "2", "4", "7", d.to_str().unwrap()],
    );
    torch_python(
        "torchvision_train_step.py",
        &["step", arch, size, lr, d.to_str().unwrap()],
    );
    let out = d.join("run");
    let o = common::synthgen(d)
        .args(["train", "--train"])
        .arg(d.join("data"))
        .args([
            "--arch",
            arch,
            "--image-size",
            size,
            "--batch-size",
            "8",
            "--iters",
            "1",
        ])
        .args([
            "--lr",
            lr,
            "--weight-decay",
            "1e-4",
            "--aug",
            "none",
            "--device",
            "cpu",
        ])
        .arg("--init")
        .arg(d.join("init.safetensors"))
        .arg("--init-keep-head")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
    let expected = read(&d.join("expected.safetensors"));
    let init = read(&d.join("init.safetensors"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let loss = summary["last_loss"].as_f64().unwrap();
    let want = expected["loss"].double_value(&[0]);
    let e = (loss - want).abs() / want.abs();
    eprintln!("loss synthgen {loss} torch {want}: rel err {e:.2e}");
    assert!(e < 1e-4, "loss {loss} vs PyTorch {want}");

    let got = read(&out.join("checkpoint-last.safetensors"));
    let (mut compared, mut worst_update) = (0, 0.0f64);
    for (name, want) in &expected {
        if name == "loss" {
            continue;
        }
        let have = &got[&format!("model.{name}")];
        let e = rel_err(have, want);
        assert!(
            e < 1e-4,
            "{name} after one step differs by {e:.2e} relative"
        );
        // The update itself (what the step changed), not only the weights it landed on: equal
        // within 1e-4 of its size plus the two float32 roundings of storing w0 - update.
        let bare = name.strip_prefix("backbone.").unwrap_or(name);
        if let Some(before) = init.get(name).or_else(|| init.get(bare)) {
            if !name.contains("running_") {
                let want_update = want - before;
                let err = max_abs(&((have - before) - &want_update));
                let allowed =
                    1e-4 * max_abs(&want_update) + 2.0 * f64::from(f32::EPSILON) * max_abs(want);
                worst_update = worst_update.max(err / allowed);
            }
        }
        compared += 1;
    }
    eprintln!("{compared} tensors compared; worst update error {worst_update:.2} of its bound");
    assert!(compared >= 100, "only {compared} tensors compared");
    assert!(
        worst_update < 1.0,
        "an update differs by {worst_update:.2} of its bound"
    );
}

/// torchvision's initialisation: batch norm weight 1, bias 0 (tch's default weight is U(0, 1));
/// the head like `nn.Linear`, weight and bias within 1/sqrt(fan_in) (tch's default is a
/// Kaiming uniform about 2.4 times wider), and spread over that range.
#[test]
fn batch_norm_and_head_initialise_like_torchvision() {
    for seed in 0..3 {
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = Classifier::new(&vs.root(), "resnet18", 1000, 64).unwrap();
        let mut bns = 0;
        for (name, t) in &vs.variables() {
            if name.contains(".bn") || name.contains("downsample.1") {
                let want = if name.ends_with("weight") || name.ends_with("running_var") {
                    1.0
                } else {
                    0.0
                };
                assert_eq!(max_abs(&(t - want)), 0.0, "{name} is not {want}");
                bns += 1;
            }
        }
        assert_eq!(bns, 20 * 4, "batch-norm tensors of resnet18");
        let bound = 1.0 / 512f64.sqrt();
        for name in ["head.weight", "head.bias"] {
            let m = max_abs(&vs.variables()[name]);
            assert!(
                m <= bound && m > 0.9 * bound,
                "{name}: max |w| {m} should reach, not pass, 1/sqrt(512) = {bound}"
            );
        }
    }
}

/// Runs `synthgen train --init FILE` on a valid folder and expects one error line, exit 2.
fn refused(d: &Path, init: &Path, arch: &str, expect: &[&str]) {
    let o = common::synthgen(d)
        .args(["train", "--train"])
        .arg(d.join("data"))
        .args([
            "--arch",
            arch,
            "--image-size",
            "56",
            "--batch-size",
            "8",
            "--iters",
            "1",
        ])
        .args(["--device", "cpu", "--init"])
        .arg(init)
        .arg("--out")
        .arg(d.join("refused"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", common::text(&o));
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line: {}", common::text(&o));
    let line = lines[0];
    assert!(
        line.contains(&init.display().to_string()),
        "names the file: {line}"
    );
    for e in expect {
        assert!(line.contains(e), "says `{e}`: {line}");
    }
    assert!(
        !line.contains("Exception raised from"),
        "no C++ backtrace: {line}"
    );
}

#[test]
fn bad_init_files_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ds = d.to_str().unwrap();
    torch_python(
        "torchvision_train_step.py",
        &["prepare", "resnet18", "56", "2", "4", "3", ds],
    );
    torch_python("torchvision_models.py", &["resnet18", "32", "2", "3", ds]);
    torch_python("torch_bad_files.py", &[ds]);
    let state_dict = "expected a state dict";
    refused(d, &d.join("list.pth"), "resnet18", &[state_dict]);
    refused(d, &d.join("wrapped.pth"), "resnet18", &[state_dict]);
    // A resnet18 state dict is not a resnet50 backbone.
    refused(
        d,
        &d.join("weights.pth"),
        "resnet50",
        &["another architecture"],
    );
    // A download cut short.
    let bytes = std::fs::read(d.join("weights.pth")).unwrap();
    let cut = d.join("truncated.pth");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    refused(d, &cut, "resnet18", &[state_dict]);
    // The intact file is accepted by the same command.
    let o = common::synthgen(d)
        .args(["train", "--train"])
        .arg(d.join("data"))
        .args([
            "--arch",
            "resnet18",
            "--image-size",
            "56",
            "--batch-size",
            "8",
            "--iters",
            "1",
        ])
        .args(["--device", "cpu", "--init"])
        .arg(d.join("weights.pth"))
        .arg("--out")
        .arg(d.join("accepted"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
}
