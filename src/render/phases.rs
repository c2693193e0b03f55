//! Where a run's time outside `bpy.ops.render.render` goes, by phase (summary.json
//! `seconds_outside_render`). Each figure is wall time summed over workers and over every
//! attempt (rejected ones too), measured around the phase in the driver thread that waits on
//! it; the model load and scene set-up inside the worker are `load_seconds` / `setup_seconds`.
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OutsideRender {
    /// Starting worker processes until they are ready (Python, bpy import, schema check).
    pub worker_start: f64,
    /// Picking the model, sampling the scene, the material look and the view prediction.
    pub sampling: f64,
    /// A request's round trip minus the worker's own render, load and set-up time: the pipe,
    /// JSON and the schema check on both sides, the worker's file moves and Python's share.
    pub request: f64,
    /// Reading the rendered image back (decode).
    pub decode: f64,
    /// Validation of the render.
    pub validate: f64,
    /// Alpha compositing over the backdrop; the backdrop itself is built while Cycles renders,
    /// so only a wait for it beyond the render's end counts here.
    pub composite: f64,
    /// Encoding and writing the image and mask PNGs (atomic rename included).
    pub write: f64,
    /// The image's SHA-256 for the manifest.
    pub hash: f64,
}

impl OutsideRender {
    pub fn total(&self) -> f64 {
        self.worker_start
            + self.sampling
            + self.request
            + self.decode
            + self.validate
            + self.composite
            + self.write
            + self.hash
    }

    pub fn add(&mut self, other: &OutsideRender) {
        self.worker_start += other.worker_start;
        self.sampling += other.sampling;
        self.request += other.request;
        self.decode += other.decode;
        self.validate += other.validate;
        self.composite += other.composite;
        self.write += other.write;
        self.hash += other.hash;
    }

    /// "phase s, ..." for the human summary, largest first.
    pub fn text(&self) -> String {
        let mut parts = [
            ("worker start", self.worker_start),
            ("sampling", self.sampling),
            ("request", self.request),
            ("decode", self.decode),
            ("validate", self.validate),
            ("composite", self.composite),
            ("write", self.write),
            ("hash", self.hash),
        ];
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        parts
            .iter()
            .map(|(name, s)| format!("{name} {s:.2} s"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Seconds since `start`, for `phases.x += lap(&mut start)`: returns the lap and restarts.
pub fn lap(start: &mut Instant) -> f64 {
    let now = Instant::now();
    let seconds = now.duration_since(*start).as_secs_f64();
    *start = now;
    seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_adds_every_phase_and_text_lists_the_largest_first() {
        let mut a = OutsideRender {
            sampling: 1.0,
            write: 3.0,
            ..Default::default()
        };
        a.add(&OutsideRender {
            hash: 0.5,
            write: 1.0,
            ..Default::default()
        });
        assert_eq!(a.total(), 5.5);
        assert!(a
            .text()
            .starts_with("write 4.00 s, sampling 1.00 s, hash 0.50 s"));
    }
}
