//! The JSON report written beside a video job's output: per frame, totals,
//! warnings and the whole config.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::JobConfig;
use crate::device::Machine;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::losses::LossValues;

use super::eval::WarpingError;
use super::passes::Direction;

/// One frame in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameReport {
    pub index: usize,
    pub source_index: usize,
    pub init: String,
    pub iterations: usize,
    pub evaluations: usize,
    pub losses: LossValues,
    pub seconds: f64,
    /// Time the flow thread spent on this frame's flow fields (overlapped with the optimiser).
    pub flow_seconds: f64,
    /// Taken from the work directory of an earlier run.
    pub resumed: bool,
    /// Attempts that ended with a NaN or infinite loss, and how each retry
    /// started (empty for almost every frame).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<Retry>,
    /// Started afresh as a new shot (`run.new_shot`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub new_shot: bool,
    /// The share of pixels the flow from the frame before could not carry
    /// (disoccluded, entering, at motion boundaries); none without flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_share: Option<f64>,
}

impl FrameReport {
    /// A frame an earlier run finished.
    pub fn resumed(index: usize, source_index: usize) -> Self {
        Self {
            index,
            source_index,
            init: "resumed".into(),
            iterations: 0,
            evaluations: 0,
            losses: LossValues::default(),
            seconds: 0.0,
            flow_seconds: 0.0,
            resumed: true,
            retries: Vec::new(),
            new_shot: false,
            new_share: None,
        }
    }
}

/// A failed attempt at a frame and what the next one changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retry {
    /// The start image of the failed attempt.
    pub init: String,
    /// The non-finite loss it reached.
    pub loss: f64,
    /// The first L-BFGS step of the failed attempt (1 = the default).
    pub learning_rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Totals {
    pub frames: usize,
    pub resumed_frames: usize,
    pub iterations: usize,
    pub evaluations: usize,
    pub optimise_seconds: f64,
    pub flow_seconds: f64,
    pub wall_seconds: f64,
    pub frames_per_minute: f64,
}

impl Totals {
    pub fn of(frames: &[FrameReport], wall_seconds: f64) -> Self {
        let mut t = Totals {
            frames: frames.len(),
            resumed_frames: frames.iter().filter(|r| r.resumed).count(),
            wall_seconds,
            ..Default::default()
        };
        for r in frames {
            t.iterations += r.iterations;
            t.evaluations += r.evaluations;
            t.optimise_seconds += r.seconds;
            t.flow_seconds += r.flow_seconds;
        }
        let fresh = t.frames - t.resumed_frames;
        t.frames_per_minute = fresh as f64 * 60.0 / wall_seconds.max(1e-9);
        t
    }
}

/// What a later pass did (multi-pass, or a pass over a seam window).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PassReport {
    pub pass: usize,
    pub direction: Direction,
    pub first: usize,
    pub end: usize,
    pub frames: Vec<FrameReport>,
}

/// The repair of one seam of a sharded clip: the window of frames
/// re-optimised around it, pass by pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeamReport {
    /// The first frame of the later shard.
    pub seam: usize,
    pub first: usize,
    pub end: usize,
    /// Taken from the work directory of an earlier join.
    pub resumed: bool,
    pub passes: Vec<PassReport>,
}

/// The JSON report written beside the output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobReport {
    pub input: PathBuf,
    pub output: Option<PathBuf>,
    pub work_dir: PathBuf,
    /// `I/N` for a shard's own report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    pub width: u32,
    pub height: u32,
    /// How the input was read: turns, timing, colours, padding (see `SourceInfo::notes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    pub device: String,
    /// Where it ran (absent from reports of older versions).
    #[serde(default)]
    pub machine: Machine,
    /// Pass 1, frame by frame.
    pub frames: Vec<FrameReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passes: Vec<PassReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seams: Vec<SeamReport>,
    pub totals: Totals,
    pub warnings: Vec<String>,
    /// The warping error of the output, once `vstyle eval` or `--eval` measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<WarpingError>,
    pub config: JobConfig,
}

impl JobReport {
    /// Reads a report that [`JobReport::write`] wrote.
    pub fn read(path: &Path) -> Result<Self> {
        let fail = |message: String| Error::Report {
            file: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        serde_json::from_str(&text).map_err(|e| fail(format!("not a vstyle job report: {e}")))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, |w| {
            serde_json::to_writer_pretty(w, self).map_err(|e| e.to_string())
        })
    }
}
