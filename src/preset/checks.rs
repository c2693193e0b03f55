//! Semantic rules a preset must follow once it has the right shape: ranges, known names, and
//! fields that need each other. Each rule names its field path so the loader can point at the
//! file (or `--set`) that set it.
use super::dist::{fmt_num, CategoryDist, NumberDist};
use super::schema::{Preset, ALL_HDRIS, BUNDLED_HDRIS, CATALOGS};
use crate::sample::{
    BACKGROUND_KINDS, BACKGROUND_PATTERNS, LAMP_KINDS, MATERIAL_FAMILIES, WORLD_KINDS,
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

    let f = &p.factors;
    positive(&f.scale.size, "factors.scale.size")?;

    let m = &f.material;
    unit(
        m.keep_original_probability,
        "factors.material.keep_original_probability",
    )?;
    one_of(&m.family, "factors.material.family", MATERIAL_FAMILIES)?;
    needs_folder(
        &m.family,
        "image",
        m.image_folder.is_some(),
        "factors.material.family",
        "factors.material.image_folder",
    )?;
    within(&m.saturation, "factors.material.saturation", 0.0, 1.0)?;
    within(&m.value, "factors.material.value", 0.0, 1.0)?;
    within(&m.roughness, "factors.material.roughness", 0.0, 1.0)?;
    within(&m.metallic, "factors.material.metallic", 0.0, 1.0)?;
    positive(&m.pattern_scale, "factors.material.pattern_scale")?;
    within(
        &m.pattern_detail,
        "factors.material.pattern_detail",
        0.0,
        15.0,
    )?;
    within(
        &m.pattern_distortion,
        "factors.material.pattern_distortion",
        0.0,
        10.0,
    )?;

    let l = &f.light;
    within(&l.count, "factors.light.count", 0.0, MAX_LAMPS)?;
    one_of(&l.kind, "factors.light.kind", LAMP_KINDS)?;
    positive(&l.radius, "factors.light.radius")?;
    within(&l.elevation, "factors.light.elevation", -90.0, 90.0)?;
    within(&l.energy, "factors.light.energy", 0.0, f64::INFINITY)?;
    within(&l.temperature, "factors.light.temperature", 1000.0, 40000.0)?;
    within(&l.size, "factors.light.size", 0.0, 170.0)?;

    let w = &l.world;
    one_of(&w.kind, "factors.light.world.kind", WORLD_KINDS)?;
    within(
        &w.strength,
        "factors.light.world.strength",
        0.0,
        f64::INFINITY,
    )?;
    if w.hdri_folder.is_none() {
        let mut known = BUNDLED_HDRIS.to_vec();
        known.push(ALL_HDRIS);
        one_of(&w.hdri, "factors.light.world.hdri", &known)?;
    }
    within(
        &w.color.saturation,
        "factors.light.world.color.saturation",
        0.0,
        1.0,
    )?;
    within(&w.color.value, "factors.light.world.color.value", 0.0, 1.0)?;
    within(
        &w.sun_elevation,
        "factors.light.world.sun_elevation",
        -90.0,
        90.0,
    )?;

    let c = &f.camera;
    positive(&c.distance, "factors.camera.distance")?;
    within(&c.elevation, "factors.camera.elevation", -90.0, 90.0)?;
    positive(&c.focal_length, "factors.camera.focal_length")?;
    positive(&c.sensor_width, "factors.camera.sensor_width")?;
    within(&c.roll, "factors.camera.roll", -180.0, 180.0)?;

    let b = &f.background;
    one_of(&b.kind, "factors.background.kind", BACKGROUND_KINDS)?;
    needs_folder(
        &b.kind,
        "image",
        b.image_folder.is_some(),
        "factors.background.kind",
        "factors.background.image_folder",
    )?;
    within(&b.saturation, "factors.background.saturation", 0.0, 1.0)?;
    within(&b.value, "factors.background.value", 0.0, 1.0)?;
    one_of(
        &b.pattern,
        "factors.background.pattern",
        BACKGROUND_PATTERNS,
    )?;
    positive(&b.pattern_scale, "factors.background.pattern_scale")?;
    within(&b.crop_size, "factors.background.crop_size", 0.01, 1.0)?;
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
        let e = check(&p).unwrap_err();
        assert_eq!(e.field, "factors.background.kind");
        assert!(e
            .message
            .contains("factors.background.image_folder is not set"));
    }
}
