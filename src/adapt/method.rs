//! What the adaptation methods share: the method names, their hyper-parameters, the builder,
//! the released optimizer and losses used by several methods. Each method is an engine step
//! (`engine::TrainStep`, one file in `methods/`); the engine feeds it batches, the per-epoch
//! schedule (`engine::Schedule::Annealed`) and full passes.
use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use super::error::AdaptError;
use crate::engine::{float_kind, widen, TrainStep};
use crate::nn::models::{build_backbone, Backbone, Classifier};
use crate::nn::optim::{Group, OptimConfig, Optimizer};
use crate::nn::TrainError;

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
    /// Structurally regularized deep clustering (Tang, Chen & Jia 2020), as released: see
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
    /// Images in the target training set (SRDC keeps one pseudo-label per image).
    pub target_images: usize,
    /// SRDC's bottleneck width (None: the released `--num_neurons 128` times the block
    /// expansion, i.e. a quarter of the backbone's feature width).
    pub srdc_bottleneck: Option<i64>,
    /// Dropout probability of MCD's classifiers (released: 0.5; the parity tests use 0).
    pub mcd_dropout: f64,
}

/// Builds the method's networks under `vs` and its optimizers.
pub fn build(
    kind: MethodKind,
    vs: &nn::VarStore,
    setup: &MethodSetup,
) -> Result<Box<dyn TrainStep>, AdaptError> {
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
/// every method but MCD and SRDC uses them.
pub fn classifier(vs: &nn::VarStore, setup: &MethodSetup) -> Result<Classifier, AdaptError> {
    Ok(Classifier::new(
        &vs.root(),
        &setup.arch,
        setup.num_classes,
        setup.image_size,
    )?)
}

/// The released optimizer: one SGD whose `backbone.*` group steps at the setup's multiplier,
/// the other variables `select`ed (true) at 1x, all at the setup's momentum.
pub fn sgd(vs: &nn::VarStore, s: &MethodSetup, select: impl Fn(&str) -> bool) -> Optimizer {
    let groups = vec![
        Group {
            lr_mult: s.backbone_lr_mult,
            momentum: s.momentum,
        },
        Group {
            lr_mult: 1.0,
            momentum: s.momentum,
        },
    ];
    Optimizer::with_groups(
        vs,
        OptimConfig::adaptation(s.momentum, s.weight_decay),
        groups,
        |n| {
            if n.starts_with("backbone.") {
                Some(0)
            } else {
                select(n).then_some(1)
            }
        },
    )
}

/// Mean cross-entropy of `logits` against integer `labels` (float64 stays float64).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    crate::engine::cross_entropy(logits, labels)
}

/// Mean Shannon entropy (nats) of the softmax of `logits`.
pub fn entropy(logits: &Tensor) -> Tensor {
    let logp = widen(logits).log_softmax(-1, None);
    -(logp.exp() * &logp)
        .sum_dim_intlist(&[-1i64][..], false, None)
        .mean(None)
}

/// The released class-balance term: -mean_k log(mean_i p_ik + 1e-6) of probabilities `prob`
/// (smallest when predictions spread evenly over the classes).
pub fn class_balance(prob: &Tensor) -> Tensor {
    -(prob.mean_dim(&[0i64][..], false, float_kind(prob)) + 1e-6)
        .log()
        .mean(None)
}

/// A method state tensor from a checkpoint, with its expected shape.
pub fn state_tensor(
    t: &HashMap<String, Tensor>,
    key: &str,
    like: &Tensor,
    file: &Path,
) -> Result<Tensor, TrainError> {
    let src = t.get(key).ok_or_else(|| TrainError::BadCheckpoint {
        path: file.to_path_buf(),
        why: format!("it has no method state `{key}` (written by another method?)"),
    })?;
    if src.size() != like.size() {
        return Err(TrainError::BadCheckpoint {
            path: file.to_path_buf(),
            why: format!(
                "`{key}` has shape {:?}, expected {:?}",
                src.size(),
                like.size()
            ),
        });
    }
    Ok(src.to_device(like.device()).to_kind(like.kind()))
}

/// Number of rows where argmax(logits) == labels.
pub fn correct(logits: &Tensor, labels: &Tensor) -> u64 {
    logits
        .argmax(-1, false)
        .eq_tensor(labels)
        .sum(Kind::Int64)
        .int64_value(&[]) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::schedule::annealed_lr;

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
