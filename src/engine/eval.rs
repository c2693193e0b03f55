//! Evaluation of the model a step trains (accuracy and per-class recall on labelled sets),
//! and the eval-mode passes over whole training sets that per-epoch hooks and the t-SNE
//! picture use.
use std::sync::Arc;

use tch::{Device, Tensor};

use super::step::{EvalModel, FullPass, PassOutput};
use crate::nn::data::{ImageSet, Sample};
use crate::nn::loader::{Batch, Loader, LoaderConfig};
use crate::nn::metrics::EvalReport;
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
        let r = EvalReport::over_batches(
            name,
            step,
            self.classes.len(),
            self.sequential(set.samples.clone()),
            |batch| tch::no_grad(|| model.predict(&self.to_device(batch).0)),
        )?;
        let (acc, mean) = (100.0 * r.acc, 100.0 * r.mean);
        if self.announce {
            tracing::info!("step {step}: {name} Acc {acc:.2} Mean {mean:.2}");
        } else {
            tracing::debug!("step {step}: {name} Acc {acc:.2} Mean {mean:.2}");
        }
        Ok(r)
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
