//! SGD with momentum over a chosen subset of variables, each with an lr multiplier (backbone
//! x0.1 when initialised from a checkpoint). The lr is passed at every step because the
//! adaptation methods have their own schedules (DANN's annealing) and several optimizers
//! (MCD's generator and classifiers). Same update as torch.optim.SGD (no clipping: the DA
//! protocol of the released code clips nothing).
use tch::{nn, Tensor};

use super::method::MethodSetup;

pub struct Sgd {
    /// (name, variable, lr multiplier), sorted by name.
    params: Vec<(String, Tensor, f64)>,
    momentum_buf: Vec<Tensor>,
    momentum: f64,
    weight_decay: f64,
}

impl Sgd {
    /// Optimises the trainable variables of `vs` for which `select(name)` gives a multiplier.
    pub fn new(
        vs: &nn::VarStore,
        select: impl Fn(&str) -> Option<f64>,
        momentum: f64,
        weight_decay: f64,
    ) -> Self {
        let mut params: Vec<(String, Tensor, f64)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .filter_map(|(n, t)| select(&n).map(|m| (n, t, m)))
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let momentum_buf = params.iter().map(|(_, p, _)| p.zeros_like()).collect();
        Sgd {
            params,
            momentum_buf,
            momentum,
            weight_decay,
        }
    }

    /// Every trainable variable, the backbone's at the setup's multiplier of the lr.
    pub fn whole_model(vs: &nn::VarStore, s: &MethodSetup) -> Self {
        let mult = |name: &str| {
            Some(if name.starts_with("backbone.") {
                s.backbone_lr_mult
            } else {
                1.0
            })
        };
        Sgd::new(vs, mult, s.momentum, s.weight_decay)
    }

    /// Clears the gradients, back-propagates `loss` and takes one step.
    pub fn minimise(&mut self, loss: &Tensor, lr: f64) {
        self.zero_grad();
        loss.backward();
        self.step(lr);
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    pub fn zero_grad(&mut self) {
        for (_, p, _) in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// One update at base learning rate `lr` (times each variable's multiplier).
    pub fn step(&mut self, lr: f64) {
        tch::no_grad(|| {
            for ((_, p, mult), m) in self.params.iter_mut().zip(&mut self.momentum_buf) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                // Out of place: `g` is the variable's gradient buffer itself.
                let d = if self.weight_decay != 0.0 {
                    &g + &*p * self.weight_decay
                } else {
                    g
                };
                *m *= self.momentum;
                *m += &d;
                *p -= &*m * (lr * *mult);
            }
        });
    }
}

/// Variables under `prefix.`: `Some(mult)`, others `None` (for `Sgd::new`).
pub fn under(prefix: &str, mult: f64) -> impl Fn(&str) -> Option<f64> + '_ {
    move |name| name.starts_with(&format!("{prefix}.")).then_some(mult)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn matches_torch_sgd_by_hand_and_respects_multipliers() {
        let vs = nn::VarStore::new(Device::Cpu);
        let a = vs
            .root()
            .sub("backbone")
            .var("a", &[1], nn::Init::Const(1.0));
        let b = vs.root().sub("head").var("b", &[1], nn::Init::Const(1.0));
        let mut opt = Sgd::new(
            &vs,
            |n| Some(if n.starts_with("backbone.") { 0.1 } else { 1.0 }),
            0.9,
            0.5,
        );
        for _ in 0..2 {
            opt.zero_grad();
            ((&a * 2.0) + (&b * 2.0)).sum(Kind::Float).backward();
            opt.step(0.1);
        }
        // d = 2 + 0.5 p. head (mult 1): p1 = 1 - 0.1*2.5 = 0.75; d2 = 2.375, m2 = 0.9*2.5 + 2.375
        // = 4.625, p2 = 0.75 - 0.4625 = 0.2875. backbone (lr 0.01): p1 = 0.975; d2 = 2.4875,
        // m2 = 2.25 + 2.4875 = 4.7375, p2 = 0.975 - 0.047375 = 0.927625.
        assert!((a.double_value(&[0]) - 0.927_625).abs() < 1e-6);
        assert!((b.double_value(&[0]) - 0.2875).abs() < 1e-6);
        assert_eq!(Sgd::new(&vs, under("head", 1.0), 0.9, 0.0).len(), 1);
    }
}
