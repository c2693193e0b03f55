//! Every adaptation method runs end to end on tiny generated domains and writes its outputs;
//! bad inputs give clear errors (and exit code 2 from the CLI).
#![cfg(feature = "train")]
mod adapt_data;

use std::path::Path;
use std::process::Command;

use adapt_data::{write_domain, Style};
use synthgen::adapt::{adapt, AdaptConfig, AdaptError, MethodKind};

fn tiny(dir: &Path, method: MethodKind, out: &str) -> AdaptConfig {
    let mut cfg = adapt_data::tiny_config(dir, method, out);
    cfg.iters = Some(6);
    cfg.eval_every = Some(3);
    cfg.tsne_points = 12;
    cfg
}

fn domains(dir: &Path) {
    write_domain(&dir.join("source"), Style::Source, 6, 1);
    write_domain(&dir.join("target"), Style::Target, 6, 2);
}

#[test]
fn every_method_runs_and_writes_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    domains(dir.path());
    for method in [
        MethodKind::SourceOnly,
        MethodKind::Dann,
        MethodKind::Mcd,
        MethodKind::Rca,
        MethodKind::Srdc,
        MethodKind::DisClusterDa,
    ] {
        let cfg = tiny(dir.path(), method, method.name());
        let s = adapt(&cfg).unwrap();
        assert_eq!(s.steps, 6, "{}", method.name());
        assert!(
            s.last_losses.values().all(|v| v.is_finite()),
            "{:?}",
            s.last_losses
        );
        let e = &s.evals["target"];
        assert!(e.best_mean.unwrap().1 >= e.last_mean.unwrap());
        for f in [
            "summary.json",
            "metrics.jsonl",
            "metrics.csv",
            "loss.png",
            "accuracy.png",
            "confusion_target.png",
            "checkpoint-last.safetensors",
            "checkpoint-last.json",
            "checkpoint-best-mean.safetensors",
            "tsne.png",
        ] {
            assert!(cfg.out.join(f).is_file(), "{} lacks {f}", method.name());
        }
        let evals = std::fs::read_to_string(cfg.out.join("metrics.jsonl"))
            .unwrap()
            .matches("\"kind\":\"eval\"")
            .count();
        assert_eq!(evals, 2, "{}", method.name());
    }
}

#[test]
fn unlabelled_flat_target_with_separate_eval_set() {
    let dir = tempfile::tempdir().unwrap();
    domains(dir.path());
    // A flat folder of target images (no class folders) plus labelled target-eval data.
    let flat = dir.path().join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    for (i, e) in walkdir::WalkDir::new(dir.path().join("target"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .enumerate()
    {
        std::fs::copy(e.path(), flat.join(format!("{i}.png"))).unwrap();
    }
    let mut cfg = tiny(dir.path(), MethodKind::Dann, "flat-run");
    cfg.target = flat.clone();
    cfg.target_eval = Some(dir.path().join("target"));
    let s = adapt(&cfg).unwrap();
    assert!(!s.target_labelled);
    assert_eq!(s.target_images, 18);
    assert!(s.evals.contains_key("target_eval"));

    // One sub-folder that is not a source class: its name is no label, the images still count.
    let nested = dir.path().join("nested");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::rename(&flat, nested.join("images")).unwrap();
    let mut cfg = tiny(dir.path(), MethodKind::SourceOnly, "nested-run");
    cfg.target = nested;
    let s = adapt(&cfg).unwrap();
    assert!(!s.target_labelled);
    assert_eq!(s.target_images, 18);
    assert!(s.evals.is_empty());
}

#[test]
fn bad_inputs_are_input_errors_with_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    domains(dir.path());
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    std::fs::write(empty.join("sub/readme.txt"), "no images").unwrap();
    let mut cfg = tiny(dir.path(), MethodKind::SourceOnly, "e1");
    cfg.target = empty.clone();
    let err = adapt(&cfg).unwrap_err();
    assert!(matches!(err, AdaptError::NoTargetImages { .. }), "{err}");
    assert!(err.is_input_error());
    assert!(err.to_string().contains("empty"), "{err}");

    // target-eval with another class set.
    let other = dir.path().join("other");
    for c in ["disc", "plus", "square"] {
        std::fs::create_dir_all(other.join(c)).unwrap();
        std::fs::copy(
            dir.path().join("target/disc/0.png"),
            other.join(c).join("0.png"),
        )
        .unwrap();
    }
    let mut cfg = tiny(dir.path(), MethodKind::SourceOnly, "e2");
    cfg.target_eval = Some(other.clone());
    let err = adapt(&cfg).unwrap_err().to_string();
    assert!(err.contains("only in the source: [ring]"), "{err}");
    assert!(err.contains("only in --target-eval: [square]"), "{err}");

    // The CLI maps both to exit code 2 with the message on stderr.
    let out = Command::new(env!("CARGO_BIN_EXE_synthgen"))
        .args([
            "adapt",
            "--method",
            "dann",
            "--arch",
            "resnet_tiny",
            "--device",
            "cpu",
        ])
        .arg("--source")
        .arg(dir.path().join("source"))
        .arg("--target")
        .arg(dir.path().join("target"))
        .arg("--target-eval")
        .arg(&other)
        .arg("--out")
        .arg(dir.path().join("cli"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[square]"), "{stderr}");
}
