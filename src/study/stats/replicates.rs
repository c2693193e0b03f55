//! A cell over replicates: the mean and the standard error of the mean (sample standard
//! deviation over sqrt(K), K - 1 in the variance's denominator).

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub mean: f64,
    /// None for a single replicate (no spread to measure).
    pub se: Option<f64>,
    pub values: Vec<f64>,
}

impl Summary {
    /// None when there is no value.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let k = values.len();
        if k == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / k as f64;
        let se = (k > 1).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
            (var / k as f64).sqrt()
        });
        Some(Summary {
            mean,
            se,
            values: values.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_standard_error_by_hand() {
        // 40, 44, 48: mean 44, sample variance (16 + 0 + 16) / 2 = 16, SE = 4 / sqrt(3).
        let s = Summary::of(&[40.0, 44.0, 48.0]).unwrap();
        assert_eq!(s.mean, 44.0);
        assert!((s.se.unwrap() - 4.0 / 3f64.sqrt()).abs() < 1e-12);
        let one = Summary::of(&[42.2]).unwrap();
        assert_eq!((one.mean, one.se), (42.2, None));
        assert!(Summary::of(&[]).is_none());
    }
}
