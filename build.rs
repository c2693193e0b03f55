//! Link-time paths for the two embedded runtimes, and the c10d shim.
//!
//! - `blender`: libpython must come from the interpreter PyO3 was configured with (the venv's
//!   CPython 3.11), not Debian's system copy, so we add an rpath to its lib folder.
//! - `train`: tch gives the binary no rpath to libtorch; torch-sys exports its lib folder as
//!   `DEP_TCH_LIBTORCH_LIB`, which we turn into an rpath. `csrc/c10d_shim.cpp` (data-parallel
//!   training on libtorch's c10d, `nn::distributed`) is compiled the way torch-sys compiles its
//!   own C++: the libtorch include folders, C++17 and the same `_GLIBCXX_USE_CXX11_ABI`.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_BLENDER").is_some() {
        pyo3_build_config::add_libpython_rpath_link_args();
    }
    if std::env::var_os("CARGO_FEATURE_TRAIN").is_some() {
        let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").ok();
        if let Some(lib) = &lib {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        }
        compile_c10d_shim(lib.map(PathBuf::from));
    }
}

/// The libtorch root whose headers match the library torch-sys linked: `LIBTORCH_INCLUDE`,
/// else `LIBTORCH`, else the parent of torch-sys's lib folder.
fn libtorch_include_root(lib: Option<PathBuf>) -> PathBuf {
    for var in ["LIBTORCH_INCLUDE", "LIBTORCH"] {
        println!("cargo:rerun-if-env-changed={var}");
        if let Some(v) = std::env::var_os(var) {
            return PathBuf::from(v);
        }
    }
    lib.and_then(|l| l.parent().map(PathBuf::from))
        .expect("no LIBTORCH / LIBTORCH_INCLUDE and no lib folder from torch-sys")
}

fn compile_c10d_shim(lib: Option<PathBuf>) {
    for f in [
        "csrc/c10d_shim.cpp",
        "csrc/gloo_decls/gloo/context.h",
        "csrc/gloo_decls/gloo/rendezvous/store.h",
        "csrc/gloo_decls/gloo/transport/device.h",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    // torch-sys's rule: the ABI of a libtorch found through LIBTORCH is LIBTORCH_CXX11_ABI,
    // default 1 (every PyTorch wheel since 2.7 is built with the C++11 ABI).
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let root = libtorch_include_root(lib);
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .include("csrc/gloo_decls")
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .define("USE_C10D_GLOO", None)
        .file("csrc/c10d_shim.cpp")
        .compile("synthgen_c10d");
}
