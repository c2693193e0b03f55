//! The t-SNE picture of an adapted model's source and target features (evaluation itself is
//! the engine's, `engine::EvalCtx`).
use std::path::PathBuf;
use std::sync::Arc;

use super::data::TargetSet;
use super::error::AdaptError;
use super::runner::AdaptConfig;
use super::tsne;
use crate::engine::{EvalCtx, EvalModel};
use crate::nn::data::{ImageSet, Sample};

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
    model: &dyn EvalModel,
    source: &ImageSet,
    target: &TargetSet,
    eval_sets: &[(String, Arc<ImageSet>)],
) -> Result<Option<PathBuf>, AdaptError> {
    // Target points carry labels only when some labelled target data exists (as a list of
    // images: an evaluation set in shards is streamed, so the picture uses the target).
    let labelled = eval_sets.first().filter(|(_, set)| set.shards.is_none());
    let target_samples = match labelled {
        Some((_, set)) => spread(&set.samples, cfg.tsne_points),
        None => spread(&target.samples, cfg.tsne_points),
    };
    let (fs, dim, ls) = ctx.features(model, spread(&source.samples, cfg.tsne_points))?;
    let (ft, _, lt) = ctx.features(model, target_samples)?;
    let points: Vec<tsne::Point> = fs
        .chunks(dim.max(1))
        .zip(&ls)
        .map(|(f, &l)| (f, l, tsne::Domain::Source))
        .chain(ft.chunks(dim.max(1)).zip(&lt).map(|(f, &l)| {
            let label = if labelled.is_none() { -1 } else { l };
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
