//! The exact McNemar test: two classifiers scored on the same images differ only where one is
//! right and the other wrong. Under "no difference" each such discordant image is a fair coin,
//! so the count of one kind is Binomial(n, 1/2) given the n discordant images.
//!
//! Replicates are combined by pooling their discordant counts (a stratified McNemar): given
//! each replicate's n_k, the replicates' counts are independent Binomial(n_k, 1/2) under the
//! null, so their sum is Binomial(sum n_k, 1/2) and the same exact test applies.

/// Images of a paired comparison where exactly one of the two arms is right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Discordant {
    /// The baseline right, the compared arm wrong.
    pub baseline_only: u64,
    /// The compared arm right, the baseline wrong.
    pub row_only: u64,
}

impl Discordant {
    pub fn total(self) -> u64 {
        self.baseline_only + self.row_only
    }

    /// The row's accuracy minus the baseline's, in images (its sign is the direction).
    pub fn difference(self) -> i64 {
        self.row_only as i64 - self.baseline_only as i64
    }

    /// Two-sided exact p-value of "the two arms are equally accurate".
    pub fn p_value(self) -> f64 {
        exact_p_value(self.baseline_only, self.row_only)
    }

    /// The counts of several replicates, pooled.
    pub fn pooled(parts: &[Discordant]) -> Discordant {
        parts.iter().fold(Discordant::default(), |a, d| Discordant {
            baseline_only: a.baseline_only + d.baseline_only,
            row_only: a.row_only + d.row_only,
        })
    }
}

/// Two-sided exact McNemar p-value for discordant counts `b` and `c`:
/// min(1, 2 P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2); 1 when there is no discordant
/// image. Summed in log space, so large counts neither underflow nor lose precision.
pub fn exact_p_value(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // ln P(X = i) = ln C(n, i) - n ln 2, with ln C(n, i) built up term by term.
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0f64;
    let mut terms = Vec::with_capacity(k as usize + 1);
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        terms.push(ln_choose - ln2n);
    }
    let max = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let ln_cdf = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
    (2.0 * ln_cdf.exp()).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact values: 2 * sum_{i <= min} C(n, i) / 2^n as fractions (Python's math.comb and
    /// fractions.Fraction), and by hand for the small ones.
    #[test]
    fn p_values_match_exact_fractions() {
        let cases = [
            // n = 8, min 1: 2 (1 + 8) / 256
            (1, 7, 0.0703125),
            // n = 5, min 0: 2 / 32
            (0, 5, 0.0625),
            // n = 12, min 2: 2 (1 + 12 + 66) / 4096
            (2, 10, 0.03857421875),
            (5, 5, 1.0),
            (3, 4, 1.0),
            (0, 0, 1.0),
            (30, 50, 0.03299261842647618),
            (120, 160, 0.01960672729028148),
            (400, 460, 0.04416954819458901),
        ];
        for (b, c, want) in cases {
            let got = exact_p_value(b, c);
            assert!(
                (got - want).abs() <= 1e-12 * want.max(1e-300),
                "b {b} c {c}: {got} vs {want}"
            );
            assert_eq!(got, exact_p_value(c, b), "symmetric in b and c");
        }
    }

    #[test]
    fn large_counts_stay_finite() {
        // 2,000 discordant images (2^-2000 underflows f64 without logs).
        let p = exact_p_value(900, 1100);
        assert!(p > 0.0 && p < 1e-5, "{p}");
        assert_eq!(exact_p_value(1000, 1000), 1.0);
    }

    #[test]
    fn pooling_sums_the_counts() {
        let parts = [
            Discordant {
                baseline_only: 1,
                row_only: 4,
            },
            Discordant {
                baseline_only: 0,
                row_only: 3,
            },
            Discordant {
                baseline_only: 1,
                row_only: 3,
            },
        ];
        let pooled = Discordant::pooled(&parts);
        assert_eq!((pooled.baseline_only, pooled.row_only), (2, 10));
        assert_eq!(pooled.difference(), 8);
        // No single replicate is significant; the pooled 2 vs 10 is (p = 0.0386).
        assert!(parts.iter().all(|d| d.p_value() > 0.05));
        assert!((pooled.p_value() - 0.03857421875).abs() < 1e-15);
    }
}
