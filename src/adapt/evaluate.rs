//! Evaluation of an adapted model: accuracy and per-class recall on the labelled target sets,
//! and the t-SNE picture of source and target features.
use std::path::PathBuf;
use std::sync::Arc;

use tch::{Device, Tensor};

use super::data::TargetSet;
use super::error::AdaptError;
use super::method::{AdaptMethod, PassOutput};
use super::runner::AdaptConfig;
use super::tsne;
use crate::train::data::{ImageSet, Sample};
use crate::train::loader::{Batch, Loader, LoaderConfig};
use crate::train::metrics::EvalReport;
use crate::train::TrainError;

pub(super) struct EvalCtx<'a> {
    pub(super) device: Device,
    pub(super) image_size: u32,
    pub(super) batch_size: usize,
    pub(super) workers: usize,
    pub(super) classes: &'a [String],
}

impl EvalCtx<'_> {
    pub(super) fn to_device(&self, batch: &Batch) -> (Tensor, Tensor) {
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

    pub(super) fn evaluate(
        &self,
        method: &dyn AdaptMethod,
        name: &str,
        set: &ImageSet,
        step: u64,
    ) -> Result<EvalReport, AdaptError> {
        let r = EvalReport::over_batches(
            name,
            step,
            self.classes.len(),
            self.sequential(set.samples.clone()),
            |batch| tch::no_grad(|| method.model().predict(&self.to_device(batch).0)),
        )
        .map_err(TrainError::from)?;
        tracing::debug!(
            "step {step}: {name} Acc {:.2} Mean {:.2}",
            100.0 * r.acc,
            100.0 * r.mean
        );
        Ok(r)
    }

    /// `f` over every image of `samples` in order (eval mode, eval transform).
    pub(super) fn full_pass(
        &self,
        samples: Vec<Sample>,
        f: &mut dyn FnMut(&Tensor) -> Vec<Tensor>,
    ) -> Result<PassOutput, AdaptError> {
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
    pub(super) fn features(
        &self,
        method: &dyn AdaptMethod,
        samples: Vec<Sample>,
    ) -> Result<(Vec<f32>, usize, Vec<i64>), AdaptError> {
        let mut feats = Vec::new();
        let mut labels = Vec::new();
        let mut dim = 0;
        for batch in self.sequential(samples) {
            if batch.is_empty() {
                continue;
            }
            let (xs, _) = self.to_device(&batch);
            let f = tch::no_grad(|| method.model().features(&xs))
                .to_kind(tch::Kind::Float)
                .to_device(Device::Cpu)
                .contiguous();
            dim = f.size()[1] as usize;
            let v: Vec<f32> = Vec::try_from(&f.view([-1])).map_err(TrainError::from)?;
            feats.extend(v);
            labels.extend(&batch.labels);
        }
        Ok((feats, dim, labels))
    }
}

/// Evenly spaced picks of at most `n` samples (deterministic, covers every class folder).
fn spread(samples: &[Sample], n: usize) -> Vec<Sample> {
    if samples.len() <= n {
        return samples.to_vec();
    }
    (0..n)
        .map(|i| samples[i * samples.len() / n].clone())
        .collect()
}

pub(super) fn tsne_picture(
    cfg: &AdaptConfig,
    ctx: &EvalCtx,
    method: &dyn AdaptMethod,
    source: &ImageSet,
    target: &TargetSet,
    eval_sets: &[(String, Arc<ImageSet>)],
) -> Result<Option<PathBuf>, AdaptError> {
    // Target points carry labels only when some labelled target data exists.
    let target_samples = match eval_sets.first() {
        Some((_, set)) => spread(&set.samples, cfg.tsne_points),
        None => spread(&target.samples, cfg.tsne_points),
    };
    let (fs, dim, ls) = ctx.features(method, spread(&source.samples, cfg.tsne_points))?;
    let (ft, _, lt) = ctx.features(method, target_samples)?;
    let points: Vec<tsne::Point> = fs
        .chunks(dim.max(1))
        .zip(&ls)
        .map(|(f, &l)| (f, l, tsne::Domain::Source))
        .chain(ft.chunks(dim.max(1)).zip(&lt).map(|(f, &l)| {
            let label = if eval_sets.is_empty() { -1 } else { l };
            (f, label, tsne::Domain::Target)
        }))
        .map(|(f, label, domain)| tsne::Point {
            features: f.to_vec(),
            label,
            domain,
        })
        .collect();
    let path = cfg.out.join("tsne.png");
    match tsne::embed_and_draw(&points, &source.classes, cfg.seed, &path)? {
        true => Ok(Some(path)),
        false => {
            tracing::warn!("too few points for a t-SNE picture; none drawn");
            Ok(None)
        }
    }
}
