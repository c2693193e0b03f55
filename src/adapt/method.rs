//! The interface every adaptation method implements, and the shared pieces (hyper-parameters,
//! losses used by several methods). A method owns its networks (in the run's VarStore, so that
//! checkpoints and --init see them) and its optimizers; the runner only feeds batches.
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use super::error::AdaptError;
use crate::train::models::{build_backbone, Backbone, Classifier};

/// The methods `synthgen adapt --method` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    /// No adaptation: cross-entropy on the source only.
    SourceOnly,
    /// Domain-adversarial training with a gradient-reversal layer (Ganin et al. 2016).
    Dann,
    /// Maximum classifier discrepancy (Saito et al. 2018).
    Mcd,
    /// Regularized conditional alignment with a joint 2K-way classifier (Cicek & Soatto 2019).
    Rca,
    /// Structurally regularized deep clustering (Tang, Chen & Jia 2020), simplified: see
    /// `methods::srdc`.
    Srdc,
    /// Distilled discriminative clustering (Tang, Wang & Jia 2022), after the released code:
    /// see `methods::disclusterda`.
    #[value(name = "disclusterda")]
    #[serde(rename = "disclusterda")]
    DisClusterDa,
}

impl MethodKind {
    /// The released code's learning rate: 1e-4, MCD 1e-3.
    pub fn default_lr(self) -> f64 {
        match self {
            MethodKind::Mcd => 1e-3,
            _ => 1e-4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MethodKind::SourceOnly => "source-only",
            MethodKind::Dann => "dann",
            MethodKind::Mcd => "mcd",
            MethodKind::Rca => "rca",
            MethodKind::Srdc => "srdc",
            MethodKind::DisClusterDa => "disclusterda",
        }
    }
}

/// What every method is built from.
#[derive(Debug, Clone)]
pub struct MethodSetup {
    pub arch: String,
    pub num_classes: i64,
    pub image_size: i64,
    /// Multiplier of the backbone's lr (0.1 when initialised from a checkpoint).
    pub backbone_lr_mult: f64,
    pub momentum: f64,
    pub weight_decay: f64,
}

/// A source batch (images, labels) and a target batch (images only: target labels never
/// reach a method).
pub struct DaBatch<'a> {
    pub xs: &'a Tensor,
    pub ys: &'a Tensor,
    pub xt: &'a Tensor,
}

/// Scalars of one step: the named loss terms and the total that was minimised first.
#[derive(Debug, Clone, Default)]
pub struct StepStats {
    pub total: f64,
    pub terms: Vec<(&'static str, f64)>,
    /// Correct source predictions in the batch.
    pub source_correct: u64,
}

impl StepStats {
    /// Reads the scalar loss tensors of a step.
    pub fn read(total: &Tensor, terms: &[(&'static str, &Tensor)], source_correct: u64) -> Self {
        StepStats {
            total: total.double_value(&[]),
            terms: terms
                .iter()
                .map(|(name, t)| (*name, t.double_value(&[])))
                .collect(),
            source_correct,
        }
    }
}

/// What evaluation and the t-SNE picture need from an adapted model (eval mode).
pub trait EvalModel {
    /// Class scores; their argmax is the prediction.
    fn predict(&self, xs: &Tensor) -> Tensor;
    /// Backbone features.
    fn features(&self, xs: &Tensor) -> Tensor;
}

impl EvalModel for Classifier {
    fn predict(&self, xs: &Tensor) -> Tensor {
        self.forward(xs, false)
    }

    fn features(&self, xs: &Tensor) -> Tensor {
        self.backbone.features(xs, false)
    }
}

pub trait AdaptMethod {
    /// Learning-rate factor at progress `p` in [0, 1] (1 = constant).
    fn lr_factor(&self, _p: f64) -> f64 {
        1.0
    }
    /// One training iteration (all of the method's forward/backward/update passes).
    fn step(&mut self, batch: &DaBatch, p: f64, lr: f64) -> StepStats;
    /// The model that evaluation and the t-SNE picture use.
    fn model(&self) -> &dyn EvalModel;
}

/// Builds the method's networks under `vs` and its optimizers.
pub fn build(
    kind: MethodKind,
    vs: &nn::VarStore,
    setup: &MethodSetup,
) -> Result<Box<dyn AdaptMethod>, AdaptError> {
    Ok(match kind {
        MethodKind::SourceOnly => {
            Box::new(super::methods::source_only::SourceOnly::new(vs, setup)?)
        }
        MethodKind::Dann => Box::new(super::methods::dann::Dann::new(vs, setup)?),
        MethodKind::Mcd => Box::new(super::methods::mcd::Mcd::new(vs, setup)?),
        MethodKind::Rca => Box::new(super::methods::rca::Rca::new(vs, setup)?),
        MethodKind::Srdc => Box::new(super::methods::srdc::Srdc::new(vs, setup)?),
        MethodKind::DisClusterDa => {
            Box::new(super::methods::disclusterda::DisClusterDa::new(vs, setup)?)
        }
    })
}

/// The backbone every method shares, under `backbone.*` (the trainer's names, so that a
/// `synthgen train` checkpoint initialises it).
pub fn backbone(vs: &nn::VarStore, setup: &MethodSetup) -> Result<Box<dyn Backbone>, AdaptError> {
    Ok(build_backbone(
        &(vs.root() / "backbone"),
        &setup.arch,
        setup.image_size,
    )?)
}

/// Backbone and linear class head under the trainer's names (`backbone.*`, `head.*`), as
/// every method but MCD uses them.
pub fn classifier(vs: &nn::VarStore, setup: &MethodSetup) -> Result<Classifier, AdaptError> {
    Ok(Classifier::new(
        &vs.root(),
        &setup.arch,
        setup.num_classes,
        setup.image_size,
    )?)
}

/// DANN's annealed lr factor (1 + 10 p)^-0.75.
pub fn annealed_lr(p: f64) -> f64 {
    (1.0 + 10.0 * p).powf(-0.75)
}

/// Mean cross-entropy of `logits` against integer `labels`.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.to_kind(Kind::Float).cross_entropy_for_logits(labels)
}

/// Mean Shannon entropy (nats) of the softmax of `logits`.
pub fn entropy(logits: &Tensor) -> Tensor {
    let logp = logits.to_kind(Kind::Float).log_softmax(-1, Kind::Float);
    -(logp.exp() * &logp)
        .sum_dim_intlist(&[-1i64][..], false, Kind::Float)
        .mean(Kind::Float)
}

/// Number of rows where argmax(logits) == labels.
pub fn correct(logits: &Tensor, labels: &Tensor) -> u64 {
    logits
        .argmax(-1, false)
        .eq_tensor(labels)
        .sum(Kind::Int64)
        .int64_value(&[]) as u64
}

/// Concatenates source and target images so that batch norm sees both domains in one batch
/// (as the released code does), and returns the split point.
pub fn joint_input(batch: &DaBatch) -> (Tensor, i64) {
    (Tensor::cat(&[batch.xs, batch.xt], 0), batch.xs.size()[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_and_cross_entropy_by_hand() {
        // Row 1 uniform over 2 classes: H = ln 2; row 2 logits (ln 3, 0): p = (0.75, 0.25).
        let logits = Tensor::from_slice(&[0.0f32, 0.0, 3f32.ln(), 0.0]).view([2, 2]);
        let h2 = -(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
        let want = (2f64.ln() + h2) / 2.0;
        assert!((entropy(&logits).double_value(&[]) - want).abs() < 1e-6);
        let labels = Tensor::from_slice(&[1i64, 1]);
        let ce = (2f64.ln() + -(0.25f64.ln())) / 2.0;
        assert!((cross_entropy(&logits, &labels).double_value(&[]) - ce).abs() < 1e-6);
        assert_eq!(correct(&logits, &Tensor::from_slice(&[0i64, 0])), 2);
        assert!((annealed_lr(1.0) - 11f64.powf(-0.75)).abs() < 1e-12);
    }
}
