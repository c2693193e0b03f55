//! Paired comparisons and breakdowns over per-image predictions
//! (`crate::dataset::predictions`).
use super::mcnemar::Discordant;
use crate::dataset::manifest::ManifestRecord;
use crate::dataset::predictions::Prediction;
use std::collections::BTreeMap;

/// The discordant counts of two runs evaluated on the same images (matched by path). Two
/// lists over different images cannot be paired: the error says how they differ.
pub fn discordant(baseline: &[Prediction], row: &[Prediction]) -> Result<Discordant, String> {
    let base: BTreeMap<&str, bool> = baseline
        .iter()
        .map(|p| (p.path.as_str(), p.correct()))
        .collect();
    if base.len() != row.len() || base.len() != baseline.len() {
        return Err(format!(
            "the baseline has {} predictions and the row {}; they were not evaluated on the same images",
            baseline.len(),
            row.len()
        ));
    }
    let mut d = Discordant::default();
    for p in row {
        let Some(&b) = base.get(p.path.as_str()) else {
            return Err(format!(
                "{} is in the row's predictions and not in the baseline's; they were not evaluated on the same images",
                p.path
            ));
        };
        match (b, p.correct()) {
            (true, false) => d.baseline_only += 1,
            (false, true) => d.row_only += 1,
            _ => {}
        }
    }
    Ok(d)
}

/// A value of a manifest record at a dotted path (`params.background.kind`, `model.key`).
pub fn field(record: &ManifestRecord, path: &str) -> Option<serde_json::Value> {
    let mut v = serde_json::to_value(record).ok()?;
    for key in path.split('.') {
        v = v.get(key)?.clone();
    }
    Some(v)
}

/// Angle in degrees between the camera's viewing directions at (elevation, azimuth) a and b,
/// both in degrees (directions on the unit sphere around the object).
pub fn view_angle(a: (f64, f64), b: (f64, f64)) -> f64 {
    let dir = |(el, az): (f64, f64)| {
        let (el, az) = (el.to_radians(), az.to_radians());
        [el.cos() * az.cos(), el.cos() * az.sin(), el.sin()]
    };
    let (u, v) = (dir(a), dir(b));
    let dot: f64 = u.iter().zip(&v).map(|(x, y)| x * y).sum();
    dot.clamp(-1.0, 1.0).acos().to_degrees()
}

/// The group of a numeric value among ascending bin edges: `lo-hi` labels of `[lo, hi)`, the
/// last bin closed; None outside the edges.
pub fn bin_label(value: f64, edges: &[f64]) -> Option<String> {
    let last = edges.len().checked_sub(1)?;
    (0..last)
        .find(|&i| {
            value >= edges[i] && (value < edges[i + 1] || (i + 1 == last && value <= edges[last]))
        })
        .map(|i| format!("{}-{}", edges[i], edges[i + 1]))
}

/// (correct, total) per group of the joined rows; rows `group` gives None for are left out.
pub fn group_accuracy(
    joined: &[(&Prediction, &ManifestRecord)],
    group: impl Fn(&ManifestRecord) -> Option<String>,
) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (p, r) in joined {
        if let Some(g) = group(r) {
            let e = out.entry(g).or_default();
            e.0 += u64::from(p.correct());
            e.1 += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(correct: &[bool]) -> Vec<Prediction> {
        correct
            .iter()
            .enumerate()
            .map(|(i, &c)| Prediction {
                path: format!("chair/{i}.png"),
                id: i.to_string(),
                label: 0,
                predicted: usize::from(!c),
                confidence: 0.5,
            })
            .collect()
    }

    #[test]
    fn discordant_counts_and_the_mark_on_constructed_predictions() {
        // 20 shared images: both right on 6, both wrong on 2, baseline only on 2, row only on 10.
        let mut base = vec![true; 6];
        base.extend([false; 2]);
        base.extend([true; 2]);
        base.extend([false; 10]);
        let mut row = vec![true; 6];
        row.extend([false; 2]);
        row.extend([false; 2]);
        row.extend([true; 10]);
        let mut r = preds(&row);
        r.reverse(); // order does not matter: images are matched by path
        let d = discordant(&preds(&base), &r).unwrap();
        assert_eq!((d.baseline_only, d.row_only), (2, 10));
        assert!((d.p_value() - 0.03857421875).abs() < 1e-15);
        let e = discordant(&preds(&base), &preds(&row[..19])).unwrap_err();
        assert!(e.contains("not evaluated on the same images"), "{e}");
        let mut other = preds(&row);
        other[0].path = "table/x.png".into();
        assert!(discordant(&preds(&base), &other).is_err());
    }

    #[test]
    fn view_angles_and_bins() {
        assert!((view_angle((20.0, 45.0), (20.0, 45.0))).abs() < 1e-6);
        assert!((view_angle((0.0, 45.0), (0.0, 225.0)) - 180.0).abs() < 1e-9);
        assert!((view_angle((0.0, 0.0), (90.0, 123.0)) - 90.0).abs() < 1e-9);
        assert!((view_angle((0.0, 350.0), (0.0, 10.0)) - 20.0).abs() < 1e-9);
        let edges = [0.0, 30.0, 90.0, 180.0];
        assert_eq!(bin_label(0.0, &edges).as_deref(), Some("0-30"));
        assert_eq!(bin_label(30.0, &edges).as_deref(), Some("30-90"));
        assert_eq!(bin_label(180.0, &edges).as_deref(), Some("90-180"));
        assert_eq!(bin_label(181.0, &edges), None);
    }
}
