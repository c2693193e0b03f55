//! One fit, from image sets to weights: descriptors, a fixed measure (standardisation and
//! kernel from the training target, so probe rounds are comparable), the optimiser, and the
//! held-out MMD before and after.
use super::pool::{FitError, ProbePool, MIN_TARGET_IMAGES};
use crate::fit::descriptors::features::FeatureSource;
use crate::fit::descriptors::ImageItem;
use crate::fit::optimisation::mmd::{weighted_mmd2, Features, Kernel, Standardiser};
use crate::fit::optimisation::optimise::{fit, FitOptions, FitResult, Problem};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;

/// The target's descriptors, split into a training and a held-out part.
#[derive(Debug, Clone)]
pub struct Target {
    pub train: Features,
    pub held: Features,
    pub held_items: Vec<ImageItem>,
    /// The images of `train`, row by row (per-class fits find their class's rows by path).
    pub train_items: Vec<ImageItem>,
    pub unreadable: usize,
}

/// Describes the target images with `source` (unreadable ones skipped and counted) and
/// holds out a seeded random `holdout` fraction (at least one image on each side).
pub fn describe_target(
    source: &FeatureSource,
    dir: &Path,
    items: &[ImageItem],
    with_mask: bool,
    holdout: f64,
    seed: u64,
) -> Result<Target, FitError> {
    let feats = source.describe(items, with_mask)?;
    let unreadable = feats.iter().filter(|f| f.is_none()).count();
    let mut ok: Vec<(ImageItem, Vec<f32>)> = items
        .iter()
        .cloned()
        .zip(feats)
        .filter_map(|(i, f)| f.map(|f| (i, f)))
        .collect();
    if ok.len() < MIN_TARGET_IMAGES {
        return Err(FitError::TooFewTargets {
            dir: dir.display().to_string(),
            found: ok.len(),
            unreadable,
            min: MIN_TARGET_IMAGES,
        });
    }
    ok.shuffle(&mut rand_chacha::ChaCha20Rng::seed_from_u64(seed));
    let held_n = ((ok.len() as f64 * holdout).round() as usize).clamp(1, ok.len() - 1);
    let (held, train) = ok.split_at(held_n);
    let rows = |s: &[(ImageItem, Vec<f32>)]| {
        Features::from_rows(&s.iter().map(|x| x.1.clone()).collect::<Vec<_>>())
    };
    Ok(Target {
        train: rows(train),
        held: rows(held),
        held_items: held.iter().map(|x| x.0.clone()).collect(),
        train_items: train.iter().map(|x| x.0.clone()).collect(),
        unreadable,
    })
}

/// Describes the probe images with `source` and drops the unreadable ones from the pool.
pub fn describe_probe(
    source: &FeatureSource,
    pool: &mut ProbePool,
    with_mask: bool,
) -> Result<(Features, usize), FitError> {
    let feats = source.describe(&pool.items, with_mask)?;
    let keep: Vec<bool> = feats.iter().map(Option::is_some).collect();
    pool.retain(&keep);
    let rows: Vec<Vec<f32>> = feats.into_iter().flatten().collect();
    let dropped = keep.iter().filter(|k| !**k).count();
    Ok((Features::from_rows(&rows), dropped))
}

/// The fixed units of a fit: standardised target features and the kernel on them.
#[derive(Debug, Clone)]
pub struct Measure {
    pub standardiser: Standardiser,
    pub kernel: Kernel,
    pub train: Features,
    pub held: Features,
    pub ktt_train: f64,
    pub ktt_held: f64,
}

impl Measure {
    /// Units from the training target; bandwidths from the target and the first probe
    /// together, so a target far from the probe still gets a kernel that sees both.
    pub fn new(target: &Target, first_probe: &Features) -> Self {
        let standardiser = Standardiser::fit(&target.train);
        let (mut train, mut held) = (target.train.clone(), target.held.clone());
        standardiser.apply(&mut train);
        standardiser.apply(&mut held);
        let mut probe = first_probe.clone();
        standardiser.apply(&mut probe);
        let every = |x: &Features| -> Vec<usize> {
            (0..x.len()).step_by(x.len().div_ceil(500).max(1)).collect()
        };
        let mut pooled = train.select(&every(&train));
        pooled.data.extend(probe.select(&every(&probe)).data);
        let kernel = Kernel::median_heuristic(&pooled);
        // The train constant only scales the reported objective: a subsample is enough.
        let sub: Vec<usize> = (0..train.len())
            .step_by(train.len().div_ceil(2000).max(1))
            .collect();
        Measure {
            ktt_train: kernel.mean_self(&train.select(&sub)),
            ktt_held: kernel.mean_self(&held),
            standardiser,
            kernel,
            train,
            held,
        }
    }

    /// The optimiser's view of a probe pool, and its mean kernels to the held-out target.
    pub fn problem(&self, pool: &ProbePool, probe: &Features) -> (Problem, Vec<f64>) {
        let mut x = probe.clone();
        self.standardiser.apply(&mut x);
        let problem = Problem {
            kpp: self.kernel.gram(&x),
            kpt: self.kernel.mean_to(&x, &self.train),
            ktt: self.ktt_train,
            draws: pool.draws.clone(),
            proposal: pool.proposal.clone(),
        };
        let kph = self.kernel.mean_to(&x, &self.held);
        (problem, kph)
    }

    pub fn held_mmd2(&self, problem: &Problem, kph: &[f64], image_weights: &[f64]) -> f64 {
        weighted_mmd2(&problem.kpp, kph, self.ktt_held, image_weights)
    }
}

/// One probe round: fits from `start` and reports the held-out MMD of the probe weighted
/// by its own proposal (before) and by the fitted weights (after).
#[derive(Debug, Clone)]
pub struct Round {
    pub result: FitResult,
    pub held_before: f64,
    pub held_after: f64,
    pub proposal_image_weights: Vec<f64>,
}

pub fn fit_round(
    measure: &Measure,
    pool: &ProbePool,
    probe: &Features,
    start: &[Vec<f64>],
    opts: &FitOptions,
) -> Round {
    let (problem, kph) = measure.problem(pool, probe);
    let before_w = problem.image_weights(&pool.proposal);
    let result = fit(&problem, start, opts);
    Round {
        held_before: measure.held_mmd2(&problem, &kph, &before_w),
        held_after: measure.held_mmd2(&problem, &kph, &result.image_weights),
        proposal_image_weights: before_w,
        result,
    }
}
