//! Loading tests: real files in a temp dir, and the bundled presets.
use super::*;
use std::path::{Path, PathBuf};

fn repo_presets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scene_presets")
}

/// Writes files into a fresh temp dir that serves as the presets folder.
fn presets(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn load(dir: &tempfile::TempDir, name: &str, sets: &[&str]) -> Result<Preset, PresetError> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Preset::load_in(dir.path(), name, &sets)
}

/// The error line with the temp dir removed, so tests can compare whole lines.
fn err_line(dir: &tempfile::TempDir, name: &str, sets: &[&str]) -> String {
    let e = load(dir, name, sets).expect_err("expected an error");
    let prefix = format!("{}/", dir.path().display());
    e.to_string().replace(&prefix, "")
}

#[test]
fn bundled_presets_load_and_validate() {
    let base = Preset::load_in(&repo_presets(), "base", &[]).unwrap();
    let demo = Preset::load_in(&repo_presets(), "demo", &[]).unwrap();
    assert_eq!(demo.name, "demo");
    assert_eq!(demo.classes, ["chair", "table", "lamp", "sofa"]);
    assert_eq!((demo.render.resolution, demo.render.samples), (64, 16));
    assert_eq!(demo.images_per_class, 4);
    assert_eq!(demo.factors, base.factors, "demo changes no factor");
    assert_eq!(demo.extends, None, "a resolved preset has no parent");
}

#[test]
fn base_yaml_is_the_builtin_default() {
    // docs/PRESETS.md documents one set of defaults: base.yaml and the Rust defaults agree.
    let base = Preset::load_in(&repo_presets(), "base", &[]).unwrap();
    let default = Preset {
        name: "base".into(),
        description: base.description.clone(),
        ..Preset::default()
    };
    assert_eq!(base, default);
}

#[test]
fn to_yaml_round_trips() {
    let demo = Preset::load_in(
        &repo_presets(),
        "demo",
        &["factors.camera.distance=4".into()],
    )
    .unwrap();
    let dir = presets(&[("resolved.yaml", &demo.to_yaml())]);
    assert_eq!(load(&dir, "resolved", &[]).unwrap(), demo);
}

#[test]
fn children_override_parents_and_name_defaults_to_the_file() {
    let dir = presets(&[
        ("parent.yaml", "name: parent\nseed: 3\nfactors:\n  camera:\n    distance: {uniform: [2, 3]}\n    elevation: 10\n"),
        ("child.yaml", "extends: parent\nfactors:\n  camera:\n    distance: {normal: {mean: 5, std: 0}}\n"),
        ("grandchild.yaml", "extends: child\nseed: 9\n"),
    ]);
    let p = load(&dir, "grandchild", &[]).unwrap();
    assert_eq!(p.seed, 9);
    assert_eq!(
        p.name, "grandchild",
        "a file without name: gets its file stem"
    );
    // The distribution is replaced whole, not merged into {uniform, normal}.
    assert_eq!(
        p.factors.camera.distance,
        NumberDist::Normal {
            mean: 5.0,
            std: 0.0
        }
    );
    assert_eq!(
        p.factors.camera.elevation,
        NumberDist::Fixed(10.0),
        "siblings are kept"
    );
}

#[test]
fn set_overrides_nested_fields() {
    let dir = presets(&[("p.yaml", "name: p\n")]);
    let p = load(
        &dir,
        "p",
        &[
            "factors.camera.distance=5",
            "factors.light.world.kind=sky",
            "factors.scale.size={uniform: [1, 2]}",
            "classes=[chair, sofa]",
            "split.use=test",
        ],
    )
    .unwrap();
    assert_eq!(p.factors.camera.distance, NumberDist::Fixed(5.0));
    assert_eq!(p.factors.light.world.kind, CategoryDist::fixed("sky"));
    assert_eq!(p.factors.scale.size, NumberDist::uniform(1.0, 2.0));
    assert_eq!(p.classes, ["chair", "sofa"]);
    assert_eq!(p.split.subset, SplitUse::Test);
}

#[test]
fn a_path_is_accepted_where_a_name_is_not_found() {
    let dir = presets(&[("x.yaml", "seed: 4\n")]);
    let path = dir.path().join("x.yaml");
    let p = Preset::load_in(Path::new("/nonexistent"), path.to_str().unwrap(), &[]).unwrap();
    assert_eq!(p.seed, 4);
}

#[test]
fn distribution_error_names_file_line_column_and_field() {
    let dir = presets(&[(
        "demo.yaml",
        "name: demo\nfactors:\n  camera:\n    distance: 3\n    elevation: {uniform: [40, 10]}\n",
    )]);
    assert_eq!(
        err_line(&dir, "demo", &[]),
        "demo.yaml:5:5: factors.camera.elevation: uniform needs [min, max] with min <= max (got [40, 10]); swap the bounds"
    );
}

#[test]
fn unknown_field_is_located_and_lists_valid_keys() {
    let dir = presets(&[("p.yaml", "factors:\n  camera:\n    elevaton: 3\n")]);
    let line = err_line(&dir, "p", &[]);
    assert!(line.starts_with("p.yaml:3:5: factors.camera"), "{line}");
    assert!(
        line.contains("unknown field `elevaton`, expected one of `distance`, `elevation`"),
        "{line}"
    );
}

#[test]
fn wrong_type_is_located_at_the_value() {
    let dir = presets(&[("p.yaml", "render:\n  resolution: big\n")]);
    let line = err_line(&dir, "p", &[]);
    assert!(
        line.starts_with(
            "p.yaml:2:15: render.resolution: invalid type: string \"big\", expected u32"
        ),
        "{line}"
    );
}

#[test]
fn bad_distribution_form_explains_the_forms() {
    let dir = presets(&[("p.yaml", "factors:\n  scale:\n    size: [1, 2]\n")]);
    let line = err_line(&dir, "p", &[]);
    assert!(
        line.starts_with(
            "p.yaml:3:5: factors.scale.size: expected a number or one of fixed/uniform/normal"
        ),
        "{line}"
    );
}

#[test]
fn yaml_syntax_error_is_located() {
    let dir = presets(&[("p.yaml", "factors:\n  camera: [1, 2\nseed: 1\n")]);
    let line = err_line(&dir, "p", &[]);
    assert!(line.starts_with("p.yaml:"), "{line}");
    assert!(line.contains(": invalid YAML: "), "{line}");
    assert!(
        !line.contains(" at line "),
        "the location is not repeated: {line}"
    );
}

#[test]
fn semantic_error_points_at_the_file_that_set_the_field() {
    let dir = presets(&[
        (
            "parent.yaml",
            "seed: 1\nfactors:\n  light:\n    elevation: {uniform: [-100, 10]}\n",
        ),
        ("child.yaml", "extends: parent\nseed: 2\n"),
    ]);
    assert_eq!(
        err_line(&dir, "child", &[]),
        "parent.yaml:4:5: factors.light.elevation: values must lie in [-90, 90] but this uniform reaches [-100, 10]; narrow it to the allowed range"
    );
}

#[test]
fn semantic_name_errors_list_the_known_names() {
    let dir = presets(&[(
        "p.yaml",
        "factors:\n  material:\n    family: {choice: [metal, gold]}\n",
    )]);
    let line = err_line(&dir, "p", &[]);
    assert!(
        line.starts_with("p.yaml:3:5: factors.material.family: unknown name \"gold\"; expected one of plastic, metal,"),
        "{line}"
    );
    let dir = presets(&[(
        "p.yaml",
        "factors:\n  light:\n    world:\n      hdri: {choice: [city, moon]}\n",
    )]);
    let line = err_line(&dir, "p", &[]);
    assert!(
        line.starts_with("p.yaml:4:7: factors.light.world.hdri: unknown name \"moon\""),
        "{line}"
    );
}

#[test]
fn extends_cycles_are_reported() {
    let dir = presets(&[
        ("a.yaml", "extends: b\n"),
        ("b.yaml", "seed: 1\nextends: c\n"),
        ("c.yaml", "extends: a\n"),
    ]);
    assert_eq!(
        err_line(&dir, "a", &[]),
        "c.yaml:1:1: extends: extends cycle a.yaml -> b.yaml -> c.yaml -> a.yaml; remove one of these `extends:`"
    );
    let dir = presets(&[("self.yaml", "extends: self\n")]);
    assert!(err_line(&dir, "self", &[]).contains("extends cycle self.yaml -> self.yaml"));
}

#[test]
fn missing_parent_and_missing_preset_are_reported() {
    let dir = presets(&[("a.yaml", "seed: 1\nextends: nope\n"), ("b.yaml", "")]);
    let line = err_line(&dir, "a", &[]);
    assert!(
        line.starts_with("a.yaml:2:1: extends: no preset named \"nope\""),
        "{line}"
    );
    assert!(line.ends_with("available presets: a, b"), "{line}");
    let line = err_line(&dir, "zzz", &[]);
    assert!(line.starts_with("zzz: no preset named \"zzz\""), "{line}");
}

#[test]
fn bad_set_paths_name_the_override_and_the_valid_keys() {
    let dir = presets(&[("p.yaml", "")]);
    assert_eq!(
        err_line(&dir, "p", &["factors.camera.dist=5"]),
        "--set factors.camera.dist=5: factors.camera.dist: no field \"dist\" at factors.camera; valid keys: distance, elevation, azimuth, focal_length, sensor_width, roll, look_at_jitter, frame_fill"
    );
    let line = err_line(&dir, "p", &["colour=red"]);
    assert!(line.starts_with("--set colour=red: colour: no field \"colour\" at the top level; valid keys: name, description, seed,"), "{line}");
    let line = err_line(&dir, "p", &["factors.camera.distance.uniform=[1, 2]"]);
    assert!(
        line.contains("factors.camera.distance is a single value, not a section; set it whole"),
        "{line}"
    );
    let line = err_line(&dir, "p", &["seed"]);
    assert!(line.starts_with("--set seed: expected key=value"), "{line}");
}

#[test]
fn bad_set_values_are_blamed_on_the_override() {
    let dir = presets(&[("p.yaml", "render:\n  resolution: 128\n")]);
    assert_eq!(
        err_line(&dir, "p", &["render.resolution=8"]),
        "--set render.resolution=8: render.resolution: must be between 16 and 4096 pixels (got 8)"
    );
    let line = err_line(&dir, "p", &["render.resolution=abc"]);
    assert!(line.starts_with("--set render.resolution=abc: render.resolution: invalid type: string \"abc\", expected u32"), "{line}");
    let line = err_line(&dir, "p", &["factors.camera.elevation={uniform: [40, 10]}"]);
    assert!(line.ends_with("factors.camera.elevation: uniform needs [min, max] with min <= max (got [40, 10]); swap the bounds"), "{line}");
}

#[test]
fn folders_required_by_drawable_kinds() {
    let dir = presets(&[(
        "p.yaml",
        "factors:\n  background:\n    kind: {choice: {solid: 1, image: 1}}\n    image_folder: null\n",
    )]);
    let line = err_line(&dir, "p", &[]);
    assert!(line.starts_with("p.yaml:3:5: factors.background.kind: \"image\" can be drawn but factors.background.image_folder is not set"), "{line}");
}

#[test]
fn class_factors_merge_over_factors_and_name_known_classes() {
    let dir = presets(&[
        (
            "p.yaml",
            "classes: [chair, table]\nfactors:\n  camera:\n    distance: 3\nclass_factors:\n  chair:\n    background:\n      kind: solid\n  table:\n",
        ),
        (
            "bad.yaml",
            "classes: [chair]\nclass_factors:\n  sofa:\n    background:\n      kind: solid\n",
        ),
        (
            "range.yaml",
            "classes: [chair]\nclass_factors:\n  chair:\n    camera:\n      distance: -1\n",
        ),
    ]);
    let p = load(&dir, "p", &["factors.scale.size=2"]).unwrap();
    let chair = p.factors_for("chair");
    assert_eq!(chair.background.kind, CategoryDist::fixed("solid"));
    // Unnamed fields come from `factors:` (and its --set), not from the defaults.
    assert_eq!(chair.camera.distance, NumberDist::Fixed(3.0));
    assert_eq!(chair.scale.size, NumberDist::Fixed(2.0));
    assert_eq!(p.factors_for("table"), &p.factors);
    assert_eq!(p.factors_for("lamp"), &p.factors);
    // The resolved preset loads back to itself.
    let resolved = dir.path().join("resolved.yaml");
    std::fs::write(&resolved, p.to_yaml()).unwrap();
    let again = Preset::load_in(dir.path(), resolved.to_str().unwrap(), &[]).unwrap();
    assert_eq!(again.class_factors, p.class_factors);

    let line = err_line(&dir, "bad", &[]);
    assert!(
        line.contains("class_factors.sofa: \"sofa\" is not one of the preset's classes (chair)"),
        "{line}"
    );
    let line = err_line(&dir, "range", &[]);
    assert!(
        line.contains("class_factors.chair.camera.distance: must be > 0"),
        "{line}"
    );
    // Without class_factors the resolved YAML does not mention them.
    assert!(!Preset::default().to_yaml().contains("class_factors"));
}
