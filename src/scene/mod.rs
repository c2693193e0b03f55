//! The scene vocabulary on the ground floor of the house: what the sampler draws and the
//! manifest records (`params`, with the kind lists) and the typed scene that Blender receives
//! (`contract`). It imports nothing from the crate, so every folder above may use it.
pub mod contract;
pub mod params;
