//! DisClusterDA (Tang, Wang & Jia 2022, "Distilled Discriminative Clustering for Domain
//! Adaptation"), following the authors' released trainer (the S2RDA repository's
//! `domain_adaptation/DisClusterDA`, run as in its `run.sh`: no extra fc layer, no consistency
//! term). The target is clustered directly while labelled source objectives run in parallel
//! ("distilling" source discrimination into the shared network; there is no separate teacher
//! network in the released code, and none here). Per iteration:
//! - class centroids of source features (by label) and of target features (by the classifier's
//!   argmax) are moving averages: a class seen in the batch gets `remain * old + (1 - remain) *
//!   batch mean` (the batch mean keeps its gradient), an unseen class keeps its old centroid, a
//!   class never seen before takes the batch mean;
//! - loss = CE(source) + lam * AFEM(target probabilities) + lam * L_centroid
//!   + 0.01 * class balance, with lam = DANN's ramp 2 / (1 + exp(-10 p)) - 1;
//! - L_centroid = the classifier must label each source / target centroid with its own class
//!   (at temperature T), source features must be nearest their class centroid
//!   (CE over softmax(-squared distance), used as logits exactly as in the released code), each
//!   centroid must be nearest itself among the centroids of its domain (a Fisher-like
//!   separation, at temperature T), and target instance-to-centroid similarities get AFEM;
//! - AFEM ("adaptive filtering entropy minimisation") is mean(H(p) exp(-H(p))): confident
//!   rows count fully, near-uniform (unreliable) rows are filtered down.
//!
//! As released: source and target go through the backbone in two passes (per-domain
//! batch-norm statistics); the lr decays and `lam` ramps per epoch (the engine's schedule);
//! the centroids are run state and go into checkpoints (`method.disclusterda.*`).
use std::collections::HashMap;
use std::path::Path;

use tch::nn;
use tch::{Kind, Tensor};

use crate::adapt::error::AdaptError;
pub use crate::adapt::method::class_balance;
use crate::adapt::method::{classifier, correct, cross_entropy, sgd, state_tensor, MethodSetup};
use crate::engine::{float_kind, widen, Method, StepBatch, StepCtx, StepStats, Trainee};
use crate::nn::models::Classifier;
use crate::nn::optim::Optimizer;
use crate::nn::TrainError;

/// Weight of the previous centroid when its class appears in the batch (`--remain`).
pub const REMAIN: f64 = 0.7;
/// Softmax temperature of centroid classification and centroid separation.
pub const TEMPERATURE: f64 = 2.0;
/// Weight of the class-balance term.
pub const BALANCE_WEIGHT: f64 = 0.01;
/// The released code's guard against log(0) and division by zero.
pub const EPS: f64 = 1e-6;

/// Moving-average class centroids: rows of `old` ([K, d], no gradient) updated with the batch
/// means of `feats` ([n, d]) grouped by `labels` ([n]); see the module doc for the rule.
pub fn update_centroids(old: &Tensor, feats: &Tensor, labels: &Tensor, remain: f64) -> Tensor {
    let k = old.size()[0];
    let kind = float_kind(feats);
    let onehot = labels.one_hot(k).to_kind(kind);
    let sums = onehot.tr().mm(feats);
    let count = onehot
        .sum_dim_intlist(&[0i64][..], false, None)
        .unsqueeze(1);
    let absent = count.eq(0.0).to_kind(kind);
    let seen_before = old
        .ne(0.0)
        .sum_dim_intlist(&[1i64][..], true, kind)
        .gt(0.0)
        .to_kind(kind);
    // An absent class keeps its old row (mask 1); the count guard only avoids 0/0 there.
    let mask = &seen_before * remain * (1.0 - &absent) + &absent;
    let means = sums / (count + &absent * EPS);
    &mask * old + (1.0 - &mask) * means
}

/// Squared Euclidean distances between the rows of `a` and the rows of `b`.
pub fn squared_distances(a: &Tensor, b: &Tensor) -> Tensor {
    (a.unsqueeze(1) - b.unsqueeze(0))
        .square()
        .sum_dim_intlist(&[-1i64][..], false, float_kind(a))
}

/// Adaptive-filtering entropy minimisation: mean over rows of H(p) * exp(-H(p)).
pub fn afem(prob: &Tensor) -> Tensor {
    // p log p with 0 log 0 = 0, as the released code's eps-only-where-zero guard gives.
    let kind = float_kind(prob);
    let zero = prob.eq(0.0).to_kind(kind);
    let neg_h = (prob * (prob + zero * EPS).log()).sum_dim_intlist(&[1i64][..], false, kind);
    -(&neg_h * neg_h.exp()).mean(None)
}

/// Cross-entropy of `logits / t` against the row index (row k must be class k).
pub fn row_is_own_class(logits: &Tensor, t: f64) -> Tensor {
    let k = logits.size()[0];
    cross_entropy(
        &(logits / t),
        &Tensor::arange(k, (Kind::Int64, logits.device())),
    )
}

/// Each centroid must be nearer to itself than to the other centroids of its domain.
pub fn centroid_separation(centroids: &Tensor, t: f64) -> Tensor {
    row_is_own_class(&-squared_distances(centroids, centroids), t)
}

/// Instance-to-centroid similarities softmax(-squared distance), rows sum to 1.
pub fn centroid_similarity(feats: &Tensor, centroids: &Tensor) -> Tensor {
    (-squared_distances(feats, centroids)).softmax(-1, float_kind(feats))
}

/// Source features must be nearest their class centroid: CE with the similarities as logits
/// (a second softmax over probabilities, exactly as the released code does it).
pub fn source_to_centroid(feats: &Tensor, centroids: &Tensor, labels: &Tensor) -> Tensor {
    cross_entropy(&centroid_similarity(feats, centroids), labels)
}

pub struct DisClusterDa {
    /// Source / target class centroids in feature space (run state, no gradient).
    cs: Tensor,
    ct: Tensor,
}

impl DisClusterDa {
    pub fn new(vs: &nn::VarStore, s: &MethodSetup) -> Result<Trainee<Self>, AdaptError> {
        let net = classifier(vs, s)?;
        let zeros = || {
            Tensor::zeros(
                [s.num_classes, net.backbone.feature_dim()],
                (vs.kind(), vs.device()),
            )
        };
        Ok(Trainee {
            method: DisClusterDa {
                cs: zeros(),
                ct: zeros(),
            },
            model: net,
            optimizers: sgd(vs, s, |n| n.starts_with("head.")),
        })
    }
}

impl Method for DisClusterDa {
    type Model = Classifier;
    type Optimizers = Optimizer;

    fn step(
        &mut self,
        net: &Classifier,
        opt: &mut Optimizer,
        b: &StepBatch,
        ctx: &StepCtx,
    ) -> StepStats {
        // Two passes, as the released code: batch norm sees each domain on its own.
        let fs = widen(&net.backbone.features(b.xs, true));
        let ft = widen(&net.backbone.features(b.xt, true));
        let ls = net.head.forward(&fs);
        let lt = net.head.forward(&ft);
        let prob_t = widen(&lt).softmax(-1, None);
        let yt_hat = prob_t.detach().argmax(-1, false);
        let cs = update_centroids(&self.cs, &fs, b.ys, REMAIN);
        let ct = update_centroids(&self.ct, &ft, &yt_hat, REMAIN);

        let ce = cross_entropy(&ls, b.ys);
        let ent = afem(&prob_t);
        let cen_cls = row_is_own_class(&net.head.forward(&cs), TEMPERATURE)
            + row_is_own_class(&net.head.forward(&ct), TEMPERATURE);
        let src_cen = source_to_centroid(&fs, &cs, b.ys);
        let tgt_cen = afem(&centroid_similarity(&ft, &ct));
        let sep = centroid_separation(&cs, TEMPERATURE) + centroid_separation(&ct, TEMPERATURE);
        let balance = class_balance(&prob_t);
        let lam = ctx.lambda;
        let cluster = &cen_cls + &src_cen + &tgt_cen + &sep;
        let loss = &ce + (&ent + &cluster) * lam + &balance * BALANCE_WEIGHT;
        opt.minimise(&loss, ctx.lr);
        self.cs = cs.detach();
        self.ct = ct.detach();
        StepStats::read(
            &loss,
            &[
                ("ce_source", &ce),
                ("afem_target", &ent),
                ("centroid_classification", &cen_cls),
                ("source_to_centroid", &src_cen),
                ("afem_target_centroid", &tgt_cen),
                ("centroid_separation", &sep),
                ("class_balance", &balance),
            ],
            correct(&ls, b.ys),
        )
    }

    fn method_state(&self) -> Vec<(String, Tensor)> {
        vec![
            (
                "method.disclusterda.source_centroids".into(),
                self.cs.shallow_clone(),
            ),
            (
                "method.disclusterda.target_centroids".into(),
                self.ct.shallow_clone(),
            ),
        ]
    }

    fn load_method_state(
        &mut self,
        t: &HashMap<String, Tensor>,
        file: &Path,
    ) -> Result<(), TrainError> {
        self.cs = state_tensor(t, "method.disclusterda.source_centroids", &self.cs, file)?;
        self.ct = state_tensor(t, "method.disclusterda.target_centroids", &self.ct, file)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], rows: i64) -> Tensor {
        Tensor::from_slice(v).view([rows, -1])
    }

    fn close(got: &Tensor, want: &[f64]) {
        let g: Vec<f32> = Vec::try_from(got.view([-1])).unwrap();
        assert_eq!(g.len(), want.len(), "{g:?} vs {want:?}");
        for (a, b) in g.iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-5, "{g:?} vs {want:?}");
        }
    }

    fn ce(logits: &[f64], label: usize) -> f64 {
        logits.iter().map(|l| l.exp()).sum::<f64>().ln() - logits[label]
    }

    #[test]
    fn centroids_first_seen_seen_again_and_absent() {
        // Class 0 never seen (zero row): batch mean of (1,2), (3,4) = (2,3). Class 1 seen
        // before: 0.7 (1,1) + 0.3 (5,6). Class 2 absent from the batch: unchanged.
        let old = t(&[0.0, 0.0, 1.0, 1.0, 4.0, -1.0], 3);
        let feats = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3);
        let labels = Tensor::from_slice(&[0i64, 0, 1]);
        let c = update_centroids(&old, &feats, &labels, 0.7);
        close(&c, &[2.0, 3.0, 2.2, 2.5, 4.0, -1.0]);
    }

    #[test]
    fn afem_and_class_balance_by_hand() {
        // Rows: uniform (H = ln 2, weight 1/2), one-hot (H = 0), (0.9, 0.1).
        let p = t(&[0.5, 0.5, 1.0, 0.0, 0.9, 0.1], 3);
        let h3 = -(0.9f64 * 0.9f64.ln() + 0.1 * 0.1f64.ln());
        let want = (2f64.ln() * 0.5 + 0.0 + h3 * (-h3).exp()) / 3.0;
        close(&afem(&p), &[want]);
        // Column means (0.8, 0.2).
        let bal = -((0.8f64 + EPS).ln() + (0.2f64 + EPS).ln()) / 2.0;
        close(&class_balance(&p), &[bal]);
    }

    #[test]
    fn centroid_terms_by_hand() {
        // Centroid classification at T = 2: logits (1, 0) and (0, 2) halved.
        let logits = t(&[1.0, 0.0, 0.0, 2.0], 2);
        let want = (ce(&[0.5, 0.0], 0) + ce(&[0.0, 1.0], 1)) / 2.0;
        close(&row_is_own_class(&logits, 2.0), &[want]);
        // Centroids (0,0), (1,0): squared distances [[0,1],[1,0]], logits -d/2.
        let c = t(&[0.0, 0.0, 1.0, 0.0], 2);
        close(&centroid_separation(&c, 2.0), &[ce(&[0.0, -0.5], 0)]);
        // Feature (0,0): similarities softmax(0, -1) = (a, b); label 1, CE over (a, b).
        let f = t(&[0.0, 0.0], 1);
        let (a, b) = (
            1.0 / (1.0 + (-1f64).exp()),
            (-1f64).exp() / (1.0 + (-1f64).exp()),
        );
        close(&centroid_similarity(&f, &c), &[a, b]);
        let y = Tensor::from_slice(&[1i64]);
        close(&source_to_centroid(&f, &c, &y), &[ce(&[a, b], 1)]);
    }
}
