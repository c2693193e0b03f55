//! The float kind losses and statistics are computed in. Float32 for float32 and narrower
//! activations (bf16/f16 under CUDA autocast are widened, as before), float64 for float64: the
//! parity tests run a whole step in float64 on both sides (tests/parity_methods.rs), where the
//! float32 rounding that CPU instruction sets order differently would otherwise swamp the
//! comparison, so nothing on the way may narrow a float64 tensor to float32.
use tch::{Kind, Tensor};

/// `Kind::Double` for a float64 `t`, else `Kind::Float`.
pub fn float_kind(t: &Tensor) -> Kind {
    if t.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    }
}

/// `t` in `float_kind(t)`.
pub fn widen(t: &Tensor) -> Tensor {
    t.to_kind(float_kind(t))
}

/// Mean cross-entropy of `logits` against integer `labels`, in `float_kind(logits)` (tch's
/// `cross_entropy_for_logits` narrows float64 logits to float32).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    widen(logits).log_softmax(-1, None).nll_loss(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn float64_stays_and_narrower_kinds_widen_to_float32() {
        let t = |k| Tensor::ones([2], (k, Device::Cpu));
        assert_eq!(widen(&t(Kind::Double)).kind(), Kind::Double);
        assert_eq!(widen(&t(Kind::Float)).kind(), Kind::Float);
        assert_eq!(widen(&t(Kind::BFloat16)).kind(), Kind::Float);
        assert_eq!(widen(&t(Kind::Half)).kind(), Kind::Float);
    }

    #[test]
    fn cross_entropy_keeps_float64_and_equals_tchs_in_float32() {
        let logits = Tensor::from_slice(&[0.3f64, -1.2, 2.0, 0.7, 0.1, -0.4]).view([2, 3]);
        let labels = Tensor::from_slice(&[2i64, 0]);
        let ce = cross_entropy(&logits, &labels);
        assert_eq!(ce.kind(), Kind::Double);
        // By hand: -(log softmax(row 0)[2] + log softmax(row 1)[0]) / 2.
        let lse = |r: [f64; 3]| r.iter().map(|v| v.exp()).sum::<f64>().ln();
        let want = ((lse([0.3, -1.2, 2.0]) - 2.0) + (lse([0.7, 0.1, -0.4]) - 0.7)) / 2.0;
        assert!((ce.double_value(&[]) - want).abs() < 1e-15);
        let l32 = logits.to_kind(Kind::Float);
        assert_eq!(
            cross_entropy(&l32, &labels).double_value(&[]),
            l32.cross_entropy_for_logits(&labels).double_value(&[])
        );
    }
}
