//! The scene vocabulary on the ground floor of the house: the one typed scene (`params`:
//! what the sampler draws, the worker receives and the manifest records), its parts by
//! concept (`material`, `light`, `background`), the kind enums the kind lists derive from
//! (`kinds`), the worker protocol (`contract`), the reading of manifests written before the
//! scene had one shape (`legacy`), and the camera geometry that view prediction and the HDRI
//! backdrop share (`camera`). It imports nothing from the crate, so every folder above may
//! use it.
pub mod background;
pub mod camera;
pub mod contract;
mod kinds;
pub mod legacy;
pub mod light;
pub mod material;
pub mod params;

/// Linear RGB in [0, 1].
pub type Rgb = [f64; 3];

#[cfg(test)]
mod tests;
