//! `synthgen train --stream`: real Blender workers feeding the real libtorch trainer (CPU).
//! Streamed images equal `render`'s, each position is used once, a SIGKILLed worker costs
//! nothing, and a killed streamed run resumes to the weights of an uninterrupted one.
#![cfg(feature = "train")]
mod common;

use common::stream::*;
use common::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use synthgen::nn::checkpoint;

/// `train --stream demo` with a tiny model at 32 px, batch 4.
fn stream_args(out: &Path, iters: u64) -> Vec<String> {
    let mut a: Vec<String> = ["train", "--stream", "demo", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(out.to_string_lossy().into_owned());
    a.extend(set_args());
    for s in [
        "--arch",
        "resnet_tiny",
        "--image-size",
        "32",
        "--batch-size",
        "4",
        "--aug",
        "strong",
        "--device",
        "cpu",
        "--workers",
        "1",
        "--eval-every",
        "2",
        "--iters",
    ] {
        a.push(s.into());
    }
    a.push(iters.to_string());
    a
}

#[test]
fn streamed_images_equal_render_output_even_when_a_worker_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let archives = write_sh3f(&tmp.path().join("archives"), &good_models());
    let reference = tmp.path().join("reference");
    render_reference(tmp.path(), &archives, 8, &reference);

    // 4 steps x 4 images = positions 0..16 = images 0..8 of both classes.
    let kept = tmp.path().join("kept");
    let run = tmp.path().join("run");
    let mut child = command(tmp.path(), &archives)
        .args(stream_args(&run, 4))
        .arg("--keep")
        .arg(&kept)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut worker = None;
    let pid = child.id();
    wait_while_running(&mut child, "a worker was killed mid-stream", || {
        let rendered = std::fs::read_to_string(kept.join("manifest.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if rendered >= 1 {
            worker = worker_child_of(pid);
        }
        worker.is_some()
    });
    // SAFETY: killing a child process of the run this test started.
    unsafe { libc::kill(worker.unwrap() as i32, libc::SIGKILL) };
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let (a, b) = (manifest_digests(&reference), manifest_digests(&kept));
    assert_eq!(a.len(), 16);
    assert_eq!(a, b, "streamed images differ from render's");
    assert_eq!(
        std::fs::read_to_string(reference.join("image_list.txt")).unwrap(),
        std::fs::read_to_string(kept.join("image_list.txt")).unwrap()
    );
    let ids: HashSet<&str> = b.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 16, "a stream position was rendered twice");
    let s = summary(&run);
    assert_eq!(s["images_seen"], 16, "{s}");
    assert_eq!(s["skipped_images"], 0, "{s}");
    assert_eq!(s["stream"]["rendered"], 16, "{s}");
    let o = command(tmp.path(), &archives)
        .arg("validate")
        .arg(&kept)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

fn weights(out: &Path) -> std::collections::HashMap<String, tch::Tensor> {
    checkpoint::read_tensors(&out.join("checkpoint-last.safetensors")).unwrap()
}

fn checkpoint_step(out: &Path) -> u64 {
    std::fs::read_to_string(out.join("checkpoint-last.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["step"].as_u64())
        .unwrap_or(0)
}

#[test]
fn a_killed_streamed_run_resumes_to_the_weights_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let archives = write_sh3f(&tmp.path().join("archives"), &good_models());
    let full = tmp.path().join("full");
    let o = command(tmp.path(), &archives)
        .args(stream_args(&full, 6))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(summary(&full)["images_seen"], 24);
    // Without --keep every image is deleted once used.
    let scratch: PathBuf = full.join(".synthgen").join("stream");
    let left = count_pngs(&scratch);
    assert_eq!(
        left,
        0,
        "{left} streamed images were left in {}",
        scratch.display()
    );

    // Killed (whole process group: trainer and workers) after the step-2 checkpoint.
    let part = tmp.path().join("part");
    let kept = tmp.path().join("kept");
    let mut cmd = command(tmp.path(), &archives);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .args(stream_args(&part, 6))
        .arg("--keep")
        .arg(&kept)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_while_running(&mut child, "the first checkpoint", || {
        checkpoint_step(&part) >= 2
    });
    // SAFETY: signalling the process group this test created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    child.wait().unwrap();
    assert!(checkpoint_step(&part) < 6, "the kill came too late");

    let o = command(tmp.path(), &archives)
        .args(stream_args(&part, 6))
        .arg("--keep")
        .arg(&kept)
        .arg("--resume")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s = summary(&part);
    assert_eq!(
        (s["status"].as_str(), s["steps"].as_u64()),
        (Some("completed"), Some(6))
    );
    assert_eq!(s["images_seen"], 24, "{s}");
    assert_eq!(manifest_digests(&kept).len(), 24);

    let (ta, tb) = (weights(&full), weights(&part));
    assert_eq!(ta.len(), tb.len());
    for (k, t) in &ta {
        let diff = (t - &tb[k]).abs().max().double_value(&[]);
        // The same bound as the folder trainer's resume test (tests/train_end_to_end.rs).
        assert!(diff < 1e-4, "{k} differs by {diff}");
    }
}
