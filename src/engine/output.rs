//! What a run writes besides checkpoints and the metric log: plots and summary.json.
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::nn::data::ImageSet;
use crate::nn::plots::{self, RunChartTitles};
use crate::nn::records::MetricsLog;
use crate::nn::TrainError;

/// Loss, accuracy and confusion plots of the run so far.
pub fn draw_plots(
    out: &Path,
    log: &MetricsLog,
    sets: &[(String, Arc<ImageSet>)],
    classes: &[String],
    titles: &RunChartTitles,
) {
    let names: Vec<&str> = sets.iter().map(|(n, _)| n.as_str()).collect();
    plots::draw_run_plots(out, log, &names, classes, titles);
}

/// Writes `value` as pretty JSON to `path` through a temporary name, so that an interrupted
/// run never leaves half a file.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<(), TrainError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| TrainError::Write {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| TrainError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}
