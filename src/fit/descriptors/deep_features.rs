//! Features from a trained synthgen checkpoint: the backbone's pooled penultimate
//! activations (what the classifier head sees), with images prepared exactly as the
//! trainer's evaluation transform does (shorter side to S * 256 / 224, centre crop S,
//! ImageNet normalisation). The architecture and S come from the checkpoint's JSON sidecar.
use crate::fit::descriptors::ImageItem;
use crate::nn::checkpoint::{self, CheckpointMeta};
use crate::nn::data::Sample;
use crate::nn::device::{self, DeviceChoice};
use crate::nn::loader::{Loader, LoaderConfig};
use crate::nn::models::Classifier;
use crate::nn::TrainError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{nn, Device, Kind, Tensor};

/// Images per forward pass.
const BATCH: usize = 64;

/// A loaded checkpoint, ready to turn images into feature vectors.
#[derive(Debug)]
pub struct DeepFeatures {
    /// Keeps the model's variables alive.
    _vs: nn::VarStore,
    model: Classifier,
    device: Device,
    pub file: PathBuf,
    pub arch: String,
    pub image_size: u32,
    pub dim: usize,
}

/// The (tensors, sidecar) pair of a checkpoint given as either file or as a run folder
/// (which means its `checkpoint-last`).
pub fn checkpoint_files(given: &Path) -> (PathBuf, PathBuf) {
    if given.is_dir() {
        return checkpoint::paths(given, "checkpoint-last");
    }
    match given.extension().and_then(|e| e.to_str()) {
        Some("json") => (given.with_extension("safetensors"), given.to_path_buf()),
        _ => (given.to_path_buf(), given.with_extension("json")),
    }
}

impl DeepFeatures {
    /// Loads `file` (a `.safetensors` checkpoint with its `.json` sidecar, or a run folder)
    /// onto the device `choice` resolves to. Every model variable must be in the file.
    pub fn load(file: &Path, choice: DeviceChoice) -> Result<Self, TrainError> {
        let (tensors_file, meta_file) = checkpoint_files(file);
        if !tensors_file.is_file() {
            return Err(TrainError::BadCheckpoint {
                path: tensors_file,
                why: "the file does not exist; pass --checkpoint <run>/checkpoint-last.safetensors of a `synthgen train` run".into(),
            });
        }
        if !meta_file.is_file() {
            return Err(TrainError::BadCheckpoint {
                path: tensors_file,
                why: format!(
                    "its sidecar {} (architecture, classes, image size) is missing; keep the .json next to the .safetensors",
                    meta_file.display()
                ),
            });
        }
        let meta: CheckpointMeta = checkpoint::read_meta(&meta_file)?;
        let device = device::select(choice).map_err(TrainError::Device)?;
        device::announce();
        let vs = nn::VarStore::new(device);
        let model = Classifier::new(
            &vs.root(),
            &meta.arch,
            meta.classes.len().max(1) as i64,
            meta.image_size as i64,
        )?;
        let tensors = checkpoint::read_tensors(&tensors_file)?;
        checkpoint::load_model_exact(&vs, &tensors, &tensors_file)?;
        let dim = model.backbone.feature_dim() as usize;
        Ok(DeepFeatures {
            _vs: vs,
            model,
            device,
            file: tensors_file,
            arch: meta.arch,
            image_size: meta.image_size,
            dim,
        })
    }

    /// Features of every item, in order; images the loader cannot decode come back as
    /// `None` (the caller counts them, as it does for the descriptors).
    pub fn extract(&self, items: &[ImageItem]) -> Result<Vec<Option<Vec<f32>>>, TrainError> {
        let samples: Vec<Sample> = items
            .iter()
            .map(|i| Sample::file(i.path.clone(), 0))
            .collect();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let loader = Loader::new(
            Arc::new(samples),
            LoaderConfig::evaluation(self.image_size, BATCH, workers),
        );
        let s = self.image_size as i64;
        let mut out: Vec<Option<Vec<f32>>> = vec![None; items.len()];
        for batch in loader {
            if batch.is_empty() {
                continue;
            }
            let xs = Tensor::from_slice(&batch.images)
                .view([batch.len() as i64, 3, s, s])
                .to_device(self.device);
            let f = tch::no_grad(|| self.model.backbone.features(&xs, false))
                .to_kind(Kind::Float)
                .to_device(Device::Cpu)
                .contiguous();
            let flat: Vec<f32> = Vec::try_from(&f.view([-1]))?;
            for (row, &i) in flat.chunks_exact(self.dim).zip(&batch.samples) {
                out[i] = Some(row.to_vec());
            }
        }
        Ok(out)
    }
}
