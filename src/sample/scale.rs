//! Object scale factor.
use super::streams::Streams;
use crate::preset::ScaleFactor;
use crate::scene::params::ScaleParams;

pub fn sample_scale(f: &ScaleFactor, s: &Streams) -> ScaleParams {
    ScaleParams {
        size: f.size.sample(&mut s.rng("scale.size")),
    }
}
