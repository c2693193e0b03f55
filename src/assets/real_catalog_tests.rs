//! Checks against the real Debian archives (skipped, with a note, where they are not
//! installed). Run with `--nocapture` to see the per-class counts and the load timings.
use super::*;
use std::time::Instant;

/// The installed Sweet Home 3D catalog, or None (with a note) where it is not installed.
pub(crate) fn real_source(cache: &std::path::Path) -> Option<SweetHome3dSource> {
    let dir = crate::paths::sweethome3d_dir();
    let has_archives = std::fs::read_dir(&dir).ok()?.any(|e| {
        e.ok()
            .is_some_and(|e| e.path().extension().is_some_and(|x| x == "sh3f"))
    });
    if !has_archives {
        eprintln!("skipping: no Sweet Home 3D archives in {}", dir.display());
        return None;
    }
    Some(SweetHome3dSource::new(dir, Some(cache.to_path_buf())))
}

/// The installed catalog with the default class map applied, or None where it is not installed.
pub(crate) fn real_classified_catalog(cache: &std::path::Path) -> Option<Catalog> {
    let source = real_source(cache)?;
    let mut catalog = Catalog::new();
    catalog.add_source(&source).unwrap();
    catalog.apply_class_map(&ClassMap::load_default_sweethome3d().unwrap());
    Some(catalog)
}

#[test]
fn real_catalog_loads_caches_classifies_and_extracts() {
    let cache = tempfile::tempdir().unwrap();
    let Some(source) = real_source(cache.path()) else {
        return;
    };
    let start = Instant::now();
    let mut catalog = Catalog::new();
    assert!(
        !catalog.add_source(&source).unwrap(),
        "first load must parse"
    );
    let cold = start.elapsed();
    let start = Instant::now();
    let mut again = Catalog::new();
    assert!(
        again.add_source(&source).unwrap(),
        "second load must hit the index cache"
    );
    let warm = start.elapsed();
    assert_eq!(again.entries(), catalog.entries());
    eprintln!(
        "sweethome3d: {} models, {} skipped; cold load {:.1} ms, cached load {:.1} ms",
        catalog.len(),
        catalog.skipped().len(),
        cold.as_secs_f64() * 1e3,
        warm.as_secs_f64() * 1e3
    );
    assert!(catalog.len() > 700, "{} models", catalog.len());
    for skipped in catalog.skipped() {
        if !skipped.reason.contains("door or window") {
            eprintln!(
                "skipped {} ({}): {}",
                skipped.label, skipped.origin, skipped.reason
            );
        }
    }
    // Only doors/windows and a few models lying on an unsupported axis may be skipped.
    assert!(
        catalog.skipped().len() < 45,
        "{} skipped",
        catalog.skipped().len()
    );

    let map =
        ClassMap::load(&crate::paths::repo_root().join("shapenet_index/sweethome3d.yaml")).unwrap();
    catalog.apply_class_map(&map);
    for (class, count) in catalog.class_counts() {
        let names: Vec<&str> = catalog
            .models_for_class(&class)
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        eprintln!("{class:>12} {count:>3}  {}", names.join(" | "));
    }
    let unclassified = catalog
        .entries()
        .iter()
        .filter(|e| e.class.is_none())
        .count();
    eprintln!("unclassified: {unclassified}");

    let class_of = |name: &str| -> Vec<Option<String>> {
        catalog
            .entries()
            .iter()
            .filter(|e| e.name == name)
            .map(|e| e.class.clone())
            .collect()
    };
    let lamp = Some("lamp".to_string());
    assert!(class_of("Desk lamp").iter().all(|c| *c == lamp));
    assert!(class_of("Armchair")
        .iter()
        .all(|c| c.as_deref() == Some("chair")));
    assert!(class_of("Rocking horse").iter().all(Option::is_none));
    assert!(class_of("Bedside table")
        .iter()
        .all(|c| c.as_deref() == Some("cabinet")));
    assert!(class_of("Piano bench")
        .iter()
        .all(|c| c.as_deref() == Some("bench")));
    for class in [
        "chair", "table", "lamp", "sofa", "bed", "cabinet", "car", "person", "plant",
    ] {
        assert!(
            catalog.models_for_class(class).len() >= 3,
            "class {class} has too few models"
        );
    }

    // Extract one real model and check its folder has the OBJ and its MTL.
    let models = ModelCache::new(cache.path());
    let chair = catalog.models_for_class("chair")[0];
    let start = Instant::now();
    let model_ref = chair.to_model_ref(&models).unwrap();
    let first = start.elapsed();
    let start = Instant::now();
    assert_eq!(chair.to_model_ref(&models).unwrap(), model_ref);
    let second = start.elapsed();
    eprintln!(
        "extract {}: {:.1} ms, again {:.3} ms",
        chair.key,
        first.as_secs_f64() * 1e3,
        second.as_secs_f64() * 1e3
    );
    assert!(model_ref.path.is_file());
    assert_eq!(model_ref.up_axis, chair.up_axis);
    let z_up: Vec<&str> = catalog
        .entries()
        .iter()
        .filter(|e| e.up_axis == "Z")
        .map(|e| e.name.as_str())
        .collect();
    eprintln!("Z-up models: {}", z_up.join(" | "));
    let obj = std::fs::read_to_string(&model_ref.path).unwrap();
    if let Some(mtl) = obj.lines().find_map(|l| l.strip_prefix("mtllib ")) {
        assert!(
            model_ref.path.with_file_name(mtl.trim()).is_file(),
            "{mtl} missing"
        );
    }
}

/// Every Sweet Home 3D entry whose `modelRotation` turns it about the vertical reaches the
/// renderer with that turn (`ModelRef::rotation`), e.g. Scopia#beige_sofa_2seats' quarter
/// turn, which takes the file's +x (its front) to the scene's front, -y.
#[test]
fn real_catalog_turns_reach_the_renderer() {
    let cache = tempfile::tempdir().unwrap();
    let Some(catalog) = real_classified_catalog(cache.path()) else {
        return;
    };
    let mut turned: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for e in catalog.entries() {
        if let Some(m) = e.rotation_after_import() {
            let class = e.class.clone().unwrap_or_else(|| "(no class)".into());
            let deg = orientation::turn_about_vertical_deg(&m);
            turned
                .entry(class)
                .or_default()
                .push(format!("{} ({deg:+.0} deg)", e.key));
        }
    }
    for (class, keys) in &turned {
        eprintln!("turned {class:>12} {:>2}: {}", keys.len(), keys.join(" | "));
    }
    let sofa = catalog
        .entries()
        .iter()
        .find(|e| e.key == "sweethome3d:Scopia#beige_sofa_2seats")
        .expect("the Scopia sofa is in the catalog");
    assert_eq!(sofa.class.as_deref(), Some("sofa"));
    let model_ref = sofa.to_model_ref(&ModelCache::new(cache.path())).unwrap();
    let m = model_ref
        .rotation
        .expect("the sofa's turn reaches the renderer");
    assert!((orientation::turn_about_vertical_deg(&m) + 90.0).abs() < 1e-6);
    assert!(turned.values().map(Vec::len).sum::<usize>() >= 14);
}
