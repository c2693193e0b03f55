//! No Adaptation: the classifier is trained on source labels only; target batches are ignored.
use tch::nn;

use crate::adapt::error::AdaptError;
use crate::adapt::method::{
    classifier, correct, cross_entropy, AdaptMethod, DaBatch, EvalModel, MethodSetup, StepStats,
};
use crate::adapt::sgd::Sgd;
use crate::train::models::Classifier;

pub struct SourceOnly {
    net: Classifier,
    opt: Sgd,
}

impl SourceOnly {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Self, AdaptError> {
        Ok(SourceOnly {
            net: classifier(vs, s)?,
            opt: Sgd::whole_model(vs, s),
        })
    }
}

impl AdaptMethod for SourceOnly {
    fn step(&mut self, b: &DaBatch, _p: f64, lr: f64) -> StepStats {
        let logits = self.net.forward(b.xs, true);
        let loss = cross_entropy(&logits, b.ys);
        self.opt.minimise(&loss, lr);
        StepStats::read(&loss, &[("ce_source", &loss)], correct(&logits, b.ys))
    }

    fn model(&self) -> &dyn EvalModel {
        &self.net
    }
}
