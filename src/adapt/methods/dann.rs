//! DANN (Ganin et al. 2016) as released: source and target pass through the backbone
//! separately (batch norm sees each domain alone); the domain discriminator is ONE linear layer
//! (features -> 2 logits, source = 0, target = 1) behind a gradient-reversal layer of weight
//! lambda; loss = CE(source labels) + CE_domain(source) + CE_domain(target) (a sum, not a mean).

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::adapt::error::AdaptError;
use crate::adapt::grl::grad_reverse;
use crate::adapt::method::{classifier, correct, cross_entropy, sgd, MethodSetup};
use crate::engine::{Method, StepBatch, StepCtx, StepStats, Trainee};
use crate::nn::models::{torch_linear, Classifier};
use crate::nn::optim::Optimizer;

/// The domain loss: CE of source rows against domain 0 plus CE of target rows against 1.
pub fn domain_loss(d_source: &Tensor, d_target: &Tensor) -> Tensor {
    let ce = |d: &Tensor, label: i64| {
        let n = d.size()[0];
        cross_entropy(d, &Tensor::full([n], label, (Kind::Int64, d.device())))
    };
    ce(d_source, 0) + ce(d_target, 1)
}

pub struct Dann {
    disc: nn::Linear,
}

impl Dann {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Trainee<Self>, AdaptError> {
        let net = classifier(vs, s)?;
        let disc = torch_linear(vs.root() / "domain_fc", net.backbone.feature_dim(), 2);
        Ok(Trainee {
            method: Dann { disc },
            model: net,
            optimizers: sgd(vs, s, |n| {
                n.starts_with("head.") || n.starts_with("domain_fc.")
            }),
        })
    }
}

impl Method for Dann {
    type Model = Classifier;
    type Optimizers = Optimizer;

    fn step(
        &mut self,
        net: &Classifier,
        opt: &mut Optimizer,
        b: &StepBatch,
        ctx: &StepCtx,
    ) -> StepStats {
        let fs = net.backbone.features(b.xs, true);
        let logits = net.head.forward(&fs);
        let ds = self.disc.forward(&grad_reverse(&fs, ctx.lambda));
        let ft = net.backbone.features(b.xt, true);
        let dt = self.disc.forward(&grad_reverse(&ft, ctx.lambda));
        let ce = cross_entropy(&logits, b.ys);
        let adv = domain_loss(&ds, &dt);
        let loss = &ce + &adv;
        opt.minimise(&loss, ctx.lr);
        StepStats::read(
            &loss,
            &[("ce_source", &ce), ("domain", &adv)],
            correct(&logits, b.ys),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_loss_is_the_sum_of_two_cross_entropies() {
        // CE([a, b], 0) = ln(e^a + e^b) - a.
        let ce = |l: [f64; 2], y: usize| (l[0].exp() + l[1].exp()).ln() - l[y];
        let ds = [[0.5, -1.0], [2.0, 0.0]];
        let dt = [[0.3, 0.1]];
        let want = (ce(ds[0], 0) + ce(ds[1], 0)) / 2.0 + ce(dt[0], 1);
        let got = domain_loss(
            &Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.0]).view([2, 2]),
            &Tensor::from_slice(&[0.3f32, 0.1]).view([1, 2]),
        )
        .double_value(&[]);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
