//! Issue 28's goals checked on a sharded clip: against the same job run in
//! one piece, the mean warping error (`vstyle eval`) is at most 1.1x, and
//! at every seam the frame's error is at most 1.5x the one run's there. On
//! a 12-frame clip the motion varies too much for "1.5x the median of the
//! other frames"; the one run's same frame is the fair yardstick.
use std::path::Path;

use super::job::quoted;
use super::media::json;
use super::{s, succeeds, vstyle};

/// The ratios of a sharded clip to the one run: the mean, then each seam's.
pub struct Steadiness {
    pub mean: f64,
    pub seams: Vec<(usize, f64)>,
}

impl Steadiness {
    /// Runs `job` in one piece into `one.mp4` beside `sharded` (the job's
    /// joined output) and compares the first `frames` frames of both with
    /// `clip`, at the cuts its work directory records.
    pub fn measure(job: &Path, sharded: &Path, clip: &Path, frames: usize) -> Self {
        let dir = sharded.parent().unwrap();
        let layout = json(&dir.join(format!("{}.work/shards.json", s(sharded))));
        let cuts: Vec<usize> = layout["cuts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap() as usize)
            .collect();
        let one = dir.join("one.mp4");
        let set = format!("output.path={}", quoted(s(&one)));
        succeeds(&vstyle(&["run", s(job), "--set", &set, "--quiet"]));
        let eval = dir.join("eval.json");
        let n = frames.to_string();
        succeeds(&vstyle(&[
            "eval",
            "--input",
            s(clip),
            "--output",
            s(sharded),
            "--output",
            s(&one),
            "--max-frames",
            &n,
            "--json",
            s(&eval),
        ]));
        let e = json(&eval);
        let per_frame = |i: usize| -> Vec<f64> {
            e[i]["per_frame"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let (sharded, one) = (per_frame(0), per_frame(1));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        // per_frame[t - 1] is frame t's error against frame t - 1.
        let seams = cuts
            .iter()
            .map(|&c| (c, sharded[c - 1] / one[c - 1]))
            .collect();
        Steadiness {
            mean: mean(&sharded) / mean(&one),
            seams,
        }
    }

    /// Panics, naming the figures, unless the goals hold.
    pub fn assert_goals(&self, what: &str) {
        let seams_ok = self.seams.iter().all(|&(_, r)| r <= 1.5);
        let figures = format!(
            "{what}: warping error {:.3}x one run's (goal <= 1.1), seams (frame, x one run's) {:?} (goal <= 1.5)",
            self.mean, self.seams
        );
        eprintln!("{figures}");
        assert!(self.mean <= 1.1 && seams_ok, "{figures}");
    }
}
