//! The learning-rate and loss-weight schedules the engine hands to a step at every iteration.
use serde::{Deserialize, Serialize};

use super::step::StepCtx;
use crate::nn::optim::lr_at;

/// How lr (and lambda) move over a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// Supervised training: linear warm-up to `lr` over `warmup` iterations, then cosine
    /// decay to 0 at `total`, per iteration; lambda 0.
    Cosine { lr: f64, warmup: u64, total: u64 },
    /// The released DA code, per epoch: lr0 (1 + 10 e / E)^-0.75 and lambda
    /// 2 / (1 + exp(-10 e / E)) - 1 (0 in the first epoch), `epochs` = E (fractional for
    /// runs given in iterations).
    Annealed { lr0: f64, epochs: f64 },
}

impl Schedule {
    /// The schedule at 0-based iteration `step` of 0-based epoch `epoch`.
    pub fn at(&self, step: u64, epoch: u64) -> StepCtx {
        match *self {
            Schedule::Cosine { lr, warmup, total } => StepCtx {
                epoch,
                lr: lr_at(lr, step, warmup, total),
                lambda: 0.0,
            },
            Schedule::Annealed { lr0, epochs } => StepCtx::at(lr0, epoch, epochs),
        }
    }
}

impl StepCtx {
    /// The released DA schedule at 0-based `epoch` of `epochs` (fractional for --iters runs).
    pub fn at(lr0: f64, epoch: u64, epochs: f64) -> Self {
        let p = epoch as f64 / epochs.max(1e-12);
        StepCtx {
            epoch,
            lr: lr0 * annealed_lr(p),
            lambda: dann_ramp(p),
        }
    }
}

/// DANN's annealed lr factor (1 + 10 p)^-0.75.
pub fn annealed_lr(p: f64) -> f64 {
    (1.0 + 10.0 * p).powf(-0.75)
}

/// DANN's reversal weight ramp: 2 / (1 + exp(-10 p)) - 1 for progress `p` in [0, 1].
pub fn dann_ramp(p: f64) -> f64 {
    2.0 / (1.0 + (-10.0 * p).exp()) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_schedules_by_hand() {
        let c = Schedule::Cosine {
            lr: 0.1,
            warmup: 4,
            total: 104,
        };
        assert!((c.at(0, 0).lr - 0.025).abs() < 1e-12);
        assert!((c.at(54, 3).lr - 0.05).abs() < 1e-12);
        assert_eq!(c.at(54, 3).epoch, 3);
        let a = Schedule::Annealed {
            lr0: 1e-3,
            epochs: 4.0,
        };
        // Per epoch: every iteration of epoch 0 has lr0 and lambda 0.
        assert_eq!(a.at(0, 0), a.at(17, 0));
        assert_eq!(a.at(0, 0).lambda, 0.0);
        assert!((a.at(30, 2).lr - 1e-3 * 6f64.powf(-0.75)).abs() < 1e-15);
        assert!((a.at(30, 2).lambda - dann_ramp(0.5)).abs() < 1e-15);
        assert!((annealed_lr(1.0) - 11f64.powf(-0.75)).abs() < 1e-12);
    }
}
