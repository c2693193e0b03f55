//! Semantic rules a preset must follow once it has the right shape: ranges, known names, and
//! fields that need each other. Each rule names its field path so the loader can point at the
//! file (or `--set`) that set it.
use super::dist::{fmt_num, CategoryDist, NumberDist};
use super::schema::{Factors, Preset, ALL_HDRIS, BUNDLED_HDRIS, CATALOGS};
use crate::scene::params::{
    BackgroundKind, MaterialFamily, BACKGROUND_KINDS, BACKGROUND_PATTERNS, LAMP_KINDS,
    MATERIAL_FAMILIES, WORLD_KINDS,
};

/// Most lamps a preset may ask for (a sanity bound; each lamp costs render time).
pub const MAX_LAMPS: f64 = 16.0;

/// One broken rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub field: String,
    pub message: String,
}

fn issue(field: &str, message: String) -> Issue {
    Issue {
        field: field.to_string(),
        message,
    }
}

/// The first broken rule, in file order, or Ok.
pub fn check(p: &Preset) -> Result<(), Issue> {
    if p.images_per_class == 0 {
        return Err(issue(
            "images_per_class",
            "must be at least 1 (got 0)".into(),
        ));
    }
    one_of(&CategoryDist::fixed(&p.catalog), "catalog", CATALOGS)?;
    unit(p.split.test_fraction, "split.test_fraction")?;

    let r = &p.render;
    if !(16..=4096).contains(&r.resolution) {
        return Err(issue(
            "render.resolution",
            format!("must be between 16 and 4096 pixels (got {})", r.resolution),
        ));
    }
    if r.samples == 0 {
        return Err(issue("render.samples", "must be at least 1 (got 0)".into()));
    }
    if r.engine != "cycles" {
        return Err(issue(
            "render.engine",
            format!("only \"cycles\" is supported (got \"{}\")", r.engine),
        ));
    }
    if !(0.0..=1.0).contains(&r.adaptive_threshold) {
        return Err(issue(
            "render.adaptive_threshold",
            format!(
                "must be between 0 (off) and 1, e.g. 0.01 (got {})",
                r.adaptive_threshold
            ),
        ));
    }
    if r.adaptive_min_samples > r.samples {
        return Err(issue(
            "render.adaptive_min_samples",
            format!(
                "must be at most render.samples ({}) (got {})",
                r.samples, r.adaptive_min_samples
            ),
        ));
    }
    for (field, value) in [
        ("render.max_bounces", r.max_bounces),
        ("render.diffuse_bounces", r.diffuse_bounces),
        ("render.glossy_bounces", r.glossy_bounces),
        ("render.transmission_bounces", r.transmission_bounces),
    ] {
        if value > 1024 {
            return Err(issue(
                field,
                format!("must be between 0 and 1024, e.g. 4 (got {value})"),
            ));
        }
    }
    for (field, value) in [
        ("render.clamp_direct", r.clamp_direct),
        ("render.clamp_indirect", r.clamp_indirect),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(issue(
                field,
                format!("must be 0 (no clamp) or a positive number, e.g. 10 (got {value})"),
            ));
        }
    }

    let v = &p.validate;
    unit(v.min_coverage, "validate.min_coverage")?;
    unit(v.max_coverage, "validate.max_coverage")?;
    if v.min_coverage > v.max_coverage {
        return Err(issue(
            "validate.min_coverage",
            format!(
                "must not exceed validate.max_coverage ({} > {}); lower it or raise max_coverage",
                fmt_num(v.min_coverage),
                fmt_num(v.max_coverage)
            ),
        ));
    }
    unit(v.max_truncation, "validate.max_truncation")?;
    unit(v.max_magenta_fraction, "validate.max_magenta_fraction")?;
    at_least_one(v.max_attempts, "validate.max_attempts")?;
    at_least_one(p.workers.count, "workers.count")?;
    at_least_one(p.workers.max_jobs_per_worker, "workers.max_jobs_per_worker")?;
    at_least_one(p.workers.max_model_failures, "workers.max_model_failures")?;

    check_output(p)?;
    check_factors(&p.factors, "factors")?;
    for (class, f) in &p.class_factors {
        check_class_factors(p, class, f)?;
    }
    Ok(())
}

/// Shard limits must be positive, and shard files and sample keys must hold no dot or slash
/// (WebDataset splits a member name at its first dot into key and extension).
fn check_output(p: &Preset) -> Result<(), Issue> {
    let o = &p.output;
    if o.shard_samples == 0 {
        return Err(issue(
            "output.shard_samples",
            "must be at least 1, e.g. 10000 (got 0)".into(),
        ));
    }
    if o.shard_bytes < 1024 {
        return Err(issue(
            "output.shard_bytes",
            format!(
                "must be at least 1024, e.g. 1000000000 for 1 GB (got {})",
                o.shard_bytes
            ),
        ));
    }
    if let Some(name) = &o.shard_name {
        if name.is_empty() || name.len() > 64 || name.contains(['.', '/', '\\']) {
            return Err(issue(
                "output.shard_name",
                format!("must be 1 to 64 characters without '.', '/' or '\\' (got {name:?})"),
            ));
        }
    }
    if o.format == super::schema::OutputFormat::WebDataset {
        if let Some(c) = p.classes.iter().find(|c| c.contains(['.', '/'])) {
            return Err(issue(
                "classes",
                format!("class {c:?} holds '.' or '/', which WebDataset keys cannot; rename it or use output.format: imagefolder"),
            ));
        }
    }
    Ok(())
}

/// The rules of one factors section; `prefix` is its path (`factors` or `class_factors.<c>`).
fn check_factors(f: &Factors, prefix: &str) -> Result<(), Issue> {
    let at = |field: &str| format!("{prefix}.{field}");
    positive(&f.scale.size, &at("scale.size"))?;

    let m = &f.material;
    unit(
        m.keep_original_probability,
        &at("material.keep_original_probability"),
    )?;
    one_of(&m.family, &at("material.family"), MATERIAL_FAMILIES)?;
    needs_folder(
        &m.family,
        MaterialFamily::Image.name(),
        m.image_folder.is_some(),
        &at("material.family"),
        &at("material.image_folder"),
    )?;
    within(&m.saturation, &at("material.saturation"), 0.0, 1.0)?;
    within(&m.value, &at("material.value"), 0.0, 1.0)?;
    within(&m.roughness, &at("material.roughness"), 0.0, 1.0)?;
    within(&m.metallic, &at("material.metallic"), 0.0, 1.0)?;
    positive(&m.pattern_scale, &at("material.pattern_scale"))?;
    within(&m.pattern_detail, &at("material.pattern_detail"), 0.0, 15.0)?;
    within(
        &m.pattern_distortion,
        &at("material.pattern_distortion"),
        0.0,
        10.0,
    )?;

    let l = &f.light;
    within(&l.count, &at("light.count"), 0.0, MAX_LAMPS)?;
    one_of(&l.kind, &at("light.kind"), LAMP_KINDS)?;
    positive(&l.radius, &at("light.radius"))?;
    within(&l.elevation, &at("light.elevation"), -90.0, 90.0)?;
    within(&l.energy, &at("light.energy"), 0.0, f64::INFINITY)?;
    within(&l.temperature, &at("light.temperature"), 1000.0, 40000.0)?;
    within(&l.size, &at("light.size"), 0.0, 170.0)?;

    let w = &l.world;
    one_of(&w.kind, &at("light.world.kind"), WORLD_KINDS)?;
    within(&w.strength, &at("light.world.strength"), 0.0, f64::INFINITY)?;
    if w.hdri_folder.is_none() {
        let mut known = BUNDLED_HDRIS.to_vec();
        known.push(ALL_HDRIS);
        one_of(&w.hdri, &at("light.world.hdri"), &known)?;
    }
    within(
        &w.color.saturation,
        &at("light.world.color.saturation"),
        0.0,
        1.0,
    )?;
    within(&w.color.value, &at("light.world.color.value"), 0.0, 1.0)?;
    within(
        &w.sun_elevation,
        &at("light.world.sun_elevation"),
        -90.0,
        90.0,
    )?;

    let c = &f.camera;
    positive(&c.distance, &at("camera.distance"))?;
    within(&c.elevation, &at("camera.elevation"), -90.0, 90.0)?;
    positive(&c.focal_length, &at("camera.focal_length"))?;
    positive(&c.sensor_width, &at("camera.sensor_width"))?;
    within(&c.roll, &at("camera.roll"), -180.0, 180.0)?;
    if let Some(fill) = &c.frame_fill {
        positive(fill, &at("camera.frame_fill"))?;
        within(fill, &at("camera.frame_fill"), 0.0, 1.0)?;
    }

    let b = &f.background;
    one_of(&b.kind, &at("background.kind"), BACKGROUND_KINDS)?;
    needs_folder(
        &b.kind,
        BackgroundKind::Image.name(),
        b.image_folder.is_some(),
        &at("background.kind"),
        &at("background.image_folder"),
    )?;
    within(&b.saturation, &at("background.saturation"), 0.0, 1.0)?;
    within(&b.value, &at("background.value"), 0.0, 1.0)?;
    one_of(&b.pattern, &at("background.pattern"), BACKGROUND_PATTERNS)?;
    positive(&b.pattern_scale, &at("background.pattern_scale"))?;
    within(&b.crop_size, &at("background.crop_size"), 0.01, 1.0)?;
    Ok(())
}

/// A per-class entry is checked like `factors`, must name a class of the preset, and must
/// draw from the same folders (a run lists each folder once for all classes).
fn check_class_factors(p: &Preset, class: &str, f: &Factors) -> Result<(), Issue> {
    let prefix = format!("class_factors.{class}");
    if !p.classes.iter().any(|c| c == class) {
        return Err(issue(
            &prefix,
            format!(
                "\"{class}\" is not one of the preset's classes ({}); remove the entry or add the class to `classes:`",
                if p.classes.is_empty() { "none".to_string() } else { p.classes.join(", ") }
            ),
        ));
    }
    check_factors(f, &prefix)?;
    for (field, mine, shared) in [
        (
            "light.world.hdri_folder",
            &f.light.world.hdri_folder,
            &p.factors.light.world.hdri_folder,
        ),
        (
            "material.image_folder",
            &f.material.image_folder,
            &p.factors.material.image_folder,
        ),
        (
            "background.image_folder",
            &f.background.image_folder,
            &p.factors.background.image_folder,
        ),
    ] {
        if mine != shared {
            return Err(issue(
                &format!("{prefix}.{field}"),
                format!(
                    "must be the same folder as factors.{field}; set folders in `factors:` only"
                ),
            ));
        }
    }
    Ok(())
}

fn unit(x: f64, field: &str) -> Result<(), Issue> {
    if (0.0..=1.0).contains(&x) {
        Ok(())
    } else {
        Err(issue(
            field,
            format!("must be between 0 and 1 (got {})", fmt_num(x)),
        ))
    }
}

fn at_least_one(x: u32, field: &str) -> Result<(), Issue> {
    if x >= 1 {
        Ok(())
    } else {
        Err(issue(field, "must be at least 1 (got 0)".into()))
    }
}

/// Every value the distribution can produce lies in [lo, hi].
fn within(d: &NumberDist, field: &str, lo: f64, hi: f64) -> Result<(), Issue> {
    let (min, max) = d.support();
    if min >= lo && max <= hi {
        return Ok(());
    }
    let range = format!("lie in [{}, {}]", fmt_num(lo), fmt_num(hi));
    Err(issue(field, out_of_range(d, &range, min, max)))
}

/// Every value the distribution can produce is > 0.
fn positive(d: &NumberDist, field: &str) -> Result<(), Issue> {
    let (min, _) = d.support();
    if min > 0.0 {
        return Ok(());
    }
    Err(issue(field, out_of_range(d, "be > 0", min, d.support().1)))
}

fn out_of_range(d: &NumberDist, range: &str, min: f64, max: f64) -> String {
    match d {
        NumberDist::Normal { .. } => format!(
            "values must {range} but a normal distribution is unbounded; use truncated_normal with min and max inside the range"
        ),
        NumberDist::Fixed(x) => format!("must {range} (got {})", fmt_num(*x)),
        _ => format!(
            "values must {range} but this {} reaches [{}, {}]; narrow it to the allowed range",
            d.form(),
            fmt_num(min),
            fmt_num(max)
        ),
    }
}

fn one_of(d: &CategoryDist, field: &str, known: &[&str]) -> Result<(), Issue> {
    for name in d.listed() {
        if !known.contains(&name) {
            return Err(issue(
                field,
                format!(
                    "unknown name \"{name}\"; expected one of {}",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn needs_folder(
    d: &CategoryDist,
    name: &str,
    has_folder: bool,
    field: &str,
    folder_field: &str,
) -> Result<(), Issue> {
    if d.can_be(name) && !has_folder {
        return Err(issue(
            field,
            format!("\"{name}\" can be drawn but {folder_field} is not set; set it to a folder of images or give \"{name}\" weight 0"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass() {
        assert_eq!(check(&Preset::default()), Ok(()));
    }

    #[test]
    fn range_rules_name_the_field_and_the_fix() {
        let mut p = Preset::default();
        p.factors.camera.elevation = NumberDist::Normal {
            mean: 0.0,
            std: 10.0,
        };
        let e = check(&p).unwrap_err();
        assert_eq!(e.field, "factors.camera.elevation");
        assert!(e.message.contains("use truncated_normal"), "{}", e.message);

        let mut p = Preset::default();
        p.factors.camera.distance = NumberDist::uniform(0.0, 2.0);
        let e = check(&p).unwrap_err();
        assert_eq!(
            e.message,
            "values must be > 0 but this uniform reaches [0, 2]; narrow it to the allowed range"
        );

        let mut p = Preset::default();
        p.render.resolution = 8;
        assert_eq!(check(&p).unwrap_err().field, "render.resolution");
    }

    #[test]
    fn names_and_folders_are_checked() {
        let mut p = Preset::default();
        p.factors.material.family = CategoryDist::choice_of(&["metal", "gold"]);
        let e = check(&p).unwrap_err();
        assert!(
            e.message
                .starts_with("unknown name \"gold\"; expected one of plastic, metal"),
            "{}",
            e.message
        );

        let mut p = Preset::default();
        p.factors.background.kind = CategoryDist::fixed("image");
        p.factors.background.image_folder = None;
        let e = check(&p).unwrap_err();
        assert_eq!(e.field, "factors.background.kind");
        assert!(e
            .message
            .contains("factors.background.image_folder is not set"));
    }
}
