//! A study's streamed non-repetitive arm (`stream: true`): the run trains on a render stream
//! (real Blender workers, real libtorch), a second run on the same dataset reuses the kept
//! images, the kept folder is a valid dataset, and a study killed mid-stream resumes to the
//! same tables.
#![cfg(feature = "train")]
mod common;

use common::{synthgen, text};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = "name: tiny-stream
dataset_defaults:
  preset: demo
  classes: [chair, table]
  resolution: 32
  samples: 4
  workers: 1
datasets:
  stream: {per_class: 12, seed: 1, split: train, stream: true}
  test: {per_class: 4, seed: 2, split: test}
run_defaults:
  train: stream
  mode: non_repetitive
  eval: [test]
  arch: resnet_tiny
  iters: 6
  batch_size: 4
  image_size: 32
  eval_every: 3
runs:
  a: {aug: strong}
  b: {aug: none}
tables:
  - title: Streamed
    columns: [{eval: test}]
    rows: [{run: a}, {run: b}]
";

fn stage_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| {
            l.starts_with("study: ")
                && !l.contains("done in")
                && !l.starts_with("study: expected time")
        })
        .map(|l| l.split(" -> ").next().unwrap_or(l).to_string())
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one stage folder of `out` whose name starts with `prefix`.
fn stage(out: &Path, prefix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(out.join("stages"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    assert_eq!(found.len(), 1, "{prefix}: {found:?}");
    found[0].clone()
}

fn stream_report(out: &Path, run: &str) -> serde_json::Value {
    let s: serde_json::Value = serde_json::from_str(&read(
        &stage(out, &format!("train-{run}-")).join("run/summary.json"),
    ))
    .unwrap();
    s["stream"].clone()
}

#[test]
fn a_streamed_arm_trains_on_the_stream_reuses_it_and_resumes_to_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let spec = s.join("tiny-stream.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let spec = spec.to_str().unwrap();

    let a = s.join("a");
    let o = synthgen(s)
        .args(["study", spec, "--out", a.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // No render stage for the streamed dataset: run `a` renders it while training.
    assert_eq!(
        stage_lines(&o),
        [
            "study: render test: ran",
            "study: train a: ran",
            "study: train b: ran"
        ]
    );
    let (ra, rb) = (stream_report(&a, "a"), stream_report(&a, "b"));
    assert_eq!(
        (&ra["rendered"], &ra["reused"]),
        (&24.into(), &0.into()),
        "{ra}"
    );
    assert_eq!(
        (&rb["rendered"], &rb["reused"]),
        (&0.into(), &24.into()),
        "{rb}"
    );
    let kept = stage(&a, "stream-stream-").join("data");
    let o = synthgen(s).arg("validate").arg(&kept).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let tables = read(&a.join("tables.csv"));
    assert_eq!(tables.lines().count(), 3, "{tables}");

    // Killed (study and render workers) mid-stream, after run a's first checkpoint.
    let b = s.join("b");
    let mut cmd = synthgen(s);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .args(["study", spec, "--out", b.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let killed_mid_stream = loop {
        let checkpoint = walkdir::WalkDir::new(&b)
            .into_iter()
            .flatten()
            .any(|e| e.file_name() == "checkpoint-last.json");
        if checkpoint {
            // SAFETY: signalling the process group this test created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            break true;
        }
        if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(300) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.wait();
    assert!(
        killed_mid_stream,
        "the study ended before run a checkpointed"
    );
    assert!(!stage(&b, "train-a-").join("done.json").exists());
    let o = synthgen(s)
        .args(["study", spec, "--out", b.to_str().unwrap(), "--resume"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        stage_lines(&o)[1..],
        ["study: train a: resumed", "study: train b: ran"],
        "{}",
        text(&o)
    );
    assert_eq!(read(&b.join("tables.csv")), tables);
}
