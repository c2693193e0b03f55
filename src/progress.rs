//! Progress bars for render, train and adapt: position, rate and ETA on a terminal, hidden
//! otherwise (the logs carry the story there).
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `len` items called `unit` ("images", "steps"); `set_message` fills the slot
/// before the ETA (a loss, a throughput).
pub fn bar(len: u64, show: bool, unit: &str) -> ProgressBar {
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(len), target);
    let template =
        format!("[{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} ({{per_sec}})  {{msg}}  ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style);
    }
    pb
}
