//! Every preset shipped in scene_presets/ loads, validates, and samples a scene.
use synthgen::preset::Preset;
use synthgen::sample::{sample_scene, SamplingContext};

#[test]
fn every_shipped_preset_loads_and_samples() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scene_presets");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "presets found: {names:?}");
    for path in names {
        let preset = Preset::load(&path.to_string_lossy(), &[])
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ctx =
            SamplingContext::prepare(&preset).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // base.yaml names no classes on purpose (they come from --classes).
        let class = preset.classes.first().map_or("chair", String::as_str);
        let a = sample_scene(&preset, &ctx, preset.seed, class, 0, 0).unwrap();
        let b = sample_scene(&preset, &ctx, preset.seed, class, 0, 0).unwrap();
        assert_eq!(a, b, "{}: sampling is not deterministic", path.display());
    }
}
