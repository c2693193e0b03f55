//! Sampler tests: determinism, independence of streams, unit conversions, file picking.
use super::*;
use crate::preset::{CategoryDist, NumberDist, Preset};
use std::f64::consts::PI;

fn fake_hdris() -> Vec<PathBuf> {
    ["city", "forest", "studio"]
        .iter()
        .map(|n| PathBuf::from(format!("/hdri/{n}.exr")))
        .collect()
}

fn ctx() -> SamplingContext {
    SamplingContext {
        hdris: fake_hdris(),
        material_images: vec![PathBuf::from("/tex/a.png"), PathBuf::from("/tex/b.png")],
        background_images: vec![PathBuf::from("/bg/a.jpg")],
    }
}

fn scene(p: &Preset, class: &str, index: u64, attempt: u32) -> SceneParams {
    sample_scene(p, &ctx(), 42, class, index, attempt).unwrap()
}

#[test]
fn same_inputs_give_identical_scenes() {
    let p = Preset::default();
    assert_eq!(scene(&p, "chair", 7, 0), scene(&p, "chair", 7, 0));
    // Fresh presets and contexts too: nothing hidden is carried between calls.
    assert_eq!(
        scene(&Preset::default(), "chair", 7, 0),
        scene(&p, "chair", 7, 0)
    );
}

#[test]
fn index_class_attempt_and_seed_change_the_scene() {
    let p = Preset::default();
    let a = scene(&p, "chair", 7, 0);
    assert_ne!(a.camera, scene(&p, "chair", 8, 0).camera);
    assert_ne!(a.camera, scene(&p, "table", 7, 0).camera);
    assert_ne!(a.camera, scene(&p, "chair", 7, 1).camera);
    assert_ne!(
        a.camera,
        sample_scene(&p, &ctx(), 43, "chair", 7, 0).unwrap().camera
    );
}

#[test]
fn fixing_one_factor_leaves_the_others_unchanged() {
    let full = Preset::default();
    let mut fixed_camera = Preset::default();
    fixed_camera.factors.camera.distance = NumberDist::Fixed(5.0);
    fixed_camera.factors.camera.azimuth = NumberDist::Normal {
        mean: 10.0,
        std: 3.0,
    };
    for index in 0..50 {
        let a = scene(&full, "chair", index, 0);
        let b = scene(&fixed_camera, "chair", index, 0);
        assert_eq!(b.camera.distance, 5.0);
        assert_eq!(a.material, b.material);
        assert_eq!(a.light, b.light);
        assert_eq!(a.scale, b.scale);
        assert_eq!(a.background, b.background);
        // Within the factor too: only the changed parameters move.
        assert_eq!(a.camera.elevation_deg, b.camera.elevation_deg);
        assert_eq!(a.camera.look_at, b.camera.look_at);
    }
    let mut metal = Preset::default();
    metal.factors.material.family = CategoryDist::fixed("metal");
    for index in 0..50 {
        let a = scene(&full, "sofa", index, 0);
        let b = scene(&metal, "sofa", index, 0);
        assert_eq!(b.material.family(), MaterialFamily::Metal);
        assert_eq!(a.camera, b.camera);
        assert_eq!(
            a.material.surface().base_color,
            b.material.surface().base_color
        );
    }
}

#[test]
fn values_respect_the_preset_ranges() {
    let p = Preset::default();
    for index in 0..300 {
        let s = scene(&p, "lamp", index, 0);
        assert!([1.0, 1.5, 2.0].contains(&s.scale.size));
        assert!((2.5..=5.0).contains(&s.camera.distance));
        assert!((-15.0..=15.0).contains(&s.camera.roll_deg));
        assert!(s.camera.look_at.iter().all(|x| x.abs() <= 0.1));
        assert!((1..=3).contains(&s.light.lamps.len()));
        let mut colours = vec![
            s.material.surface().base_color,
            s.material.surface().secondary_color,
        ];
        match &s.background {
            Background::Solid { color } => colours.push(*color),
            Background::Procedural {
                color,
                secondary_color,
                ..
            } => colours.extend([*color, *secondary_color]),
            Background::Image { crop, .. } => {
                let [x, y, w, h] = *crop;
                assert!(
                    w == h
                        && (0.3..=1.0).contains(&w)
                        && x >= 0.0
                        && y >= 0.0
                        && x + w <= 1.0 + 1e-12
                        && y + h <= 1.0 + 1e-12
                );
            }
            Background::Hdri { .. } => {}
            Background::None => panic!("weight 0 in the defaults"),
        }
        for c in colours {
            assert!(c.iter().all(|x| (0.0..=1.0).contains(x)), "{c:?}");
        }
        assert_ne!(
            s.material.family(),
            MaterialFamily::Image,
            "weight 0 in the defaults"
        );
    }
}

#[test]
fn lamp_energy_and_size_are_converted_per_kind() {
    let mut p = Preset::default();
    p.factors.light.count = NumberDist::Fixed(4.0);
    p.factors.light.energy = NumberDist::Fixed(2.0);
    p.factors.light.size = NumberDist::Fixed(10.0);
    p.factors.light.radius = NumberDist::Fixed(5.0);
    let mut seen = std::collections::BTreeSet::new();
    for index in 0..40 {
        for lamp in scene(&p, "chair", index, 0).light.lamps {
            let half = 5.0 * 5f64.to_radians().tan();
            // (expected energy, expected size), the lamp's size in its kind's terms.
            let ((energy, size), drawn_size) = match lamp {
                Lamp::Sun { angle_deg, .. } => ((2.0, 10.0), angle_deg),
                Lamp::Area { side, .. } => ((2.0 * PI * 25.0, 2.0 * half), side),
                Lamp::Point { shadow_radius, .. } => ((2.0 * 4.0 * PI * 25.0, half), shadow_radius),
                Lamp::Spot {
                    shadow_radius,
                    spot_angle_deg,
                    spot_blend,
                    ..
                } => {
                    assert_eq!((spot_angle_deg, spot_blend), (60.0, 0.3));
                    ((2.0 * 4.0 * PI * 25.0, half), shadow_radius)
                }
            };
            let e = lamp.emitter();
            assert!((e.energy - energy).abs() < 1e-9, "{lamp:?}");
            assert!((drawn_size - size).abs() < 1e-9, "{lamp:?}");
            assert_eq!(e.color, color::temperature_to_linear(e.temperature_k));
            seen.insert(lamp.kind());
        }
    }
    assert_eq!(seen.len(), 4, "all lamp kinds drawn: {seen:?}");
}

#[test]
fn hdri_world_and_background_share_the_file() {
    let mut p = Preset::default();
    p.factors.light.world.kind = CategoryDist::fixed("hdri");
    p.factors.light.world.hdri = CategoryDist::fixed("forest");
    p.factors.background.kind = CategoryDist::fixed("hdri");
    let s = scene(&p, "chair", 0, 0);
    assert_eq!(s.light.world.hdri(), Some(Path::new("/hdri/forest.exr")));
    assert_eq!(s.background.file(), s.light.world.hdri());

    p.factors.light.world.kind = CategoryDist::fixed("sky");
    let s = scene(&p, "chair", 0, 0);
    assert_eq!(s.light.world.hdri(), None);
    assert!(fake_hdris()
        .iter()
        .any(|h| Some(h.as_path()) == s.background.file()));

    p.factors.light.world.kind = CategoryDist::fixed("hdri");
    p.factors.light.world.hdri = CategoryDist::fixed("moon");
    let e = sample_scene(&p, &ctx(), 1, "chair", 0, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "factors.light.world.hdri: no HDRI named \"moon\"; available: city, forest, studio"
    );
}

#[test]
fn a_kind_no_scene_enum_has_is_an_error_naming_the_field() {
    let mut p = Preset::default();
    p.factors.light.kind = CategoryDist::fixed("laser");
    let e = sample_scene(&p, &ctx(), 1, "chair", 0, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "factors.light.kind: no kind named \"laser\"; known: point, sun, spot, area"
    );
    let mut p = Preset::default();
    p.factors.background.kind = CategoryDist::fixed("procedural");
    p.factors.background.pattern = CategoryDist::fixed("plaid");
    let e = sample_scene(&p, &ctx(), 1, "chair", 0, 0).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("factors.background.pattern: no kind named \"plaid\""),
        "{e}"
    );
}

#[test]
fn images_are_picked_from_the_sorted_lists() {
    let mut p = Preset::default();
    p.factors.material.family = CategoryDist::fixed("image");
    let picked: std::collections::BTreeSet<_> = (0..40)
        .map(|i| {
            scene(&p, "chair", i, 0)
                .material
                .image()
                .unwrap()
                .to_path_buf()
        })
        .collect();
    assert_eq!(picked.len(), 2, "both textures get used");
    p.factors.light.world.kind = CategoryDist::fixed("sky");
    p.factors.background.kind = CategoryDist::fixed("solid");
    let e = sample_scene(&p, &SamplingContext::default(), 1, "chair", 0, 0).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("factors.material.image_folder: the sampling context lists no files"),
        "{e}"
    );
}

#[test]
fn prepare_lists_folders_sorted_and_rejects_empty_ones() {
    let dir = tempfile::tempdir().unwrap();
    let hdri = dir.path().join("hdri");
    let tex = dir.path().join("tex/sub");
    std::fs::create_dir_all(&hdri).unwrap();
    std::fs::create_dir_all(&tex).unwrap();
    for f in ["b.exr", "a.HDR", "notes.txt"] {
        std::fs::write(hdri.join(f), b"x").unwrap();
    }
    for f in ["z.png", "y.JPG"] {
        std::fs::write(tex.join(f), b"x").unwrap();
    }
    let mut p = Preset::default();
    p.factors.background.image_folder = None;
    p.factors.background.kind = CategoryDist::choice_of(&["solid", "hdri"]);
    p.factors.light.world.hdri_folder = Some(hdri.clone());
    p.factors.material.image_folder = Some(dir.path().join("tex"));
    p.factors.material.family = CategoryDist::choice_of(&["metal", "image"]);
    let c = SamplingContext::prepare(&p).unwrap();
    assert_eq!(c.hdris, vec![hdri.join("a.HDR"), hdri.join("b.exr")]);
    assert_eq!(
        c.material_images,
        vec![tex.join("y.JPG"), tex.join("z.png")]
    );
    assert!(
        c.background_images.is_empty(),
        "no image backgrounds are drawn"
    );

    p.factors.light.world.hdri = CategoryDist::fixed("c");
    let e = SamplingContext::prepare(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        "factors.light.world.hdri: no HDRI named \"c\"; available: a, b"
    );

    p.factors.light.world.hdri = CategoryDist::fixed("all");
    p.factors.light.world.hdri_folder = Some(dir.path().join("tex"));
    let e = SamplingContext::prepare(&p).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("factors.light.world.hdri_folder: no usable files in"),
        "{e}"
    );
}

#[test]
fn cycles_seed_is_stable_and_varies() {
    let a = sample_seed_for_cycles(1, "chair", 0, 0);
    assert_eq!(a, sample_seed_for_cycles(1, "chair", 0, 0));
    assert_ne!(a, sample_seed_for_cycles(1, "chair", 0, 1));
}

#[test]
fn a_class_with_its_own_factors_draws_from_them_and_others_are_unchanged() {
    let shared = Preset::default();
    let mut p = Preset::default();
    let mut chair = p.factors.clone();
    chair.background.kind = CategoryDist::fixed("solid");
    p.class_factors.insert("chair".into(), chair);
    for index in 0..20 {
        assert_eq!(
            scene(&p, "chair", index, 0).background.kind(),
            BackgroundKind::Solid
        );
        assert_eq!(
            scene(&p, "table", index, 0),
            scene(&shared, "table", index, 0)
        );
        // Only the reweighted factor changes for the class itself.
        assert_eq!(
            scene(&p, "chair", index, 0).camera,
            scene(&shared, "chair", index, 0).camera
        );
    }
}

#[test]
fn builtin_photos_are_the_debian_wallpaper_photographs() {
    // scripts/setup.sh installs mate-backgrounds (12 nature photos) and lomiri-wallpapers
    // (19 photos); the base preset draws image backgrounds from them.
    let photos = super::builtin_photos();
    assert_eq!(photos.len(), 31, "{photos:?}");
    let mut p = Preset::default();
    assert!(p.factors.background.kind.can_be("image"));
    assert_eq!(
        super::drop_missing_builtin_photos(&mut p),
        None,
        "installed: nothing dropped"
    );
    let c = SamplingContext::prepare(&p).unwrap();
    assert_eq!(c.background_images, photos);
}
