//! Where synthgen finds its own resources (Blender scripts, presets, class maps, the venv).
//!
//! Each can be overridden by an environment variable; the default is the source checkout the
//! binary was built from, which is what `make` builds and runs.
use std::path::PathBuf;

fn from_env_or_repo(var: &str, rel: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => repo_root().join(rel),
    }
}

/// The source checkout (`SYNTHGEN_HOME` overrides it for an installed binary).
pub fn repo_root() -> PathBuf {
    match std::env::var_os("SYNTHGEN_HOME") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
}

pub fn blender_scripts_dir() -> PathBuf {
    from_env_or_repo("SYNTHGEN_BLENDER_SCRIPTS", "blender_scripts")
}

pub fn presets_dir() -> PathBuf {
    from_env_or_repo("SYNTHGEN_PRESETS", "scene_presets")
}

pub fn index_dir() -> PathBuf {
    from_env_or_repo("SYNTHGEN_INDEX", "shapenet_index")
}

/// The Python 3.11 venv holding bpy (and the libtorch wheel).
pub fn venv_dir() -> PathBuf {
    from_env_or_repo("SYNTHGEN_VENV", ".venv")
}

pub fn venv_site_packages() -> PathBuf {
    venv_dir().join("lib/python3.11/site-packages")
}

/// The Python 3.11 venv with full PyTorch + torchvision (CPU use) for the parity tests and
/// benchmarks against PyTorch (`SYNTHGEN_TORCH_VENV`, else `<repo>/.venv-torch`).
pub fn torch_venv_dir() -> PathBuf {
    from_env_or_repo("SYNTHGEN_TORCH_VENV", ".venv-torch")
}

/// The interpreter of `torch_venv_dir()`.
pub fn torch_python() -> PathBuf {
    torch_venv_dir().join("bin/python")
}

/// The 8 CC0 HDRIs that ship inside the bpy wheel.
pub fn bundled_hdri_dir() -> PathBuf {
    venv_site_packages().join("bpy/5.0/datafiles/studiolights/world")
}

/// Cache of extracted models and derived files (`SYNTHGEN_CACHE`, else ~/.cache/synthgen).
pub fn cache_dir() -> PathBuf {
    if let Some(v) = std::env::var_os("SYNTHGEN_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/synthgen"),
        None => repo_root().join(".cache"),
    }
}

/// Sweet Home 3D furniture archives installed by Debian's `sweethome3d-furniture`.
pub fn sweethome3d_dir() -> PathBuf {
    match std::env::var_os("SYNTHGEN_SWEETHOME3D") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/usr/share/sweethome3d/furniture"),
    }
}
