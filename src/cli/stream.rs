//! `synthgen train --stream <preset>`: the render plan of `synthgen render` feeding the trainer
//! through a bounded queue instead of a folder.
use super::render::{prepare, Prepared, RenderArgs};
use super::{train_failure, CliResult};
use crate::assets::ModelCache;
use crate::render::stream::StreamPlan;
use crate::train::stream::StreamSource;
use crate::train::TrainArgs;
use std::path::PathBuf;

pub fn run(args: TrainArgs) -> CliResult {
    let preset = args.stream.clone().unwrap_or_default();
    // Kept images form a dataset in --keep; otherwise they pass through scratch in the run folder.
    let images_dir = args
        .keep
        .clone()
        .unwrap_or_else(|| args.out.join(".synthgen").join("stream"));
    let render_args = RenderArgs {
        preset,
        out: images_dir,
        per_class: None,
        classes: None,
        workers: None,
        seed: None,
        resume: args.resume,
        set: args.set.clone(),
        keep_requests: None,
        shapenet: std::env::var_os("SYNTHGEN_SHAPENET").map(PathBuf::from),
        index: None,
        denylist: None,
        class_map: None,
        strict: false,
        shard: None,
        weights: args.weights.clone(),
    };
    let Prepared {
        preset,
        classes,
        ctx,
        mut opts,
        ..
    } = prepare(&render_args)?;
    opts.show_progress = false; // the trainer's progress line reports the stream
    let settings = preset.render.settings();
    let window = args.queue.unwrap_or(2 * args.batch_size.max(1) as u64);
    eprintln!(
        "streaming {} classes at {} px, {} samples, {} worker(s), up to {window} images ahead of the trainer{}",
        classes.len(),
        settings.resolution,
        settings.samples,
        opts.workers,
        args.keep
            .as_ref()
            .map_or(String::new(), |k| format!(", kept in {}", k.display()))
    );
    let source = StreamSource {
        plan: StreamPlan {
            preset,
            classes,
            ctx,
            cache: ModelCache::default_location(),
            run: opts,
            keep: args.keep.is_some(),
            window,
        },
    };
    let cfg = args.to_config();
    let summary =
        crate::train::train_streamed(&cfg, source).map_err(|e| train_failure(e.into()))?;
    crate::train::print_summary(&cfg, &summary);
    if let Some(s) = &summary.stream {
        println!(
            "stream: {} rendered ({:.2} img/s), {} reused, {} failed; trainer waited {:.0}% of the time, workers {:.0}%",
            s.rendered,
            s.render_per_second,
            s.reused,
            s.failed,
            100.0 * s.consumer_wait_share,
            100.0 * s.worker_wait_share
        );
    }
    Ok(())
}
