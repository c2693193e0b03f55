//! `synthgen adapt --stream`: real Blender workers feeding the real libtorch adapter's source
//! side (CPU, 32 px, the tiny ResNet). The streamed source images are `render`'s for the same
//! indices, a SIGKILLed worker costs nothing, the kept dataset is valid at a kill, and a killed
//! run resumes to the weights of an uninterrupted one.
#![cfg(feature = "train")]
mod common;

use common::stream::*;
use common::*;
use std::path::Path;
use std::process::Stdio;
use synthgen::nn::checkpoint;

/// 6 iterations of batch 4: stream positions 0..24 = images 0..12 of both classes.
const ITERS: u64 = 6;

/// `adapt --stream demo` (DANN) onto `target` (a labelled folder, so it is also evaluated).
fn stream_args(out: &Path, target: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec!["adapt".into(), "--stream".into(), "demo".into()];
    a.extend(set_args());
    for (flag, value) in [
        ("--target", target.to_string_lossy().into_owned()),
        ("--out", out.to_string_lossy().into_owned()),
        ("--method", "dann".into()),
        ("--arch", "resnet_tiny".into()),
        ("--image-size", "32".into()),
        ("--batch-size", "4".into()),
        ("--aug", "strong".into()),
        ("--device", "cpu".into()),
        ("--workers", "1".into()),
        ("--eval-every", "2".into()),
        ("--tsne-points", "0".into()),
        ("--iters", ITERS.to_string()),
    ] {
        a.push(flag.into());
        a.push(value);
    }
    a
}

fn checkpoint_step(out: &Path) -> u64 {
    checkpoint::read_tensors(&out.join("checkpoint-last.safetensors"))
        .ok()
        .and_then(|t| {
            checkpoint::meta_in_tensors(&t, Path::new("x"))
                .ok()
                .flatten()
        })
        .map_or(0, |m| m.step)
}

fn validate(scratch: &Path, archives: &Path, dir: &Path) {
    let o = command(scratch, archives)
        .arg("validate")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "validate {}: {}",
        dir.display(),
        text(&o)
    );
}

#[test]
fn a_streamed_source_equals_render_and_a_killed_run_resumes_to_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let archives = write_sh3f(&tmp.path().join("archives"), &good_models());
    // The reference render is also the (labelled) target folder.
    let reference = tmp.path().join("reference");
    render_reference(tmp.path(), &archives, 12, &reference);

    // Uninterrupted, without --keep, with a render worker SIGKILLed mid-stream.
    let full = tmp.path().join("full");
    let scratch = full.join(".synthgen").join("stream");
    let mut child = command(tmp.path(), &archives)
        .args(stream_args(&full, &reference))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut worker = None;
    wait_while_running(&mut child, "a worker was killed mid-stream", || {
        if count_pngs(&scratch) >= 1 {
            worker = worker_child_of(pid);
        }
        worker.is_some()
    });
    // SAFETY: killing a child process of the run this test started.
    unsafe { libc::kill(worker.unwrap() as i32, libc::SIGKILL) };
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s = summary(&full);
    assert_eq!(s["status"], "completed", "{s}");
    assert_eq!(s["source_images"], 24, "{s}");
    assert_eq!(s["skipped_images"], 0, "{s}");
    assert_eq!(s["stream"]["rendered"], 24, "{s}");
    assert_eq!(
        count_pngs(&scratch),
        0,
        "streamed images were left in scratch"
    );

    // Killed (trainer and workers) after the iteration-2 checkpoint, kept as it goes.
    let part = tmp.path().join("part");
    let kept = tmp.path().join("kept");
    let mut cmd = command(tmp.path(), &archives);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .args(stream_args(&part, &reference))
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
    assert!(checkpoint_step(&part) < ITERS, "the kill came too late");
    let at_kill = manifest_digests(&kept).len();
    assert!(
        at_kill >= 8,
        "only {at_kill} images were kept by iteration 2"
    );
    // What was written so far is a valid dataset.
    validate(tmp.path(), &archives, &kept);

    let o = command(tmp.path(), &archives)
        .args(stream_args(&part, &reference))
        .arg("--keep")
        .arg(&kept)
        .arg("--resume")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s = summary(&part);
    assert_eq!(
        (s["status"].as_str(), s["steps"].as_u64()),
        (Some("completed"), Some(ITERS)),
        "{s}"
    );
    assert!(s["stream"]["reused"].as_u64().unwrap() > 0, "{s}");

    // The streamed source is render's images 0..12 of both classes, each once.
    let (a, b) = (manifest_digests(&reference), manifest_digests(&kept));
    assert_eq!(a.len(), 24);
    assert_eq!(a, b, "streamed images differ from render's");
    assert_eq!(
        std::fs::read_to_string(reference.join("image_list.txt")).unwrap(),
        std::fs::read_to_string(kept.join("image_list.txt")).unwrap()
    );
    validate(tmp.path(), &archives, &kept);

    let weights = |out: &Path| checkpoint::read_tensors(&out.join("checkpoint-last.safetensors"));
    let (ta, tb) = (weights(&full).unwrap(), weights(&part).unwrap());
    assert_eq!(ta.len(), tb.len());
    for (k, t) in ta.iter().filter(|(k, _)| *k != "meta.json") {
        let diff = (t.to_kind(tch::Kind::Double) - tb[k].to_kind(tch::Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        // The bound of the folder adapter's resume test (tests/adapt_resume.rs).
        assert!(diff < 1e-4, "{k} differs by {diff}");
    }
}
