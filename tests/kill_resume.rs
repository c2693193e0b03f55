//! SIGKILL at seeded random points, then `--resume`: the result equals an uninterrupted run
//! (images byte for byte, manifest records, image list) and validates.
mod common;
use common::*;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn manifest_lines(out: &Path) -> usize {
    std::fs::read_to_string(out.join("manifest.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// One `render` run (24 images, 32 px) is killed four times at random points: after a
/// random number of finished images plus a random delay of up to 150 ms (so also while an
/// image is being written), alternately the whole process group and the parent alone
/// (its workers then find their pipe closed). Each kill is followed by `--resume`.
#[test]
fn render_killed_at_several_random_points_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    let o = synthgen(tmp.path())
        .args(fit_render_args(&full, 12))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let total = manifest_lines(&full);
    assert_eq!(total, 24);

    let part = tmp.path().join("part");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
    let mut kills = Vec::new();
    for k in 0..4 {
        let done = manifest_lines(&part);
        let mut cmd = synthgen(tmp.path());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.args(fit_render_args(&part, 12));
        if part.join("manifest.jsonl").exists() {
            cmd.arg("--resume");
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill points spread over the run: after 1 to 4 more finished images.
        let wait_for = (done + rng.random_range(1..=4)).min(total - 1);
        let deadline = Instant::now() + Duration::from_secs(300);
        while manifest_lines(&part) < wait_for && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "kill {k}: the run stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..150)));
        let group = k % 2 == 0;
        // SAFETY: signalling the process (group) this test started.
        unsafe {
            if group {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            } else {
                libc::kill(child.id() as i32, libc::SIGKILL);
            }
        }
        child.wait().unwrap();
        kills.push(manifest_lines(&part));
        if !group {
            // Give the orphaned workers a moment to see their pipe closed.
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    eprintln!("records after each kill: {kills:?} of {total}");
    assert!(
        kills.iter().filter(|n| **n < total).count() >= 3,
        "too few kills landed inside the run: {kills:?}"
    );

    let o = synthgen(tmp.path())
        .args(fit_render_args(&part, 12))
        .arg("--resume")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(manifest_digests(&full), manifest_digests(&part));
    assert_eq!(
        std::fs::read_to_string(full.join("image_list.txt")).unwrap(),
        std::fs::read_to_string(part.join("image_list.txt")).unwrap()
    );
    let v = synthgen(tmp.path())
        .arg("validate")
        .arg(&part)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", text(&v));
}

/// Writes `per_class` 32 x 32 noisy PNGs per class, each class its own colour cast.
#[cfg(feature = "train")]
fn write_colour_classes(root: &Path, per_class: usize) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
    for (c, name) in ["blue", "green", "red"].iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(32, 32, |_, _| {
                let mut px = [0u8; 3];
                for (ch, v) in px.iter_mut().enumerate() {
                    *v = rng.random_range(0..120) + if ch == 2 - c { 100 } else { 0 };
                }
                image::Rgb(px)
            });
            img.save(dir.join(format!("{i:03}.png"))).unwrap();
        }
    }
}

/// `train` killed by SIGKILL at a seeded random point after its first checkpoint, then
/// `--resume`: the weights are within 1e-4 of an uninterrupted run's and the metric tables
/// (steps, kinds, sets, losses, accuracies) are the same.
#[cfg(feature = "train")]
#[test]
fn train_killed_at_a_random_point_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_colour_classes(&data, 8);
    let train = |out: &Path, resume: bool| {
        let mut c = std::process::Command::new(synthgen_bin());
        c.args(["train", "--train"])
            .arg(&data)
            .arg("--eval")
            .arg(format!("train={}", data.display()))
            .args([
                "--arch",
                "resnet_tiny",
                "--image-size",
                "32",
                "--iters",
                "120",
            ])
            .args(["--batch-size", "8", "--lr", "0.05", "--eval-every", "5"])
            .args(["--device", "cpu", "--seed", "3", "--workers", "1", "--out"])
            .arg(out);
        if resume {
            c.arg("--resume");
        }
        c
    };
    let full = tmp.path().join("full");
    let o = train(&full, false).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let part = tmp.path().join("part");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(21);
    let mut child = train(&part, false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !part.join("checkpoint-last.json").exists() {
        assert!(Instant::now() < deadline, "no checkpoint was written");
        assert!(child.try_wait().unwrap().is_none(), "train ended unkilled");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(rng.random_range(0..100)));
    assert!(child.try_wait().unwrap().is_none(), "train ended unkilled");
    // SAFETY: signalling the process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let o = train(&part, true).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let table = |out: &Path| -> Vec<String> {
        std::fs::read_to_string(out.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let num = |k: &str| v[k].as_f64().map(|x| format!("{x:.4}"));
                format!(
                    "{} {} {} {:?} {:?}",
                    v["step"],
                    v["kind"],
                    v["set"],
                    num("loss"),
                    num("acc")
                )
            })
            .collect()
    };
    assert_eq!(table(&full), table(&part));
    let tensors = |out: &Path| {
        synthgen::nn::checkpoint::read_tensors(&out.join("checkpoint-last.safetensors")).unwrap()
    };
    let (a, b) = (tensors(&full), tensors(&part));
    assert_eq!(a.len(), b.len());
    for (k, t) in &a {
        let diff = (t - &b[k]).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "{k} differs by {diff}");
    }
}

/// `fit` killed by SIGKILL while it renders its probe, then run again with the same
/// arguments: it reuses the probe images already rendered and writes the weights an
/// uninterrupted fit writes.
#[test]
fn fit_killed_while_rendering_its_probe_reuses_the_rendered_images_and_gives_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    let o = synthgen(tmp.path())
        .args(fit_render_args(&target, 6))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let fit = |name: &str| {
        let mut c = synthgen(tmp.path());
        c.args(["fit", "--preset", "demo", "--target"])
            .arg(&target)
            .arg("--out")
            .arg(tmp.path().join(format!("{name}.yaml")))
            .args(["--rounds", "1", "--probe-size", "60", "--per-class", "off"]);
        for s in [
            "classes=[chair, table]",
            "render.resolution=32",
            "render.samples=4",
            "render.denoise=false",
            "validate.min_coverage=0.005",
        ] {
            c.args(["--set", s]);
        }
        c
    };
    let o = fit("full").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
    let probe = tmp.path().join("part.fit/probe-0");
    let mut cmd = fit("part");
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = rng.random_range(10..40);
    let deadline = Instant::now() + Duration::from_secs(300);
    while manifest_lines(&probe) < wait_for {
        assert!(Instant::now() < deadline, "the probe render stalled");
        assert!(child.try_wait().unwrap().is_none(), "fit ended unkilled");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
    // SAFETY: signalling the process group this test created.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    child.wait().unwrap();
    let rendered = manifest_lines(&probe);
    assert!(!tmp.path().join("part.yaml").exists());

    let o = fit("part").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{rendered} already done")),
        "{rendered} images were rendered before the kill: {}",
        text(&o)
    );
    let weights = |name: &str| -> serde_yaml::Value {
        let w: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(tmp.path().join(format!("{name}.yaml"))).unwrap(),
        )
        .unwrap();
        w["factors"].clone()
    };
    assert_eq!(weights("full"), weights("part"));
}
