//! RCA (Cicek & Soatto 2019, "Unsupervised Domain Adaptation via Regularized Conditional
//! Alignment"): besides the class predictor, a joint classifier with 2K outputs learns
//! (domain, class) pairs: source sample of class k -> k, target sample pseudo-labelled k -> K + k.
//! The feature extractor plays the opposite game (source k -> K + k, target k -> k), which aligns
//! the domains class by class; target entropy minimisation sharpens the pseudo-labels.
//! Alternating updates: joint classifier on detached features, then backbone + class predictor.
//! Not included: the paper's VAT regulariser. The alignment weight uses DANN's ramp so that
//! early, unreliable pseudo-labels count little.
use tch::nn;
use tch::Tensor;

use crate::adapt::error::AdaptError;
use crate::adapt::grl::dann_ramp;
use crate::adapt::method::{
    annealed_lr, classifier, correct, cross_entropy, entropy, joint_input, AdaptMethod, DaBatch,
    EvalModel, MethodSetup, StepStats,
};
use crate::adapt::sgd::{under, Sgd};
use crate::train::models::{Classifier, Head};

/// Weight of the target entropy term.
pub const ENTROPY_WEIGHT: f64 = 0.1;

/// The joint classifier's own loss: source k -> k, target (pseudo-label k) -> K + k.
pub fn joint_loss(j_src: &Tensor, ys: &Tensor, j_tgt: &Tensor, yt_hat: &Tensor, k: i64) -> Tensor {
    cross_entropy(j_src, ys) + cross_entropy(j_tgt, &(yt_hat + k))
}

/// The feature extractor's alignment loss: the labels of `joint_loss` with the domains swapped.
pub fn alignment_loss(
    j_src: &Tensor,
    ys: &Tensor,
    j_tgt: &Tensor,
    yt_hat: &Tensor,
    k: i64,
) -> Tensor {
    cross_entropy(j_src, &(ys + k)) + cross_entropy(j_tgt, yt_hat)
}

pub struct Rca {
    net: Classifier,
    joint: Head,
    k: i64,
    opt_model: Sgd,
    opt_joint: Sgd,
}

impl Rca {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Self, AdaptError> {
        let net = classifier(vs, s)?;
        let dim = net.backbone.feature_dim();
        let joint = Head::new(vs.root() / "joint_head", dim, 2 * s.num_classes);
        let mult = s.backbone_lr_mult;
        let opt_model = Sgd::new(
            vs,
            |n| {
                if n.starts_with("backbone.") {
                    Some(mult)
                } else {
                    n.starts_with("head.").then_some(1.0)
                }
            },
            s.momentum,
            s.weight_decay,
        );
        let opt_joint = Sgd::new(vs, under("joint_head", 1.0), s.momentum, s.weight_decay);
        Ok(Rca {
            net,
            joint,
            k: s.num_classes,
            opt_model,
            opt_joint,
        })
    }
}

impl AdaptMethod for Rca {
    fn lr_factor(&self, p: f64) -> f64 {
        annealed_lr(p)
    }

    fn step(&mut self, b: &DaBatch, p: f64, lr: f64) -> StepStats {
        let (x, ns) = joint_input(b);
        let f = self.net.backbone.features(&x, true);
        let nt = f.size()[0] - ns;
        let (fs, ft) = (f.narrow(0, 0, ns), f.narrow(0, ns, nt));
        let logits_s = self.net.head.forward(&fs);
        let logits_t = self.net.head.forward(&ft);
        let yt_hat = logits_t.detach().argmax(-1, false);

        // 1. The joint classifier on detached features.
        self.opt_joint.zero_grad();
        let jl = joint_loss(
            &self.joint.forward(&fs.detach()),
            b.ys,
            &self.joint.forward(&ft.detach()),
            &yt_hat,
            self.k,
        );
        jl.backward();
        self.opt_joint.step(lr);

        // 2. Backbone + class predictor against the (just updated) joint classifier.
        self.opt_model.zero_grad();
        let ce = cross_entropy(&logits_s, b.ys);
        let align = alignment_loss(
            &self.joint.forward(&fs),
            b.ys,
            &self.joint.forward(&ft),
            &yt_hat,
            self.k,
        );
        let ent = entropy(&logits_t);
        let loss = &ce + &align * dann_ramp(p) + &ent * ENTROPY_WEIGHT;
        loss.backward();
        self.opt_model.step(lr);
        // The joint head got gradients from step 2; they must not leak into its next update.
        self.opt_joint.zero_grad();
        StepStats::read(
            &loss,
            &[
                ("ce_source", &ce),
                ("joint", &jl),
                ("alignment", &align),
                ("entropy_target", &ent),
            ],
            correct(&logits_s, b.ys),
        )
    }

    fn model(&self) -> &dyn EvalModel {
        &self.net
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ce(logits: &[f64], label: usize) -> f64 {
        let lse = logits.iter().map(|l| l.exp()).sum::<f64>().ln();
        lse - logits[label]
    }

    #[test]
    fn joint_and_alignment_losses_by_hand() {
        // K = 2, so 4 joint outputs. One source sample (class 1), one target (pseudo-label 0).
        let js = [0.1f64, 0.7, -0.3, 0.2];
        let jt = [0.5f64, -0.2, 0.9, 0.0];
        let t = |v: &[f64; 4]| Tensor::from_slice(&v.map(|x| x as f32)).view([1, 4]);
        let ys = Tensor::from_slice(&[1i64]);
        let yt = Tensor::from_slice(&[0i64]);
        let joint = joint_loss(&t(&js), &ys, &t(&jt), &yt, 2).double_value(&[]);
        let align = alignment_loss(&t(&js), &ys, &t(&jt), &yt, 2).double_value(&[]);
        assert!((joint - (ce(&js, 1) + ce(&jt, 2))).abs() < 1e-5, "{joint}");
        assert!((align - (ce(&js, 3) + ce(&jt, 0))).abs() < 1e-5, "{align}");
    }
}
