//! The network parts below the engine (issue 19's layout). `distributed`: data-parallel
//! training on libtorch's c10d.
pub mod distributed;
