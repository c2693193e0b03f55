//! No Adaptation: the classifier is trained on source labels only; target batches are ignored.
//! As released, it still follows the per-epoch lr decay of every method.

use tch::nn;

use crate::adapt::error::AdaptError;
use crate::adapt::method::{classifier, correct, cross_entropy, sgd, MethodSetup};
use crate::engine::{EvalModel, StepBatch, StepCtx, StepStats, TrainStep};
use crate::nn::models::Classifier;
use crate::nn::optim::Optimizer;

pub struct SourceOnly {
    net: Classifier,
    opt: Optimizer,
}

impl SourceOnly {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Self, AdaptError> {
        Ok(SourceOnly {
            net: classifier(vs, s)?,
            opt: sgd(vs, s, |n| n.starts_with("head.")),
        })
    }
}

impl TrainStep for SourceOnly {
    fn step(&mut self, b: &StepBatch, ctx: &StepCtx) -> StepStats {
        let logits = self.net.forward(b.xs, true);
        let loss = cross_entropy(&logits, b.ys);
        self.opt.minimise(&loss, ctx.lr);
        StepStats::read(&loss, &[("ce_source", &loss)], correct(&logits, b.ys))
    }

    fn model(&self) -> &dyn EvalModel {
        &self.net
    }

    fn optimizers(&self) -> Vec<&Optimizer> {
        vec![&self.opt]
    }

    fn optimizers_mut(&mut self) -> Vec<&mut Optimizer> {
        vec![&mut self.opt]
    }
}
