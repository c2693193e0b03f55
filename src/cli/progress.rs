//! Progress bars: rate and ETA on a terminal, silent otherwise (logs carry the story).
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn bar(len: u64, show: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(
        Some(len),
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} images  {per_sec}  ETA {eta}",
        )
        .expect("valid template"),
    );
    pb
}
