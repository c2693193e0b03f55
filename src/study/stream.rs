//! The study's streamed datasets (`stream: true`): a `non_repetitive` run on one trains on a
//! render stream of its preset (`train --stream`) instead of a pre-rendered folder. The stream
//! keeps its images in the dataset's folder, so a resumed or later run on the same dataset
//! reuses what was rendered (same images, since image i of the stream is render's image i).
use super::error::StudyError;
use super::spec::Run;
use super::stages::PlannedDataset;
use crate::engine::stream::StreamSource;
use crate::render::job::{JobError, ShapeNetOptions};
use crate::render::stream::StreamPlan;

/// The stream a run on `d` trains on; `None` when `d` is an ordinary folder.
pub fn source(
    d: &PlannedDataset,
    run: &Run,
    shapenet: &ShapeNetOptions,
) -> Result<Option<StreamSource>, StudyError> {
    let (true, Some(preset)) = (d.stream, &d.preset) else {
        return Ok(None);
    };
    // Two batches ahead, as `train --stream` by default.
    let window = 2 * run.batch_size.max(1) as u64;
    let say = &mut |line: &str| tracing::info!("{}", line.trim_end());
    let plan = StreamPlan::for_preset(preset.clone(), &d.data, true, window, shapenet, say)
        .map_err(|e| match e {
            JobError::Input(m) => StudyError::input(format!("dataset `{}`: {m}", d.name)),
            e => StudyError::Stage(format!("streaming dataset `{}`: {e}", d.name)),
        })?;
    Ok(Some(StreamSource { plan }))
}
