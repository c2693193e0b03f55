//! The factor-ablation mini's class choice, measured from the installed catalog's models
//! (skipped, with a note, where the Sweet Home 3D archives are not installed).
use crate::assets::geometry::ModelGeometry;
use crate::assets::real_catalog_tests::real_classified_catalog;
use crate::assets::ModelCache;

/// How much a class's silhouettes change with the viewpoint, from its models' geometry as
/// the renderer places it (rotation applied): the footprint aspect ratio (long over short
/// side of the bounding box on the ground) and the silhouette-area ratio (largest over
/// smallest predicted coverage over 12 azimuths at elevation 20, distance 3.5, scale 1).
/// Prints a table of every class with at least 12 models (medians; `--nocapture`), the one
/// in docs/STUDIES.md, and checks that the factor-ablation mini trains on exactly the
/// classes whose median footprint aspect is at least 1.5.
#[test]
fn viewpoint_sensitivity_by_class_chooses_the_factor_ablation_minis_classes() {
    let cache = tempfile::tempdir().unwrap();
    let Some(catalog) = real_classified_catalog(cache.path()) else {
        return;
    };
    let models = ModelCache::new(cache.path().join("models"));
    let preset = crate::preset::Preset::load("base", &["render.resolution=64".into()]).unwrap();
    let ctx = crate::sample::SamplingContext::prepare(&preset).unwrap();
    let mut params = crate::sample::sample_scene(&preset, &ctx, 0, "chair", 0, 0).unwrap();
    params.scale.size = 1.0;
    let cam = &mut params.camera;
    (cam.distance, cam.elevation_deg, cam.roll_deg, cam.look_at) = (3.5, 20.0, 0.0, [0.0; 3]);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        (v[(n - 1) / 2] + v[n / 2]) / 2.0
    };
    let mut rows: Vec<(String, usize, f64, f64, f64)> = Vec::new();
    for (class, count) in catalog.class_counts() {
        if count < 12 {
            continue;
        }
        let (mut aspects, mut areas) = (Vec::new(), Vec::new());
        for e in catalog.models_for_class(&class) {
            let r = e.to_model_ref(&models).unwrap();
            let g = ModelGeometry::from_obj(&r.path, &r.up_axis, r.rotation.as_deref()).unwrap();
            let used: Vec<[f64; 3]> = g
                .triangles
                .iter()
                .flatten()
                .map(|&i| g.points[i as usize])
                .collect();
            let extent = |k: usize| {
                let v = used.iter().map(|p| p[k]);
                v.clone().fold(f64::NEG_INFINITY, f64::max) - v.fold(f64::INFINITY, f64::min)
            };
            let (a, b) = (extent(0), extent(1));
            aspects.push(a.max(b) / a.min(b).max(1e-3));
            let coverage: Vec<f64> = (0..12)
                .filter_map(|k| {
                    let mut p = params.clone();
                    p.camera.azimuth_deg = 30.0 * f64::from(k);
                    crate::render::predict::predict_view(&g, &p, 64).map(|v| v.coverage)
                })
                .collect();
            let lo = coverage.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = coverage.iter().cloned().fold(0.0, f64::max);
            areas.push(hi / lo.max(1e-4));
        }
        let elongated = aspects.iter().filter(|&&a| a >= 1.5).count() as f64 / count as f64;
        rows.push((class, count, median(aspects), elongated, median(areas)));
    }
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    eprintln!("| class | models | median footprint aspect | models with aspect >= 1.5 | median silhouette-area ratio |");
    eprintln!("|---|---:|---:|---:|---:|");
    for (class, count, aspect, elongated, area) in &rows {
        eprintln!(
            "| {class} | {count} | {aspect:.2} | {:.0}% | {area:.2} |",
            100.0 * elongated
        );
    }
    let spec = super::builtin::text("factor-ablation", "mini").unwrap();
    let spec: serde_yaml::Value = serde_yaml::from_str(spec).unwrap();
    let mut chosen: Vec<String> = spec["dataset_defaults"]["classes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    chosen.sort();
    let mut elongated: Vec<String> = rows
        .iter()
        .filter(|r| r.2 >= 1.5)
        .map(|r| r.0.clone())
        .collect();
    elongated.sort();
    assert_eq!(
        chosen, elongated,
        "the mini's classes are the classes (12+ models) of median footprint aspect >= 1.5"
    );
}
