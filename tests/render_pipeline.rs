//! End-to-end render tests through real Blender (bpy in worker processes), on tiny images.
mod common;
use common::*;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture_env(cmd: &mut Command, archives: &Path) {
    cmd.env("SYNTHGEN_SWEETHOME3D", archives);
}

#[test]
fn demo_preset_renders_a_valid_dataset_from_the_embedded_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let o = synthgen(tmp.path())
        .args(small_render_args(&out, 2))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let classes = std::fs::read_to_string(out.join("classes.txt")).unwrap();
    assert_eq!(classes, "chair\ntable\n");
    let list = std::fs::read_to_string(out.join("image_list.txt")).unwrap();
    let expected_list = "chair/chair_000000.png 0\nchair/chair_000001.png 0\ntable/table_000000.png 1\ntable/table_000001.png 1\n";
    assert_eq!(list, expected_list);
    assert!(out.join("preset.yaml").is_file());
    // The time outside the render call is accounted by phase: the worker had to start, every
    // image was written, and the phases fit in the run's wall time.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let phases = &summary["seconds_outside_render"];
    let phase = |name: &str| phases[name].as_f64().unwrap_or_else(|| panic!("{summary}"));
    assert!(phase("worker_start") > 0.0, "{summary}");
    assert!(phase("write") > 0.0, "{summary}");
    let total: f64 = [
        "worker_start",
        "sampling",
        "request",
        "decode",
        "validate",
        "composite",
        "write",
        "hash",
    ]
    .iter()
    .map(|p| phase(p))
    .sum();
    let wall = summary["wall_seconds"].as_f64().unwrap();
    assert!(
        total < wall,
        "phases {total} s in a {wall} s run: {summary}"
    );

    let records = manifest_digests(&out);
    assert_eq!(records.len(), 4);
    for r in &records {
        let class = r.id.split('_').next().unwrap();
        let img = image::open(out.join(format!("{class}/{}.png", r.id))).unwrap();
        assert_eq!((img.width(), img.height()), (48, 48));
        assert!(
            matches!(img, image::DynamicImage::ImageRgb8(_)),
            "RGB output"
        );
        let mask = image::open(out.join(format!("masks/{class}/{}.png", r.id)))
            .unwrap()
            .to_luma8();
        let covered = mask.pixels().filter(|p| p.0[0] > 127).count() as f64 / (48.0 * 48.0);
        assert!(covered > 0.01 && covered < 0.95, "mask coverage {covered}");
        assert!(r.model["key"].as_str().unwrap().starts_with("sweethome3d:"));
        for factor in ["scale", "material", "light", "camera", "background"] {
            assert!(r.params.get(factor).is_some(), "manifest lacks {factor}");
        }
    }

    let v = synthgen(tmp.path())
        .arg("validate")
        .arg(&out)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", text(&v));

    // A damaged image is caught and named.
    std::fs::write(out.join("chair/chair_000001.png"), b"not a png").unwrap();
    let v = synthgen(tmp.path())
        .arg("validate")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!v.status.success());
    assert!(text(&v).contains("chair_000001.png"), "{}", text(&v));
}

#[test]
fn worker_count_does_not_change_images_and_resume_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let archives = write_sh3f(&tmp.path().join("archives"), &good_models());

    // Reference: two workers, uninterrupted.
    let full = tmp.path().join("full");
    let mut cmd = synthgen(tmp.path());
    fixture_env(&mut cmd, &archives);
    let o = cmd
        .args(small_render_args(&full, 4))
        .args(["--workers", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // One worker, killed (with its whole process group) after two images, then resumed.
    let part = tmp.path().join("part");
    let mut cmd = synthgen(tmp.path());
    fixture_env(&mut cmd, &archives);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .args(small_render_args(&part, 4))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let lines = std::fs::read_to_string(part.join("manifest.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the run never wrote two images");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was interrupted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling the process group this test created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    child.wait().unwrap();
    let interrupted = manifest_digests(&part).len();
    assert!(
        interrupted < 8,
        "the interruption came too late to test resume"
    );

    let mut cmd = synthgen(tmp.path());
    fixture_env(&mut cmd, &archives);
    let o = cmd
        .args(small_render_args(&part, 4))
        .arg("--resume")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("already done"), "{}", text(&o));
    assert_eq!(manifest_digests(&full), manifest_digests(&part));
    assert_eq!(
        std::fs::read_to_string(full.join("image_list.txt")).unwrap(),
        std::fs::read_to_string(part.join("image_list.txt")).unwrap()
    );
}

#[test]
fn a_killed_worker_is_restarted_and_every_image_arrives_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let archives = write_sh3f(&tmp.path().join("archives"), &good_models());
    let out = tmp.path().join("ds");
    let mut cmd = synthgen(tmp.path());
    fixture_env(&mut cmd, &archives);
    let mut child = cmd
        .args(small_render_args(&out, 5))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let worker_pid = loop {
        let rendered = std::fs::read_to_string(out.join("manifest.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if rendered >= 1 {
            if let Some(pid) = worker_child_of(child.id()) {
                break pid;
            }
        }
        assert!(Instant::now() < deadline, "no worker appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before a worker was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: killing a child process of the run this test started.
    unsafe { libc::kill(worker_pid as i32, libc::SIGKILL) };
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let records = manifest_digests(&out);
    let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(records.len(), 10);
    assert_eq!(ids.len(), 10, "an image appears twice");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["worker_restarts"].as_u64().unwrap() >= 1,
        "{summary}"
    );
}

#[test]
fn corrupt_and_missing_models_are_denylisted_and_their_images_resampled() {
    let tmp = tempfile::tempdir().unwrap();
    let mut models = good_models();
    models.retain(|m| m.id.starts_with("table"));
    models.push(FixtureModel {
        id: "chair_ok",
        name: "Chair",
        category: "Living room",
        files: vec![
            ("box.obj", box_obj(0.5, 0.9, 0.5).into_bytes()),
            ("box.mtl", BOX_MTL.as_bytes().to_vec()),
        ],
    });
    models.push(FixtureModel {
        id: "chair_corrupt",
        name: "Broken chair",
        category: "Living room",
        files: vec![("broken.obj", b"this is not a mesh\n\x00\x01\x02".to_vec())],
    });
    models.push(FixtureModel {
        id: "chair_missing",
        name: "Lost chair",
        category: "Living room",
        files: vec![("lost.obj", Vec::new())],
    });
    let archives = write_sh3f(&tmp.path().join("archives"), &models);
    let out = tmp.path().join("ds");
    let mut cmd = synthgen(tmp.path());
    fixture_env(&mut cmd, &archives);
    let o = cmd.args(small_render_args(&out, 4)).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let records = manifest_digests(&out);
    assert_eq!(records.len(), 8, "every image is there");
    for r in records.iter().filter(|r| r.id.starts_with("chair")) {
        assert_eq!(
            r.model["key"], "sweethome3d:Fixture#chair_ok",
            "{:?}",
            r.model
        );
    }
    let deny = std::fs::read_to_string(out.join("denylist.jsonl")).unwrap();
    assert!(deny.contains("Fixture#chair_corrupt"), "{deny}");
    assert!(!deny.contains("chair_ok"), "{deny}");
    assert!(text(&o).contains("denylisted model"), "{}", text(&o));
}

#[test]
fn bad_presets_and_flags_give_one_line_and_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "extends: demo\nfactors:\n  camera:\n    elevation: {uniform: [40, 10]}\n",
    )
    .unwrap();
    let out = tmp.path().join("ds");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--preset".into(), bad.to_string_lossy().into()],
            "bad.yaml:4:",
        ),
        (
            vec![
                "--preset".into(),
                "demo".into(),
                "--set".into(),
                "render.resolution=abc".into(),
            ],
            "render.resolution",
        ),
        (
            vec![
                "--preset".into(),
                "demo".into(),
                "--classes".into(),
                "chair,unicorn".into(),
            ],
            "unicorn",
        ),
        (
            vec!["--preset".into(), "no_such_preset".into()],
            "no_such_preset",
        ),
    ];
    for (args, needle) in cases {
        let o = synthgen(tmp.path())
            .arg("render")
            .args(&args)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    assert!(!out.exists(), "nothing written for bad input");
}
