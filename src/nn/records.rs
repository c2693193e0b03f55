//! The run's metric log: `metrics.jsonl` (one JSON object per line, the source of truth) and
//! `metrics.csv` (a flat view for spreadsheets), rewritten from the records on resume so that
//! entries past the checkpoint disappear.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::TrainError;
use super::metrics::EvalReport;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// Mean over the steps since the previous train record, at completed step `step`.
    Train {
        step: u64,
        epoch: u64,
        loss: f64,
        acc: f64,
        lr: f64,
        images_per_s: f64,
    },
    Eval(EvalReport),
}

impl Record {
    pub fn step(&self) -> u64 {
        match self {
            Record::Train { step, .. } => *step,
            Record::Eval(r) => r.step,
        }
    }
}

pub struct MetricsLog {
    jsonl: BufWriter<File>,
    csv: BufWriter<File>,
    jsonl_path: PathBuf,
    pub records: Vec<Record>,
}

const CSV_HEADER: &str = "step,kind,set,loss,acc,mean,lr,images_per_s\n";

impl MetricsLog {
    /// Opens the log in `out`, keeping earlier records up to `keep_until` (resume) or none.
    pub fn open(out: &Path, keep_until: Option<u64>) -> Result<Self, TrainError> {
        let jsonl_path = out.join("metrics.jsonl");
        let mut records = Vec::new();
        if let (Some(limit), true) = (keep_until, jsonl_path.is_file()) {
            let text =
                std::fs::read_to_string(&jsonl_path).map_err(|e| TrainError::io(&jsonl_path, e))?;
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                match serde_json::from_str::<Record>(line) {
                    Ok(r) if r.step() <= limit => records.push(r),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("ignoring line {} of {}: {e}", i + 1, jsonl_path.display())
                    }
                }
            }
        }
        let csv_path = out.join("metrics.csv");
        let create = |p: &Path| File::create(p).map_err(|e| TrainError::io(p, e));
        let mut log = MetricsLog {
            jsonl: BufWriter::new(create(&jsonl_path)?),
            csv: BufWriter::new(create(&csv_path)?),
            jsonl_path,
            records: Vec::new(),
        };
        log.csv
            .write_all(CSV_HEADER.as_bytes())
            .map_err(|e| TrainError::io(&csv_path, e))?;
        for r in records {
            log.push(r)?;
        }
        Ok(log)
    }

    /// Appends a record to both files and flushes (a crash loses nothing written before).
    pub fn push(&mut self, r: Record) -> Result<(), TrainError> {
        let line = serde_json::to_string(&r).unwrap_or_default();
        let csv = match &r {
            Record::Train {
                step,
                loss,
                acc,
                lr,
                images_per_s,
                ..
            } => format!("{step},train,,{loss},{acc},,{lr},{images_per_s}\n"),
            Record::Eval(e) => format!("{},eval,{},,{},{},,\n", e.step, e.set, e.acc, e.mean),
        };
        let p = self.jsonl_path.clone();
        writeln!(self.jsonl, "{line}")
            .and_then(|_| self.jsonl.flush())
            .and_then(|_| self.csv.write_all(csv.as_bytes()))
            .and_then(|_| self.csv.flush())
            .map_err(|e| TrainError::io(p, e))?;
        self.records.push(r);
        Ok(())
    }

    /// (step, loss) of the train records.
    pub fn losses(&self) -> Vec<(f64, f64)> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Train { step, loss, .. } => Some((*step as f64, *loss)),
                _ => None,
            })
            .collect()
    }

    /// (step, value) of an eval set's Acc (`mean = false`) or Mean, in percent.
    pub fn eval_curve(&self, set: &str, mean: bool) -> Vec<(f64, f64)> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Eval(e) if e.set == set => {
                    Some((e.step as f64, 100.0 * if mean { e.mean } else { e.acc }))
                }
                _ => None,
            })
            .collect()
    }
}
