//! MCD (Saito et al. 2018): a generator (the backbone) and two classifiers. Each iteration:
//! (A) all three learn the source labels; (B) with the generator fixed, the classifiers keep the
//! source labels while maximising their disagreement on the target; (C) with the classifiers
//! fixed, the generator minimises that disagreement, `GENERATOR_STEPS` times. Prediction sums
//! the two classifiers' probabilities.
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::adapt::error::AdaptError;
use crate::adapt::method::{
    backbone, correct, cross_entropy, AdaptMethod, DaBatch, EvalModel, MethodSetup, StepStats,
};
use crate::adapt::sgd::{under, Sgd};
use crate::train::models::Backbone;

/// Generator updates per iteration in the released code.
pub const GENERATOR_STEPS: usize = 4;

/// Discrepancy: mean absolute difference of the two softmax outputs (over batch and classes).
pub fn discrepancy(logits1: &Tensor, logits2: &Tensor) -> Tensor {
    let p1 = logits1.softmax(-1, Kind::Float);
    let p2 = logits2.softmax(-1, Kind::Float);
    (p1 - p2).abs().mean(Kind::Float)
}

/// A two-layer classifier (hidden 256, ReLU); two of them disagree more usefully than linear
/// heads.
#[derive(Debug)]
pub struct McdClassifier {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl McdClassifier {
    pub fn new(p: nn::Path, in_dim: i64, num_classes: i64) -> Self {
        McdClassifier {
            fc1: nn::linear(&p / "fc1", in_dim, 256, Default::default()),
            fc2: nn::linear(&p / "fc2", 256, num_classes, Default::default()),
        }
    }

    pub fn forward(&self, f: &Tensor) -> Tensor {
        self.fc2.forward(&self.fc1.forward(f).relu())
    }
}

pub struct Mcd {
    backbone: Box<dyn Backbone>,
    c1: McdClassifier,
    c2: McdClassifier,
    opt_g: Sgd,
    opt_c: Sgd,
}

impl Mcd {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Self, AdaptError> {
        let backbone = backbone(vs, s)?;
        let dim = backbone.feature_dim();
        let c1 = McdClassifier::new(vs.root() / "head", dim, s.num_classes);
        let c2 = McdClassifier::new(vs.root() / "head2", dim, s.num_classes);
        let opt_g = Sgd::new(
            vs,
            under("backbone", s.backbone_lr_mult),
            s.momentum,
            s.weight_decay,
        );
        let opt_c = Sgd::new(
            vs,
            |n| (n.starts_with("head.") || n.starts_with("head2.")).then_some(1.0),
            s.momentum,
            s.weight_decay,
        );
        Ok(Mcd {
            backbone,
            c1,
            c2,
            opt_g,
            opt_c,
        })
    }

    fn zero_all(&mut self) {
        self.opt_g.zero_grad();
        self.opt_c.zero_grad();
    }
}

impl AdaptMethod for Mcd {
    fn step(&mut self, b: &DaBatch, _p: f64, lr: f64) -> StepStats {
        // (A) source classification for generator and both classifiers.
        self.zero_all();
        let fs = self.backbone.features(b.xs, true);
        let (s1, s2) = (self.c1.forward(&fs), self.c2.forward(&fs));
        let loss_a = cross_entropy(&s1, b.ys) + cross_entropy(&s2, b.ys);
        loss_a.backward();
        self.opt_g.step(lr);
        self.opt_c.step(lr);
        let source_correct = correct(
            &(s1.softmax(-1, Kind::Float) + s2.softmax(-1, Kind::Float)),
            b.ys,
        );

        // (B) classifiers: keep the source, maximise the target discrepancy (generator fixed).
        self.zero_all();
        let (fs, ft) = tch::no_grad(|| {
            (
                self.backbone.features(b.xs, true),
                self.backbone.features(b.xt, true),
            )
        });
        let ce_b =
            cross_entropy(&self.c1.forward(&fs), b.ys) + cross_entropy(&self.c2.forward(&fs), b.ys);
        let disc_b = discrepancy(&self.c1.forward(&ft), &self.c2.forward(&ft));
        (&ce_b - &disc_b).backward();
        self.opt_c.step(lr);

        // (C) generator: minimise the discrepancy (classifiers fixed).
        let mut disc_c = 0.0;
        for _ in 0..GENERATOR_STEPS {
            self.zero_all();
            let ft = self.backbone.features(b.xt, true);
            let d = discrepancy(&self.c1.forward(&ft), &self.c2.forward(&ft));
            d.backward();
            self.opt_g.step(lr);
            disc_c = d.double_value(&[]);
        }
        self.zero_all();
        let ce = loss_a.double_value(&[]);
        StepStats {
            total: ce,
            terms: vec![
                ("ce_source", ce),
                ("discrepancy_classifiers", disc_b.double_value(&[])),
                ("discrepancy_generator", disc_c),
            ],
            source_correct,
        }
    }

    fn model(&self) -> &dyn EvalModel {
        self
    }
}

impl EvalModel for Mcd {
    fn predict(&self, xs: &Tensor) -> Tensor {
        let f = self.backbone.features(xs, false);
        // Log of the summed probabilities: argmax and softmax order match the paper's ensemble.
        (self.c1.forward(&f).softmax(-1, Kind::Float)
            + self.c2.forward(&f).softmax(-1, Kind::Float))
        .log()
    }

    fn features(&self, xs: &Tensor) -> Tensor {
        self.backbone.features(xs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discrepancy_by_hand() {
        // Row 1: p1 = (0.5, 0.5), p2 = (0.75, 0.25): |diff| = (0.25, 0.25).
        // Row 2: identical logits: 0. Mean over 4 entries = 0.125.
        let l1 = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 2.0]).view([2, 2]);
        let l2 = Tensor::from_slice(&[3f32.ln(), 0.0, 1.0, 2.0]).view([2, 2]);
        assert!((discrepancy(&l1, &l2).double_value(&[]) - 0.125).abs() < 1e-6);
    }
}
