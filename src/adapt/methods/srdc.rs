//! SRDC (Tang, Chen & Jia 2020, "Unsupervised Domain Adaptation via Structurally Regularized
//! Deep Clustering") as released (flags of the paper's `run.sh`: `--num_neurons 128
//! --cluster_iter 2`, with the script's fixed `src_cls`, `src_cen_first`, `learn_embed`,
//! `embed_softmax`; beta 1, alpha 1, no source selection).
//!
//! Network: backbone (features f1) -> bottleneck Linear -> BN -> ReLU (features f2, 128 x the
//! block expansion wide) -> linear head (K). Learnable cluster centres at both feature levels.
//! Once per epoch (before its first iteration), an eval-mode pass over the whole source and
//! target sets: source class centroids, target centroids by the head's argmax, then K-means
//! (2 iterations, squared Euclidean distance) on the target features of each level, started
//! from the source centroids in the first epoch and from the target centroids later. The
//! level-1 clusters are the target pseudo-labels; both levels' K-means centroids replace the
//! learnable centres (their optimizer momentum is kept, as `.data =` keeps it in PyTorch).
//! Each iteration, with w = 1 in the first epoch and lambda later:
//!   loss = w [T(head, target) + T(kernel1, target) + T(kernel2, target)]
//!        + CE(head, source) + w [CE(kernel1, source) + CE(kernel2, source)],
//! where kernel_l are Student-t kernel values (1 + |f_l - c|^2)^-1 of the raw features to the
//! centres, used as logits (a softmax follows, as `--embed_softmax` does), and T is the hard
//! cross-entropy on the pseudo-labels in the first epoch, later the cross-entropy against the
//! auxiliary distribution q_ik ∝ p_ik / sqrt(sum_i p_ik) of p = softmax(logits), q kept in the
//! graph. Centres learn at the backbone's lr (0.1 x lr from a pre-trained backbone), and, as
//! in the released code (its `model.zero_grad()` does not reach them), their gradients are
//! never cleared: each step adds to what the previous ones left (kept in checkpoints).
use std::collections::HashMap;
use std::path::Path;

use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use crate::adapt::error::AdaptError;
use crate::adapt::method::{backbone, correct, cross_entropy, state_tensor, MethodSetup};
use crate::engine::{
    float_kind, widen, EvalModel, FullPass, Method, StepBatch, StepCtx, StepStats, Trainee,
};
use crate::nn::models::{torch_batch_norm1d, torch_linear, Backbone};
use crate::nn::optim::{Group, OptimConfig, Optimizer};
use crate::nn::TrainError;

/// K-means iterations per epoch (`--cluster_iter 2`).
pub const KMEANS_ITERS: usize = 2;
/// The released guard against empty clusters.
pub const EPS: f64 = 1e-6;
/// Rows per block when computing distances (bounds memory as the released code does).
const BLOCK: i64 = 2000;

/// Student-t kernel values (alpha = 1) of rows of `f` to rows of `centres`: 1 / (1 + d^2).
pub fn student_t(f: &Tensor, centres: &Tensor) -> Tensor {
    ((f.unsqueeze(1) - centres.unsqueeze(0))
        .pow_tensor_scalar(2)
        .sum_dim_intlist(&[2i64][..], false, float_kind(f))
        + 1.0)
        .reciprocal()
}

/// The target clustering loss T of the module doc: hard CE on `labels` in the first epoch,
/// later CE against the auxiliary distribution of softmax(`logits`), kept in the graph.
pub fn target_cluster_loss(logits: &Tensor, labels: &Tensor, first_epoch: bool) -> Tensor {
    if first_epoch {
        return cross_entropy(logits, labels);
    }
    let kind = float_kind(logits);
    let p = logits.softmax(1, kind);
    let q = &p / p.sum_dim_intlist(&[0i64][..], true, None).sqrt();
    let q = &q / q.sum_dim_intlist(&[1i64][..], true, None);
    -(q * logits.log_softmax(1, kind))
        .sum_dim_intlist(&[1i64][..], false, None)
        .mean(None)
}

/// Squared Euclidean distances of rows of `f` to rows of `c`, in blocks of rows.
fn distances(f: &Tensor, c: &Tensor) -> Tensor {
    let n = f.size()[0];
    let blocks: Vec<Tensor> = (0..n)
        .step_by(BLOCK as usize)
        .map(|i| {
            (f.narrow(0, i, BLOCK.min(n - i)).unsqueeze(1) - c.unsqueeze(0))
                .pow_tensor_scalar(2)
                .sum_dim_intlist(&[2i64][..], false, float_kind(f))
        })
        .collect();
    Tensor::cat(&blocks, 0)
}

/// Sum of the rows of `f` per label, divided by (count + `eps`).
pub fn class_means(f: &Tensor, labels: &Tensor, k: i64, eps: f64) -> Tensor {
    let onehot = labels.one_hot(k).to_kind(float_kind(f));
    let count = onehot
        .sum_dim_intlist(&[0i64][..], false, None)
        .unsqueeze(1);
    onehot.tr().mm(f) / (count + eps)
}

/// K-means from `init` for `iters` iterations: (centroids after the last update, labels of
/// the last assignment), as the released `kmeans`.
pub fn kmeans(f: &Tensor, init: &Tensor, iters: usize) -> (Tensor, Tensor) {
    let k = init.size()[0];
    let mut c = init.copy();
    let mut labels = Tensor::zeros([f.size()[0]], (Kind::Int64, f.device()));
    for _ in 0..iters {
        labels = distances(f, &c).argmin(1, false);
        c = class_means(f, &labels, k, EPS);
    }
    (c, labels)
}

/// The backbone, the bottleneck (linear, batch norm, ReLU) and the class head.
pub struct SrdcNet {
    backbone: Box<dyn Backbone>,
    bottleneck: nn::Linear,
    bn: nn::BatchNorm,
    head: nn::Linear,
}

/// SRDC's run state: the cluster centres of both feature levels and the pseudo-labels.
pub struct Srdc {
    centres1: Tensor,
    centres2: Tensor,
    /// Level-1 K-means cluster of every target image (the pseudo-labels of this epoch).
    pseudo: Tensor,
    k: i64,
}

impl Srdc {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Trainee<Self>, AdaptError> {
        let backbone = backbone(vs, s)?;
        let d1 = backbone.feature_dim();
        let d2 = s.srdc_bottleneck.unwrap_or((d1 / 4).max(1));
        let root = vs.root();
        let bottleneck = torch_linear(&root / "bottleneck" / "linear", d1, d2);
        let bn = torch_batch_norm1d(&root / "bottleneck" / "bn", d2);
        let head = torch_linear(&root / "head", d2, s.num_classes);
        let centres1 = (&root / "srdc").var("centres1", &[s.num_classes, d1], nn::Init::Const(0.0));
        let centres2 = (&root / "srdc").var("centres2", &[s.num_classes, d2], nn::Init::Const(0.0));
        let groups = vec![
            Group {
                lr_mult: s.backbone_lr_mult,
                momentum: s.momentum,
            },
            Group {
                lr_mult: 1.0,
                momentum: s.momentum,
            },
        ];
        let opt = Optimizer::with_groups(
            vs,
            OptimConfig::adaptation(s.momentum, s.weight_decay),
            groups,
            |n| {
                if n.starts_with("backbone.") || n.starts_with("srdc.") {
                    Some(0)
                } else {
                    Some(1)
                }
            },
        );
        Ok(Trainee {
            method: Srdc {
                centres1,
                centres2,
                pseudo: Tensor::zeros([s.target_images.max(1) as i64], (Kind::Int64, vs.device())),
                k: s.num_classes,
            },
            model: SrdcNet {
                backbone,
                bottleneck,
                bn,
                head,
            },
            optimizers: opt,
        })
    }
}

impl SrdcNet {
    /// (backbone features, bottleneck features, logits).
    fn forward3(&self, x: &Tensor, train: bool) -> (Tensor, Tensor, Tensor) {
        let f1 = widen(&self.backbone.features(x, train));
        let f2 = self
            .bn
            .forward_t(&self.bottleneck.forward(&f1), train)
            .relu();
        let logits = self.head.forward(&f2);
        (f1, f2, logits)
    }
}

impl Method for Srdc {
    type Model = SrdcNet;
    type Optimizers = Optimizer;

    fn epoch_start(
        &mut self,
        net: &SrdcNet,
        epoch: u64,
        data: &dyn FullPass,
    ) -> Result<(), TrainError> {
        let k = self.k;
        tch::no_grad(|| -> Result<(), TrainError> {
            let src = data.source(&mut |x| {
                let (f1, f2, _) = net.forward3(x, false);
                vec![f1, f2]
            })?;
            let tgt = data.target(&mut |x| {
                let (f1, f2, l) = net.forward3(x, false);
                vec![f1, f2, l]
            })?;
            if tgt.outputs.is_empty() || src.outputs.is_empty() {
                return Ok(());
            }
            let pred = tgt.outputs[2].argmax(1, false);
            let mut centres = Vec::new();
            for level in 0..2 {
                // Source class sizes are never 0 (classes come from the source folders).
                let cs = class_means(&src.outputs[level], &src.labels, k, 0.0);
                let ct = class_means(&tgt.outputs[level], &pred, k, EPS);
                let init = if epoch == 0 { cs } else { ct };
                centres.push(kmeans(&tgt.outputs[level], &init, KMEANS_ITERS));
            }
            self.pseudo = self.pseudo.zeros_like();
            let _ = self.pseudo.index_copy_(0, &tgt.index, &centres[0].1);
            self.centres1.copy_(&centres[0].0);
            self.centres2.copy_(&centres[1].0);
            Ok(())
        })
    }

    fn step(
        &mut self,
        net: &SrdcNet,
        opt: &mut Optimizer,
        b: &StepBatch,
        ctx: &StepCtx,
    ) -> StepStats {
        let first = ctx.epoch == 0;
        let w = if first { 1.0 } else { ctx.lambda };
        let index: Vec<i64> = b.target_index.iter().map(|&i| i as i64).collect();
        let yt = self.pseudo.index_select(
            0,
            &Tensor::from_slice(&index).to_device(self.pseudo.device()),
        );
        let (ft1, ft2, lt) = net.forward3(b.xt, true);
        let t_out = target_cluster_loss(&lt, &yt, first);
        let t_f1 = target_cluster_loss(&student_t(&ft1, &self.centres1), &yt, first);
        let t_f2 = target_cluster_loss(&student_t(&ft2, &self.centres2), &yt, first);
        let (fs1, fs2, ls) = net.forward3(b.xs, true);
        let ce = cross_entropy(&ls, b.ys);
        let s_f1 = cross_entropy(&student_t(&fs1, &self.centres1), b.ys);
        let s_f2 = cross_entropy(&student_t(&fs2, &self.centres2), b.ys);
        let loss = (&t_out + &t_f1 + &t_f2) * w + &ce + (&s_f1 + &s_f2) * w;
        // As released: `model.zero_grad()` clears the network only; the centres (outside the
        // model) keep accumulating their gradients from iteration to iteration.
        opt.zero_grad_where(|n| !n.starts_with("srdc."));
        loss.backward();
        opt.step_at(ctx.lr);
        StepStats::read(
            &loss,
            &[
                ("ce_source", &ce),
                ("source_kernel1", &s_f1),
                ("source_kernel2", &s_f2),
                ("target_output", &t_out),
                ("target_kernel1", &t_f1),
                ("target_kernel2", &t_f2),
            ],
            correct(&ls, b.ys),
        )
    }

    fn method_state(&self) -> Vec<(String, Tensor)> {
        let mut t = Vec::new();
        t.push((
            "method.srdc.pseudo_labels".into(),
            self.pseudo.shallow_clone(),
        ));
        for (name, c) in [("centres1", &self.centres1), ("centres2", &self.centres2)] {
            let g = c.grad();
            let g = if g.defined() { g } else { c.zeros_like() };
            t.push((format!("method.srdc.{name}_grad"), g));
        }
        t
    }

    fn load_method_state(
        &mut self,
        t: &HashMap<String, Tensor>,
        file: &Path,
    ) -> Result<(), TrainError> {
        self.pseudo = state_tensor(t, "method.srdc.pseudo_labels", &self.pseudo, file)?;
        for (name, c) in [("centres1", &self.centres1), ("centres2", &self.centres2)] {
            let src = state_tensor(t, &format!("method.srdc.{name}_grad"), c, file)?;
            if !c.grad().defined() {
                // Allocates the gradient buffer (zeros) so that it can be filled.
                (c.sum(None) * 0.0).backward();
            }
            tch::no_grad(|| c.grad().copy_(&src));
        }
        Ok(())
    }
}

impl EvalModel for SrdcNet {
    fn predict(&self, xs: &Tensor) -> Tensor {
        self.forward3(xs, false).2
    }

    fn features(&self, xs: &Tensor) -> Tensor {
        self.backbone.features(xs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(t: &Tensor) -> Vec<f32> {
        Vec::try_from(t.reshape([-1])).unwrap()
    }

    #[test]
    fn student_t_and_auxiliary_loss_by_hand() {
        // f = (1, 0); centres (1, 0) and (0, 1): d^2 = 0 and 2 -> kernels 1 and 1/3.
        let f = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
        let c = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 2]);
        let k = v(&student_t(&f, &c));
        assert!((k[0] - 1.0).abs() < 1e-6 && (k[1] - 1.0 / 3.0).abs() < 1e-6);
        // Logits [[ln 9, 0], [0, 0]]: p = [[0.9, 0.1], [0.5, 0.5]], column sums (1.4, 0.6).
        let logits = Tensor::from_slice(&[9f32.ln(), 0.0, 0.0, 0.0]).view([2, 2]);
        let p = [[0.9f64, 0.1], [0.5, 0.5]];
        let (s0, s1) = (1.4f64.sqrt(), 0.6f64.sqrt());
        let want: f64 = p
            .iter()
            .map(|r| {
                let (a, b) = (r[0] / s0, r[1] / s1);
                let (qa, qb) = (a / (a + b), b / (a + b));
                -(qa * r[0].ln() + qb * r[1].ln())
            })
            .sum::<f64>()
            / 2.0;
        let y = Tensor::from_slice(&[0i64, 0]);
        let got = target_cluster_loss(&logits, &y, false).double_value(&[]);
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        let hard = target_cluster_loss(&logits, &y, true).double_value(&[]);
        assert!((hard - (-(0.9f64.ln()) - 0.5f64.ln()) / 2.0).abs() < 1e-5);
    }

    #[test]
    fn kmeans_two_iterations_by_hand() {
        // Points 0, 1 (near centre 0) and 9, 10 (near 10); start centres 0 and 5: the first
        // assignment puts 1 with 0 and 9, 10 with 5; the means are 0.5 and 9.5.
        let f = Tensor::from_slice(&[0.0f32, 1.0, 9.0, 10.0]).view([4, 1]);
        let init = Tensor::from_slice(&[0.0f32, 5.0]).view([2, 1]);
        let (c, labels) = kmeans(&f, &init, 2);
        assert_eq!(Vec::<i64>::try_from(&labels).unwrap(), vec![0, 0, 1, 1]);
        let c = v(&c);
        assert!(
            (c[0] - 0.5).abs() < 1e-5 && (c[1] - 9.5).abs() < 1e-5,
            "{c:?}"
        );
    }
}
