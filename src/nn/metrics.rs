//! Classification metrics as pure functions over a confusion matrix (`cm[true][pred]`).
//! Acc is overall top-1; Mean is the mean over classes of per-class recall (class-balanced
//! accuracy, as the paper reports). Classes without evaluation samples are left out of Mean.
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::loader::Batch;

/// `cm[t][p]` counts samples of true class `t` predicted as `p`.
pub fn confusion_matrix(labels: &[i64], preds: &[i64], num_classes: usize) -> Vec<Vec<u64>> {
    let mut cm = vec![vec![0u64; num_classes]; num_classes];
    accumulate(&mut cm, labels, preds);
    cm
}

/// Adds (label, prediction) pairs to `cm`; out-of-range indices are ignored.
pub fn accumulate(cm: &mut [Vec<u64>], labels: &[i64], preds: &[i64]) {
    let n = cm.len() as i64;
    for (&t, &p) in labels.iter().zip(preds) {
        if (0..n).contains(&t) && (0..n).contains(&p) {
            cm[t as usize][p as usize] += 1;
        }
    }
}

/// Overall top-1 accuracy in [0, 1] (0 for an empty matrix).
pub fn accuracy(cm: &[Vec<u64>]) -> f64 {
    let total: u64 = cm.iter().flatten().sum();
    let correct: u64 = cm.iter().enumerate().map(|(i, row)| row[i]).sum();
    if total == 0 {
        0.0
    } else {
        correct as f64 / total as f64
    }
}

/// Recall of each class; `None` where the class has no samples.
pub fn per_class_accuracy(cm: &[Vec<u64>]) -> Vec<Option<f64>> {
    cm.iter()
        .enumerate()
        .map(|(i, row)| {
            let n: u64 = row.iter().sum();
            (n > 0).then(|| row[i] as f64 / n as f64)
        })
        .collect()
}

/// Mean of the per-class recalls over ALL K classes, as the released code's
/// `MeanClassPrecision` divides: a class absent from the evaluation set counts as 0.
pub fn mean_class_accuracy(cm: &[Vec<u64>]) -> f64 {
    if cm.is_empty() {
        return 0.0;
    }
    let sum: f64 = per_class_accuracy(cm).into_iter().flatten().sum();
    sum / cm.len() as f64
}

/// One evaluation of one set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvalReport {
    pub set: String,
    pub step: u64,
    pub acc: f64,
    pub mean: f64,
    pub per_class: Vec<Option<f64>>,
    pub confusion: Vec<Vec<u64>>,
    pub images: u64,
    pub skipped: u64,
}

impl EvalReport {
    pub fn from_confusion(set: &str, step: u64, confusion: Vec<Vec<u64>>, skipped: u64) -> Self {
        EvalReport {
            set: set.to_string(),
            step,
            acc: accuracy(&confusion),
            mean: mean_class_accuracy(&confusion),
            per_class: per_class_accuracy(&confusion),
            images: confusion.iter().flatten().sum(),
            confusion,
            skipped,
        }
    }

    /// Evaluates over a sequence of batches: `scores` gives a batch's class scores (any
    /// device), whose argmax is the prediction; skipped (unreadable) images are counted.
    pub fn over_batches(
        set: &str,
        step: u64,
        num_classes: usize,
        batches: impl IntoIterator<Item = Batch>,
        mut scores: impl FnMut(&Batch) -> Tensor,
    ) -> Result<Self, tch::TchError> {
        let mut cm = vec![vec![0u64; num_classes]; num_classes];
        let mut skipped = 0;
        for batch in batches {
            skipped += batch.skipped.len() as u64;
            if batch.is_empty() {
                continue;
            }
            let preds = scores(&batch).argmax(-1, false).to_device(Device::Cpu);
            accumulate(&mut cm, &batch.labels, &Vec::<i64>::try_from(&preds)?);
        }
        Ok(EvalReport::from_confusion(set, step, cm, skipped))
    }
}

/// Best Acc and best Mean seen (possibly at different steps), and the last report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BestTracker {
    pub best_acc: Option<(u64, f64)>,
    pub best_mean: Option<(u64, f64)>,
    pub last: Option<EvalReport>,
}

impl BestTracker {
    pub fn update(&mut self, r: &EvalReport) {
        if self.best_acc.is_none_or(|(_, a)| r.acc > a) {
            self.best_acc = Some((r.step, r.acc));
        }
        if self.best_mean.is_none_or(|(_, m)| r.mean > m) {
            self.best_mean = Some((r.step, r.mean));
        }
        self.last = Some(r.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_case_by_hand() {
        // labels 0,0,1,1 ; preds 0,1,1,1 -> 3/4 correct; recalls 1/2 and 1.
        let cm = confusion_matrix(&[0, 0, 1, 1], &[0, 1, 1, 1], 2);
        assert_eq!(cm, vec![vec![1, 1], vec![0, 2]]);
        assert!((accuracy(&cm) - 0.75).abs() < 1e-12);
        assert!((mean_class_accuracy(&cm) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn imbalanced_case_acc_differs_from_mean() {
        // 8 samples of class 0 all right, 2 of class 1 all wrong (predicted 0):
        // Acc = 8/10 = 0.8, Mean over all 3 classes (class 2 absent counts 0) = 1/3.
        let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        let preds = [0; 10];
        let cm = confusion_matrix(&labels, &preds, 3);
        assert!((accuracy(&cm) - 0.8).abs() < 1e-12);
        assert!((mean_class_accuracy(&cm) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(per_class_accuracy(&cm), vec![Some(1.0), Some(0.0), None]);
    }

    #[test]
    fn tracker_keeps_best_acc_and_mean_separately() {
        let mut t = BestTracker::default();
        let r1 = EvalReport::from_confusion("x", 1, vec![vec![8, 0], vec![2, 0]], 0);
        let r2 = EvalReport::from_confusion("x", 2, vec![vec![5, 3], vec![0, 2]], 0);
        t.update(&r1);
        t.update(&r2);
        assert_eq!(t.best_acc, Some((1, 0.8)));
        assert_eq!(t.best_mean.map(|m| m.0), Some(2));
        assert_eq!(t.last.as_ref().map(|r| r.step), Some(2));
        assert_eq!(r2.images, 10);
    }
}
