//! No Adaptation: the classifier is trained on source labels only; target batches are ignored.
use tch::{nn, Tensor};

use crate::adapt::error::AdaptError;
use crate::adapt::method::{
    backbone, correct, cross_entropy, AdaptMethod, DaBatch, MethodSetup, StepStats,
};
use crate::adapt::sgd::Sgd;
use crate::train::models::{Backbone, Head};

pub struct SourceOnly {
    backbone: Box<dyn Backbone>,
    head: Head,
    opt: Sgd,
}

impl SourceOnly {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Self, AdaptError> {
        let backbone = backbone(vs, s)?;
        let head = Head::new(vs.root() / "head", backbone.feature_dim(), s.num_classes);
        let mult = s.backbone_lr_mult;
        let opt = Sgd::new(
            vs,
            |n| {
                Some(if n.starts_with("backbone.") {
                    mult
                } else {
                    1.0
                })
            },
            s.momentum,
            s.weight_decay,
        );
        Ok(SourceOnly {
            backbone,
            head,
            opt,
        })
    }
}

impl AdaptMethod for SourceOnly {
    fn step(&mut self, b: &DaBatch, _p: f64, lr: f64) -> StepStats {
        let logits = self.head.forward(&self.backbone.features(b.xs, true));
        let loss = cross_entropy(&logits, b.ys);
        self.opt.zero_grad();
        loss.backward();
        self.opt.step(lr);
        let ce = loss.double_value(&[]);
        StepStats {
            total: ce,
            terms: vec![("ce_source", ce)],
            source_correct: correct(&logits, b.ys),
        }
    }

    fn predict(&self, xs: &Tensor) -> Tensor {
        self.head.forward(&self.backbone.features(xs, false))
    }

    fn features(&self, xs: &Tensor) -> Tensor {
        self.backbone.features(xs, false)
    }
}
