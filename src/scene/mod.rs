//! The scene vocabulary on the ground floor of the house: the typed scene that Blender receives
//! (`contract`). It imports nothing from the crate, so every folder above may use it.
pub mod contract;
