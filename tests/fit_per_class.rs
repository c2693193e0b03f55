//! Per-class weights end to end: `render --weights` with a `classes:` section draws each
//! class from its own weights, an unknown class is refused, and `fit` on a labelled target
//! (class subfolders) recovers a different planted background kind per class from a real
//! (tiny) probe render.
mod common;
use common::*;
use rand::SeedableRng;
use std::path::Path;

/// Runs `fit` on `target` with `probe` and the test's settings into `<scratch>/<name>.yaml`
/// (its report in `<name>.fit/`) and returns the weights file.
fn fit_ok(
    scratch: &Path,
    target: &Path,
    probe: &Path,
    name: &str,
    extra: &[&str],
) -> serde_yaml::Value {
    let out = scratch.join(format!("{name}.yaml"));
    let o = synthgen(scratch)
        .args(["fit", "--preset", "demo", "--target"])
        .arg(target)
        .arg("--probe")
        .arg(probe)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .args(probe_sets())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_yaml::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

/// `fit --set`s: the classes of the test and its render settings for probe rounds.
fn probe_sets() -> Vec<String> {
    [
        "classes=[chair, table]",
        "render.resolution=32",
        "render.samples=4",
        "render.denoise=false",
        "validate.min_coverage=0.005",
    ]
    .iter()
    .flat_map(|s| ["--set".to_string(), s.to_string()])
    .collect()
}

fn kind_of(r: &RecordDigest) -> String {
    r.params["background"]["kind"].as_str().unwrap().to_string()
}

#[test]
fn class_sections_render_each_class_with_its_own_level_and_unknown_classes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path().join("w.yaml");
    std::fs::write(
        &w,
        "preset: demo\nfactors:\n  background.kind: {solid: 1, procedural: 1, hdri: 1}\nclasses:\n  chair:\n    background.kind: {solid: 1}\n  table:\n    background.kind: {procedural: 1}\n",
    )
    .unwrap();
    let ds = tmp.path().join("ds");
    let o = synthgen(tmp.path())
        .args(fit_render_args(&ds, 3))
        .arg("--weights")
        .arg(&w)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let records = manifest_digests(&ds);
    assert_eq!(records.len(), 6);
    for r in &records {
        let expected = if r.id.starts_with("chair") {
            "solid"
        } else {
            "procedural"
        };
        assert_eq!(kind_of(r), expected, "{}", r.id);
    }
    let recorded = std::fs::read_to_string(ds.join("preset.yaml")).unwrap();
    assert!(recorded.contains("class_factors:"), "{recorded}");

    // The same file without its classes: section is a different preset: no resume.
    let shared_only = tmp.path().join("shared.yaml");
    std::fs::write(
        &shared_only,
        "preset: demo\nfactors:\n  background.kind: {solid: 1, procedural: 1, hdri: 1}\n",
    )
    .unwrap();
    assert_resume_refused_with(tmp.path(), fit_render_args(&ds, 3), &shared_only);

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "classes:\n  bed:\n    background.kind: {solid: 1}\n").unwrap();
    let out = tmp.path().join("refused");
    let o = synthgen(tmp.path())
        .args(fit_render_args(&out, 1))
        .arg("--weights")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("unknown class \"bed\"; preset demo has the classes: chair, table"),
        "{}",
        text(&o)
    );
    assert!(!out.join("manifest.jsonl").exists());
}

/// Planted truth per class: the target's chair/ images are a seeded resample of the probe's
/// chair images with background `solid` 8 times as likely as each other kind, its table/
/// images one of the table images with `procedural` favoured the same way (120 resamples of
/// 96 images per class). The classes are fitted on a 384-image probe round (192 per class)
/// rendered from the class-agnostic weights (a labelled target keeps the last of `--rounds`
/// for it).
///
/// Every bound is about half the smallest effect measured on seeded resamples with
/// planting seeds 5 to 8 at fit seed 0, and seeds 5 and 6 at fit seed 1 (Python's `random`
/// standing in for the test's ChaCha draw, same design), on one machine: each class's planted kind comes first with margin, each class
/// moves the solid level from the class-agnostic weights in its planted direction, and the
/// two classes' own weights differ as planted. Before the fit moved to fixed-length
/// steepest descent (Adam gave noise-only levels the same step as the planted one), table's
/// procedural weight was 0.30 to 0.61 and not always first (docs/FIT.md, Limits).
#[test]
fn per_class_fit_recovers_a_different_planted_background_per_class() {
    let tmp = tempfile::tempdir().unwrap();
    let probe = tmp.path().join("probe");
    render_uniform_background_probe(tmp.path(), &probe, 96);

    let kinds = ["solid", "procedural", "hdri"];
    let planted = |class: &str| -> [f64; 3] {
        if class == "chair" {
            [0.8, 0.1, 0.1]
        } else {
            [0.1, 0.8, 0.1]
        }
    };
    let records = manifest_digests(&probe);
    let target = tmp.path().join("target");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    for class in ["chair", "table"] {
        let own: Vec<&RecordDigest> = records.iter().filter(|r| r.id.starts_with(class)).collect();
        let weight = |r: &RecordDigest| {
            let k = kind_of(r);
            let share = own.iter().filter(|x| kind_of(x) == k).count() as f64;
            planted(class)[kinds.iter().position(|x| *x == k).unwrap()] / share
        };
        std::fs::create_dir_all(target.join(class)).unwrap();
        for j in 0..120 {
            let r = pick_weighted(&own, |r| weight(r), &mut rng);
            std::fs::copy(
                probe.join(format!("{class}/{}.png", r.id)),
                target.join(format!("{class}/{j:03}.png")),
            )
            .unwrap();
        }
    }

    let w = fit_ok(
        tmp.path(),
        &target,
        &probe,
        "fitted",
        &["--rounds", "3", "--probe-size", "384"],
    );
    let weights_of = |section: &serde_yaml::Value| -> Vec<f64> {
        kinds
            .iter()
            .map(|k| section["background.kind"][*k].as_f64().unwrap())
            .collect()
    };
    let tv = |a: &[f64], b: &[f64]| -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / 2.0
    };
    let agnostic = weights_of(&w["factors"]);
    let record = &w["fit"]["per_class"];
    for class in ["chair", "table"] {
        let own = weights_of(&w["classes"][class]);
        let truth = planted(class);
        let c = &record[class];
        eprintln!(
            "{class}: own {own:?} (TV {:.3}), agnostic {agnostic:?} (TV {:.3}); held-out MMD^2 probe {:?}, before {:?}, after {:?}",
            tv(&own, &truth),
            tv(&agnostic, &truth),
            c["heldout_mmd2_probe"],
            c["heldout_mmd2_before"],
            c["heldout_mmd2_after"]
        );
        assert_eq!(c["probe_images"].as_f64(), Some(192.0), "{c:?}");
        assert!(c["heldout_mmd2_after"].as_f64().is_some(), "{c:?}");
    }
    let (chair, table) = (
        weights_of(&w["classes"]["chair"]),
        weights_of(&w["classes"]["table"]),
    );
    // Each class's planted kind comes first: chair's solid by 0.45 to 0.59 over the next
    // kind, table's procedural by 0.18 to 0.45.
    let first_by = |w: &[f64], k: usize| {
        w[k] - (0..3)
            .filter(|j| *j != k)
            .map(|j| w[j])
            .fold(f64::NEG_INFINITY, f64::max)
    };
    assert!(first_by(&chair, 0) > 0.22, "chair: {chair:?}");
    assert!(first_by(&table, 1) > 0.08, "table: {table:?}");
    // chair: much closer to its planted weights than the class-agnostic weights are
    // (measured: TV 0.08 to 0.13 against 0.25 to 0.31, 0.15 to 0.23 closer).
    assert!(
        tv(&chair, &planted("chair")) < tv(&agnostic, &planted("chair")) - 0.07,
        "chair: {chair:?} vs {agnostic:?}"
    );
    // Each class moves the solid level from the class-agnostic weights in its planted
    // direction (measured: chair +0.19 to +0.34, table -0.09 to -0.31: fit seed 1 on
    // planting seed 5 moved table's solid by only -0.093).
    assert!(chair[0] > agnostic[0] + 0.09, "{chair:?} vs {agnostic:?}");
    assert!(table[0] < agnostic[0] - 0.045, "{table:?} vs {agnostic:?}");
    // The classes differ as planted (measured: solid 0.37 to 0.53 apart, procedural 0.31
    // to 0.44 apart).
    assert!(chair[0] - table[0] > 0.18, "{chair:?} vs {table:?}");
    assert!(table[1] - chair[1] > 0.15, "{chair:?} vs {table:?}");
    // The class-agnostic fit leaves each class's share of its pool too thin to move from,
    // so the classes were fitted on a round rendered from the class-agnostic weights.
    assert_eq!(
        record["probe"].as_str(),
        Some("a round rendered from the class-agnostic weights")
    );
    let report = std::fs::read_to_string(tmp.path().join("fitted.fit/report.md")).unwrap();
    assert!(
        report.contains("## Per class") && report.contains("### chair"),
        "{report}"
    );

    // --per-class off writes class-agnostic weights only.
    let w = fit_ok(
        tmp.path(),
        &target,
        &probe,
        "off",
        &["--rounds", "1", "--per-class", "off"],
    );
    assert!(w["classes"].is_null(), "{w:?}");
    assert_eq!(
        w["fit"]["per_class"].as_str(),
        Some("class-agnostic only: --per-class off")
    );
}
