//! Link-time paths for the two embedded runtimes.
//!
//! - `blender`: libpython must come from the interpreter PyO3 was configured with (the venv's
//!   CPython 3.11), not Debian's system copy, so we add an rpath to its lib folder.
//! - `train`: tch gives the binary no rpath to libtorch; torch-sys exports its lib folder as
//!   `DEP_TCH_LIBTORCH_LIB`, which we turn into an rpath.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_BLENDER").is_some() {
        pyo3_build_config::add_libpython_rpath_link_args();
    }
    if std::env::var_os("CARGO_FEATURE_TRAIN").is_some() {
        if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        }
    }
}
