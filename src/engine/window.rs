//! Running means between two train records of `metrics.jsonl`.
use std::time::Instant;

use crate::nn::records::Record;

/// Steps between two train records: about 500 records per run.
pub fn log_every(total_steps: u64) -> u64 {
    (total_steps / 500).max(1)
}

/// Loss, accuracy, lr and throughput accumulated since the last record.
pub struct Window {
    loss: f64,
    correct: u64,
    images: u64,
    steps: u64,
    lr: f64,
    /// Data-parallel ranks reading as many images as this one (throughput is global).
    ranks: u64,
    since: Instant,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            loss: 0.0,
            correct: 0,
            images: 0,
            steps: 0,
            lr: 0.0,
            ranks: 1,
            since: Instant::now(),
        }
    }
}

impl Window {
    /// One step: its loss, correct predictions among its `images` labelled images, and lr.
    pub fn add(&mut self, loss: f64, correct: u64, images: usize, lr: f64) {
        self.loss += loss;
        self.correct += correct;
        self.images += images as u64;
        self.steps += 1;
        self.lr = lr;
    }

    /// Throughput counts `ranks` ranks reading as many images as this one.
    pub fn ranks(&mut self, ranks: u64) {
        self.ranks = ranks.max(1);
    }

    /// (mean loss, labelled images/s of all ranks) if any step is pending.
    pub fn record(&self) -> Option<(f64, f64)> {
        (self.steps > 0).then(|| {
            (
                self.loss / self.steps as f64,
                (self.images * self.ranks) as f64 / self.since.elapsed().as_secs_f64().max(1e-9),
            )
        })
    }

    /// The train record and a fresh window. `images_per_labelled`: images a step reads per
    /// labelled image (adaptation reads a target image with each source image: 2).
    pub fn take(&mut self, step: u64, epoch: u64, images_per_labelled: f64) -> Record {
        let (loss, ips) = self.record().unwrap_or((f64::NAN, 0.0));
        let r = Record::Train {
            step,
            epoch,
            loss,
            acc: self.correct as f64 / self.images.max(1) as f64,
            lr: self.lr,
            images_per_s: images_per_labelled * ips,
        };
        *self = Window::default();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_means_and_resets() {
        let mut w = Window::default();
        assert!(w.record().is_none());
        w.add(1.0, 3, 4, 0.1);
        w.add(3.0, 1, 4, 0.05);
        match w.take(2, 0, 2.0) {
            Record::Train {
                step,
                loss,
                acc,
                lr,
                images_per_s,
                ..
            } => {
                assert_eq!(step, 2);
                assert_eq!(loss, 2.0);
                assert_eq!(acc, 0.5);
                assert_eq!(lr, 0.05);
                assert!(images_per_s > 0.0);
            }
            r => panic!("not a train record: {r:?}"),
        }
        assert!(w.record().is_none());
        assert_eq!(log_every(100), 1);
        assert_eq!(log_every(5000), 10);
    }
}
