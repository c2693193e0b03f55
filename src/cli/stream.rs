//! `synthgen train --stream <preset>` and `synthgen adapt --stream <preset>`: the render plan of
//! `synthgen render` feeding the trainer (or the adapter's source side) through a bounded queue
//! instead of a folder.
use super::render::{prepare, Prepared, RenderArgs};
use super::{adapt_failure, train_failure, CliError, CliResult};
use crate::adapt::AdaptArgs;
use crate::assets::ModelCache;
use crate::engine::stream::StreamSource;
use crate::render::stream::{StreamPlan, StreamReport};
use crate::train::stream::StreamArgs;
use crate::train::TrainArgs;
use std::path::{Path, PathBuf};

/// `--stream` in a data-parallel launch is refused before anything renders (one line).
fn refuse_data_parallel() -> Result<(), crate::nn::TrainError> {
    if crate::engine::DataParallel::launch_from_env()?.is_some() {
        return Err(crate::nn::TrainError::NotDataParallel(
            "--stream renders one stream for one process; data-parallel runs (torchrun / srun with 2+ ranks) train on a rendered folder: render it first with `synthgen render`, or run --stream as one process.".into(),
        ));
    }
    Ok(())
}

pub fn run(args: TrainArgs) -> CliResult {
    // Numbers first: a refusal must not wait for Blender workers to start.
    let cfg = args.to_config();
    cfg.check().map_err(|e| train_failure(e.into()))?;
    refuse_data_parallel().map_err(|e| train_failure(e.into()))?;
    let source = stream_source(&args.stream, args.batch_size, args.resume, &args.out)?;
    let summary =
        crate::train::train_streamed(&cfg, source).map_err(|e| train_failure(e.into()))?;
    crate::train::print_summary(&cfg, &summary);
    if let Some(s) = &summary.stream {
        print_stream(s, "trainer");
    }
    Ok(())
}

pub fn run_adapt(args: AdaptArgs) -> CliResult {
    // Before the stream is prepared, so that a refused method prints nothing else.
    crate::adapt::check_streamable(args.method).map_err(|e| adapt_failure(e.into()))?;
    let cfg = args.to_config();
    cfg.check().map_err(|e| adapt_failure(e.into()))?;
    refuse_data_parallel().map_err(|e| adapt_failure(crate::adapt::AdaptError::from(e).into()))?;
    let source = stream_source(&args.stream, args.batch_size, args.resume, &args.out)?;
    let summary =
        crate::adapt::adapt_streamed(&cfg, source).map_err(|e| adapt_failure(e.into()))?;
    crate::adapt::print_summary(&cfg, &summary);
    if let Some(s) = &summary.stream {
        print_stream(s, "adapter");
    }
    Ok(())
}

/// The render stream `--stream` asks for, prepared as `synthgen render` would; un-kept images
/// pass through scratch space in the run folder `out`.
fn stream_source(
    o: &StreamArgs,
    batch_size: usize,
    resume: bool,
    out: &Path,
) -> Result<StreamSource, CliError> {
    // Kept images form a dataset in --keep; otherwise they pass through scratch in the run folder.
    let images_dir = o
        .keep
        .clone()
        .unwrap_or_else(|| out.join(".synthgen").join("stream"));
    let render_args = RenderArgs {
        preset: o.stream.clone().unwrap_or_default(),
        out: Some(images_dir.clone()),
        per_class: None,
        classes: None,
        workers: None,
        seed: None,
        resume,
        set: o.set.clone(),
        keep_requests: None,
        shapenet: std::env::var_os("SYNTHGEN_SHAPENET").map(PathBuf::from),
        index: None,
        denylist: None,
        class_map: None,
        strict: false,
        shard: None,
        format: None,
        weights: o.weights.clone(),
        estimate: Default::default(),
    };
    let Prepared {
        preset,
        classes,
        ctx,
        mut opts,
        ..
    } = prepare(&render_args, &images_dir)?;
    opts.show_progress = false; // the trainer's progress line reports the stream
    let settings = preset.render.settings();
    let window = o.queue.unwrap_or(2 * batch_size.max(1) as u64);
    eprintln!(
        "streaming {} classes at {} px, {} samples, {} worker(s), up to {window} images ahead{}",
        classes.len(),
        settings.resolution,
        settings.samples,
        opts.workers,
        o.keep
            .as_ref()
            .map_or(String::new(), |k| format!(", kept in {}", k.display()))
    );
    Ok(StreamSource {
        plan: StreamPlan {
            preset,
            classes,
            ctx,
            cache: ModelCache::default_location(),
            run: opts,
            keep: o.keep.is_some(),
            window,
        },
    })
}

fn print_stream(s: &StreamReport, consumer: &str) {
    println!(
        "stream: {} rendered ({:.2} img/s), {} reused, {} failed; {consumer} waited {:.0}% of the time, workers {:.0}%",
        s.rendered,
        s.render_per_second,
        s.reused,
        s.failed,
        100.0 * s.consumer_wait_share,
        100.0 * s.worker_wait_share
    );
}
