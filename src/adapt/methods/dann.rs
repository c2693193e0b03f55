//! DANN (Ganin et al. 2016): a domain discriminator on the features, trained through a
//! gradient-reversal layer whose weight ramps as 2 / (1 + exp(-10 p)) - 1, with the annealed lr
//! (1 + 10 p)^-0.75. Discriminator as in the released code: two hidden layers of 1024 with
//! batch norm and ReLU, one logit.
use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use crate::adapt::error::AdaptError;
use crate::adapt::grl::{dann_ramp, grad_reverse};
use crate::adapt::method::{
    annealed_lr, classifier, correct, cross_entropy, joint_input, AdaptMethod, DaBatch, EvalModel,
    MethodSetup, StepStats,
};
use crate::adapt::sgd::Sgd;
use crate::train::models::Classifier;

const HIDDEN: i64 = 1024;

/// The domain discriminator: features -> one logit (source = 1, target = 0).
#[derive(Debug)]
pub struct DomainDiscriminator {
    l1: nn::Linear,
    bn1: nn::BatchNorm,
    l2: nn::Linear,
    bn2: nn::BatchNorm,
    out: nn::Linear,
}

impl DomainDiscriminator {
    pub fn new(p: nn::Path, in_dim: i64) -> Self {
        DomainDiscriminator {
            l1: nn::linear(&p / "l1", in_dim, HIDDEN, Default::default()),
            bn1: nn::batch_norm1d(&p / "bn1", HIDDEN, Default::default()),
            l2: nn::linear(&p / "l2", HIDDEN, HIDDEN, Default::default()),
            bn2: nn::batch_norm1d(&p / "bn2", HIDDEN, Default::default()),
            out: nn::linear(&p / "out", HIDDEN, 1, Default::default()),
        }
    }

    pub fn forward(&self, f: &Tensor, train: bool) -> Tensor {
        let h = self.bn1.forward_t(&self.l1.forward(f), train).relu();
        let h = self.bn2.forward_t(&self.l2.forward(&h), train).relu();
        self.out.forward(&h).squeeze_dim(-1)
    }
}

/// The discriminator's loss: mean of the binary cross-entropies of source logits against 1
/// and target logits against 0.
pub fn domain_loss(d_source: &Tensor, d_target: &Tensor) -> Tensor {
    let bce = |d: &Tensor, label: f64| {
        d.to_kind(Kind::Float)
            .binary_cross_entropy_with_logits::<Tensor>(
                &d.to_kind(Kind::Float).full_like(label),
                None,
                None,
                tch::Reduction::Mean,
            )
    };
    (bce(d_source, 1.0) + bce(d_target, 0.0)) * 0.5
}

pub struct Dann {
    net: Classifier,
    disc: DomainDiscriminator,
    opt: Sgd,
}

impl Dann {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Self, AdaptError> {
        let net = classifier(vs, s)?;
        let disc = DomainDiscriminator::new(
            vs.root() / "domain_discriminator",
            net.backbone.feature_dim(),
        );
        Ok(Dann {
            net,
            disc,
            opt: Sgd::whole_model(vs, s),
        })
    }
}

impl AdaptMethod for Dann {
    fn lr_factor(&self, p: f64) -> f64 {
        annealed_lr(p)
    }

    fn step(&mut self, b: &DaBatch, p: f64, lr: f64) -> StepStats {
        let (x, ns) = joint_input(b);
        let f = self.net.backbone.features(&x, true);
        let logits = self.net.head.forward(&f.narrow(0, 0, ns));
        let ce = cross_entropy(&logits, b.ys);
        let d = self.disc.forward(&grad_reverse(&f, dann_ramp(p)), true);
        let adv = domain_loss(&d.narrow(0, 0, ns), &d.narrow(0, ns, d.size()[0] - ns));
        let loss = &ce + &adv;
        self.opt.minimise(&loss, lr);
        StepStats::read(
            &loss,
            &[("ce_source", &ce), ("domain", &adv)],
            correct(&logits, b.ys),
        )
    }

    fn model(&self) -> &dyn EvalModel {
        &self.net
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_loss_by_hand() {
        // BCE(x, 1) = ln(1 + e^-x); BCE(x, 0) = ln(1 + e^x).
        let ds = [0.5f64, -1.0];
        let dt = [2.0f64];
        let s = ds.iter().map(|x| (1.0 + (-x).exp()).ln()).sum::<f64>() / 2.0;
        let t = (1.0 + dt[0].exp()).ln();
        let got = domain_loss(
            &Tensor::from_slice(&[0.5f32, -1.0]),
            &Tensor::from_slice(&[2.0f32]),
        )
        .double_value(&[]);
        assert!((got - 0.5 * (s + t)).abs() < 1e-6, "{got}");
    }
}
