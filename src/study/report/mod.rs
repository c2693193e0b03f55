//! The study's report: tables (synthgen's value beside the paper's, with the direction mark),
//! learning curves, sample grids and provenance, written as report.html (self-contained),
//! report.md and tables.csv.
mod csv;
mod html;
mod md;

use super::error::StudyError;
use super::spec::{Breakdown, Spec, Table};
use super::stages::{run_dir, Plan, StageOutcome};
use super::stats::{self, Discordant, Summary};
use crate::dataset::manifest::ManifestRecord;
use crate::dataset::predictions::Prediction;
use crate::nn::records::Record;
use std::path::Path;

/// One cell of a table, in percent.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The mean over replicates of the value at the last evaluation.
    pub ours: Option<f64>,
    pub paper: Option<f64>,
    /// Standard error: over replicates when there are two or more, else the binomial one of
    /// the single run over the evaluation set's size (`se_over_replicates` says which).
    pub se: Option<f64>,
    pub se_over_replicates: bool,
    /// Per replicate, the value at the last evaluation.
    pub values: Vec<f64>,
    /// The mean over replicates of the best value seen (a DA run's 200 evaluations).
    pub best: Option<f64>,
    /// The paired test against the baseline row (pooled over replicates).
    pub paired: Option<Paired>,
    pub direction: Direction,
}

/// The exact McNemar test of a row against the baseline row on the shared test images.
#[derive(Debug, Clone)]
pub struct Paired {
    pub discordant: Discordant,
    pub p_value: f64,
    /// Replicate pairs compared (replicate k of the row with replicate k of the baseline).
    pub replicates: usize,
}

/// Whether the change from the table's baseline row goes the paper's way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The baseline row itself, or no paper value to compare with.
    NotApplicable,
    /// Same sign as the paper's change, and the paired test's p < `ALPHA`.
    Holds,
    /// Opposite sign, and p < `ALPHA`.
    Reversed,
    /// p >= `ALPHA`: this scale cannot tell.
    Unresolved,
    /// A paper direction exists but a run has no per-image predictions to pair.
    Untested,
}

/// The paired test's level: a two-sided p-value below it marks a direction.
pub const ALPHA: f64 = 0.05;

impl Direction {
    pub fn mark(self) -> &'static str {
        match self {
            Direction::NotApplicable => "",
            Direction::Holds => "holds",
            Direction::Reversed => "reversed",
            Direction::Unresolved => "within noise",
            Direction::Untested => "not tested (no predictions)",
        }
    }
}

pub struct TableResult {
    pub table: Table,
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<Cell>)>,
}

/// A breakdown's accuracy per group and row, pooled over replicates: (correct, total).
pub struct BreakdownResult {
    pub breakdown: Breakdown,
    pub groups: Vec<String>,
    pub rows: Vec<(String, Vec<(u64, u64)>)>,
    /// Predictions that found no manifest record, or why the breakdown could not be made.
    pub note: Option<String>,
}

/// Everything the writers need.
pub struct Report<'a> {
    pub spec: &'a Spec,
    pub plan: &'a Plan,
    pub outcomes: &'a [StageOutcome],
    pub tables: Vec<TableResult>,
    pub breakdowns: Vec<BreakdownResult>,
    pub command: String,
}

pub fn build<'a>(
    spec: &'a Spec,
    plan: &'a Plan,
    outcomes: &'a [StageOutcome],
    command: String,
) -> Report<'a> {
    let tables = spec
        .tables
        .iter()
        .map(|t| table(t, spec, plan, outcomes))
        .collect();
    let breakdowns = spec
        .breakdowns
        .iter()
        .map(|b| breakdown(b, spec, plan))
        .collect();
    Report {
        spec,
        plan,
        outcomes,
        tables,
        breakdowns,
        command,
    }
}

fn outcome<'a>(outcomes: &'a [StageOutcome], run: &str) -> Option<&'a StageOutcome> {
    outcomes
        .iter()
        .find(|o| (o.kind == "train" || o.kind == "adapt") && o.name == run)
}

/// (last, best) of a run's metric on an eval set, in percent.
fn value(
    outcomes: &[StageOutcome],
    run: &str,
    eval: &str,
    mean: bool,
) -> (Option<f64>, Option<f64>) {
    let Some(o) = outcome(outcomes, run) else {
        return (None, None);
    };
    let pick = |m: Option<&(Option<f64>, Option<f64>)>| {
        m.and_then(|(a, m)| if mean { *m } else { *a })
            .map(|v| 100.0 * v)
    };
    (
        pick(o.record.evals.get(eval)),
        pick(o.record.best.get(eval)),
    )
}

/// The per-image predictions file of a run's (or adaptation's) last evaluation on `eval`.
pub fn predictions_file(plan: &Plan, run: &str, eval: &str) -> Option<std::path::PathBuf> {
    use crate::dataset::predictions::file_name;
    if let Some(r) = plan.runs.get(run) {
        return Some(run_dir(&r.stage).join(file_name(eval)));
    }
    let a = plan.adaptations.get(run)?;
    // The adapter names its evaluation set `target_eval` (or `target` without one).
    let set = if a.adapt.target_eval.is_some() {
        "target_eval"
    } else {
        "target"
    };
    Some(run_dir(&a.stage).join(file_name(set)))
}

fn read_predictions(plan: &Plan, run: &str, eval: &str) -> Option<Vec<Prediction>> {
    let path = predictions_file(plan, run, eval)?;
    crate::dataset::predictions::read(&path).ok()
}

fn table(t: &Table, spec: &Spec, plan: &Plan, outcomes: &[StageOutcome]) -> TableResult {
    let mean = t.metric == "mean";
    let cell = |run: &str, eval: &str, paper: Option<f64>| {
        let names = spec.replicas(run);
        let (last, best): (Vec<_>, Vec<_>) =
            names.iter().map(|n| value(outcomes, n, eval, mean)).unzip();
        let values: Vec<f64> = last.into_iter().flatten().collect();
        let bests: Vec<f64> = best.into_iter().flatten().collect();
        let summary = Summary::of(&values);
        let n = plan.datasets.get(eval).map_or(0, |d| d.images) as f64;
        let ours = summary.as_ref().map(|s| s.mean);
        let (se, over) = match summary.as_ref().and_then(|s| s.se) {
            Some(se) => (Some(se), true),
            None => (
                ours.filter(|_| n > 0.0)
                    .map(|p| 100.0 * ((p / 100.0) * (1.0 - p / 100.0) / n).sqrt()),
                false,
            ),
        };
        Cell {
            ours,
            paper,
            se,
            se_over_replicates: over,
            values,
            best: if t.best {
                Summary::of(&bests).map(|s| s.mean)
            } else {
                None
            },
            paired: None,
            direction: Direction::NotApplicable,
        }
    };
    let columns: Vec<String> = t
        .columns
        .iter()
        .map(|c| c.label.clone().unwrap_or(c.eval.clone()))
        .collect();
    let mut rows: Vec<(String, Vec<Cell>)> = t
        .rows
        .iter()
        .map(|r| {
            let cells = t
                .columns
                .iter()
                .map(|c| cell(&r.run, &c.eval, r.paper.get(&c.eval).copied()))
                .collect();
            (r.label.clone().unwrap_or(r.run.clone()), cells)
        })
        .collect();
    if let Some(b) = t
        .baseline
        .as_ref()
        .and_then(|b| t.rows.iter().position(|r| &r.run == b))
    {
        let base_run = &t.rows[b].run;
        for (i, (_, cells)) in rows.iter_mut().enumerate() {
            if i == b {
                continue;
            }
            for (c, col) in cells.iter_mut().zip(&t.columns) {
                c.paired = paired(spec, plan, base_run, &t.rows[i].run, &col.eval);
            }
        }
        let base: Vec<Cell> = rows[b].1.clone();
        for (i, (_, cells)) in rows.iter_mut().enumerate() {
            if i == b {
                continue;
            }
            for (c, base) in cells.iter_mut().zip(&base) {
                c.direction = direction(c, base);
            }
        }
    }
    TableResult {
        table: t.clone(),
        columns,
        rows,
    }
}

/// Replicate k of `row` against replicate k of `baseline` on `eval`, discordant counts
/// pooled over the pairs; None when any replicate lacks predictions or they do not pair.
fn paired(spec: &Spec, plan: &Plan, baseline: &str, row: &str, eval: &str) -> Option<Paired> {
    let (bs, rs) = (spec.replicas(baseline), spec.replicas(row));
    let mut parts = Vec::new();
    for (b, r) in bs.iter().zip(&rs) {
        let (pb, pr) = (
            read_predictions(plan, b, eval)?,
            read_predictions(plan, r, eval)?,
        );
        match stats::predictions::discordant(&pb, &pr) {
            Ok(d) => parts.push(d),
            Err(e) => {
                tracing::warn!("{row} vs {baseline} on {eval}: {e}");
                return None;
            }
        }
    }
    if parts.is_empty() {
        return None;
    }
    let d = Discordant::pooled(&parts);
    Some(Paired {
        discordant: d,
        p_value: d.p_value(),
        replicates: parts.len(),
    })
}

/// The mark: the paper's sign against the sign of the pooled paired difference, when the
/// exact McNemar p-value over the pooled discordant images is below `ALPHA`.
fn direction(c: &Cell, base: &Cell) -> Direction {
    let (Some(p), Some(pb)) = (c.paper, base.paper) else {
        return Direction::NotApplicable;
    };
    let paper_delta = p - pb;
    if paper_delta == 0.0 {
        return Direction::NotApplicable;
    }
    let Some(t) = &c.paired else {
        return Direction::Untested;
    };
    let delta = t.discordant.difference();
    if t.p_value >= ALPHA || delta == 0 {
        Direction::Unresolved
    } else if (delta > 0) == (paper_delta > 0.0) {
        Direction::Holds
    } else {
        Direction::Reversed
    }
}

/// (correct, total) per group.
type GroupCounts = std::collections::BTreeMap<String, (u64, u64)>;

fn breakdown(b: &Breakdown, spec: &Spec, plan: &Plan) -> BreakdownResult {
    let mut result = BreakdownResult {
        breakdown: b.clone(),
        groups: Vec::new(),
        rows: Vec::new(),
        note: None,
    };
    let Some(d) = plan.datasets.get(&b.eval) else {
        return result;
    };
    let manifest_path = d.data.join(crate::dataset::manifest::MANIFEST_FILE);
    let manifest = match crate::dataset::manifest::read_manifest(&manifest_path) {
        Ok(m) => m,
        Err(e) => {
            result.note = Some(format!("no manifest to join: {e}"));
            return result;
        }
    };
    let group = |r: &ManifestRecord| -> Option<String> {
        if b.by == "view_angle" {
            let v = b.view?;
            let c = &r.params.camera;
            let angle = stats::predictions::view_angle(
                (c.elevation_deg, c.azimuth_deg),
                (v.elevation_deg, v.azimuth_deg),
            );
            return stats::predictions::bin_label(angle, &b.bins);
        }
        let v = stats::predictions::field(r, &b.by)?;
        match (v.as_f64(), b.bins.is_empty()) {
            (Some(x), false) => stats::predictions::bin_label(x, &b.bins),
            _ => Some(match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
        }
    };
    let mut per_row: Vec<(String, GroupCounts)> = Vec::new();
    let mut unmatched = 0;
    let mut missing = Vec::new();
    for row in &b.rows {
        let mut acc = GroupCounts::new();
        for name in spec.replicas(row) {
            let Some(preds) = read_predictions(plan, &name, &b.eval) else {
                missing.push(name);
                continue;
            };
            let (joined, left) = crate::dataset::predictions::join_manifest(&preds, &manifest);
            unmatched += left;
            for (g, (c, n)) in stats::predictions::group_accuracy(&joined, group) {
                let e = acc.entry(g).or_default();
                e.0 += c;
                e.1 += n;
            }
        }
        per_row.push((row.clone(), acc));
    }
    let mut groups: Vec<String> = per_row
        .iter()
        .flat_map(|(_, m)| m.keys().cloned())
        .collect();
    groups.sort();
    groups.dedup();
    if !b.bins.is_empty() || b.by == "view_angle" {
        // Bin labels `lo-hi` in the order of their edges, not as text.
        let lo = |g: &String| g.split('-').next().and_then(|x| x.parse::<f64>().ok());
        groups.sort_by(|x, y| {
            lo(x)
                .partial_cmp(&lo(y))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
    result.rows = per_row
        .into_iter()
        .map(|(r, m)| {
            let cells = groups
                .iter()
                .map(|g| m.get(g).copied().unwrap_or((0, 0)))
                .collect();
            (r, cells)
        })
        .collect();
    result.groups = groups;
    let mut notes = Vec::new();
    if unmatched > 0 {
        notes.push(format!("{unmatched} predictions had no manifest record"));
    }
    if !missing.is_empty() {
        notes.push(format!("no predictions from {}", missing.join(", ")));
    }
    result.note = (!notes.is_empty()).then(|| notes.join("; "));
    result
}

/// (eval set, [(step, percent)]) of a train run's metric log.
pub fn curves(stage: &Path, mean: bool) -> Vec<(String, Vec<(f64, f64)>)> {
    let path = run_dir(stage).join("metrics.jsonl");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut by_set: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for line in text.lines() {
        if let Ok(Record::Eval(e)) = serde_json::from_str::<Record>(line) {
            let v = if mean { e.mean } else { e.acc };
            by_set
                .entry(e.set.clone())
                .or_default()
                .push((e.step as f64, 100.0 * v));
        }
    }
    by_set.into_iter().collect()
}

/// Up to `per_class` images of each class of a dataset folder: (class, [png bytes]).
pub fn samples(data: &Path, classes: &[String], per_class: usize) -> Vec<(String, Vec<Vec<u8>>)> {
    if let Ok(Some(shards)) = crate::nn::shards::ShardSet::detect(data) {
        return shard_samples(&shards, classes, per_class);
    }
    classes
        .iter()
        .map(|c| {
            let mut files: Vec<_> = std::fs::read_dir(data.join(c))
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            files.sort();
            let images = files
                .iter()
                .filter_map(|p| thumbnail_png(p))
                .take(per_class)
                .collect();
            (c.clone(), images)
        })
        .collect()
}

/// The first `per_class` images of each class of a dataset in WebDataset shards.
fn shard_samples(
    shards: &crate::nn::shards::ShardSet,
    classes: &[String],
    per_class: usize,
) -> Vec<(String, Vec<Vec<u8>>)> {
    let list = crate::nn::data::ImageSet::from_shards(shards).ok();
    let samples = list.as_ref().map_or(&[][..], |l| &l.samples[..]);
    classes
        .iter()
        .enumerate()
        .map(|(label, c)| {
            let images = samples
                .iter()
                .filter(|s| s.label == label)
                .filter_map(|s| thumbnail(s.load().ok()?))
                .take(per_class)
                .collect();
            (c.clone(), images)
        })
        .collect()
}

/// A PNG of the image at most 96 px on its longer side (real photos can be large).
fn thumbnail_png(path: &Path) -> Option<Vec<u8>> {
    thumbnail(image::open(path).ok()?)
}

fn thumbnail(img: image::DynamicImage) -> Option<Vec<u8>> {
    let img = if img.width().max(img.height()) > 96 {
        img.thumbnail(96, 96)
    } else {
        img
    };
    let mut bytes = Vec::new();
    img.to_rgb8()
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .ok()?;
    Some(bytes)
}

/// The machine, for provenance: host, CPU model, cores, OS.
pub fn machine() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{} ({cpu}, {cores} cores, {} {})",
        host.trim(),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// `YYYY-MM-DD HH:MM UTC` of now.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Generated lines about what this invocation used or left out: optional real columns left
/// out, and where each adaptation's backbone started.
pub fn notes(r: &Report) -> Vec<String> {
    let mut lines = r.spec.notes.clone();
    let mut starts: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for (name, a) in &r.plan.adaptations {
        if name.contains('@') {
            continue;
        }
        let start = match (&a.init_file, &a.adapt.init) {
            (Some(f), _) => format!("the weight file `{}` given with --pretrained", f.display()),
            (None, Some(run)) if a.adapt.pretrained => format!(
                "synthetic pre-training (the run `{run}`), not ImageNet weights: no --pretrained file was given (the paper's code starts from torchvision's ImageNet weights)"
            ),
            (None, Some(run)) => format!("the last checkpoint of the run `{run}`"),
            (None, None) => "random weights (from scratch)".to_string(),
        };
        starts.entry(start).or_default().push(name);
    }
    for (start, names) in starts {
        lines.push(format!(
            "The adaptation{} {} started from {start}.",
            if names.len() > 1 { "s" } else { "" },
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    lines
}

/// How the tables were made: replicates, standard errors and the paired mark.
pub fn replicates_line(spec: &Spec) -> String {
    let k = spec.replicates;
    let what = if k > 1 {
        format!(
            "Each run was repeated over {k} replicates (replicate k trains with seed + k{}); a cell is the mean over replicates ± the standard error of that mean.",
            if spec.datasets.values().any(|d| matches!(d, super::spec::Dataset::Render(r) if r.per_replicate)) {
                " and renders the datasets marked per_replicate anew"
            } else {
                " on the same renders"
            }
        )
    } else {
        "Each run ran once (no replicates): ± is the binomial standard error over the test set, which leaves out the spread between training and render seeds.".to_string()
    };
    format!(
        "{what} The mark compares a row with the table's baseline on the same test images: exact McNemar test on the images exactly one of the two got right, discordant counts pooled over replicate pairs; *holds* / *reversed* when p < {ALPHA} and the change has / has not the paper's sign, *within noise* otherwise."
    )
}

pub fn table_legend(t: &TableResult) -> String {
    let metric = if t.table.metric == "mean" {
        "Mean (class-balanced accuracy)"
    } else {
        "Acc"
    };
    let best = if t.table.best {
        "; [best over the run's evaluations]"
    } else {
        ""
    };
    format!("{metric} in percent at the last step ± standard error{best} / paper; the mark with its McNemar p-value (b = images only the baseline got right, c = only the row).")
}

/// `last ± se [best] / paper (mark, p, b/c)`.
pub fn cell_text(c: &Cell) -> String {
    let mut s = format!("{} ± {}", fmt_pct(c.ours), fmt_pct(c.se));
    if let Some(b) = c.best {
        s.push_str(&format!(" [{b:.1}]"));
    }
    s.push_str(&format!(" / {}", fmt_pct(c.paper)));
    let mark = c.direction.mark();
    if let Some(p) = &c.paired {
        let m = if mark.is_empty() {
            String::new()
        } else {
            format!("{mark}, ")
        };
        s.push_str(&format!(
            " ({m}p {}, b/c {}/{})",
            fmt_p(p.p_value),
            p.discordant.baseline_only,
            p.discordant.row_only
        ));
    } else if !mark.is_empty() {
        s.push_str(&format!(" ({mark})"));
    }
    s
}

pub fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

pub fn breakdown_legend(b: &BreakdownResult) -> String {
    let by = if b.breakdown.by == "view_angle" {
        let v = b.breakdown.view.expect("checked by the spec");
        format!(
            "the angle in degrees between the test image's camera direction and the view at elevation {} / azimuth {}",
            v.elevation_deg, v.azimuth_deg
        )
    } else {
        format!("the manifest field `{}`", b.breakdown.by)
    };
    let mut s = format!(
        "Acc in percent on `{}` by {by}, pooled over replicates (images in brackets).",
        b.breakdown.eval
    );
    if let Some(n) = &b.note {
        s.push_str(&format!(" Note: {n}."));
    }
    s
}

pub fn group_text(correct: u64, total: u64) -> String {
    if total == 0 {
        "-".into()
    } else {
        format!("{:.1} ({total})", 100.0 * correct as f64 / total as f64)
    }
}

pub fn fmt_pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// Writes report.html, report.md and tables.csv into `out`, each atomically.
pub fn write(report: &Report, out: &Path) -> Result<(), StudyError> {
    for (name, bytes) in [
        ("report.html", html::render(report).into_bytes()),
        ("report.md", md::render(report).into_bytes()),
        ("tables.csv", csv::render(report).into_bytes()),
    ] {
        let path = out.join(name);
        crate::fsio::write_atomic(&path, &bytes).map_err(|e| StudyError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(paper: f64, paired: Option<(u64, u64)>) -> Cell {
        Cell {
            ours: Some(50.0),
            paper: Some(paper),
            se: Some(2.0),
            se_over_replicates: false,
            values: vec![50.0],
            best: None,
            paired: paired.map(|(b, c)| {
                let d = Discordant {
                    baseline_only: b,
                    row_only: c,
                };
                Paired {
                    discordant: d,
                    p_value: d.p_value(),
                    replicates: 1,
                }
            }),
            direction: Direction::NotApplicable,
        }
    }

    #[test]
    fn the_mark_follows_the_paired_test() {
        let base = cell(90.0, None);
        // The paper's row is lower than its baseline (80 < 90).
        // 10 images only the baseline got right, 2 only the row: p = 0.0386, lower: holds.
        assert_eq!(
            direction(&cell(80.0, Some((10, 2))), &base),
            Direction::Holds
        );
        assert_eq!(
            direction(&cell(80.0, Some((2, 10))), &base),
            Direction::Reversed
        );
        // 1 vs 7: p = 0.0703, not below 0.05.
        assert_eq!(
            direction(&cell(80.0, Some((7, 1))), &base),
            Direction::Unresolved
        );
        assert_eq!(
            direction(&cell(90.0, Some((10, 2))), &base),
            Direction::NotApplicable
        );
        assert_eq!(direction(&cell(80.0, None), &base), Direction::Untested);
    }

    #[test]
    fn dates_are_civil() {
        let s = now_utc();
        assert_eq!(s.len(), "2026-12-01 03:30 UTC".len());
        assert!(s.starts_with("20"));
    }
}
