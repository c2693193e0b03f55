//! The interface between the engine and what trains: supervised training (`train::supervised`)
//! and every adaptation method (`adapt::methods::*`) are `Method`s, which the engine runs as
//! `TrainStep`s through `Trainee`: the trainee holds the method's model (in the run's
//! VarStore, so that checkpoints and --init see it) and its optimizers, and answers the engine
//! for them, so that a method holds only its own step and run state. The engine feeds a step
//! batches, the schedule and, once per epoch, full passes over the training data.
use std::collections::HashMap;
use std::path::Path;

use tch::Tensor;

use crate::nn::models::Classifier;
use crate::nn::optim::Optimizer;
use crate::nn::TrainError;

/// One iteration's input: a labelled batch and, when the run has a target domain, a target
/// batch with the target images' indices in the target set (target labels never reach a step).
/// Without a target domain (supervised training) `xt` holds 0 images and `target_index` is empty.
pub struct StepBatch<'a> {
    pub xs: &'a Tensor,
    pub ys: &'a Tensor,
    pub xt: &'a Tensor,
    pub target_index: &'a [usize],
}

/// The schedule at this iteration (see `engine::Schedule`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepCtx {
    /// 0-based epoch.
    pub epoch: u64,
    /// Base lr of this iteration (each parameter group multiplies it by its own factor).
    pub lr: f64,
    /// Loss / gradient-reversal weight (adaptation methods; 0 for supervised training).
    pub lambda: f64,
}

/// Scalars of one step: the named loss terms and the total that was minimised first.
#[derive(Debug, Clone, Default)]
pub struct StepStats {
    pub total: f64,
    pub terms: Vec<(&'static str, f64)>,
    /// Correct predictions among the labelled images of the batch.
    pub source_correct: u64,
}

impl StepStats {
    /// Reads the scalar loss tensors of a step.
    pub fn read(total: &Tensor, terms: &[(&'static str, &Tensor)], source_correct: u64) -> Self {
        StepStats {
            total: total.double_value(&[]),
            terms: terms
                .iter()
                .map(|(name, t)| (*name, t.double_value(&[])))
                .collect(),
            source_correct,
        }
    }
}

/// What evaluation and the t-SNE picture need from a trained model (eval mode).
pub trait EvalModel {
    /// Class scores; their argmax is the prediction.
    fn predict(&self, xs: &Tensor) -> Tensor;
    /// Backbone features.
    fn features(&self, xs: &Tensor) -> Tensor;
}

impl EvalModel for Classifier {
    fn predict(&self, xs: &Tensor) -> Tensor {
        self.forward(xs, false)
    }

    fn features(&self, xs: &Tensor) -> Tensor {
        self.backbone.features(xs, false)
    }
}

/// What a full pass returns: `f`'s outputs over the images that decoded (each concatenated
/// over batches), their labels, and their indices in the set.
pub struct PassOutput {
    pub outputs: Vec<Tensor>,
    pub labels: Tensor,
    pub index: Tensor,
}

/// Eval-mode passes over whole data sets (evaluation transform), for steps that look at all
/// of the data once per epoch (SRDC's clustering).
pub trait FullPass {
    /// `f` applied to every labelled (source) training image.
    fn source(&self, f: &mut dyn FnMut(&Tensor) -> Vec<Tensor>) -> Result<PassOutput, TrainError>;
    /// `f` applied to every target training image (labels: -1 where unknown).
    fn target(&self, f: &mut dyn FnMut(&Tensor) -> Vec<Tensor>) -> Result<PassOutput, TrainError>;
}

/// What the engine trains: supervised training or a domain-adaptation method.
pub trait TrainStep {
    /// One training iteration (all of the step's forward/backward/update passes). A step whose
    /// loss is not finite returns it without updating anything; the engine then stops.
    fn step(&mut self, batch: &StepBatch, ctx: &StepCtx) -> StepStats;
    /// The model that evaluation and the t-SNE picture use.
    fn model(&self) -> &dyn EvalModel;
    /// Called before the first iteration of each epoch (runs with epochs of a fixed length).
    fn epoch_start(&mut self, _epoch: u64, _data: &dyn FullPass) -> Result<(), TrainError> {
        Ok(())
    }
    /// The step's optimizers, always in the same order (their buffers are checkpointed).
    fn optimizers(&self) -> Vec<&Optimizer>;
    fn optimizers_mut(&mut self) -> Vec<&mut Optimizer>;
    /// Run state beyond the optimizers (`method.*`: centroids, cluster centres, labels).
    fn method_state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    /// Restores what `method_state` gave.
    fn load_method_state(
        &mut self,
        _t: &HashMap<String, Tensor>,
        _file: &Path,
    ) -> Result<(), TrainError> {
        Ok(())
    }
    /// Optimizer buffers and method state (`optim.*`, `method.*`) for checkpoints.
    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut t: Vec<(String, Tensor)> = self
            .optimizers()
            .iter()
            .flat_map(|o| o.state_tensors())
            .collect();
        t.extend(self.method_state());
        t
    }
    /// Restores what `state_tensors` gave; `step` is the checkpoint's step.
    fn load_state(
        &mut self,
        t: &HashMap<String, Tensor>,
        file: &Path,
        step: u64,
    ) -> Result<(), TrainError> {
        for o in self.optimizers_mut() {
            o.load_state(t, file, step)?;
        }
        self.load_method_state(t, file)
    }
}

/// A method's optimizers, in the order checkpoints keep their buffers.
pub trait Optimizers {
    fn all(&self) -> Vec<&Optimizer>;
    fn all_mut(&mut self) -> Vec<&mut Optimizer>;
}

impl Optimizers for Optimizer {
    fn all(&self) -> Vec<&Optimizer> {
        vec![self]
    }

    fn all_mut(&mut self) -> Vec<&mut Optimizer> {
        vec![self]
    }
}

impl<const N: usize> Optimizers for [Optimizer; N] {
    fn all(&self) -> Vec<&Optimizer> {
        self.iter().collect()
    }

    fn all_mut(&mut self) -> Vec<&mut Optimizer> {
        self.iter_mut().collect()
    }
}

/// One way of training (supervised, or an adaptation method): its step over the model and the
/// optimizers its `Trainee` holds, and any run state of its own.
pub trait Method {
    /// What evaluation and the t-SNE picture read.
    type Model: EvalModel;
    /// One `Optimizer`, or an array of them.
    type Optimizers: Optimizers;
    /// One training iteration (see `TrainStep::step`).
    fn step(
        &mut self,
        model: &Self::Model,
        opts: &mut Self::Optimizers,
        batch: &StepBatch,
        ctx: &StepCtx,
    ) -> StepStats;
    /// Called before the first iteration of each epoch (runs with epochs of a fixed length).
    fn epoch_start(
        &mut self,
        _model: &Self::Model,
        _epoch: u64,
        _data: &dyn FullPass,
    ) -> Result<(), TrainError> {
        Ok(())
    }
    /// Run state beyond the optimizers (`method.*`: centroids, cluster centres, labels).
    fn method_state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    /// Restores what `method_state` gave.
    fn load_method_state(
        &mut self,
        _t: &HashMap<String, Tensor>,
        _file: &Path,
    ) -> Result<(), TrainError> {
        Ok(())
    }
}

/// A method with the model and the optimizers it trains: the `TrainStep` the engine runs.
pub struct Trainee<M: Method> {
    pub method: M,
    pub model: M::Model,
    pub optimizers: M::Optimizers,
}

impl<M: Method> TrainStep for Trainee<M> {
    fn step(&mut self, batch: &StepBatch, ctx: &StepCtx) -> StepStats {
        self.method
            .step(&self.model, &mut self.optimizers, batch, ctx)
    }

    fn model(&self) -> &dyn EvalModel {
        &self.model
    }

    fn epoch_start(&mut self, epoch: u64, data: &dyn FullPass) -> Result<(), TrainError> {
        self.method.epoch_start(&self.model, epoch, data)
    }

    fn optimizers(&self) -> Vec<&Optimizer> {
        self.optimizers.all()
    }

    fn optimizers_mut(&mut self) -> Vec<&mut Optimizer> {
        self.optimizers.all_mut()
    }

    fn method_state(&self) -> Vec<(String, Tensor)> {
        self.method.method_state()
    }

    fn load_method_state(
        &mut self,
        t: &HashMap<String, Tensor>,
        file: &Path,
    ) -> Result<(), TrainError> {
        self.method.load_method_state(t, file)
    }
}
