//! `--val`: refines the fitted level weights on a small labelled validation set
//! (AutoSimulate-style, see `align` for the method). This module prepares the data (the
//! validation features in the fit's feature space, probe labels from the manifest, one
//! standardisation for both) and writes the report section; `align` needs the `train`
//! feature (tch).
use super::mmd::{Features, Standardiser};
use super::val_set::{ValError, ValSet};
use crate::fit::descriptors::features::{FeatureError, FeatureSource};
use crate::fit::levels::FactorLevels;
use crate::fit::probes::pool::ProbePool;

#[derive(Debug, thiserror::Error)]
pub enum RefineError {
    #[error(transparent)]
    Val(#[from] ValError),
    #[error(transparent)]
    Features(#[from] FeatureError),
}

impl RefineError {
    pub fn is_input_error(&self) -> bool {
        match self {
            RefineError::Val(_) => true,
            RefineError::Features(e) => e.is_input_error(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefineOptions {
    /// Mirror-descent steps.
    pub steps: usize,
    /// Step size on the cosine (a level moves by at most a factor e^eta per step).
    pub eta: f64,
    /// Every level keeps at least this fraction of its uniform weight (as in the fit).
    pub floor: f64,
    /// Hidden units of the MLP.
    pub hidden: i64,
    /// Full-batch Adam steps per model.
    pub train_iterations: usize,
    /// Points of each training run where the alignment is taken (and averaged).
    pub checkpoints: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for RefineOptions {
    fn default() -> Self {
        RefineOptions {
            steps: 5,
            eta: 1.0,
            floor: 0.05,
            hidden: 32,
            train_iterations: 200,
            checkpoints: 4,
            learning_rate: 0.01,
            weight_decay: 1e-3,
            seed: 0,
        }
    }
}

/// Mean cross-entropy and accuracy of a model on the validation set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValScore {
    pub loss: f64,
    pub accuracy: f64,
}

/// One refinement step: the weights a model was trained with, its validation score, and
/// cos(g_l, g_val) per factor and level at that model (empty after the last step).
#[derive(Debug, Clone, PartialEq)]
pub struct RefineStep {
    pub weights: Vec<Vec<f64>>,
    pub val: ValScore,
    pub alignment: Vec<Vec<f64>>,
}

/// What the refinement did: steps + 1 records, from the starting (MMD-fitted) weights to
/// the refined ones.
#[derive(Debug, Clone)]
pub struct Refinement {
    pub steps: Vec<RefineStep>,
    pub val_images: usize,
    pub val_unreadable: usize,
    /// Probe images of the validation set's classes (the refinement's training set).
    pub probe_images: usize,
}

impl Refinement {
    pub fn before(&self) -> &RefineStep {
        &self.steps[0]
    }

    pub fn after(&self) -> &RefineStep {
        &self.steps[self.steps.len() - 1]
    }
}

/// The refinement's data: standardised features, row-major, and labels.
#[derive(Debug, Clone)]
pub struct RefineData {
    pub dim: usize,
    pub classes: usize,
    pub probe: Vec<f32>,
    pub probe_labels: Vec<i64>,
    /// draws[f][i]: the levels of factor f drawn for probe image i.
    pub draws: Vec<Vec<Vec<usize>>>,
    /// The level masses the probe was drawn from.
    pub proposal: Vec<Vec<f64>>,
    pub val: Vec<f32>,
    pub val_labels: Vec<i64>,
}

/// Describes the validation images with the fit's feature source and lines them up with
/// the probe's features (`probe` rows are `pool.items`, described with `with_mask`).
pub fn prepare(
    source: &FeatureSource,
    val: &ValSet,
    pool: &ProbePool,
    probe: &Features,
    with_mask: bool,
) -> Result<(RefineData, usize), RefineError> {
    let feats = source.describe(&val.items, false)?;
    let unreadable = feats.iter().filter(|f| f.is_none()).count();
    val.check_size(feats.len() - unreadable, unreadable)?;
    let (val_rows, val_labels): (Vec<Vec<f32>>, Vec<i64>) = feats
        .into_iter()
        .zip(&val.labels)
        .filter_map(|(f, l)| f.map(|f| (f, *l as i64)))
        .unzip();
    let labels = val.probe_labels(pool)?;
    let keep: Vec<usize> = (0..labels.len()).filter(|i| labels[*i].is_some()).collect();
    // Mask statistics are left out: validation images have no masks.
    let cols = source.maskless_columns(probe.dim, with_mask);
    let pick = |row: &[f32]| cols.iter().map(|c| row[*c]).collect::<Vec<f32>>();
    let mut probe_x =
        Features::from_rows(&keep.iter().map(|i| pick(probe.row(*i))).collect::<Vec<_>>());
    let mut val_x = Features::from_rows(&val_rows);
    // Units of the probe (the model's training set), applied to both.
    let standardiser = Standardiser::fit(&probe_x);
    standardiser.apply(&mut probe_x);
    standardiser.apply(&mut val_x);
    let data = RefineData {
        dim: cols.len(),
        classes: val.classes.len(),
        probe: probe_x.data,
        probe_labels: keep
            .iter()
            .map(|i| labels[*i].unwrap_or(0) as i64)
            .collect(),
        draws: pool
            .draws
            .iter()
            .map(|d| keep.iter().map(|i| d[*i].clone()).collect())
            .collect(),
        proposal: pool.proposal.clone(),
        val: val_x.data,
        val_labels,
    };
    Ok((data, unreadable))
}

/// Prepares the data and runs the refinement from `start` (the MMD-fitted weights).
pub fn refine(
    source: &FeatureSource,
    val: &ValSet,
    pool: &ProbePool,
    probe: &Features,
    with_mask: bool,
    start: &[Vec<f64>],
    opts: &RefineOptions,
) -> Result<Refinement, RefineError> {
    let (data, val_unreadable) = prepare(source, val, pool, probe, with_mask)?;
    let steps = run_align(&data, start, opts)?;
    Ok(Refinement {
        steps,
        val_images: data.val_labels.len(),
        val_unreadable,
        probe_images: data.probe_labels.len(),
    })
}

#[cfg(feature = "train")]
fn run_align(
    data: &RefineData,
    start: &[Vec<f64>],
    opts: &RefineOptions,
) -> Result<Vec<RefineStep>, RefineError> {
    Ok(super::align::align(data, start, opts))
}

#[cfg(not(feature = "train"))]
fn run_align(
    _: &RefineData,
    _: &[Vec<f64>],
    _: &RefineOptions,
) -> Result<Vec<RefineStep>, RefineError> {
    Err(FeatureError::NoTrainFeature { what: "--val" }.into())
}

/// The report.md section: validation score per step, and per level the MMD-fitted weight,
/// the refined weight and the alignment at the first step.
pub fn report_section(space: &[FactorLevels], r: &Refinement) -> String {
    let mut s = format!(
        "## Validation refinement (--val)\n\n{} validation images ({} unreadable skipped), {} probe images of their classes; MLP retrained at every step.\n\n| step | val loss | val accuracy |\n|---|---|---|\n",
        r.val_images, r.val_unreadable, r.probe_images
    );
    for (i, st) in r.steps.iter().enumerate() {
        s.push_str(&format!(
            "| {i} | {:.4} | {:.3} |\n",
            st.val.loss, st.val.accuracy
        ));
    }
    s.push_str("\n| factor | level | MMD fit | refined | cos(g_l, g_val) at step 0 |\n|---|---|---|---|---|\n");
    let (first, last) = (r.before(), r.after());
    for (f, factor) in space.iter().enumerate() {
        for (l, name) in factor.names().iter().enumerate() {
            s.push_str(&format!(
                "| {} | {} | {:.3} | {:.3} | {:+.3} |\n",
                factor.path,
                name,
                first.weights[f][l],
                last.weights[f][l],
                first
                    .alignment
                    .get(f)
                    .and_then(|c| c.get(l))
                    .unwrap_or(&0.0)
            ));
        }
    }
    s
}
