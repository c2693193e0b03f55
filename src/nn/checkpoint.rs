//! Checkpoints: one safetensors file with the model variables (`model.<name>`, batch-norm
//! statistics included), the optimizer buffers (`optim.<buffer>.<name>`) and an adaptation
//! method's run state (`method.<method>.<what>`: centroids, pseudo-labels), plus a JSON
//! sidecar with the step and run identity. Randomness needs no saved state: data order and
//! augmentation are keyed by (seed, epoch, sample) and the torch generator is reseeded from
//! (seed, step) before every step, so (seed, step) is the whole RNG state.
//! Files are written under a temporary name and renamed.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use super::error::TrainError;
use super::metrics::BestTracker;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Completed optimisation steps.
    pub step: u64,
    pub total_steps: u64,
    pub arch: String,
    pub classes: Vec<String>,
    pub image_size: u32,
    pub optimizer: String,
    pub rng: RngState,
    pub images_seen: u64,
    pub skipped_images: u64,
    pub best: HashMap<String, BestTracker>,
    /// Ranks of the data-parallel run that wrote it (1: one process); a resume needs as many.
    #[serde(default = "one_rank")]
    pub world_size: usize,
}

fn one_rank() -> usize {
    1
}

/// Everything the run's randomness depends on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RngState {
    pub seed: u64,
    /// The torch generator is reseeded with `torch_seed(seed, step)` before step `step`.
    pub next_step: u64,
}

/// The torch seed for 0-based step `step` (splitmix64 of the pair).
pub fn torch_seed(seed: u64, step: u64) -> i64 {
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

pub fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.safetensors")),
        dir.join(format!("{name}.json")),
    )
}

/// Writes `<dir>/<name>.safetensors` and `<dir>/<name>.json`.
pub fn save(
    dir: &Path,
    name: &str,
    vs: &nn::VarStore,
    state: Vec<(String, Tensor)>,
    meta: &CheckpointMeta,
) -> Result<(), TrainError> {
    let (tensors_path, meta_path) = paths(dir, name);
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, t)| (format!("model.{k}"), t.to_device(Device::Cpu).contiguous()))
        .collect();
    // Optimizer buffers (`optim.*`) and method state (`method.*`).
    named.extend(
        state
            .into_iter()
            .map(|(k, t)| (k, t.to_device(Device::Cpu).contiguous())),
    );
    let json = serde_json::to_string_pretty(meta).map_err(|e| TrainError::BadCheckpoint {
        path: meta_path.clone(),
        why: e.to_string(),
    })?;
    // WHY the JSON also inside: the tensors file is renamed into place in one step, so a run
    // killed between the two renames still resumes from a consistent (tensors, meta) pair.
    named.push((META_KEY.into(), Tensor::from_slice(json.as_bytes())));
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let tmp = tensors_path.with_extension("safetensors.tmp");
    Tensor::write_safetensors(&named, &tmp)?;
    std::fs::rename(&tmp, &tensors_path).map_err(|e| TrainError::io(&tensors_path, e))?;
    let tmp = meta_path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, &meta_path).map_err(|e| TrainError::io(&meta_path, e))?;
    Ok(())
}

/// The key under which `save` stores the metadata JSON (bytes) in the tensors file.
pub const META_KEY: &str = "meta.json";

/// The metadata stored inside a tensors file by `save` (None for older checkpoints).
pub fn meta_in_tensors(
    tensors: &HashMap<String, Tensor>,
    file: &Path,
) -> Result<Option<CheckpointMeta>, TrainError> {
    let Some(t) = tensors.get(META_KEY) else {
        return Ok(None);
    };
    let bytes: Vec<u8> = Vec::try_from(t).map_err(|e| TrainError::BadCheckpoint {
        path: file.to_path_buf(),
        why: format!("its `{META_KEY}` is not a byte string ({e})"),
    })?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| TrainError::BadCheckpoint {
            path: file.to_path_buf(),
            why: format!("its `{META_KEY}` does not parse ({e})"),
        })
}

pub fn read_meta(path: &Path) -> Result<CheckpointMeta, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::BadCheckpoint {
        path: path.to_path_buf(),
        why: format!("its JSON does not parse ({e})"),
    })
}

pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>, TrainError> {
    if !path.is_file() {
        return Err(TrainError::BadCheckpoint {
            path: path.to_path_buf(),
            why: "the file does not exist".into(),
        });
    }
    Ok(Tensor::read_safetensors(path)
        .map_err(|e| TrainError::BadCheckpoint {
            path: path.to_path_buf(),
            why: format!("it is not a readable safetensors file ({e})"),
        })?
        .into_iter()
        .collect())
}

/// Restores every model variable from `model.<name>`; any missing or misshapen one is an error.
pub fn load_model_exact(
    vs: &nn::VarStore,
    tensors: &HashMap<String, Tensor>,
    file: &Path,
) -> Result<(), TrainError> {
    for (name, mut var) in vs.variables() {
        let key = format!("model.{name}");
        let src = tensors.get(&key).ok_or_else(|| TrainError::BadCheckpoint {
            path: file.to_path_buf(),
            why: format!("it has no `{key}`; was it written for another --arch?"),
        })?;
        if src.size() != var.size() {
            return Err(TrainError::BadCheckpoint {
                path: file.to_path_buf(),
                why: format!(
                    "`{key}` has shape {:?} but the model expects {:?}",
                    src.size(),
                    var.size()
                ),
            });
        }
        tch::no_grad(|| var.copy_(src));
    }
    Ok(())
}

/// What `load_init` matched.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct InitReport {
    pub loaded: Vec<String>,
    /// Variables outside the backbone (heads, discriminators, centres): never loaded, as the
    /// released code drops every `fc` key of a pre-trained state dict.
    #[serde(default)]
    pub dropped: Vec<String>,
    pub shape_mismatch: Vec<String>,
    pub missing: Vec<String>,
}

/// Loads pretrained weights by name for --init from safetensors or a `torch.save` state dict
/// (see `torch_import`). A variable `backbone.x` is looked up as `model.backbone.x`,
/// `backbone.x` and `x` (torchvision/timm state dicts). Only the backbone is loaded: the released
/// code drops every `fc` key of a pre-trained state dict, so heads and every other method part
/// start fresh. Every backbone variable must be found with its shape: a partial backbone means
/// another architecture. Optimizer entries are ignored. `keep_head` (train's
/// `--init-keep-head`, off by default) also loads a synthgen `head.*` of the same shape, for
/// fine-tuning on the same classes.
pub fn load_init(
    vs: &nn::VarStore,
    file: &Path,
    keep_head: bool,
) -> Result<InitReport, TrainError> {
    let tensors = super::torch_import::read_weights(file)?;
    let mut used: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut report = InitReport::default();
    let mut names: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut var) in names {
        if !name.starts_with("backbone.") {
            let head = [format!("model.{name}"), name.clone()];
            match head.iter().find_map(|k| tensors.get(k)) {
                Some(src) if keep_head && name.starts_with("head.") && src.size() == var.size() => {
                    tch::no_grad(|| var.copy_(src));
                    report.loaded.push(name);
                }
                _ => report.dropped.push(name),
            }
            continue;
        }
        let mut keys = vec![format!("model.{name}"), name.clone()];
        if let Some(bare) = name.strip_prefix("backbone.") {
            keys.push(bare.to_string());
        }
        let found = keys.iter().find_map(|k| tensors.get_key_value(k));
        if let Some((k, _)) = found {
            used.insert(k.as_str());
        }
        match found.map(|(_, t)| t) {
            Some(src) if src.size() == var.size() => {
                tch::no_grad(|| var.copy_(src));
                report.loaded.push(name);
            }
            Some(_) => report.shape_mismatch.push(name),
            None => report.missing.push(name),
        }
    }
    let backbone = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .filter(|n| n.starts_with("backbone."))
            .cloned()
            .collect()
    };
    let (missing, misshapen) = (backbone(&report.missing), backbone(&report.shape_mismatch));
    let loaded = backbone(&report.loaded).len();
    if loaded == 0 || !missing.is_empty() || !misshapen.is_empty() {
        let mut examples: Vec<String> = missing
            .iter()
            .map(|n| format!("`{n}` missing"))
            .chain(
                misshapen
                    .iter()
                    .map(|n| format!("`{n}` shaped differently")),
            )
            .take(3)
            .collect();
        if loaded == 0 {
            examples.push("none matched".into());
        }
        return Err(TrainError::BadCheckpoint {
            path: file.to_path_buf(),
            why: format!(
                "expected the backbone of this --arch (names like `model.backbone.conv1.weight` or torchvision's `conv1.weight`, same shapes), but {} of its {} backbone tensors do not fit ({}){}; it looks like a state dict of another architecture",
                missing.len() + misshapen.len(),
                loaded + missing.len() + misshapen.len(),
                examples.join(", "),
                unmapped_keys(tensors.keys().map(String::as_str), &used)
            ),
        });
    }
    Ok(report)
}

/// `; the file's keys that map to none: `a`, `b`, `c` (N in all)`, or nothing when every key of
/// the file was looked up.
fn unmapped_keys<'a>(
    keys: impl Iterator<Item = &'a str>,
    used: &std::collections::HashSet<&str>,
) -> String {
    let mut unmapped: Vec<&str> = keys
        .filter(|k| !used.contains(k) && !synthgen_extra(k))
        .collect();
    if unmapped.is_empty() {
        return String::new();
    }
    unmapped.sort_unstable();
    let shown: Vec<String> = unmapped.iter().take(4).map(|k| format!("`{k}`")).collect();
    format!(
        "; the file's keys that map to none of them: {} ({} in all)",
        shown.join(", "),
        unmapped.len()
    )
}

/// The parts of a synthgen checkpoint that `--init` never loads: optimizer buffers, method
/// state and the model's non-backbone variables (heads, discriminators).
fn synthgen_extra(key: &str) -> bool {
    key.starts_with("optim.")
        || key.starts_with("method.")
        || (key.starts_with("model.") && !key.starts_with("model.backbone."))
}
