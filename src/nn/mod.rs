//! The network parts below the engine: everything tch-specific that the engine, `train`,
//! `adapt` and `fit` share. `data` (dataset indexing), `augment`, `loader`, `models` (backbones +
//! head), `optim`, `metrics`, `checkpoint`, `records`, `plots`, `device` (threads), `threads` (free CPUs), `host_memory`,
//! `torch_import` (weight files), `distributed` (data-parallel training on libtorch's c10d)
//! and the library's `TrainError`. Nothing here imports the engine,
//! `train` or `adapt`.
pub mod augment;
pub mod checkpoint;
pub mod data;
pub mod data_shards;
pub mod device;
pub mod distributed;
pub mod error;
pub mod host_memory;
pub mod loader;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod plots;
pub mod records;
pub mod shards;
pub mod threads;
pub mod torch_import;

pub use error::TrainError;
