//! Evaluation of the model a step trains (accuracy and per-class recall on labelled sets),
//! and the eval-mode passes over whole training sets that per-epoch hooks and the t-SNE
//! picture use.
use std::path::Path;
use std::sync::Arc;

use tch::{Device, Tensor};

use super::step::{EvalModel, FullPass, PassOutput};
use crate::dataset::predictions::{self, Prediction};
use crate::nn::data::{ImageSet, Sample};
use crate::nn::loader::{Batch, Loader, LoaderConfig};
use crate::nn::metrics::EvalReport;
use crate::nn::shards::{PassNames, ShardStream};
use crate::nn::TrainError;

/// Where tensors go and how evaluation batches are read.
pub struct EvalCtx<'a> {
    pub device: Device,
    pub image_size: u32,
    pub batch_size: usize,
    pub workers: usize,
    pub classes: &'a [String],
    /// Log each evaluation at info level (supervised runs evaluate ~10 times; adaptation
    /// runs 200 times, at debug level).
    pub announce: bool,
}

impl EvalCtx<'_> {
    /// A loader batch as (images N x 3 x S x S, labels) on the run's device.
    pub fn to_device(&self, batch: &Batch) -> (Tensor, Tensor) {
        let s = self.image_size as i64;
        let xs = Tensor::from_slice(&batch.images)
            .view([batch.len() as i64, 3, s, s])
            .to_device(self.device);
        let ys = Tensor::from_slice(&batch.labels).to_device(self.device);
        (xs, ys)
    }

    fn sequential(&self, samples: Vec<Sample>) -> Loader {
        Loader::new(
            Arc::new(samples),
            LoaderConfig::evaluation(self.image_size, self.batch_size, self.workers),
        )
    }

    /// Accuracy and per-class recall of `model` on `set` at `step`.
    pub fn evaluate(
        &self,
        model: &dyn EvalModel,
        name: &str,
        set: &ImageSet,
        step: u64,
    ) -> Result<EvalReport, TrainError> {
        Ok(self.evaluate_with_predictions(model, name, set, step)?.0)
    }

    /// `evaluate`, and the prediction of every evaluated image (path relative to the set's
    /// root, label, predicted class, its softmax probability), in the set's order.
    pub fn evaluate_with_predictions(
        &self,
        model: &dyn EvalModel,
        name: &str,
        set: &ImageSet,
        step: u64,
    ) -> Result<(EvalReport, Vec<Prediction>), TrainError> {
        let (batches, names) = self.batches_of(set);
        let mut rows = Vec::with_capacity(set.len());
        let mut failed: Option<tch::TchError> = None;
        let r = EvalReport::over_batches(name, step, self.classes.len(), batches, |batch| {
            let scores = tch::no_grad(|| model.predict(&self.to_device(batch).0));
            let (conf, pred) = scores
                .to_kind(tch::Kind::Float)
                .softmax(-1, tch::Kind::Float)
                .max_dim(-1, false);
            let read = Vec::<f32>::try_from(&conf.to_device(Device::Cpu))
                .and_then(|c| Ok((c, Vec::<i64>::try_from(&pred.to_device(Device::Cpu))?)));
            match read {
                Ok((conf, pred)) => {
                    for ((&i, &label), (p, c)) in batch
                        .samples
                        .iter()
                        .zip(&batch.labels)
                        .zip(pred.into_iter().zip(conf))
                    {
                        let (path, id) = names.name(set, i);
                        rows.push(Prediction {
                            path,
                            id,
                            label: label as usize,
                            predicted: p as usize,
                            confidence: c,
                        });
                    }
                }
                Err(e) => failed = Some(e),
            }
            scores
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        let (acc, mean) = (100.0 * r.acc, 100.0 * r.mean);
        if self.announce {
            tracing::info!("step {step}: {name} Acc {acc:.2} Mean {mean:.2}");
        } else {
            tracing::debug!("step {step}: {name} Acc {acc:.2} Mean {mean:.2}");
        }
        Ok((r, rows))
    }

    /// The evaluation batches of `set` in order: a loader over its images, or one streamed
    /// pass over its shards.
    fn batches_of(&self, set: &ImageSet) -> (Box<dyn Iterator<Item = Batch>>, Names) {
        match &set.shards {
            Some(shards) => {
                let (pass, names) = ShardStream::evaluation(
                    shards.clone(),
                    self.image_size,
                    self.batch_size,
                    self.workers,
                );
                (Box::new(pass), Names::Shards(names))
            }
            None => {
                // A list file's images are relative to its folder.
                let root = if set.source.is_file() {
                    set.source
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default()
                } else {
                    set.source.clone()
                };
                (
                    Box::new(self.sequential(set.samples.clone())),
                    Names::Files(root),
                )
            }
        }
    }

    /// `f` over every image of `samples` in order (eval mode, eval transform).
    pub fn full_pass(
        &self,
        samples: Vec<Sample>,
        f: &mut dyn FnMut(&Tensor) -> Vec<Tensor>,
    ) -> Result<PassOutput, TrainError> {
        let mut outputs: Vec<Vec<Tensor>> = Vec::new();
        let mut labels: Vec<i64> = Vec::new();
        let mut index = Vec::new();
        for batch in self.sequential(samples) {
            if batch.is_empty() {
                continue;
            }
            let (xs, _) = self.to_device(&batch);
            for (i, o) in f(&xs).into_iter().enumerate() {
                if outputs.len() <= i {
                    outputs.push(Vec::new());
                }
                outputs[i].push(o);
            }
            labels.extend(&batch.labels);
            index.extend(batch.samples.iter().map(|&i| i as i64));
        }
        Ok(PassOutput {
            outputs: outputs.iter().map(|o| Tensor::cat(o, 0)).collect(),
            labels: Tensor::from_slice(&labels).to_device(self.device),
            index: Tensor::from_slice(&index).to_device(self.device),
        })
    }

    /// Features (row-major, n x d) and labels of `samples`.
    pub fn features(
        &self,
        model: &dyn EvalModel,
        samples: Vec<Sample>,
    ) -> Result<(Vec<f32>, usize, Vec<i64>), TrainError> {
        let mut feats = Vec::new();
        let mut labels = Vec::new();
        let mut dim = 0;
        for batch in self.sequential(samples) {
            if batch.is_empty() {
                continue;
            }
            let (xs, _) = self.to_device(&batch);
            let f = tch::no_grad(|| model.features(&xs))
                .to_kind(tch::Kind::Float)
                .to_device(Device::Cpu)
                .contiguous();
            dim = f.size()[1] as usize;
            let v: Vec<f32> = Vec::try_from(&f.view([-1]))?;
            feats.extend(v);
            labels.extend(&batch.labels);
        }
        Ok((feats, dim, labels))
    }
}

/// How an evaluated sample is named in the predictions: a file relative to the set's root, or
/// `<shard file>#<key>` from a shard pass.
enum Names {
    Files(std::path::PathBuf),
    Shards(PassNames),
}

impl Names {
    /// (path, id) of sample `i` of `set`.
    fn name(&self, set: &ImageSet, i: usize) -> (String, String) {
        match self {
            Names::Files(root) => {
                let sample = &set.samples[i];
                let path = &sample.path;
                if sample.member.is_some() {
                    // A shard list's sample is named `<shard file>#<key>`, as a shard pass names it.
                    return shard_name(path.to_string_lossy().into_owned());
                }
                (
                    predictions::relative_path(root, path),
                    path.file_stem()
                        .map_or(String::new(), |s| s.to_string_lossy().into_owned()),
                )
            }
            Names::Shards(names) => shard_name(names.lock().expect("names")[i].clone()),
        }
    }
}

/// (path, id) of a shard sample named `<shard file>#<key>`: the id is the key.
fn shard_name(name: String) -> (String, String) {
    let id = name.split_once('#').map_or(name.clone(), |(_, k)| k.into());
    (name, id)
}

/// The full passes over the training sets (source and target samples) with the eval transform.
pub struct SetPass<'a> {
    pub ctx: &'a EvalCtx<'a>,
    pub source: &'a [Sample],
    pub target: &'a [Sample],
}

impl FullPass for SetPass<'_> {
    fn source(&self, f: &mut dyn FnMut(&Tensor) -> Vec<Tensor>) -> Result<PassOutput, TrainError> {
        self.ctx.full_pass(self.source.to_vec(), f)
    }

    fn target(&self, f: &mut dyn FnMut(&Tensor) -> Vec<Tensor>) -> Result<PassOutput, TrainError> {
        self.ctx.full_pass(self.target.to_vec(), f)
    }
}
