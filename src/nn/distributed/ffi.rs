//! The C ABI of `csrc/c10d_shim.cpp`. Tensors are passed as tch's `C_tensor` pointers, which
//! are `at::Tensor*` on the C++ side. Every function that can fail returns non-zero (or null)
//! and a malloc'd message that `sg_c10d_free_message` frees.
use std::ffi::{c_char, c_int};

use torch_sys::C_tensor;

/// The shim's process group (a TCPStore and a c10d backend).
#[repr(C)]
pub struct Group {
    _private: [u8; 0],
}

extern "C" {
    pub fn sg_c10d_free_message(m: *mut c_char);
    pub fn sg_c10d_new_gloo(
        host: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        agent_store: c_int,
        timeout_ms: i64,
        err: *mut *mut c_char,
    ) -> *mut Group;
    pub fn sg_c10d_free(g: *mut Group);
    pub fn sg_c10d_allreduce_mean(
        g: *mut Group,
        tensors: *const *const C_tensor,
        n: usize,
        bucket_bytes: i64,
        err: *mut *mut c_char,
    ) -> c_int;
    pub fn sg_c10d_broadcast(
        g: *mut Group,
        tensors: *const *const C_tensor,
        n: usize,
        root: c_int,
        bucket_bytes: i64,
        err: *mut *mut c_char,
    ) -> c_int;
    pub fn sg_c10d_barrier(g: *mut Group, err: *mut *mut c_char) -> c_int;
    pub fn sg_c10d_allgather(
        g: *mut Group,
        input: *const C_tensor,
        out: *mut *mut C_tensor,
        err: *mut *mut c_char,
    ) -> c_int;
}
