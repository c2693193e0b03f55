//! WebDataset output through real Blender renders (demo preset, 32 px, 8 images, 3 samples
//! per shard): shards are byte-identical whatever the worker count and after a SIGKILL and
//! `--resume`, hold exactly the images and labels of an ImageFolder render with the same
//! preset and seed (read here, and by the PyPI `webdataset` and `wids` packages), validate,
//! and `render --shard I/N` tasks write disjoint shards that `merge` indexes without copying.
mod common;

use common::{fit_render_args, manifest_digests, synthgen, text};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use synthgen::dataset::webdataset::tar::TarReader;

const PER_CLASS: u32 = 4;

fn wds_args(out: &Path, workers: u32) -> Vec<String> {
    let mut a = fit_render_args(out, PER_CLASS);
    for s in [
        "--format",
        "webdataset",
        "--set",
        "output.shard_samples=3",
        "--workers",
        &workers.to_string(),
    ] {
        a.push(s.to_string());
    }
    a
}

fn run_ok(scratch: &Path, args: &[String]) {
    let o = synthgen(scratch).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", text(&o));
}

/// Every `.tar` file of a folder, by name, with its bytes.
fn shards(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// key -> (sha256 of the .png member, .cls label), over all shards of a folder.
fn samples(dir: &Path) -> HashMap<String, (String, usize)> {
    let mut out: HashMap<String, (Option<String>, Option<usize>)> = HashMap::new();
    for bytes in shards(dir).values() {
        let mut r = TarReader::new(&bytes[..]);
        while let Some(m) = r.next_member().unwrap() {
            let (key, ext) = m.name.split_once('.').unwrap();
            let e = out.entry(key.to_string()).or_default();
            match ext {
                "png" => e.0 = Some(sha(&m.data)),
                "cls" => e.1 = Some(std::str::from_utf8(&m.data).unwrap().parse().unwrap()),
                _ => {}
            }
        }
    }
    out.into_iter()
        .map(|(k, (s, l))| (k, (s.unwrap(), l.unwrap())))
        .collect()
}

/// id -> (sha256, label) of an ImageFolder render's manifest.
fn reference(dir: &Path) -> HashMap<String, (String, usize)> {
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                (
                    v["sha256"].as_str().unwrap().to_string(),
                    v["label"].as_u64().unwrap() as usize,
                ),
            )
        })
        .collect()
}

fn validate(scratch: &Path, dir: &Path) -> std::process::Output {
    synthgen(scratch).arg("validate").arg(dir).output().unwrap()
}

#[test]
fn shards_are_identical_for_any_worker_count_and_hold_the_imagefolder_images() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path();
    let reference_dir = scratch.join("imagefolder");
    let mut a = fit_render_args(&reference_dir, PER_CLASS);
    a.extend(["--workers".to_string(), "2".to_string()]);
    run_ok(scratch, &a);
    let (w1, w2) = (scratch.join("w1"), scratch.join("w2"));
    run_ok(scratch, &wds_args(&w1, 1));
    run_ok(scratch, &wds_args(&w2, 2));

    let one = shards(&w1);
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        ["demo-000000.tar", "demo-000001.tar", "demo-000002.tar"]
    );
    assert!(one == shards(&w2), "shards differ between 1 and 2 workers");
    let index = std::fs::read_to_string(w1.join("wids-index.json")).unwrap();
    assert_eq!(
        index,
        std::fs::read_to_string(w2.join("wids-index.json")).unwrap()
    );
    assert!(
        index.contains("\"__kind__\": \"wids-shard-index-v1\""),
        "{index}"
    );
    assert!(!w1.join("image_list.txt").exists());
    assert!(
        !w1.join(".synthgen/staging").exists(),
        "staging is cleaned up"
    );

    // Exactly the ImageFolder render's images (PNG bytes) and labels; same records.
    assert_eq!(samples(&w1), reference(&reference_dir));
    assert_eq!(manifest_digests(&w1), manifest_digests(&reference_dir));

    let o = validate(scratch, &w1);
    assert!(o.status.success(), "{}", text(&o));
    // A flipped byte inside an image is found and named.
    let bad = scratch.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    for e in std::fs::read_dir(&w1).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, bad.join(p.file_name().unwrap())).unwrap();
        }
    }
    let mut bytes = std::fs::read(bad.join("demo-000001.tar")).unwrap();
    bytes[512 + 100] ^= 0xff;
    std::fs::write(bad.join("demo-000001.tar"), bytes).unwrap();
    let o = validate(scratch, &bad);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("demo-000001.tar: sample"), "{out}");

    // The PyPI clients read the same images and labels.
    common::assert_pypi_clients_read(
        &w1.join("wids-index.json"),
        &w1.join("demo-{000000..000002}.tar"),
        &reference_dir,
        &scratch.join("wids-cache"),
    );
}

fn manifest_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_killed_render_resumes_to_the_same_shards_and_shard_tasks_merge_into_an_index() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path();
    let full = scratch.join("full");
    run_ok(scratch, &wds_args(&full, 2));

    // SIGKILL the whole process group once a shard is sealed or most images are saved.
    let part = scratch.join("part");
    let mut cmd = synthgen(scratch);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .args(wds_args(&part, 2))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !part.join("demo-000000.tar").exists()
        && manifest_lines(&part) < 6
        && child.try_wait().unwrap().is_none()
    {
        assert!(Instant::now() < deadline, "the run stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling the process group this test started.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    child.wait().unwrap();
    assert!(
        !part.join("wids-index.json").exists(),
        "the kill landed after the run finished"
    );
    eprintln!(
        "killed with {} records and shards {:?}",
        manifest_lines(&part),
        shards(&part).keys().collect::<Vec<_>>()
    );
    let mut resume = wds_args(&part, 2);
    resume.push("--resume".into());
    run_ok(scratch, &resume);
    assert!(shards(&full) == shards(&part), "resumed shards differ");
    let leftovers: Vec<PathBuf> = walkdir::WalkDir::new(&part)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Two tasks: disjoint names, interleaved numbers; merged into an index over them.
    let tasks: Vec<PathBuf> = (1..=2).map(|i| scratch.join(format!("task{i}"))).collect();
    for (i, t) in tasks.iter().enumerate() {
        let mut a = wds_args(t, 1);
        a.extend(["--shard".to_string(), format!("{}/2", i + 1)]);
        run_ok(scratch, &a);
    }
    let names: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| shards(t).into_keys().collect())
        .collect();
    assert_eq!(names[0], ["demo-000000.tar", "demo-000002.tar"]);
    assert_eq!(names[1], ["demo-000001.tar", "demo-000003.tar"]);
    let merged = scratch.join("merged");
    let o = synthgen(scratch)
        .arg("merge")
        .args(&tasks)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(shards(&merged).is_empty(), "merge copied shards");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("wids-index.json")).unwrap())
            .unwrap();
    let urls: Vec<&str> = index["shardlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "../task1/demo-000000.tar",
            "../task2/demo-000001.tar",
            "../task1/demo-000002.tar",
            "../task2/demo-000003.tar"
        ]
    );
    let total: u64 = index["shardlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["nsamples"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2 * PER_CLASS as u64);
    // The combined manifest is the single run's, record for record.
    assert_eq!(manifest_digests(&merged), manifest_digests(&full));
    let o = validate(scratch, &merged);
    assert!(o.status.success(), "{}", text(&o));
    // A task missing is refused with one line, exit 2.
    let o = synthgen(scratch)
        .arg("merge")
        .arg(&tasks[0])
        .arg("--out")
        .arg(scratch.join("m2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
