//! No Adaptation: the classifier is trained on source labels only; target batches are ignored.
//! As released, it still follows the per-epoch lr decay of every method.
use std::collections::HashMap;
use std::path::Path;

use tch::{nn, Tensor};

use crate::adapt::error::AdaptError;
use crate::adapt::method::{
    classifier, correct, cross_entropy, load_optim_state, optim_state, sgd, AdaptMethod, DaBatch,
    EvalModel, MethodSetup, StepCtx, StepStats,
};
use crate::train::models::Classifier;
use crate::train::optim::Optimizer;
use crate::train::TrainError;

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

impl AdaptMethod for SourceOnly {
    fn step(&mut self, b: &DaBatch, ctx: &StepCtx) -> StepStats {
        let logits = self.net.forward(b.xs, true);
        let loss = cross_entropy(&logits, b.ys);
        self.opt.minimise(&loss, ctx.lr);
        StepStats::read(&loss, &[("ce_source", &loss)], correct(&logits, b.ys))
    }

    fn model(&self) -> &dyn EvalModel {
        &self.net
    }

    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        optim_state(&[&self.opt])
    }

    fn load_state(
        &mut self,
        t: &HashMap<String, Tensor>,
        file: &Path,
        step: u64,
    ) -> Result<(), TrainError> {
        load_optim_state(&mut [&mut self.opt], t, file, step)
    }
}
