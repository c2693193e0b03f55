//! `adapt --resume` continues exactly: a run stopped part-way (the stop-after hook) or killed
//! with SIGKILL at seeded random steps, then resumed, ends with the weights, optimizer buffers, method state (SRDC's
//! pseudo-labels and centres, DisClusterDA's centroids) and best/last numbers of an
//! uninterrupted run. Real libtorch on the CPU, 16 px images, the tiny ResNet.
#![cfg(feature = "train")]
mod adapt_data;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command};

use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

use adapt_data::{tiny_config as tiny, write_domain, Style};
use synthgen::adapt::{adapt, AdaptSummary, MethodKind};
use tch::Tensor;

const ALL: [MethodKind; 6] = [
    MethodKind::SourceOnly,
    MethodKind::Dann,
    MethodKind::Mcd,
    MethodKind::Rca,
    MethodKind::Srdc,
    MethodKind::DisClusterDa,
];

fn domains(dir: &Path) {
    // 3 classes x 6 images, batch 8: an epoch is 3 iterations, so runs cross epochs (SRDC
    // clusters at each epoch start; lr and lambda change per epoch).
    write_domain(&dir.join("source"), Style::Source, 6, 1);
    write_domain(&dir.join("target"), Style::Target, 6, 2);
}

fn checkpoint(out: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(out.join("checkpoint-last.safetensors"))
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k != "meta.json")
        .collect()
}

/// Every tensor of the two last checkpoints within 1e-4 (integers exactly).
fn same_checkpoints(a: &Path, b: &Path, what: &str) {
    let (ta, tb) = (checkpoint(a), checkpoint(b));
    let mut ka: Vec<_> = ta.keys().collect();
    let mut kb: Vec<_> = tb.keys().collect();
    ka.sort();
    kb.sort();
    assert_eq!(ka, kb, "{what}");
    for (k, t) in &ta {
        let diff = (t.to_kind(tch::Kind::Double) - tb[k].to_kind(tch::Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-4, "{what}: {k} differs by {diff}");
    }
    assert!(
        ta.keys().any(|k| k.starts_with("optim.momentum.")),
        "{what}"
    );
}

fn same_numbers(a: &AdaptSummary, b: &AdaptSummary, what: &str) {
    assert_eq!((a.steps, b.steps), (a.total_steps, b.total_steps), "{what}");
    let (ea, eb) = (&a.evals["target"], &b.evals["target"]);
    let close = |x: Option<f64>, y: Option<f64>| (x.unwrap() - y.unwrap()).abs() < 1e-9;
    assert_eq!(ea.best_acc.map(|b| b.0), eb.best_acc.map(|b| b.0), "{what}");
    assert_eq!(
        ea.best_mean.map(|b| b.0),
        eb.best_mean.map(|b| b.0),
        "{what}"
    );
    assert!(
        close(ea.best_acc.map(|b| b.1), eb.best_acc.map(|b| b.1)),
        "{what}"
    );
    assert!(
        close(ea.best_mean.map(|b| b.1), eb.best_mean.map(|b| b.1)),
        "{what}"
    );
    assert!(
        close(ea.last_acc, eb.last_acc) && close(ea.last_mean, eb.last_mean),
        "{what}"
    );
}

#[test]
fn every_method_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    domains(dir.path());
    for method in ALL {
        let name = method.name();
        let full = adapt(&tiny(dir.path(), method, &format!("{name}-full"))).unwrap();
        // Stop in the middle of the second epoch (iteration 5 of 10), then resume.
        let mut part = tiny(dir.path(), method, &format!("{name}-part"));
        part.stop_after = Some(5);
        assert_eq!(adapt(&part).unwrap().status, "stopped", "{name}");
        part.stop_after = None;
        part.resume = true;
        let resumed = adapt(&part).unwrap();
        assert_eq!(resumed.status, "completed", "{name}");
        same_checkpoints(&full.config.out, &part.out, name);
        same_numbers(&full, &resumed, name);
    }
    // SRDC's and DisClusterDA's run state is in the checkpoint.
    let srdc = checkpoint(&dir.path().join("srdc-full"));
    assert!(srdc.contains_key("method.srdc.pseudo_labels"));
    assert!(srdc.contains_key("model.srdc.centres1") && srdc.contains_key("model.srdc.centres2"));
    let dcda = checkpoint(&dir.path().join("disclusterda-full"));
    assert!(dcda.contains_key("method.disclusterda.target_centroids"));
}

fn cli(dir: &Path, method: &str, out: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_synthgen"));
    c.args([
        "adapt",
        "--method",
        method,
        "--arch",
        "resnet_tiny",
        "--device",
        "cpu",
    ])
    .args(["--image-size", "16", "--batch-size", "8", "--iters", "60"])
    .args([
        "--eval-every",
        "1",
        "--lr",
        "0.01",
        "--workers",
        "1",
        "--tsne-points",
        "0",
    ])
    .arg("--source")
    .arg(dir.join("source"))
    .arg("--target")
    .arg(dir.join("target"))
    .arg("--out")
    .arg(dir.join(out))
    .args(extra);
    c
}

fn summary(out: &Path) -> AdaptSummary {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

fn checkpoint_step(out: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(out.join("checkpoint-last.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["step"].as_u64()
}

/// Kills the run writing `out` (SIGKILL) once its checkpoint reaches step `at` and returns
/// the step its last checkpoint holds.
fn kill_at(mut child: Child, out: &Path, at: u64) -> u64 {
    let t0 = Instant::now();
    while checkpoint_step(out).is_none_or(|s| s < at) {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint of step {at} appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    checkpoint_step(out).unwrap()
}

/// SRDC (per-epoch clustering state) and DANN (a discriminator and its optimizer) are each
/// SIGKILLed twice at seeded random steps, resumed after each kill, and end where an
/// uninterrupted run ends. The kill lands anywhere in an iteration (the checkpoint of step
/// k is polled, then the process is killed while it works on later ones).
#[test]
fn a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    domains(dir.path());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
    for method in ["srdc", "dann"] {
        let full = format!("{method}-full");
        let status = cli(dir.path(), method, &full, &[]).output().unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let name = format!("{method}-killed");
        let killed = dir.path().join(&name);
        // Two kill points in the 60 iterations: one in the first half, one after it.
        let points = [rng.random_range(2..30u64), rng.random_range(30..55u64)];
        for (k, at) in points.iter().enumerate() {
            let extra: &[&str] = if k == 0 { &[] } else { &["--resume"] };
            let child = cli(dir.path(), method, &name, extra).spawn().unwrap();
            let step = kill_at(child, &killed, *at);
            assert!(
                step < 60,
                "{method}: the run ended before the kill (step {step})"
            );
            assert!(!killed.join("summary.json").exists(), "{method}");
            eprintln!("{method}: killed at step {step} (asked {at})");
        }
        let out = cli(dir.path(), method, &name, &["--resume"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let what = format!("{method} after two SIGKILLs");
        same_checkpoints(&dir.path().join(&full), &killed, &what);
        same_numbers(&summary(&dir.path().join(&full)), &summary(&killed), &what);
    }
}
