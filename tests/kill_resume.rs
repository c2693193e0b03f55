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
/// random number of finished images plus a random delay of up to 400 ms (so also while an
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
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
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
