//! Shared helpers of the integration tests: running the real binary, fixture catalogs.
#![allow(dead_code)]
pub mod stream;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn synthgen_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_synthgen"))
}

/// A `synthgen` command with its own model cache under `scratch` (tests never share caches).
pub fn synthgen(scratch: &Path) -> Command {
    let mut c = Command::new(synthgen_bin());
    c.env("SYNTHGEN_CACHE", scratch.join("cache"))
        .env_remove("RUST_LOG")
        .env_remove("SYNTHGEN_SWEETHOME3D");
    c
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A closed box with 12 triangles, Y-up like Sweet Home 3D models, `w x h x d` units.
pub fn box_obj(w: f32, h: f32, d: f32) -> String {
    box_obj_with(Some("box.mtl"), w, h, d, 1.0, false)
}

/// A closed box, Y-up, `w x h x d` units times `scale`, with an optional material library
/// (material `paint`) and optionally flipped face winding.
pub fn box_obj_with(
    mtllib: Option<&str>,
    w: f32,
    h: f32,
    d: f32,
    scale: f32,
    flip: bool,
) -> String {
    let (x, y, z) = (w / 2.0 * scale, h * scale, d / 2.0 * scale);
    let mut s = String::new();
    if let Some(lib) = mtllib {
        s.push_str(&format!("mtllib {lib}\n"));
    }
    s.push_str("o part\n");
    for (vx, vy, vz) in [
        (-x, 0.0, -z),
        (x, 0.0, -z),
        (x, y, -z),
        (-x, y, -z),
        (-x, 0.0, z),
        (x, 0.0, z),
        (x, y, z),
        (-x, y, z),
    ] {
        s.push_str(&format!("v {vx} {vy} {vz}\n"));
    }
    if mtllib.is_some() {
        s.push_str("usemtl paint\n");
    }
    for f in [
        "1 2 3", "1 3 4", "5 7 6", "5 8 7", "1 5 6", "1 6 2", "2 6 7", "2 7 3", "3 7 8", "3 8 4",
        "4 8 5", "4 5 1",
    ] {
        let f = if flip {
            f.split(' ').rev().collect::<Vec<_>>().join(" ")
        } else {
            f.to_string()
        };
        s.push_str(&format!("f {f}\n"));
    }
    s
}

pub const BOX_MTL: &str = "newmtl paint\nKd 0.8 0.3 0.2\n";

/// One model of a fixture archive.
pub struct FixtureModel<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub category: &'a str,
    /// (file name, content) under the model's folder; the first file is the model file.
    pub files: Vec<(&'a str, Vec<u8>)>,
}

/// Writes a Sweet Home 3D furniture archive (`.sh3f`) into `dir` and returns `dir`.
pub fn write_sh3f(dir: &Path, models: &[FixtureModel]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = std::fs::File::create(dir.join("Fixture.sh3f")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default();
    let mut props = String::from("id=Fixture\nname=Fixture\nlicense=CC0\n");
    for (i, m) in models.iter().enumerate() {
        let n = i + 1;
        let model_path = format!("fixture/{}/{}", m.id, m.files[0].0);
        props.push_str(&format!(
            "id#{n}=Fixture#{id}\nname#{n}={name}\ncategory#{n}={cat}\nmodel#{n}=/{model_path}\ncreator#{n}=synthgen tests\nwidth#{n}=50\ndepth#{n}=50\nheight#{n}=80\nlicense#{n}=CC0\n",
            id = m.id,
            name = m.name,
            cat = m.category
        ));
        for (name, bytes) in &m.files {
            if bytes.is_empty() {
                continue; // listed in the catalog, absent from the archive
            }
            zip.start_file(format!("fixture/{}/{}", m.id, name), opts)
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
    }
    zip.start_file("PluginFurnitureCatalog.properties", opts)
        .unwrap();
    zip.write_all(props.as_bytes()).unwrap();
    zip.finish().unwrap();
    dir.to_path_buf()
}

/// Two good box chairs, two good box tables.
pub fn good_models() -> Vec<FixtureModel<'static>> {
    let good = |id: &'static str, name: &'static str, w: f32, h: f32| FixtureModel {
        id,
        name,
        category: "Living room",
        files: vec![
            ("box.obj", box_obj(w, h, 0.6).into_bytes()),
            ("box.mtl", BOX_MTL.as_bytes().to_vec()),
        ],
    };
    vec![
        good("chair_a", "Chair", 0.5, 0.9),
        good("chair_b", "Armchair", 0.8, 0.7),
        good("table_a", "Table", 1.2, 0.7),
        good("table_b", "Desk", 1.0, 0.8),
    ]
}

/// Arguments of a small, fast render of the fixture catalog.
pub fn small_render_args(out: &Path, per_class: u32) -> Vec<String> {
    [
        "render",
        "--preset",
        "demo",
        "--out",
        &out.to_string_lossy(),
        "--classes",
        "chair,table",
        "--per-class",
        &per_class.to_string(),
        "--set",
        "render.resolution=48",
        "--set",
        "render.samples=4",
        "--set",
        "render.denoise=false",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct RecordDigest {
    pub id: String,
    pub sha256: String,
    pub attempt: u32,
    pub params: serde_json::Value,
    pub model: serde_json::Value,
}

/// The manifest's records, sorted by id, reduced to what must be equal between runs.
pub fn manifest_digests(out: &Path) -> Vec<RecordDigest> {
    let text = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let mut v: Vec<RecordDigest> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// `small_render_args` at 32 px with a low coverage bar: the fit tests' tiny renders.
pub fn fit_render_args(out: &Path, per_class: u32) -> Vec<String> {
    let mut a = small_render_args(out, per_class);
    for s in ["render.resolution=32", "validate.min_coverage=0.005"] {
        a.push("--set".into());
        a.push(s.into());
    }
    a
}

/// Renders a fit probe into `probe` (chair and table, `per_class` each, 32 px) with the
/// three background kinds equally likely, so a planted background kind can be resampled.
pub fn render_uniform_background_probe(scratch: &Path, probe: &Path, per_class: u32) {
    let uniform = scratch.join("uniform.yaml");
    std::fs::write(
        &uniform,
        "preset: demo\nfactors:\n  background.kind: {solid: 1, procedural: 1, hdri: 1}\n",
    )
    .unwrap();
    let o = synthgen(scratch)
        .args(fit_render_args(probe, per_class))
        .arg("--weights")
        .arg(&uniform)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

/// Draws one of `items` with probability proportional to `weight` (the planted-truth tests
/// resample probe images this way).
pub fn pick_weighted<'a, T>(
    items: &'a [T],
    weight: impl Fn(&T) -> f64,
    rng: &mut impl rand::Rng,
) -> &'a T {
    let total: f64 = items.iter().map(&weight).sum();
    let mut u = rng.random::<f64>() * total;
    items
        .iter()
        .find(|x| {
            u -= weight(x);
            u < 0.0
        })
        .unwrap_or(&items[items.len() - 1])
}

/// Resuming the dataset of `render_args` with another weights file must be refused.
pub fn assert_resume_refused_with(scratch: &Path, render_args: Vec<String>, weights: &Path) {
    let o = synthgen(scratch)
        .args(render_args)
        .args(["--resume", "--weights"])
        .arg(weights)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("different preset"), "{}", text(&o));
}

/// The pid of a `synthgen __worker` process whose parent is `parent`.
pub fn worker_child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid: u32 = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let is_worker = String::from_utf8_lossy(&cmdline).contains("__worker");
        (ppid == parent && is_worker).then_some(pid)
    })
}

/// An ImageFolder `dir/data` of `classes` x `per_class` random R x R PNGs, R = round(SIZE *
/// 256 / 224), so that synthgen's resize at image size `size` is the identity (as
/// tests/parity/torchvision_train_step.py writes them).
pub fn image_folder(dir: &Path, size: u32, classes: usize, per_class: usize) -> PathBuf {
    use rand::{Rng, SeedableRng};
    let side = ((size as f64) * 256.0 / 224.0).round() as u32;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let root = dir.join("data");
    for c in 0..classes {
        let folder = root.join(format!("class{c}"));
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..per_class {
            let px: Vec<u8> = (0..side * side * 3).map(|_| rng.random()).collect();
            image::RgbImage::from_raw(side, side, px)
                .unwrap()
                .save(folder.join(format!("{i}.png")))
                .unwrap();
        }
    }
    root
}

/// The (step, loss) of every training line of a run's metrics.jsonl.
pub fn train_losses(out: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "train")
        .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
        .collect()
}

/// The tensors of a run's last checkpoint, by name.
pub fn last_checkpoint_tensors(out: &Path) -> std::collections::HashMap<String, tch::Tensor> {
    synthgen::nn::checkpoint::read_tensors(&out.join("checkpoint-last.safetensors")).unwrap()
}

/// The PyPI clients (`webdataset` and `wids`, in .venv-torch) read shards: `index` (the wids
/// index) and `pattern` (a brace pattern of the shards) must hold exactly the images and labels
/// of the ImageFolder render `reference` (tests/parity/wds_read.py compares them).
pub fn assert_pypi_clients_read(index: &Path, pattern: &Path, reference: &Path, wids_cache: &Path) {
    let python = synthgen::paths::torch_python();
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it installs PyTorch, webdataset and wids into .venv-torch) or set SYNTHGEN_TORCH_VENV",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/wds_read.py");
    let o = Command::new(&python)
        .arg(&script)
        .arg(index)
        .arg(pattern)
        .arg(reference)
        .env("WIDS_CACHE", wids_cache)
        .output()
        .unwrap();
    assert!(o.status.success(), "wds_read.py: {}", text(&o));
}
