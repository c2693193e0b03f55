//! Runs the Blender side's own checks (real bpy): reuse vs fresh load, determinism, masks,
//! missing textures never magenta. See blender_scripts/tests/check_worker.py.
use std::process::Command;

#[test]
fn blender_worker_package_passes_its_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = synthgen::paths::venv_dir().join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `make setup`",
        python.display()
    );
    let o = Command::new(python)
        .arg(root.join("blender_scripts/tests/check_worker.py"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "check_worker.py failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
