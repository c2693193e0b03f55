//! Render settings and pre-render material decisions through real Blender, on tiny images:
//! the `render.*` light path settings reach Cycles, bad values are refused with one line,
//! a model whose own colours would fail the magenta check is rendered with the sampled
//! material, and a run without the built-in photos warns and draws no photo backgrounds.
mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;

fn sha_by_id(out: &Path) -> BTreeMap<String, String> {
    manifest_values(out)
        .into_iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn manifest_values(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn render(scratch: &Path, out: &Path, per_class: u32, extra: &[&str]) -> std::process::Output {
    let mut args = small_render_args(out, per_class);
    args.extend(["--set", "render.resolution=32"].map(String::from));
    let mut extra = extra.iter();
    while let Some(e) = extra.next() {
        if *e == "--classes" {
            // Replaces small_render_args' classes (the flag may be given once).
            let at = args.iter().position(|a| a == "--classes").unwrap();
            args[at + 1] = extra.next().unwrap().to_string();
        } else {
            args.push(e.to_string());
        }
    }
    synthgen(scratch).args(&args).output().unwrap()
}

#[test]
fn light_path_settings_reach_cycles_and_bad_values_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain");
    let o = render(tmp.path(), &plain, 1, &[]);
    assert!(o.status.success(), "{}", text(&o));
    // No bounces at all: only direct light, so every image must change (Python applying
    // the settings as given, not Blender's defaults).
    let direct = tmp.path().join("direct");
    let requests = tmp.path().join("requests");
    let o = render(
        tmp.path(),
        &direct,
        1,
        &[
            "--set",
            "render.max_bounces=0",
            "--set",
            "render.adaptive_threshold=0.05",
            "--set",
            "render.caustics=false",
            "--keep-requests",
            requests.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let (a, b) = (sha_by_id(&plain), sha_by_id(&direct));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (id, sha) in &a {
        assert_ne!(sha, &b[id], "{id}: max_bounces=0 rendered the same pixels");
    }
    let request: serde_json::Value =
        serde_json::from_slice(&std::fs::read(requests.join("chair_000000.json")).unwrap())
            .unwrap();
    let settings = &request["settings"];
    assert_eq!(settings["bounces"]["max"], 0);
    assert_eq!(settings["bounces"]["caustics"], false);
    assert_eq!(settings["adaptive"]["mode"], "on");
    assert_eq!(settings["adaptive"]["threshold"], 0.05);

    for (set, field) in [
        ("render.adaptive_threshold=2", "render.adaptive_threshold"),
        (
            "render.adaptive_min_samples=99",
            "render.adaptive_min_samples",
        ),
        ("render.clamp_indirect=-1", "render.clamp_indirect"),
    ] {
        let o = render(tmp.path(), &tmp.path().join("bad"), 1, &["--set", set]);
        assert_eq!(o.status.code(), Some(2), "{set}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{set}: {err}");
        assert!(err.contains(field), "{set}: {err}");
    }
}

#[test]
fn own_magenta_colours_are_rendered_with_the_sampled_material() {
    // The catalog's electric guitar has a purple body (Kd 0.267 0 0.216): kept in its own
    // colours, the magenta check would reject every view of it.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let o = render(
        tmp.path(),
        &out,
        3,
        &[
            "--classes",
            "guitar",
            "--set",
            "factors.material.keep_original_probability=1",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let records = manifest_values(&out);
    let overridden: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["material_override"].is_string())
        .collect();
    assert!(!overridden.is_empty(), "no override: {records:?}");
    for r in &records {
        let guitar = r["model"]["key"]
            .as_str()
            .unwrap()
            .ends_with("#electricGuitar");
        assert_eq!(r["material_override"].is_string(), guitar, "{r}");
        assert_eq!(r["params"]["material"]["keep_original"], !guitar, "{r}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["material_overrides"], overridden.len());
    assert!(
        summary["rejected_attempts"]["max_magenta_fraction"].is_null(),
        "{summary}"
    );
}

#[test]
fn missing_builtin_photos_warn_and_leave_photo_backgrounds_out() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-photos");
    std::fs::create_dir_all(&empty).unwrap();
    let out = tmp.path().join("ds");
    let mut args = small_render_args(&out, 3);
    args.extend(
        [
            "--set",
            "render.resolution=32",
            "--set",
            "factors.background.kind={choice: {solid: 1, image: 3}}",
        ]
        .map(String::from),
    );
    let o = synthgen(tmp.path())
        .env("SYNTHGEN_DEBIAN_PHOTOS", &empty)
        .args(&args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: factors.background.image_folder: the built-in photos (debian-photos) are not installed"),
        "{err}"
    );
    let records = manifest_values(&out);
    assert_eq!(records.len(), 6);
    for r in &records {
        assert_eq!(r["params"]["background"]["kind"], "solid", "{r}");
    }
    let preset = std::fs::read_to_string(out.join("preset.yaml")).unwrap();
    assert!(preset.contains("image: 0"), "{preset}");
}
