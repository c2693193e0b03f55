//! Data-parallel training on libtorch's own distributed backend, c10d: the process group
//! (`group`, over the C++ shim in `csrc/c10d_shim.cpp`: a TCPStore rendezvous and
//! ProcessGroupGloo), who this process is (`launch`: torchrun's or a Slurm job step's
//! variables) and which part of the data it reads (`RankSlice`).
//!
//! No collective or socket code lives here: gradients and buffers move through the same
//! c10d collectives PyTorch's DistributedDataParallel uses.
mod ffi;
pub mod group;
pub mod launch;

pub use group::{DistError, ProcessGroup};
pub use launch::{detect, Launch, Launcher, RankSlice};
