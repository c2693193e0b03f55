//! The gradient-reversal layer of DANN (Ganin & Lempitsky 2015): identity forward, gradient
//! multiplied by `-lambda` backward.
use tch::Tensor;

/// Identity in the forward pass; the backward pass sends `-lambda * grad` to `x`.
pub fn grad_reverse(x: &Tensor, lambda: f64) -> Tensor {
    // WHY this form: `x - x.detach()` is exactly zero, so the value is exactly `x`, while only
    // the scaled difference carries a gradient (d/dx = -lambda). No custom autograd needed.
    let frozen = x.detach();
    &frozen + (x - &frozen) * (-lambda)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::schedule::dann_ramp;
    use tch::{Kind, Tensor};

    #[test]
    fn forward_is_identity_and_backward_is_minus_lambda() {
        let x = Tensor::from_slice(&[0.3f32, -1.7, 2.5, 1e-3]).set_requires_grad(true);
        let y = grad_reverse(&x, 0.4);
        assert_eq!(
            Vec::<f32>::try_from(&y).unwrap(),
            Vec::<f32>::try_from(&x).unwrap()
        );
        // loss = sum(w * y) -> dloss/dy = w, so dloss/dx must be -0.4 w.
        let w = Tensor::from_slice(&[1.0f32, 2.0, -3.0, 0.5]);
        (&y * &w).sum(Kind::Float).backward();
        let g: Vec<f32> = Vec::try_from(x.grad()).unwrap();
        let want = [-0.4f32, -0.8, 1.2, -0.2];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{g:?}");
        }
    }

    #[test]
    fn ramp_goes_from_zero_to_almost_one() {
        assert!(dann_ramp(0.0).abs() < 1e-12);
        assert!((dann_ramp(1.0) - 0.999_909).abs() < 1e-5);
        assert!(dann_ramp(0.5) > 0.98);
    }
}
