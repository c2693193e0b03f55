//! Multi-bandwidth RBF kernels and the pieces of a weighted MMD: the probe-probe Gram matrix
//! and the mean kernel of each probe image to a target set. Features are standardised first
//! (mean and std of the probe and target together), bandwidths are the median heuristic
//! times 0.5, 1 and 2.
use rayon::prelude::*;

/// Row-major feature matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Features {
    pub fn from_rows(rows: &[Vec<f32>]) -> Self {
        let dim = rows.first().map_or(0, Vec::len);
        Features {
            dim,
            data: rows.iter().flatten().copied().collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn select(&self, idx: &[usize]) -> Features {
        Features {
            dim: self.dim,
            data: idx
                .iter()
                .flat_map(|i| self.row(*i).iter().copied())
                .collect(),
        }
    }
}

/// Per-feature mean and std, taken from one set (the training target, so every probe round
/// is measured in the same units) and applied to all.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardiser {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardiser {
    pub fn fit(x: &Features) -> Self {
        let n = x.len().max(1) as f64;
        let mut mean = vec![0.0; x.dim];
        let mut var = vec![0.0; x.dim];
        for i in 0..x.len() {
            for (d, v) in x.row(i).iter().enumerate() {
                mean[d] += *v as f64 / n;
            }
        }
        for i in 0..x.len() {
            for (d, v) in x.row(i).iter().enumerate() {
                var[d] += (*v as f64 - mean[d]).powi(2) / n;
            }
        }
        Standardiser {
            mean,
            // A constant feature carries no information; a unit std keeps it harmless.
            std: var
                .iter()
                .map(|v| if *v > 1e-12 { v.sqrt() } else { 1.0 })
                .collect(),
        }
    }

    pub fn apply(&self, x: &mut Features) {
        let dim = x.dim.max(1);
        for row in x.data.chunks_mut(dim) {
            for (d, v) in row.iter_mut().enumerate() {
                *v = ((*v as f64 - self.mean[d]) / self.std[d]) as f32;
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// exp(-gamma * |x - y|^2) for each gamma, averaged.
    pub gammas: Vec<f32>,
}

impl Kernel {
    /// Median heuristic on (up to) the first 1,000 points of `x` (callers interleave sets).
    pub fn median_heuristic(x: &Features) -> Kernel {
        let m = x.len().min(1000);
        let mut d: Vec<f32> = (0..m)
            .flat_map(|i| (i + 1..m).map(move |j| (i, j)))
            .map(|(i, j)| sq_dist(x.row(i), x.row(j)))
            .collect();
        d.sort_by(f32::total_cmp);
        let median = d.get(d.len() / 2).copied().unwrap_or(1.0).max(1e-6);
        Kernel {
            gammas: [0.5f32, 1.0, 2.0]
                .iter()
                .map(|s| 1.0 / (2.0 * median * s * s))
                .collect(),
        }
    }

    pub fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let d = sq_dist(a, b);
        self.gammas.iter().map(|g| (-g * d).exp()).sum::<f32>() / self.gammas.len() as f32
    }

    /// The n x n Gram matrix of `x`, row-major.
    pub fn gram(&self, x: &Features) -> Vec<f32> {
        let n = x.len();
        let mut k = vec![0.0f32; n * n];
        k.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
            for (j, v) in row.iter_mut().enumerate() {
                *v = self.eval(x.row(i), x.row(j));
            }
        });
        k
    }

    /// For each row of `x`, its mean kernel value to the rows of `y`.
    pub fn mean_to(&self, x: &Features, y: &Features) -> Vec<f64> {
        let m = y.len().max(1) as f64;
        (0..x.len())
            .into_par_iter()
            .map(|i| {
                (0..y.len())
                    .map(|j| self.eval(x.row(i), y.row(j)) as f64)
                    .sum::<f64>()
                    / m
            })
            .collect()
    }

    /// Mean kernel value over all pairs of distinct rows of `y` (the target's constant term
    /// of the MMD). The diagonal is left out: k(y, y) = 1 would add (1 - mean) / n, a bias
    /// as large as the MMD itself on a held-out set of a few dozen images.
    pub fn mean_self(&self, y: &Features) -> f64 {
        let n = y.len();
        let total = self.mean_to(y, y).iter().sum::<f64>() * n as f64;
        if n < 2 {
            return total;
        }
        let diagonal: f64 = (0..n).map(|i| self.eval(y.row(i), y.row(i)) as f64).sum();
        (total - diagonal) / (n * (n - 1)) as f64
    }
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Squared MMD between the probe weighted by `a` (sums to 1) and a target set, from the
/// probe Gram matrix, the probe-target mean kernels and the target constant; clamped at 0
/// (the estimate is unbiased, so it can dip below 0 when the two sets match).
pub fn weighted_mmd2(kpp: &[f32], kpt: &[f64], ktt: f64, a: &[f64]) -> f64 {
    let ka = matvec(kpp, a);
    let cross: f64 = a.iter().zip(kpt).map(|(x, y)| x * y).sum();
    (weighted_self(kpp, a, &ka).value - 2.0 * cross + ktt).max(0.0)
}

/// The probe's self term of the MMD under image weights `a` and its gradient in `a`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfTerm {
    pub value: f64,
    pub grad: Vec<f64>,
}

/// The weighted mean kernel over pairs of distinct probe images,
/// Q = sum_{i != j} a_i a_j k_ij / (1 - sum_i a_i^2), given `ka` = K a.
///
/// WHY not a^T K a: its diagonal sum_i a_i^2 k_ii = 1 / ESS rewards spreading the weight
/// over many images, a pull towards the proposal that on a probe of a few hundred images
/// was as large as the MMD between levels (it kept a planted 0.7 level near 0.5).
pub fn weighted_self(kpp: &[f32], a: &[f64], ka: &[f64]) -> SelfTerm {
    let n = a.len();
    let diag = |i: usize| kpp[i * n + i] as f64;
    let quad: f64 = a.iter().zip(ka).map(|(x, y)| x * y).sum();
    let on_diag: f64 = a.iter().enumerate().map(|(i, x)| x * x * diag(i)).sum();
    let sq: f64 = a.iter().map(|x| x * x).sum();
    let num = quad - on_diag;
    let den = 1.0 - sq;
    if den < 1e-9 {
        // All the weight on one image: no pairs; fall back to the plain quadratic form.
        return SelfTerm {
            value: quad,
            grad: ka.iter().map(|k| 2.0 * k).collect(),
        };
    }
    SelfTerm {
        value: num / den,
        grad: (0..n)
            .map(|i| 2.0 * (ka[i] - a[i] * diag(i)) / den + 2.0 * a[i] * num / (den * den))
            .collect(),
    }
}

pub fn matvec(k: &[f32], a: &[f64]) -> Vec<f64> {
    let n = a.len();
    k.par_chunks(n.max(1))
        .map(|row| row.iter().zip(a).map(|(k, x)| *k as f64 * x).sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmd_is_zero_for_the_same_set_and_grows_with_a_shift() {
        let rows: Vec<Vec<f32>> = (0..50)
            .map(|i| vec![(i % 7) as f32, (i % 5) as f32])
            .collect();
        let x = Features::from_rows(&rows);
        let shifted = Features::from_rows(
            &rows
                .iter()
                .map(|r| vec![r[0] + 3.0, r[1]])
                .collect::<Vec<_>>(),
        );
        let k = Kernel::median_heuristic(&x);
        let kpp = k.gram(&x);
        let a = vec![1.0 / 50.0; 50];
        let same = weighted_mmd2(&kpp, &k.mean_to(&x, &x), k.mean_self(&x), &a);
        let moved = weighted_mmd2(&kpp, &k.mean_to(&x, &shifted), k.mean_self(&shifted), &a);
        assert!(same < 1e-9, "{same}");
        assert!(moved > 0.05, "{moved}");
    }

    /// The self term's gradient matches finite differences, and it does not reward spreading:
    /// for a Gram matrix of an identical image repeated, every weighting scores the same.
    #[test]
    fn self_term_gradient_and_no_spreading_bonus() {
        let rows: Vec<Vec<f32>> = (0..6)
            .map(|i| vec![i as f32 * 0.4, (i % 2) as f32])
            .collect();
        let x = Features::from_rows(&rows);
        let kpp = Kernel::median_heuristic(&x).gram(&x);
        let a = vec![0.3, 0.1, 0.25, 0.05, 0.2, 0.1];
        let term = weighted_self(&kpp, &a, &matvec(&kpp, &a));
        for i in 0..a.len() {
            let mut b = a.clone();
            b[i] += 1e-6;
            let moved = weighted_self(&kpp, &b, &matvec(&kpp, &b)).value;
            let numeric = (moved - term.value) / 1e-6;
            assert!(
                (numeric - term.grad[i]).abs() < 1e-4,
                "{i}: {numeric} vs {}",
                term.grad[i]
            );
        }
        let same = vec![0.5f32; 16];
        let spread = weighted_self(&same, &[0.25; 4], &[0.5; 4]).value;
        let peaked = [0.7, 0.1, 0.1, 0.1];
        let ka = matvec(&same, &peaked);
        assert!((spread - 0.5).abs() < 1e-9, "{spread}");
        assert!((weighted_self(&same, &peaked, &ka).value - 0.5).abs() < 1e-9);
    }
}
