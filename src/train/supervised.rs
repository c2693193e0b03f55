//! Supervised training as an engine method: cross-entropy of the classifier on the labelled
//! batch, one update of the one optimizer (SGD or Adam, clipping) at the engine's lr.
use tch::{Kind, Tensor};

use crate::engine::{EvalModel, Method, StepBatch, StepCtx, StepStats, Trainee};
use crate::nn::models::Classifier;
use crate::nn::optim::Optimizer;

/// The step of supervised training (no state of its own).
pub struct Supervised;

impl Supervised {
    /// `net` trained by `opt`, with bf16 autocast of the forward passes when `autocast` (CUDA).
    pub fn trainee(net: Classifier, opt: Optimizer, autocast: bool) -> Trainee<Supervised> {
        Trainee {
            method: Supervised,
            model: Autocast { net, autocast },
            optimizers: opt,
        }
    }
}

/// The classifier, its forward passes under bf16 autocast when `autocast` (CUDA).
pub struct Autocast {
    pub net: Classifier,
    pub autocast: bool,
}

impl Method for Supervised {
    type Model = Autocast;
    type Optimizers = Optimizer;

    fn step(
        &mut self,
        m: &Autocast,
        opt: &mut Optimizer,
        b: &StepBatch,
        ctx: &StepCtx,
    ) -> StepStats {
        let logits = tch::autocast(m.autocast, || m.net.forward(b.xs, true));
        let loss = crate::engine::cross_entropy(&logits, b.ys);
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return StepStats {
                total: value,
                ..StepStats::default()
            };
        }
        opt.zero_grad();
        loss.backward();
        opt.step_at(ctx.lr);
        let correct = logits
            .argmax(-1, false)
            .eq_tensor(b.ys)
            .sum(Kind::Int64)
            .int64_value(&[]) as u64;
        StepStats {
            total: value,
            terms: vec![("ce", value)],
            source_correct: correct,
        }
    }
}

impl EvalModel for Autocast {
    fn predict(&self, xs: &Tensor) -> Tensor {
        tch::autocast(self.autocast, || self.net.forward(xs, false))
    }

    fn features(&self, xs: &Tensor) -> Tensor {
        tch::autocast(self.autocast, || self.net.backbone.features(xs, false))
    }
}
