//! The kind lists are the enums' serde tags, and manifests of the flat shape still read.
use super::legacy::params_of_value;
use super::params::*;
use serde_json::Value;
use std::path::PathBuf;

fn surface() -> Surface {
    Surface {
        keep_original: false,
        base_color: [0.5, 0.4, 0.3],
        secondary_color: [0.1, 0.2, 0.3],
        roughness: 0.5,
        secondary_roughness: 0.5,
        metallic: 0.0,
        pattern_scale: 4.0,
        pattern_detail: 2.0,
        pattern_distortion: 1.0,
    }
}

fn tag(value: &impl serde::Serialize, key: &str) -> String {
    serde_json::to_value(value).unwrap()[key]
        .as_str()
        .unwrap()
        .to_string()
}

fn world_of(kind: WorldKind) -> World {
    match kind {
        WorldKind::Uniform => World::Uniform {
            strength: 1.0,
            color: [0.5; 3],
        },
        WorldKind::Hdri => World::Hdri {
            strength: 1.0,
            hdri: PathBuf::from("forest.exr"),
            rotation_deg: 0.0,
        },
        WorldKind::Sky => World::Sky {
            strength: 1.0,
            sun_elevation_deg: 30.0,
            sun_azimuth_deg: 0.0,
            turbidity: 2.5,
            ground_albedo: 0.3,
        },
    }
}

fn background_of(kind: BackgroundKind) -> Background {
    match kind {
        BackgroundKind::None => Background::None,
        BackgroundKind::Solid => Background::Solid { color: [0.5; 3] },
        BackgroundKind::Procedural => Background::Procedural {
            pattern: Pattern::Blobs,
            color: [0.5; 3],
            secondary_color: [0.1; 3],
            pattern_scale: 3.0,
            seed: u64::MAX,
        },
        BackgroundKind::Hdri => Background::Hdri {
            hdri: PathBuf::from("forest.exr"),
        },
        BackgroundKind::Image => Background::Image {
            image: PathBuf::from("photo.jpg"),
            crop: [0.0, 0.0, 1.0, 1.0],
        },
    }
}

#[test]
fn kind_lists_are_the_serde_tags_of_the_scene_enums() {
    assert_eq!(MATERIAL_FAMILIES.len(), 15);
    for (f, name) in MaterialFamily::ALL.iter().zip(MATERIAL_FAMILIES) {
        let m = Material::new(*f, surface(), Some(PathBuf::from("wood.png"))).unwrap();
        assert_eq!((m.family(), tag(&m, "family")), (*f, name.to_string()));
        assert_eq!(MaterialFamily::parse(name), Some(*f));
    }
    assert_eq!(Material::new(MaterialFamily::Image, surface(), None), None);
    let e = Emitter {
        radius: 5.0,
        elevation_deg: 30.0,
        azimuth_deg: 10.0,
        energy: 100.0,
        temperature_k: 5000.0,
        color: [1.0; 3],
    };
    let cone = Cone {
        angle_deg: 60.0,
        blend: 0.3,
    };
    assert_eq!(LAMP_KINDS, ["point", "sun", "spot", "area"]);
    for (k, name) in LampKind::ALL.iter().zip(LAMP_KINDS) {
        let lamp = Lamp::new(*k, e, 0.5, cone);
        assert_eq!((lamp.kind(), tag(&lamp, "kind")), (*k, name.to_string()));
        assert_eq!(lamp.emitter(), e);
    }
    assert_eq!(WORLD_KINDS, ["uniform", "hdri", "sky"]);
    for (k, name) in WorldKind::ALL.iter().zip(WORLD_KINDS) {
        let w = world_of(*k);
        assert_eq!((w.kind(), tag(&w, "kind")), (*k, name.to_string()));
    }
    assert_eq!(
        BACKGROUND_KINDS,
        ["none", "solid", "procedural", "hdri", "image"]
    );
    for (k, name) in BackgroundKind::ALL.iter().zip(BACKGROUND_KINDS) {
        let b = background_of(*k);
        assert_eq!((b.kind(), tag(&b, "kind")), (*k, name.to_string()));
        let back: Background = serde_json::from_value(serde_json::to_value(&b).unwrap()).unwrap();
        assert_eq!(back, b);
    }
    assert_eq!(
        BACKGROUND_PATTERNS,
        ["noise", "gradient", "stripes", "checker", "blobs"]
    );
    for (p, name) in Pattern::ALL.iter().zip(BACKGROUND_PATTERNS) {
        assert_eq!(serde_json::to_value(p).unwrap(), Value::from(*name));
    }
    assert_eq!(LampKind::parse("laser"), None);
}

/// `params` of manifest lines written by 719d48c (`synthgen render --preset base`, four runs
/// that together draw every material family, lamp, world and background kind and pattern,
/// a `frame_fill` camera and kept originals), and the scene that commit sent Blender for each.
const OLD_MANIFEST: &str = include_str!("../../tests/fixtures/manifest-719d48c.jsonl");
const OLD_BLENDER_SCENES: &str = include_str!("../../tests/fixtures/blender-scenes-719d48c.jsonl");

/// The new scene as the old worker request had it: without what only Rust uses.
fn blender_part(p: &SceneParams) -> Value {
    let mut v = serde_json::to_value(p).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("background");
    o["camera"].as_object_mut().unwrap().remove("frame_fill");
    for lamp in o["light"]["lamps"].as_array_mut().unwrap() {
        lamp.as_object_mut().unwrap().remove("temperature_k");
    }
    v
}

#[test]
fn flat_params_of_old_manifests_read_as_the_scene_blender_received() {
    let lines: Vec<&str> = OLD_MANIFEST.lines().collect();
    let scenes: Vec<&str> = OLD_BLENDER_SCENES.lines().collect();
    assert_eq!(lines.len(), scenes.len());
    let mut kinds = std::collections::BTreeSet::new();
    for (line, scene) in lines.iter().zip(&scenes) {
        let old: Value = serde_json::from_str(line).unwrap();
        let flat = &old["params"];
        let p = params_of_value(flat).unwrap();
        let expected: Value = serde_json::from_str(scene).unwrap();
        assert_eq!(blender_part(&p), expected, "{line}");
        // What only Rust uses is kept too.
        let temperatures: Vec<f64> = p
            .light
            .lamps
            .iter()
            .map(|l| l.emitter().temperature_k)
            .collect();
        let old_temperatures: Vec<f64> = flat["light"]["lamps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["temperature_k"].as_f64().unwrap())
            .collect();
        assert_eq!(temperatures, old_temperatures);
        assert_eq!(p.camera.frame_fill, flat["camera"]["frame_fill"].as_f64());
        let b = &flat["background"];
        assert_eq!(p.background.kind().name(), b["kind"].as_str().unwrap());
        match &p.background {
            Background::None => {}
            Background::Solid { color } => {
                assert_eq!(serde_json::to_value(color).unwrap(), b["color"])
            }
            Background::Procedural {
                pattern,
                seed,
                pattern_scale,
                ..
            } => {
                assert_eq!(pattern.name(), b["pattern"].as_str().unwrap());
                assert_eq!(Some(*seed), b["seed"].as_u64());
                assert_eq!(Some(*pattern_scale), b["pattern_scale"].as_f64());
            }
            Background::Hdri { hdri } => assert_eq!(hdri.to_str(), b["image"].as_str()),
            Background::Image { image, crop } => {
                assert_eq!(image.to_str(), b["image"].as_str());
                assert_eq!(serde_json::to_value(crop).unwrap(), b["crop"]);
            }
        }
        // The new shape writes and reads back as itself.
        let again = params_of_value(&serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(again, p);
        kinds.insert(format!("material {}", p.material.family()));
        kinds.insert(format!("world {}", p.light.world.kind()));
        kinds.insert(format!("background {}", p.background.kind()));
        if let Background::Procedural { pattern, .. } = &p.background {
            kinds.insert(format!("pattern {pattern}"));
        }
        for l in &p.light.lamps {
            kinds.insert(format!("lamp {}", l.kind()));
        }
    }
    // The fixture covers every kind.
    let lists = MATERIAL_FAMILIES.len() + WORLD_KINDS.len() + BACKGROUND_KINDS.len();
    assert_eq!(
        kinds.len(),
        lists + BACKGROUND_PATTERNS.len() + LAMP_KINDS.len(),
        "{kinds:?}"
    );
}

#[test]
fn a_params_value_of_neither_shape_names_the_current_error() {
    let old: Value = serde_json::from_str(OLD_MANIFEST.lines().next().unwrap()).unwrap();
    let mut bad = old["params"].clone();
    bad["material"]["family"] = Value::from("velvet");
    let err = params_of_value(&bad).unwrap_err();
    assert!(
        err.contains("velvet") && err.contains("plastic, metal"),
        "{err}"
    );
    let mut bad = old["params"].clone();
    bad["light"]["world"] = serde_json::json!({"kind": "hdri", "strength": 1.0, "hdri": null,
        "rotation_deg": 0.0, "color": [1.0, 1.0, 1.0], "sun_elevation_deg": 0.0});
    let err = params_of_value(&bad).unwrap_err();
    assert!(err.contains("params.light.world.hdri is missing"), "{err}");
    let err = params_of_value(&Value::from(3)).unwrap_err();
    assert!(err.contains("flat scene of older manifests"), "{err}");
}
