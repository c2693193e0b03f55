//! SRDC (Tang, Chen & Jia 2020, "Unsupervised Domain Adaptation via Structurally Regularized
//! Deep Clustering"): the target is clustered directly, at the output level (the classifier's
//! probabilities) and at the feature level (Student-t soft assignments to K learnable class
//! centres), each by minimising KL(Q || P) against the balanced auxiliary distribution
//! q_ik ∝ p_ik / sqrt(sum_i p_ik) (the closed-form minimiser of KL plus the cluster-size
//! balance term). Source labels regularise the same two structures (cross-entropy on both).
//! Simplifications, said plainly: centres are learnable parameters on L2-normalised features
//! (the paper re-estimates them per epoch, initialised from source class means), the auxiliary
//! distribution is computed per batch, and the soft source-sample weighting is left out.
use tch::nn;
use tch::{Kind, Tensor};

use crate::adapt::error::AdaptError;
use crate::adapt::method::{
    classifier, correct, cross_entropy, joint_input, AdaptMethod, DaBatch, EvalModel, MethodSetup,
    StepStats,
};
use crate::adapt::sgd::Sgd;
use crate::train::models::Classifier;

/// The balanced auxiliary distribution of SRDC: q_ik ∝ p_ik / sqrt(sum_i p_ik), rows sum to 1.
pub fn auxiliary(p: &Tensor) -> Tensor {
    let freq = p.sum_dim_intlist(&[0i64][..], true, Kind::Float).sqrt();
    let q = p / freq;
    &q / q.sum_dim_intlist(&[-1i64][..], true, Kind::Float)
}

/// Mean over rows of KL(q_i || p_i) for probabilities `p`, with Q = auxiliary(P) held fixed.
pub fn clustering_loss(p: &Tensor) -> Tensor {
    let q = auxiliary(&p.detach());
    let eps = 1e-8;
    (&q * ((&q + eps).log() - (p + eps).log()))
        .sum_dim_intlist(&[-1i64][..], false, Kind::Float)
        .mean(Kind::Float)
}

/// Student-t soft assignment of rows of `z` to `centres` (both L2-normalised first).
pub fn soft_assign(z: &Tensor, centres: &Tensor) -> Tensor {
    let norm = |t: &Tensor| t / (t.norm_scalaropt_dim(2, &[-1i64][..], true) + 1e-8);
    let (z, c) = (norm(z), norm(centres));
    let d2 = (z.unsqueeze(1) - c.unsqueeze(0)).square().sum_dim_intlist(
        &[-1i64][..],
        false,
        Kind::Float,
    );
    let k = (d2 + 1.0).reciprocal();
    &k / k.sum_dim_intlist(&[-1i64][..], true, Kind::Float)
}

pub struct Srdc {
    net: Classifier,
    centres: Tensor,
    opt: Sgd,
}

impl Srdc {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Self, AdaptError> {
        let net = classifier(vs, s)?;
        let centres = (vs.root() / "srdc").var(
            "centres",
            &[s.num_classes, net.backbone.feature_dim()],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        );
        Ok(Srdc {
            net,
            centres,
            opt: Sgd::whole_model(vs, s),
        })
    }
}

impl AdaptMethod for Srdc {
    fn step(&mut self, b: &DaBatch, _p: f64, lr: f64) -> StepStats {
        let (x, ns) = joint_input(b);
        let f = self.net.backbone.features(&x, true);
        let nt = f.size()[0] - ns;
        let logits = self.net.head.forward(&f);
        let (ls, lt) = (logits.narrow(0, 0, ns), logits.narrow(0, ns, nt));
        let assign = soft_assign(&f, &self.centres);
        let (as_, at) = (assign.narrow(0, 0, ns), assign.narrow(0, ns, nt));
        let ce = cross_entropy(&ls, b.ys);
        // Feature-level source structure: the true class's centre must be the nearest.
        let ce_feat = (as_ + 1e-8).log().nll_loss(b.ys);
        let cl_out = clustering_loss(&lt.softmax(-1, Kind::Float));
        let cl_feat = clustering_loss(&at);
        let loss = &ce + &ce_feat + &cl_out + &cl_feat;
        self.opt.minimise(&loss, lr);
        StepStats::read(
            &loss,
            &[
                ("ce_source", &ce),
                ("ce_source_features", &ce_feat),
                ("cluster_target_output", &cl_out),
                ("cluster_target_features", &cl_feat),
            ],
            correct(&ls, b.ys),
        )
    }

    fn model(&self) -> &dyn EvalModel {
        &self.net
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auxiliary_and_clustering_loss_by_hand() {
        // P = [[0.9, 0.1], [0.5, 0.5]]: column sums (1.4, 0.6).
        let p = Tensor::from_slice(&[0.9f32, 0.1, 0.5, 0.5]).view([2, 2]);
        let (s0, s1) = (1.4f64.sqrt(), 0.6f64.sqrt());
        let row = |a: f64, b: f64| {
            let (x, y) = (a / s0, b / s1);
            [x / (x + y), y / (x + y)]
        };
        let q = [row(0.9, 0.1), row(0.5, 0.5)];
        let got: Vec<f32> = Vec::try_from(auxiliary(&p).view([-1])).unwrap();
        let want = [q[0][0], q[0][1], q[1][0], q[1][1]];
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        let pv = [[0.9, 0.1], [0.5, 0.5]];
        let kl: f64 = (0..2)
            .map(|i| {
                (0..2)
                    .map(|k| q[i][k] * (q[i][k] / pv[i][k]).ln())
                    .sum::<f64>()
            })
            .sum::<f64>()
            / 2.0;
        assert!((clustering_loss(&p).double_value(&[]) - kl).abs() < 1e-5);
    }

    #[test]
    fn soft_assignment_by_hand() {
        // z = (1, 0); centres (1, 0) and (0, 1) after normalisation: d2 = 0 and 2,
        // kernels 1 and 1/3 -> (0.75, 0.25).
        let z = Tensor::from_slice(&[2.0f32, 0.0]).view([1, 2]);
        let c = Tensor::from_slice(&[3.0f32, 0.0, 0.0, 0.5]).view([2, 2]);
        let a: Vec<f32> = Vec::try_from(soft_assign(&z, &c).view([-1])).unwrap();
        assert!(
            (a[0] - 0.75).abs() < 1e-6 && (a[1] - 0.25).abs() < 1e-6,
            "{a:?}"
        );
    }
}
