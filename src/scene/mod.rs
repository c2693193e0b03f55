//! The scene vocabulary on the ground floor of the house: what the sampler draws and the
//! manifest records (`params`, with the kind lists) and the typed scene that Blender receives
//! (`contract`), and the camera geometry that view prediction and the HDRI backdrop share
//! (`camera`). It imports nothing from the crate, so every folder above may use it.
pub mod camera;
pub mod contract;
pub mod params;
