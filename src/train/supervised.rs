//! Supervised training as an engine step: cross-entropy of the classifier on the labelled
//! batch, one update of the one optimizer (SGD or Adam, clipping) at the engine's lr.
use tch::{Kind, Tensor};

use crate::engine::{EvalModel, StepBatch, StepCtx, StepStats, TrainStep};
use crate::nn::models::Classifier;
use crate::nn::optim::Optimizer;

pub struct Supervised {
    pub net: Classifier,
    pub opt: Optimizer,
    /// bf16 autocast of the forward passes (CUDA).
    pub autocast: bool,
}

impl TrainStep for Supervised {
    fn step(&mut self, b: &StepBatch, ctx: &StepCtx) -> StepStats {
        let logits = tch::autocast(self.autocast, || self.net.forward(b.xs, true));
        let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(b.ys);
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return StepStats {
                total: value,
                ..StepStats::default()
            };
        }
        self.opt.zero_grad();
        loss.backward();
        self.opt.step_at(ctx.lr);
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

    fn model(&self) -> &dyn EvalModel {
        self
    }

    fn optimizers(&self) -> Vec<&Optimizer> {
        vec![&self.opt]
    }

    fn optimizers_mut(&mut self) -> Vec<&mut Optimizer> {
        vec![&mut self.opt]
    }
}

impl EvalModel for Supervised {
    fn predict(&self, xs: &Tensor) -> Tensor {
        tch::autocast(self.autocast, || self.net.forward(xs, false))
    }

    fn features(&self, xs: &Tensor) -> Tensor {
        tch::autocast(self.autocast, || self.net.backbone.features(xs, false))
    }
}
