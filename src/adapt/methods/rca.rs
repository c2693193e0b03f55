//! RCA (Cicek & Soatto 2019, "Unsupervised Domain Adaptation via Regularized Conditional
//! Alignment") as released (`--em`, no VAT). Source and target pass through the backbone
//! separately; a K-way class head and a 2K-way joint head (source class k -> k, target
//! pseudo-label k -> K + k) sit on the features. One optimiser step per iteration, its gradients
//! routed by name as the released code does: the heads get the gradient of
//!   L_min = CE(source) + lambda (J(source, k) + J(target, K + k)) + 0.1 class balance(target),
//! the backbone the gradient of
//!   L_max = CE(source) + lambda (J(source, K + k) + J(target, k)) + lambda entropy(target),
//! the confusion of L_min's joint labels with the domains swapped. Pseudo-labels are the class
//! head's argmax on the target batch.

use tch::nn::{self, Module};
use tch::Tensor;

use crate::adapt::error::AdaptError;
use crate::adapt::method::{
    class_balance, classifier, correct, cross_entropy, entropy, sgd, MethodSetup,
};
use crate::engine::{float_kind, Method, StepBatch, StepCtx, StepStats, Trainee};
use crate::nn::models::{torch_linear, Classifier};
use crate::nn::optim::Optimizer;

/// Weight of the class-balance term in the heads' loss.
pub const BALANCE_WEIGHT: f64 = 0.1;

/// The joint classifier's own loss: source k -> k, target (pseudo-label k) -> K + k.
pub fn joint_loss(j_src: &Tensor, ys: &Tensor, j_tgt: &Tensor, yt_hat: &Tensor, k: i64) -> Tensor {
    cross_entropy(j_src, ys) + cross_entropy(j_tgt, &(yt_hat + k))
}

/// The feature extractor's confusion loss: the labels of `joint_loss` with the domains swapped.
pub fn alignment_loss(
    j_src: &Tensor,
    ys: &Tensor,
    j_tgt: &Tensor,
    yt_hat: &Tensor,
    k: i64,
) -> Tensor {
    cross_entropy(j_src, &(ys + k)) + cross_entropy(j_tgt, yt_hat)
}

/// `layer` applied with its weights cut from the graph: only the input gets a gradient.
fn frozen(layer: &nn::Linear, x: &Tensor) -> Tensor {
    x.linear(
        &layer.ws.detach(),
        layer.bs.as_ref().map(|b| b.detach()).as_ref(),
    )
}

pub struct Rca {
    joint: nn::Linear,
    k: i64,
}

impl Rca {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Trainee<Self>, AdaptError> {
        let net = classifier(vs, s)?;
        let dim = net.backbone.feature_dim();
        let joint = torch_linear(vs.root() / "joint_fc", dim, 2 * s.num_classes);
        Ok(Trainee {
            method: Rca {
                joint,
                k: s.num_classes,
            },
            model: net,
            optimizers: sgd(vs, s, |n| {
                n.starts_with("head.") || n.starts_with("joint_fc.")
            }),
        })
    }
}

impl Method for Rca {
    type Model = Classifier;
    type Optimizers = Optimizer;

    fn step(
        &mut self,
        net: &Classifier,
        opt: &mut Optimizer,
        b: &StepBatch,
        ctx: &StepCtx,
    ) -> StepStats {
        let lam = ctx.lambda;
        let fs = net.backbone.features(b.xs, true);
        let ft = net.backbone.features(b.xt, true);
        let yt_hat = net.head.forward(&ft.detach()).argmax(-1, false);
        // WHY the detaches: one backward pass routes L_min to the heads (features cut) and
        // L_max to the backbone (head weights cut), as the released per-name routing does.
        let (fs_d, ft_d) = (fs.detach(), ft.detach());
        let ls_min = net.head.forward(&fs_d);
        let lt_min = net.head.forward(&ft_d);
        let ce = cross_entropy(&ls_min, b.ys);
        let joint = joint_loss(
            &self.joint.forward(&fs_d),
            b.ys,
            &self.joint.forward(&ft_d),
            &yt_hat,
            self.k,
        );
        let balance = class_balance(&lt_min.softmax(-1, float_kind(&lt_min)));
        let loss_min = &ce + &joint * lam + &balance * BALANCE_WEIGHT;

        let ls_max = frozen(net.head.linear(), &fs);
        let lt_max = frozen(net.head.linear(), &ft);
        let confusion = alignment_loss(
            &frozen(&self.joint, &fs),
            b.ys,
            &frozen(&self.joint, &ft),
            &yt_hat,
            self.k,
        );
        let ent = entropy(&lt_max);
        let loss_max = cross_entropy(&ls_max, b.ys) + (&confusion + &ent) * lam;
        opt.minimise(&(&loss_min + &loss_max), ctx.lr);
        StepStats::read(
            &loss_min,
            &[
                ("ce_source", &ce),
                ("joint", &joint),
                ("class_balance", &balance),
                ("confusion", &confusion),
                ("entropy_target", &ent),
                ("loss_max", &loss_max),
            ],
            correct(&ls_min, b.ys),
        )
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
