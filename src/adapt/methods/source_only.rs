//! No Adaptation: the classifier is trained on source labels only; target batches are ignored.
//! As released, it still follows the per-epoch lr decay of every method.

use tch::nn;

use crate::adapt::error::AdaptError;
use crate::adapt::method::{classifier, correct, cross_entropy, sgd, MethodSetup};
use crate::engine::{Method, StepBatch, StepCtx, StepStats, Trainee};
use crate::nn::models::Classifier;
use crate::nn::optim::Optimizer;

pub struct SourceOnly;

impl SourceOnly {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Trainee<Self>, AdaptError> {
        Ok(Trainee {
            method: SourceOnly,
            model: classifier(vs, s)?,
            optimizers: sgd(vs, s, |n| n.starts_with("head.")),
        })
    }
}

impl Method for SourceOnly {
    type Model = Classifier;
    type Optimizers = Optimizer;

    fn step(
        &mut self,
        net: &Classifier,
        opt: &mut Optimizer,
        b: &StepBatch,
        ctx: &StepCtx,
    ) -> StepStats {
        let logits = net.forward(b.xs, true);
        let loss = cross_entropy(&logits, b.ys);
        opt.minimise(&loss, ctx.lr);
        StepStats::read(&loss, &[("ce_source", &loss)], correct(&logits, b.ys))
    }
}
