//! MCD (Saito et al. 2018) as released (`--setting mcd_their_entropy`): a generator (the
//! backbone) and two classifiers, each Dropout(0.5) -> Linear(d, 1000) -> BN -> ReLU ->
//! Dropout(0.5) -> Linear(1000, 1000) -> BN -> ReLU -> Linear(1000, K), linear weights and
//! biases N(0, 0.01), batch-norm weights N(1, 0.01) and biases 0. Source and target pass
//! through the generator separately. Each iteration:
//! (A) generator and classifiers minimise CE_1 + CE_2 (source) + 0.01 (B_1 + B_2), B the
//!     class balance of each classifier's target predictions;
//! (B) the classifiers alone minimise CE_1 + CE_2 - discrepancy + 0.01 (B_1 + B_2);
//! (C) the generator alone minimises the discrepancy, `GENERATOR_STEPS` times.
//! The generator's SGD has no momentum (commented out in the released code); the classifiers'
//! has. Evaluation reports the first classifier.

use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use crate::adapt::error::AdaptError;
use crate::adapt::method::{backbone, class_balance, correct, cross_entropy, MethodSetup};
use crate::engine::{float_kind, EvalModel, Method, StepBatch, StepCtx, StepStats, Trainee};
use crate::nn::models::Backbone;
use crate::nn::optim::{Group, OptimConfig, Optimizer};

/// Generator updates per iteration in the released code (`--num_k 4`).
pub const GENERATOR_STEPS: usize = 4;
/// Hidden width of the classifiers.
pub const HIDDEN: i64 = 1000;
/// Weight of the class-balance terms in steps A and B.
pub const BALANCE_WEIGHT: f64 = 0.01;

/// Discrepancy: mean absolute difference of the two softmax outputs (over batch and classes).
pub fn discrepancy(logits1: &Tensor, logits2: &Tensor) -> Tensor {
    let p1 = logits1.softmax(-1, float_kind(logits1));
    let p2 = logits2.softmax(-1, float_kind(logits2));
    (p1 - p2).abs().mean(None)
}

/// One MCD classifier (see the module doc).
#[derive(Debug)]
pub struct McdClassifier {
    fc1: nn::Linear,
    bn1: nn::BatchNorm,
    fc2: nn::Linear,
    bn2: nn::BatchNorm,
    fc3: nn::Linear,
    dropout: f64,
}

impl McdClassifier {
    pub fn new(p: nn::Path, in_dim: i64, num_classes: i64, dropout: f64) -> Self {
        let n01 = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.01,
        };
        let lin = |name: &str, i: i64, o: i64| {
            let cfg = nn::LinearConfig {
                ws_init: n01,
                bs_init: Some(n01),
                bias: true,
            };
            nn::linear(&p / name, i, o, cfg)
        };
        let bn = |name: &str| {
            let cfg = nn::BatchNormConfig {
                ws_init: nn::Init::Randn {
                    mean: 1.0,
                    stdev: 0.01,
                },
                bs_init: nn::Init::Const(0.0),
                ..Default::default()
            };
            nn::batch_norm1d(&p / name, HIDDEN, cfg)
        };
        McdClassifier {
            fc1: lin("fc1", in_dim, HIDDEN),
            bn1: bn("bn1"),
            fc2: lin("fc2", HIDDEN, HIDDEN),
            bn2: bn("bn2"),
            fc3: lin("fc3", HIDDEN, num_classes),
            dropout,
        }
    }

    pub fn forward(&self, f: &Tensor, train: bool) -> Tensor {
        let h = f.dropout(self.dropout, train);
        let h = self.bn1.forward_t(&self.fc1.forward(&h), train).relu();
        let h = h.dropout(self.dropout, train);
        let h = self.bn2.forward_t(&self.fc2.forward(&h), train).relu();
        self.fc3.forward(&h)
    }
}

/// MCD's step (no state of its own); its optimizers are the generator's and the classifiers'.
pub struct Mcd;

/// The generator and the two classifiers.
pub struct McdNet {
    backbone: Box<dyn Backbone>,
    c1: McdClassifier,
    c2: McdClassifier,
}

impl Mcd {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Trainee<Mcd>, AdaptError> {
        let backbone = backbone(vs, s)?;
        let dim = backbone.feature_dim();
        let c1 = McdClassifier::new(vs.root() / "head", dim, s.num_classes, s.mcd_dropout);
        let c2 = McdClassifier::new(vs.root() / "head2", dim, s.num_classes, s.mcd_dropout);
        let cfg = OptimConfig::adaptation(s.momentum, s.weight_decay);
        let generator = Group {
            lr_mult: s.backbone_lr_mult,
            momentum: 0.0,
        };
        let opt_g = Optimizer::with_groups(vs, cfg.clone(), vec![generator], |n| {
            n.starts_with("backbone.").then_some(0)
        });
        let classifiers = Group {
            lr_mult: 1.0,
            momentum: s.momentum,
        };
        let opt_c = Optimizer::with_groups(vs, cfg, vec![classifiers], |n| {
            (n.starts_with("head.") || n.starts_with("head2.")).then_some(0)
        });
        Ok(Trainee {
            method: Mcd,
            model: McdNet { backbone, c1, c2 },
            optimizers: [opt_g, opt_c],
        })
    }
}

fn zero_all(opt_g: &mut Optimizer, opt_c: &mut Optimizer) {
    opt_g.zero_grad();
    opt_c.zero_grad();
}

impl McdNet {
    /// Source CE of both classifiers, target logits of both, and the balance terms.
    fn forward_both(&self, b: &StepBatch) -> (Tensor, Tensor, Tensor, Tensor) {
        let fs = self.backbone.features(b.xs, true);
        let (s1, s2) = (self.c1.forward(&fs, true), self.c2.forward(&fs, true));
        let ft = self.backbone.features(b.xt, true);
        let (t1, t2) = (self.c1.forward(&ft, true), self.c2.forward(&ft, true));
        let ce = cross_entropy(&s1, b.ys) + cross_entropy(&s2, b.ys);
        let balance = class_balance(&t1.softmax(-1, float_kind(&t1)))
            + class_balance(&t2.softmax(-1, float_kind(&t2)));
        (ce, balance, s1, discrepancy(&t1, &t2))
    }
}

impl Method for Mcd {
    type Model = McdNet;
    type Optimizers = [Optimizer; 2];

    fn step(
        &mut self,
        net: &McdNet,
        [opt_g, opt_c]: &mut [Optimizer; 2],
        b: &StepBatch,
        ctx: &StepCtx,
    ) -> StepStats {
        // (A) source classification (and balance) for generator and both classifiers.
        zero_all(opt_g, opt_c);
        let (ce_a, bal_a, s1, _) = net.forward_both(b);
        let loss_a = &ce_a + &bal_a * BALANCE_WEIGHT;
        loss_a.backward();
        opt_g.step_at(ctx.lr);
        opt_c.step_at(ctx.lr);
        let source_correct = correct(&s1, b.ys);

        // (B) classifiers: keep the source, maximise the target discrepancy (generator fixed).
        zero_all(opt_g, opt_c);
        let (ce_b, bal_b, _, disc_b) = net.forward_both(b);
        let loss_b = &ce_b - &disc_b + &bal_b * BALANCE_WEIGHT;
        loss_b.backward();
        opt_c.step_at(ctx.lr);

        // (C) generator: minimise the discrepancy (classifiers fixed).
        let mut disc_c = Vec::new();
        for _ in 0..GENERATOR_STEPS {
            zero_all(opt_g, opt_c);
            let ft = net.backbone.features(b.xt, true);
            let d = discrepancy(&net.c1.forward(&ft, true), &net.c2.forward(&ft, true));
            d.backward();
            opt_g.step_at(ctx.lr);
            disc_c.push(d.detach());
        }
        zero_all(opt_g, opt_c);
        StepStats::read(
            &loss_a,
            &[
                ("ce_source", &ce_a),
                ("class_balance", &bal_a),
                ("loss_classifiers", &loss_b),
                ("discrepancy_classifiers", &disc_b),
                ("discrepancy_generator_1", &disc_c[0]),
                ("discrepancy_generator_2", &disc_c[1]),
                ("discrepancy_generator_3", &disc_c[2]),
                ("discrepancy_generator", &disc_c[GENERATOR_STEPS - 1]),
            ],
            source_correct,
        )
    }
}

impl EvalModel for McdNet {
    /// The first classifier, as the released evaluation reports it.
    fn predict(&self, xs: &Tensor) -> Tensor {
        self.c1.forward(&self.backbone.features(xs, false), false)
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
