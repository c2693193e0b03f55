//! Pieces of the training loop that `synthgen train` and `synthgen adapt` share: logging
//! cadence and running means of train records, plots and the atomic run summary (the thread
//! budget is `train::device::apply_thread_plan`). The loop itself still lives in `train::trainer` and `adapt::runner` (see
//! docs/DESIGN.md, "Training engine").
pub mod output;
pub mod window;

pub use output::{draw_plots, write_json_atomic};
pub use window::{log_every, Window};
