//! `--init` reads the weight files people have: `torch.save(model.state_dict())` of a
//! torchvision model (an OrderedDict, zip format), the legacy format, training checkpoints that
//! wrap the state dict (`module.` keys, an optimizer, an argparse Namespace, a numpy scalar),
//! half precision, and the paper's released layout; the tensors read equal PyTorch's own
//! `torch.load` bit for bit. A layout nothing maps is refused in one line naming its keys, and
//! the README's ImageNet example runs as printed. The files are written by PyTorch itself
//! (tests/parity/torch_init_layouts.py, from the `.venv-torch` venv).
#![cfg(feature = "train")]
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use synthgen::nn::checkpoint;
use synthgen::nn::models::Classifier;
use synthgen::nn::torch_import::{dropped_key, read_weights};
use tch::{nn, Device, Tensor};

/// Runs a Python snippet or script with the PyTorch venv's interpreter in `cwd`.
fn torch_python(args: &[&str], cwd: &Path) {
    let python = synthgen::paths::torch_python();
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it installs PyTorch + torchvision into .venv-torch) or set SYNTHGEN_TORCH_VENV",
        python.display()
    );
    let out = Command::new(&python)
        .args(args)
        .current_dir(cwd)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", common::text(&out));
}

/// A tiny ImageFolder: 2 classes of 3 images, 40 x 40.
fn image_folder(dir: &Path) {
    for (c, class) in ["a", "b"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..3u8 {
            let img = image::RgbImage::from_fn(40, 40, |x, y| {
                image::Rgb([(x as u8) * 6, (y as u8) * 6, 80 * c as u8 + 40 * i])
            });
            img.save(dir.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
}

/// Every layout gives back the tensors PyTorch saved, under torchvision's names, with `fc` and
/// `num_batches_tracked` dropped; each loads as a full resnet18 backbone; the unmappable one
/// and a list are refused in one line with exit 2.
#[test]
fn every_layout_loads_the_tensors_pytorch_saved() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/torch_init_layouts.py");
    torch_python(&[script.to_str().unwrap(), d.to_str().unwrap()], d);
    let reference: HashMap<String, Tensor> =
        Tensor::read_safetensors(d.join("reference.safetensors"))
            .unwrap()
            .into_iter()
            .collect();

    for stem in ["zip", "legacy", "wrapped", "half", "released"] {
        let file = d.join(format!("{stem}.pth"));
        let loaded = read_weights(&file).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let prefix = format!("{stem}.");
        let want: HashMap<&str, &Tensor> = reference
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k, v)))
            .collect();
        assert!(
            want.contains_key("fc.weight"),
            "{stem}: the reference has fc"
        );
        let mut expected: Vec<&str> = want.keys().copied().filter(|k| !dropped_key(k)).collect();
        let mut got: Vec<&str> = loaded.keys().map(String::as_str).collect();
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected, "{stem}: names");
        for (name, t) in &loaded {
            let r = want[name.as_str()];
            assert_eq!(t.kind(), r.kind(), "{stem} {name}: dtype");
            assert_eq!(t.size(), r.size(), "{stem} {name}: shape");
            assert!(t.equal(r), "{stem} {name}: values differ from torch.load's");
        }
        eprintln!("{stem}.pth: {} tensors equal torch.load's", loaded.len());
        // The views of the wrapped checkpoint came back as PyTorch built them.
        if stem == "wrapped" {
            let w = Vec::<f32>::try_from(loaded["proj.weight"].flatten(0, -1)).unwrap();
            assert_eq!(&w[..4], &[0.0, 6.0, 12.0, 18.0], "transposed view");
            let b = Vec::<f32>::try_from(&loaded["proj.bias"]).unwrap();
            assert_eq!(b, [13.0, 14.0, 15.0, 16.0], "slice at an offset");
        }

        // --init's loader finds a whole resnet18 backbone in every layout.
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Classifier::new(&vs.root(), "resnet18", 5, 32).unwrap();
        let report =
            checkpoint::load_init(&vs, &file, false).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert!(
            report.missing.is_empty() && report.shape_mismatch.is_empty(),
            "{stem}"
        );
        let vars = vs.variables();
        let conv1 = &vars["backbone.conv1.weight"];
        assert!(
            conv1.equal(&want["conv1.weight"].to_kind(conv1.kind())),
            "{stem}: conv1 loaded"
        );
    }

    image_folder(&d.join("data"));
    for (file, expect) in [
        ("unmappable.pth", "`encoder.bn1.bias`"),
        ("list.pth", "holds a list"),
    ] {
        let o = common::synthgen(d)
            .args(["train", "--train"])
            .arg(d.join("data"))
            .args(["--arch", "resnet18", "--image-size", "32", "--iters", "1"])
            .args(["--batch-size", "2", "--device", "cpu", "--init"])
            .arg(d.join(file))
            .arg("--out")
            .arg(d.join("refused"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(o.status.code(), Some(2), "{file}: {}", common::text(&o));
        assert_eq!(lines.len(), 1, "{file}: one line: {}", common::text(&o));
        assert!(
            lines[0].contains(file) && lines[0].contains(expect),
            "{}",
            lines[0]
        );
    }
}

/// README.md's ImageNet example, as printed, with `weights=None` for the download.
#[test]
fn readme_imagenet_example_works_as_printed() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("torch.save(torchvision.models.resnet50("))
        .expect("README.md shows how to save ResNet-50 weights");
    let save = lines[at];
    let train = lines[at + 1];
    assert!(
        save.contains("'r50.pth'") && train.contains("--init r50.pth"),
        "{save}\n{train}"
    );
    let snippet = save
        .split_once("-c \"")
        .and_then(|(_, rest)| rest.rsplit_once('"'))
        .map(|(code, _)| code.replace("weights='IMAGENET1K_V1'", "weights=None"))
        .expect("a python -c line");
    assert!(snippet.contains("weights=None"), "{snippet}");

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    torch_python(&["-c", &snippet], d);
    image_folder(&d.join("out/chairs"));
    // The printed command, plus what makes it small: size, batch, one step, the CPU.
    let args: Vec<&str> = train
        .split_whitespace()
        .skip_while(|w| *w != "train")
        .collect();
    let o = common::synthgen(d)
        .current_dir(d)
        .args(&args)
        .args(["--image-size", "32", "--batch-size", "2", "--iters", "1"])
        .args(["--device", "cpu"])
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{train}: {}", common::text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("loaded 265 tensors"),
        "{}",
        common::text(&o)
    );
}
