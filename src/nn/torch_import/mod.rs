//! Reading `--init` weight files: safetensors (synthgen checkpoints, converted weights) and the
//! files `torch.save` writes, read by synthgen's own reader of the tensor-and-dict subset of
//! pickle (`pickle`, `archive`; never Python, and libtorch's own loader refuses the
//! `OrderedDict` that `model.state_dict()` returns):
//! - `torch.save(model.state_dict(), "x.pth")`, zip format (PyTorch >= 1.6) or legacy
//!   (`_use_new_zipfile_serialization=False`, older downloads);
//! - training checkpoints that wrap the state dict under `state_dict`, `model_state_dict`,
//!   `model` or `net` (other entries such as `epoch` or `optimizer` are read past), with or
//!   without DataParallel's `module.` or torch.compile's `_orig_mod.` prefixes;
//! - the layer names of the paper's released code (`features.0.` ... `features.7.`: torchvision's
//!   ResNet children in an `nn.Sequential`), renamed by [`RENAMES`].
//!
//! torchvision names already match synthgen's backbone names inside `backbone.`; the released
//! training code drops every key containing `fc` (the ImageNet classifier); this drops every key
//! with a name segment `fc`, the same keys of any ResNet state dict, while keeping the `mlp.fc1`
//! layers of timm-named ViT/Mixer weights.
mod archive;
pub mod pickle;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use tch::Tensor;

use super::error::TrainError;
use pickle::{TensorRef, Value};

/// How an `--init` file is stored, decided from its first bytes rather than its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// `torch.save` since PyTorch 1.6: a zip archive holding `data.pkl` and the storages.
    TorchZip,
    /// `torch.save(..., _use_new_zipfile_serialization=False)`: a bare pickle stream.
    TorchLegacy,
    Safetensors,
}

/// Sniffs the format from the magic bytes.
pub fn detect(path: &Path) -> Result<WeightFormat, TrainError> {
    if !path.is_file() {
        return Err(bad(path, "the file does not exist"));
    }
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| TrainError::io(path, e))?;
    Ok(match &head[..n] {
        [b'P', b'K', 3, 4] => WeightFormat::TorchZip,
        [0x80, 2..=5, ..] => WeightFormat::TorchLegacy,
        _ => WeightFormat::Safetensors,
    })
}

/// The keys of a training checkpoint under which the state dict is looked for, in this order.
pub const WRAPPER_KEYS: [&str; 4] = ["state_dict", "model_state_dict", "model", "net"];

/// Prefixes that wrappers add to every key: DataParallel / DistributedDataParallel's `module.`
/// and torch.compile's `_orig_mod.`.
pub const WRAPPER_PREFIXES: [&str; 2] = ["module.", "_orig_mod."];

/// Layer names that differ from torchvision's, mapped to torchvision's (synthgen's backbone
/// names). The paper's released code (`ResBase` in each `domain_adaptation/*/models/resnet.py`)
/// keeps torchvision's ResNet children without `fc` in `self.features = nn.Sequential(...)`:
/// 0 conv1, 1 bn1, 2 relu, 3 maxpool, 4-7 layer1-4, 8 avgpool. Applied only to a file with
/// no torchvision-named `conv1.weight`.
pub const RENAMES: [(&str, &str); 6] = [
    ("features.0.", "conv1."),
    ("features.1.", "bn1."),
    ("features.4.", "layer1."),
    ("features.5.", "layer2."),
    ("features.6.", "layer3."),
    ("features.7.", "layer4."),
];

/// Whether a key of a PyTorch state dict is dropped on import: the classifier (`fc`, as the
/// released code does) and batch norm's step counter, which synthgen does not keep.
pub fn dropped_key(name: &str) -> bool {
    name.split('.').any(|seg| seg == "fc") || name.ends_with("num_batches_tracked")
}

/// Reads the named tensors of an `--init` file. PyTorch files give their state dict (found
/// inside a checkpoint, prefixes stripped, released names mapped, `fc` dropped); safetensors
/// files are returned as they are.
pub fn read_weights(path: &Path) -> Result<HashMap<String, Tensor>, TrainError> {
    let (root, mut storages) = match detect(path)? {
        WeightFormat::Safetensors => {
            return Tensor::read_safetensors(path)
                .map(|v| v.into_iter().collect())
                .map_err(|e| {
                    bad(
                        path,
                        &format!(
                            "it is neither a safetensors file nor a torch.save file ({})",
                            first_line(&e.to_string())
                        ),
                    )
                })
        }
        WeightFormat::TorchZip => archive::open_zip(path),
        WeightFormat::TorchLegacy => archive::open_legacy(path),
    }
    .map_err(|why| bad(path, &why))?;
    let (found, entries) = find_state_dict(&root).map_err(|why| bad(path, &why))?;
    let names = torch_names(entries.iter().map(|(k, _)| k.as_str()));
    let mut out = HashMap::new();
    for ((_, t), name) in entries.iter().zip(names) {
        if dropped_key(&name) {
            continue;
        }
        let tensor = storages
            .tensor(t)
            .map_err(|why| bad(path, &format!("{why} (tensor `{name}` of {found})")))?;
        out.insert(name, tensor);
    }
    Ok(out)
}

/// The file's names as synthgen looks them up: wrapper prefixes stripped, released names mapped.
pub fn torch_names<'a>(keys: impl Iterator<Item = &'a str> + Clone) -> Vec<String> {
    let stripped: Vec<&str> = keys
        .map(|k| {
            let mut k = k;
            while let Some(rest) = WRAPPER_PREFIXES.iter().find_map(|p| k.strip_prefix(p)) {
                k = rest;
            }
            k
        })
        .collect();
    let torchvision = stripped.contains(&"conv1.weight");
    stripped
        .into_iter()
        .map(|k| {
            let renamed = (!torchvision)
                .then(|| {
                    RENAMES.iter().find_map(|(from, to)| {
                        k.strip_prefix(from).map(|rest| format!("{to}{rest}"))
                    })
                })
                .flatten();
            renamed.unwrap_or_else(|| k.to_string())
        })
        .collect()
}

/// The state dict in a loaded pickle: the object itself when it is a dict with tensors, else
/// the first of [`WRAPPER_KEYS`] (searched two levels deep) that holds one. Returns where it was
/// found and its (name, tensor) entries.
fn find_state_dict(root: &Value) -> Result<(String, Vec<(String, TensorRef)>), String> {
    fn tensors(v: &Value) -> Vec<(String, TensorRef)> {
        match v {
            Value::Dict(d) => d
                .borrow()
                .iter()
                .filter_map(|(k, v)| match (k, v) {
                    (Value::Str(k), Value::Tensor(t)) => Some((k.clone(), t.clone())),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
    fn entry(v: &Value, key: &str) -> Option<Value> {
        match v {
            Value::Dict(d) => d.borrow().iter().find_map(|(k, v)| match k {
                Value::Str(k) if k == key => Some(v.clone()),
                _ => None,
            }),
            _ => None,
        }
    }
    fn search(v: &Value, path: &str, depth: usize) -> Option<(String, Vec<(String, TensorRef)>)> {
        for key in WRAPPER_KEYS {
            if let Some(inner) = entry(v, key) {
                let here = format!("{path}[`{key}`]");
                let found = tensors(&inner);
                if !found.is_empty() {
                    return Some((format!("its state dict {here}"), found));
                }
                if depth < 2 {
                    if let Some(f) = search(&inner, &here, depth + 1) {
                        return Some(f);
                    }
                }
            }
        }
        None
    }
    let top = tensors(root);
    if !top.is_empty() {
        return Ok(("its state dict".into(), top));
    }
    if let Some(found) = search(root, "", 0) {
        return Ok(found);
    }
    let what = match root {
        Value::Dict(d) => {
            let keys: Vec<String> = d
                .borrow()
                .iter()
                .map(|(k, _)| match k {
                    Value::Str(s) => format!("`{s}`"),
                    k => k.kind(),
                })
                .take(8)
                .collect();
            if keys.is_empty() {
                "an empty dict".to_string()
            } else {
                format!("a dict with keys {} and no tensors", keys.join(", "))
            }
        }
        v => v.kind(),
    };
    Err(format!(
        "expected a state dict (names -> tensors) written by torch.save(model.state_dict(), path), or a checkpoint holding one under {}, but it holds {what}",
        WRAPPER_KEYS.map(|k| format!("`{k}`")).join(", ")
    ))
}

fn bad(path: &Path, why: &str) -> TrainError {
    TrainError::BadCheckpoint {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// libtorch's messages carry a C++ backtrace after the first line.
fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped_and_released_names_mapped() {
        let keys = [
            "module.features.0.weight",
            "module.features.4.0.conv1.weight",
            "module.features.7.1.bn2.running_var",
            "module.fc.bias",
            "module.domain_fc.weight",
        ];
        assert_eq!(
            torch_names(keys.iter().copied()),
            [
                "conv1.weight",
                "layer1.0.conv1.weight",
                "layer4.1.bn2.running_var",
                "fc.bias",
                "domain_fc.weight"
            ]
        );
        // torchvision names are left alone, `features.` included (no renaming then).
        let keys = ["_orig_mod.conv1.weight", "features.0.weight"];
        assert_eq!(
            torch_names(keys.iter().copied()),
            ["conv1.weight", "features.0.weight"]
        );
    }
}
