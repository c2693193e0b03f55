//! The study's report: tables (synthgen's value beside the paper's, with the direction mark),
//! learning curves, sample grids and provenance, written as report.html (self-contained),
//! report.md and tables.csv.
mod csv;
mod html;
mod md;

use super::error::StudyError;
use super::spec::{Spec, Table};
use super::stages::{run_dir, Plan, StageOutcome};
use crate::nn::records::Record;
use std::path::Path;

/// One cell of a table, in percent.
#[derive(Debug, Clone)]
pub struct Cell {
    pub ours: Option<f64>,
    pub paper: Option<f64>,
    /// Binomial standard error of `ours` over the evaluation set's size.
    pub se: Option<f64>,
    pub direction: Direction,
}

/// Whether the change from the table's baseline row goes the paper's way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The baseline row itself, or no paper value to compare with.
    NotApplicable,
    /// Same sign as the paper's change, and larger than twice its standard error.
    Holds,
    /// Opposite sign, and larger than twice its standard error.
    Reversed,
    /// Smaller than twice its standard error: this scale cannot tell.
    Unresolved,
}

impl Direction {
    pub fn mark(self) -> &'static str {
        match self {
            Direction::NotApplicable => "",
            Direction::Holds => "holds",
            Direction::Reversed => "reversed",
            Direction::Unresolved => "within noise",
        }
    }
}

pub struct TableResult {
    pub table: Table,
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<Cell>)>,
}

/// Everything the writers need.
pub struct Report<'a> {
    pub spec: &'a Spec,
    pub plan: &'a Plan,
    pub outcomes: &'a [StageOutcome],
    pub tables: Vec<TableResult>,
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
        .map(|t| table(t, plan, outcomes))
        .collect();
    Report {
        spec,
        plan,
        outcomes,
        tables,
        command,
    }
}

fn value(outcomes: &[StageOutcome], run: &str, eval: &str, mean: bool) -> Option<f64> {
    let o = outcomes
        .iter()
        .find(|o| (o.kind == "train" || o.kind == "adapt") && o.name == run)?;
    let (acc, m) = o.record.evals.get(eval)?;
    let v = if mean { *m } else { *acc };
    v.map(|v| 100.0 * v)
}

fn table(t: &Table, plan: &Plan, outcomes: &[StageOutcome]) -> TableResult {
    let mean = t.metric == "mean";
    let cell = |run: &str, eval: &str, paper: Option<f64>| {
        let ours = value(outcomes, run, eval, mean);
        let n = plan.datasets.get(eval).map_or(0, |d| d.images) as f64;
        let se = ours
            .filter(|_| n > 0.0)
            .map(|p| 100.0 * ((p / 100.0) * (1.0 - p / 100.0) / n).sqrt());
        Cell {
            ours,
            paper,
            se,
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

fn direction(c: &Cell, base: &Cell) -> Direction {
    let (Some(o), Some(ob), Some(p), Some(pb)) = (c.ours, base.ours, c.paper, base.paper) else {
        return Direction::NotApplicable;
    };
    let paper_delta = p - pb;
    if paper_delta == 0.0 {
        return Direction::NotApplicable;
    }
    let delta = o - ob;
    let se = (c.se.unwrap_or(0.0).powi(2) + base.se.unwrap_or(0.0).powi(2)).sqrt();
    if delta.abs() < 2.0 * se || delta == 0.0 {
        Direction::Unresolved
    } else if delta.signum() == paper_delta.signum() {
        Direction::Holds
    } else {
        Direction::Reversed
    }
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

/// A PNG of the image at most 96 px on its longer side (real photos can be large).
fn thumbnail_png(path: &Path) -> Option<Vec<u8>> {
    let img = image::open(path).ok()?;
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
        crate::dataset::atomic::write_atomic(&path, &bytes)
            .map_err(|e| StudyError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(ours: f64, paper: f64, se: f64) -> Cell {
        Cell {
            ours: Some(ours),
            paper: Some(paper),
            se: Some(se),
            direction: Direction::NotApplicable,
        }
    }

    #[test]
    fn direction_needs_two_standard_errors() {
        let base = cell(60.0, 90.0, 2.0);
        assert_eq!(direction(&cell(50.0, 80.0, 2.0), &base), Direction::Holds);
        assert_eq!(
            direction(&cell(70.0, 80.0, 2.0), &base),
            Direction::Reversed
        );
        assert_eq!(
            direction(&cell(57.0, 80.0, 2.0), &base),
            Direction::Unresolved
        );
        assert_eq!(
            direction(&cell(50.0, 90.0, 2.0), &base),
            Direction::NotApplicable
        );
    }

    #[test]
    fn dates_are_civil() {
        let s = now_utc();
        assert_eq!(s.len(), "2026-12-01 03:30 UTC".len());
        assert!(s.starts_with("20"));
    }
}
