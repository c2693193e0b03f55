//! Object scale factor.
use super::params::ScaleParams;
use super::streams::Streams;
use crate::preset::ScaleFactor;

pub fn sample_scale(f: &ScaleFactor, s: &Streams) -> ScaleParams {
    ScaleParams {
        size: f.size.sample(&mut s.rng("scale.size")),
    }
}
