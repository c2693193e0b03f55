//! The one optimizer of `synthgen train` and `synthgen adapt`: SGD with momentum and Adam,
//! written on tensors so that every buffer (momentum, moments) can be checkpointed by name and a
//! resumed run continues exactly; parameter groups (an lr multiplier and a momentum per group,
//! as torch.optim's param groups: the adaptation methods' backbone x0.1, MCD's momentum-free
//! generator); the supervised per-iteration cosine schedule with optional linear warm-up, or an
//! lr given at each step (the adaptation schedule); global gradient-norm clipping.
use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use super::error::TrainError;
use crate::nn::distributed::ProcessGroup;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OptimConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    /// Global L2 norm the gradients are clipped to (None: no clipping).
    pub clip_norm: Option<f64>,
    pub warmup_iters: u64,
    pub total_iters: u64,
}

impl OptimConfig {
    /// The paper's supervised setting: SGD, momentum 0.9, weight decay 1e-4, clip 1.0.
    pub fn paper_sgd(lr: f64, total_iters: u64) -> Self {
        OptimConfig {
            kind: OptimizerKind::Sgd,
            lr,
            momentum: 0.9,
            weight_decay: 1e-4,
            betas: (0.9, 0.999),
            eps: 1e-8,
            clip_norm: Some(1.0),
            warmup_iters: 0,
            total_iters,
        }
    }
}

impl OptimConfig {
    /// The adaptation protocol's SGD: torch.optim.SGD with `momentum` and `weight_decay`, no
    /// clipping (the released DA code clips nothing); the lr is given at each step.
    pub fn adaptation(momentum: f64, weight_decay: f64) -> Self {
        OptimConfig {
            momentum,
            weight_decay,
            clip_norm: None,
            ..OptimConfig::paper_sgd(0.0, 1)
        }
    }
}

/// Learning rate at 0-based iteration `step`: linear warm-up to `lr` over `warmup` iterations,
/// then cosine decay to 0 at `total`.
pub fn lr_at(lr: f64, step: u64, warmup: u64, total: u64) -> f64 {
    if step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    0.5 * lr * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Per-parameter state buffers and their names in checkpoints.
const SGD_BUFFERS: &[&str] = &["momentum"];
const ADAM_BUFFERS: &[&str] = &["exp_avg", "exp_avg_sq"];

/// A parameter group: its variables step at `lr * lr_mult` with their own momentum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Group {
    pub lr_mult: f64,
    pub momentum: f64,
}

pub struct Optimizer {
    pub cfg: OptimConfig,
    params: Vec<(String, Tensor)>,
    /// Index into `groups` of each variable in `params`.
    group_of: Vec<usize>,
    groups: Vec<Group>,
    state: Vec<Vec<Tensor>>,
    /// Updates applied so far.
    pub step: u64,
    /// Data-parallel mode: gradients are averaged over the group's ranks before clipping and
    /// the update (where DistributedDataParallel's all-reduce has finished).
    sync: Option<Arc<ProcessGroup>>,
}

impl Optimizer {
    /// Optimises every trainable variable of `vs` (sorted by name for a stable order) in one
    /// group at the configured momentum.
    pub fn new(vs: &nn::VarStore, cfg: OptimConfig) -> Self {
        let group = Group {
            lr_mult: 1.0,
            momentum: cfg.momentum,
        };
        Optimizer::with_groups(vs, cfg, vec![group], |_| Some(0))
    }

    /// Optimises the trainable variables of `vs` for which `select(name)` names a group (an
    /// index into `groups`); the others are left alone.
    pub fn with_groups(
        vs: &nn::VarStore,
        cfg: OptimConfig,
        groups: Vec<Group>,
        select: impl Fn(&str) -> Option<usize>,
    ) -> Self {
        let mut chosen: Vec<(String, Tensor, usize)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .filter_map(|(n, t)| select(&n).map(|g| (n, t, g.min(groups.len() - 1))))
            .collect();
        chosen.sort_by(|a, b| a.0.cmp(&b.0));
        let names = buffer_names(cfg.kind);
        let state = chosen
            .iter()
            .map(|(_, p, _)| names.iter().map(|_| p.zeros_like()).collect())
            .collect();
        let group_of = chosen.iter().map(|c| c.2).collect();
        Optimizer {
            cfg,
            params: chosen.into_iter().map(|(n, t, _)| (n, t)).collect(),
            group_of,
            groups,
            state,
            step: 0,
            sync: None,
        }
    }

    /// Averages the gradients over `group`'s ranks at every step from now on.
    pub fn sync_gradients(&mut self, group: Arc<ProcessGroup>) {
        self.sync = Some(group);
    }

    /// Number of variables optimised.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Clears the gradients, back-propagates `loss` and steps at base lr `lr`.
    pub fn minimise(&mut self, loss: &Tensor, lr: f64) {
        self.zero_grad();
        loss.backward();
        self.step_at(lr);
    }

    pub fn lr(&self) -> f64 {
        lr_at(
            self.cfg.lr,
            self.step,
            self.cfg.warmup_iters,
            self.cfg.total_iters,
        )
    }

    /// Clears the gradients of the variables whose names pass `keep_clearing`; the others
    /// accumulate (SRDC's centres, which the released code never clears).
    pub fn zero_grad_where(&mut self, keep_clearing: impl Fn(&str) -> bool) {
        for (name, p) in self.params.iter_mut() {
            if keep_clearing(name) {
                p.zero_grad();
            }
        }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// Clips the gradients, applies one update at the scheduled lr, and returns the gradient
    /// norm before clipping.
    pub fn step(&mut self) -> f64 {
        self.step_at(self.lr())
    }

    /// As `step`, at base learning rate `lr` (times each group's multiplier). In data-parallel
    /// mode a failed gradient all-reduce skips the update and returns NaN; the engine then
    /// reports the group's failure.
    pub fn step_at(&mut self, lr: f64) -> f64 {
        if let Some(group) = &self.sync {
            let grads: Vec<Tensor> = self
                .params
                .iter()
                .map(|(_, p)| p.grad())
                .filter(Tensor::defined)
                .collect();
            if group.all_reduce_mean(&grads).is_err() {
                return f64::NAN;
            }
        }
        let cfg = self.cfg.clone();
        let norm = tch::no_grad(|| {
            let grads: Vec<Option<Tensor>> = self
                .params
                .iter()
                .map(|(_, p)| Some(p.grad()).filter(Tensor::defined))
                .collect();
            let sq: f64 = grads
                .iter()
                .flatten()
                .map(|g| g.square().sum(tch::Kind::Float).double_value(&[]))
                .sum();
            let norm = sq.sqrt();
            let scale = match cfg.clip_norm {
                Some(max) if norm > max => max / (norm + 1e-6),
                _ => 1.0,
            };
            let t = (self.step + 1) as i32;
            for ((((_, p), grad), buf), g) in self
                .params
                .iter_mut()
                .zip(grads)
                .zip(&mut self.state)
                .zip(&self.group_of)
            {
                let Some(grad) = grad else { continue };
                let Group { lr_mult, momentum } = self.groups[*g];
                let lr = lr * lr_mult;
                let mut d = grad * scale;
                if cfg.weight_decay != 0.0 {
                    d += &*p * cfg.weight_decay;
                }
                match cfg.kind {
                    OptimizerKind::Sgd => {
                        let m = &mut buf[0];
                        *m *= momentum;
                        *m += &d;
                        *p -= &*m * lr;
                    }
                    OptimizerKind::Adam => {
                        let (b1, b2) = cfg.betas;
                        buf[0] *= b1;
                        buf[0] += &d * (1.0 - b1);
                        buf[1] *= b2;
                        buf[1] += d.square() * (1.0 - b2);
                        let c1 = 1.0 - b1.powi(t);
                        let c2 = 1.0 - b2.powi(t);
                        let denom = (&buf[1] / c2).sqrt() + cfg.eps;
                        *p -= (&buf[0] / denom) * (lr / c1);
                    }
                }
            }
            norm
        });
        self.step += 1;
        norm
    }

    /// The state tensors, named `optim.<buffer>.<variable>`.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let names = buffer_names(self.cfg.kind);
        let mut out = Vec::new();
        for ((name, _), bufs) in self.params.iter().zip(&self.state) {
            for (b, t) in names.iter().zip(bufs) {
                out.push((format!("optim.{b}.{name}"), t.shallow_clone()));
            }
        }
        out
    }

    /// Restores the buffers from checkpoint tensors (see `state_tensors`).
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        file: &std::path::Path,
        step: u64,
    ) -> Result<(), TrainError> {
        let names = buffer_names(self.cfg.kind);
        for ((name, p), bufs) in self.params.iter().zip(self.state.iter_mut()) {
            for (b, t) in names.iter().zip(bufs.iter_mut()) {
                let key = format!("optim.{b}.{name}");
                let src = tensors.get(&key).ok_or_else(|| TrainError::BadCheckpoint {
                    path: file.to_path_buf(),
                    why: format!(
                        "it has no optimizer buffer `{key}` (another optimizer or model?)"
                    ),
                })?;
                if src.size() != p.size() {
                    return Err(TrainError::BadCheckpoint {
                        path: file.to_path_buf(),
                        why: format!(
                            "`{key}` has shape {:?}, expected {:?}",
                            src.size(),
                            p.size()
                        ),
                    });
                }
                tch::no_grad(|| t.copy_(src));
            }
        }
        self.step = step;
        Ok(())
    }
}

fn buffer_names(kind: OptimizerKind) -> &'static [&'static str] {
    match kind {
        OptimizerKind::Sgd => SGD_BUFFERS,
        OptimizerKind::Adam => ADAM_BUFFERS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        assert!((lr_at(0.1, 0, 4, 104) - 0.025).abs() < 1e-12);
        assert!((lr_at(0.1, 3, 4, 104) - 0.1).abs() < 1e-12);
        assert!((lr_at(0.1, 4, 4, 104) - 0.1).abs() < 1e-12);
        assert!((lr_at(0.1, 54, 4, 104) - 0.05).abs() < 1e-12);
        assert!(lr_at(0.1, 103, 4, 104) < 1e-4);
        assert!((lr_at(0.1, 0, 0, 10) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn sgd_matches_hand_computation_with_clipping() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(1.0));
        let mut cfg = OptimConfig::paper_sgd(0.5, 1_000_000);
        cfg.weight_decay = 0.0;
        let mut opt = Optimizer::new(&vs, cfg);
        // loss = 3 w0 + 4 w1: gradient (3, 4), norm 5, clipped to (0.6, 0.8).
        for _ in 0..2 {
            opt.zero_grad();
            let loss = (&w * Tensor::from_slice(&[3.0f32, 4.0])).sum(Kind::Float);
            loss.backward();
            opt.step();
        }
        // step 1: m = g, w = 1 - 0.5 g; step 2: m = 0.9 g + g = 1.9 g, w -= 0.5 * 1.9 g
        // (the lr barely moves over 2 of 10^6 cosine steps).
        let got: Vec<f32> = Vec::try_from(&w).unwrap();
        let g = [0.6f32, 0.8];
        for i in 0..2 {
            let want = 1.0 - 0.5 * g[i] - 0.5 * 1.9 * g[i];
            assert!((got[i] - want).abs() < 1e-4, "{got:?}");
        }
        assert_eq!(opt.state_tensors()[0].0, "optim.momentum.w");
    }
}
