//! The JSON report written beside a video job's output: per frame, totals,
//! warnings and the whole config.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::JobConfig;
use crate::device::Machine;
use crate::error::{Error, Result};
use crate::files::{compare, write_atomic, FileId, WriteError};
use crate::losses::LossValues;
use crate::memory::Budget;

pub mod eval;
pub mod html;
pub mod pictures;

/// A finished clip's warping error against its input (`vstyle eval`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarpingError {
    pub input: String,
    pub output: String,
    pub width: u32,
    pub height: u32,
    /// Per frame t >= 1, in [0, 1] pixel units squared.
    pub per_frame: Vec<f64>,
    pub mean: f64,
    /// Mean fraction of pixels the reliability mask kept.
    pub reliable_fraction: f64,
}

/// The direction a pass runs over its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Forward,
    Backward,
}

impl Direction {
    /// Pass 1 runs forward; later passes alternate.
    pub fn of_pass(number: usize) -> Self {
        if number % 2 == 1 {
            Direction::Forward
        } else {
            Direction::Backward
        }
    }
}

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
    /// Painted in tiles: the gradient energy along the tile borders over
    /// the rest of the frame's (about 1: the borders do not show).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seam_ratio: Option<f64>,
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
            seam_ratio: None,
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
    /// Set once the output is renamed into place: what it was then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<Complete>,
    /// The warping error of the output, once `vstyle eval` or `--eval` measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<WarpingError>,
    /// Other outputs of the same input measured beside this one (`vstyle
    /// eval` with several outputs), such as the unsharded run of a sharded
    /// clip: drawn with it in the warping chart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compared: Vec<WarpingError>,
    /// The estimated peak memory and the limit it was held to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Budget>,
    pub config: JobConfig,
}

/// A finished output as it was published. A batch skips the job only while
/// the file on disk is still this one: an output that is empty, truncated or
/// replaced (a crash after the rename, a full disk) is made again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complete {
    pub size: u64,
    /// SHA-256 of the size and sampled blocks (`FileId::sampled_hash`), hex.
    pub sha256: String,
}

/// Blocks sampled besides the first and last: about 1 MiB read per output.
const OUTPUT_BLOCKS: u64 = 16;

impl Complete {
    /// Identifies the output just published at `path`.
    pub fn of(path: &Path) -> Result<Self> {
        let id = FileId::of(path, OUTPUT_BLOCKS)
            .map_err(|e| crate::files::write_error(path, WriteError::ReadBack(e)))?;
        Ok(Self {
            size: id.size,
            sha256: id.sha256,
        })
    }

    /// Whether `path` holds the output this records.
    pub fn matches(&self, path: &Path) -> bool {
        compare(path, self.size, None, &self.sha256, OUTPUT_BLOCKS).is_ok_and(|c| c.same())
    }
}

/// Whether the job with report `report` finished and `output` is still
/// what it wrote. A missing or unreadable report is not done. Only the
/// `complete` field is read, so a report of another version still counts.
pub fn verified_done(report: &Path, output: &Path) -> bool {
    #[derive(Deserialize)]
    struct Sealed {
        complete: Option<Complete>,
    }
    let sealed = std::fs::read_to_string(report)
        .ok()
        .and_then(|t| serde_json::from_str::<Sealed>(&t).ok());
    sealed
        .and_then(|s| s.complete)
        .is_some_and(|c| c.matches(output))
}

impl JobReport {
    /// Reads a report that [`JobReport::write`] wrote.
    pub fn read(path: &Path) -> Result<Self> {
        let fail = |what, source| Error::Report {
            file: path.to_path_buf(),
            what,
            source,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail("cannot read", e.into()))?;
        serde_json::from_str(&text).map_err(|e| fail("not a vstyle job report", e.into()))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, |w| {
            serde_json::to_writer_pretty(w, self).map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_only_while_the_report_is_complete_and_the_output_matches_it() {
        let dir = tempfile::tempdir().unwrap();
        let (out, report) = (dir.path().join("o.mp4"), dir.path().join("o.json"));
        // Larger than the sampled blocks, so the hash samples.
        let body: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
        std::fs::write(&out, &body).unwrap();
        assert!(!verified_done(&report, &out), "no report");
        let seal = serde_json::json!({ "complete": Complete::of(&out).unwrap() });
        std::fs::write(&report, seal.to_string()).unwrap();
        assert!(verified_done(&report, &out), "the output as published");

        std::fs::write(&out, &body[..body.len() / 2]).unwrap();
        assert!(!verified_done(&report, &out), "truncated");
        std::fs::write(&out, b"").unwrap();
        assert!(!verified_done(&report, &out), "empty");
        let mut other = body.clone();
        other[body.len() - 5] ^= 1;
        std::fs::write(&out, &other).unwrap();
        assert!(!verified_done(&report, &out), "the same size, changed");
        std::fs::remove_file(&out).unwrap();
        assert!(!verified_done(&report, &out), "gone");

        std::fs::write(&out, &body).unwrap();
        assert!(verified_done(&report, &out), "back as it was");
        std::fs::write(&report, &seal.to_string()[..10]).unwrap();
        assert!(!verified_done(&report, &out), "a half-written report");
        std::fs::write(&report, r#"{"frames": []}"#).unwrap();
        assert!(
            !verified_done(&report, &out),
            "a report that says not complete"
        );
    }
}
