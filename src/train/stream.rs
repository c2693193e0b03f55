//! The command-line options of a render stream (`--stream PRESET` and its companions); the
//! stream itself is the engine's (`engine::stream`).
use std::path::PathBuf;

/// The command-line options of a render stream, shared by `train --stream` and
/// `adapt --stream` (flattened into both argument structs).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StreamArgs {
    /// Train (or adapt) on a render stream of this preset instead of a folder: Blender workers
    /// render while training runs, each image is used once, and image i of the stream is the
    /// image `synthgen render` writes as index i of class i mod C (docs/STREAM.md).
    #[arg(long, value_name = "PRESET")]
    pub stream: Option<String>,
    /// Override a field of the stream's preset, as in `render --set` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE", requires = "stream")]
    pub set: Vec<String>,
    /// Level weights for the stream's preset, as in `render --weights`.
    #[arg(long, value_name = "FILE", requires = "stream")]
    pub weights: Option<PathBuf>,
    /// Keep the streamed images in DIR as a normal dataset (manifest, lists), written as it goes.
    #[arg(long, value_name = "DIR", requires = "stream")]
    pub keep: Option<PathBuf>,
    /// Images the render workers may get ahead of training (default: two batches).
    #[arg(long, value_name = "N", requires = "stream", value_parser = crate::numbers::count_u64, allow_negative_numbers = true)]
    pub queue: Option<u64>,
}

impl StreamArgs {
    /// The first stream option given without `--stream`, which would otherwise be ignored.
    /// clap's `requires = "stream"` cannot catch it: clap excuses a missing required argument
    /// that conflicts with one present, and `--train` / `--source` conflict with `--stream`.
    pub fn stray_option(&self) -> Option<&'static str> {
        if self.stream.is_some() {
            return None;
        }
        [
            ("--keep", self.keep.is_some()),
            ("--queue", self.queue.is_some()),
            ("--weights", self.weights.is_some()),
            ("--set", !self.set.is_empty()),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.then_some(flag))
    }
}
