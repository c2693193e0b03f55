//! Reading `--init` weight files: safetensors (synthgen checkpoints, converted weights) and
//! state dicts written by PyTorch's `torch.save(model.state_dict(), "x.pth")` (the zip format
//! with a `data.pkl`; libtorch's own parameter loader reads it, so no unpickler lives here).
//!
//! torchvision names already match synthgen's backbone names inside `backbone.`; the released
//! training code drops every key containing `fc` (the ImageNet classifier); this drops every key
//! with a name segment `fc`, the same keys of any ResNet state dict, while keeping the `mlp.fc1`
//! layers of timm-named ViT/Mixer weights.
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use tch::Tensor;

use super::error::TrainError;

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

/// Whether a key of a PyTorch state dict is dropped on import: the classifier (`fc`, as the
/// released code does) and batch norm's step counter, which synthgen does not keep.
pub fn dropped_key(name: &str) -> bool {
    name.split('.').any(|seg| seg == "fc") || name.ends_with("num_batches_tracked")
}

/// Reads the named tensors of an `--init` file. PyTorch state dicts lose their `fc` keys and
/// a DataParallel `module.` prefix; safetensors files are returned as they are.
pub fn read_weights(path: &Path) -> Result<HashMap<String, Tensor>, TrainError> {
    match detect(path)? {
        WeightFormat::Safetensors => Tensor::read_safetensors(path)
            .map(|v| v.into_iter().collect())
            .map_err(|e| {
                bad(
                    path,
                    &format!(
                        "it is neither a safetensors file nor a torch.save zip ({})",
                        first_line(&e.to_string())
                    ),
                )
            }),
        WeightFormat::TorchLegacy => Err(bad(
            path,
            "it is in PyTorch's legacy (pre-1.6) format; re-save it in Python with torch.save(torch.load(path), path) to get the zip format",
        )),
        WeightFormat::TorchZip => {
            let pairs = Tensor::loadz_multi(path).map_err(|e| {
                bad(
                    path,
                    &format!(
                        "expected a state dict (names -> tensors) written by torch.save(model.state_dict(), path), but libtorch could not read one ({}); a training checkpoint that wraps the state dict must be re-saved as its state dict alone",
                        first_line(&e.to_string())
                    ),
                )
            })?;
            if pairs.is_empty() {
                return Err(bad(path, "its state dict holds no tensors"));
            }
            Ok(pairs
                .into_iter()
                .map(|(k, t)| (k.strip_prefix("module.").unwrap_or(&k).to_string(), t))
                .filter(|(k, _)| !dropped_key(k))
                .collect())
        }
    }
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
