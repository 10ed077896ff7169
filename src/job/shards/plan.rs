//! A clip split into shards: consecutive frame ranges that workers stylize
//! independently (each from a cold start), then `join` repairs the seams.
//! `shards.json` in the work directory records the split, so every worker
//! and the join agree on it.
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, InputConfig, JobConfig};
use crate::error::{Error, Result};
use crate::files::write_atomic;

use super::cuts::{calm_cuts, even_bound};
use crate::job::store::workdir::FrameDir;

/// Environment variables a scheduler sets to a task's index: Slurm's array
/// tasks, then Kubernetes' Indexed Jobs.
pub const INDEX_VARIABLES: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

/// Shard `index` (from 0) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Reads `I/N`, or `N` alone with the index from the scheduler's
    /// environment (`env` looks a variable up).
    pub fn parse(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, TaskError> {
        let (index, count) = task_index("--shard", "shards", text, env)?;
        Ok(Self { index, count })
    }

    /// Its frames (indices in the clip) out of `total`.
    pub fn range(&self, total: usize) -> Range<usize> {
        even_bound(self.index, self.count, total)..even_bound(self.index + 1, self.count, total)
    }

    /// The lock file a worker on this shard holds.
    pub fn lock_name(&self) -> String {
        format!("lock.shard-{}-of-{}", self.index, self.count)
    }

    /// The shard's report in the work directory; the join merges them.
    pub fn report_file(&self, work_dir: &Path) -> PathBuf {
        work_dir.join(format!(
            "report.shard-{}-of-{}.json",
            self.index, self.count
        ))
    }

    pub fn all(count: usize) -> impl Iterator<Item = Shard> {
        (0..count).map(move |index| Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// At most this many shards: a Slurm array's usual MaxArraySize.
pub const MAX_SHARDS: usize = 10_000;

/// A shard's finished frames out of its total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardProgress {
    pub shard: Shard,
    pub done: usize,
    pub total: usize,
}

/// How a work directory's clip is split (`shards.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub shards: usize,
    /// Frames of the whole clip.
    pub frames: usize,
    /// The first frame of every shard but the first (empty: the even split,
    /// as directories from before calm cuts record it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<usize>,
}

impl Layout {
    fn file(work_dir: &Path) -> PathBuf {
        work_dir.join("shards.json")
    }

    /// The split of `frames` frames into `shards` that `work_dir` records,
    /// else a new one with calm cuts (see `shards.cut_search`). Nothing is
    /// written: the run that holds a shard's lock claims it.
    pub fn settle(cfg: &JobConfig, shards: usize, frames: usize, work_dir: &Path) -> Result<Self> {
        match Self::read(work_dir)? {
            Some(old) if old.shards == shards && old.frames == frames => Ok(old),
            _ => Ok(Self {
                shards,
                frames,
                cuts: calm_cuts(cfg, shards, frames)?,
            }),
        }
    }

    /// A shard's frames (indices in the clip).
    pub fn range(&self, shard: Shard) -> Range<usize> {
        if self.cuts.len() + 1 != self.shards {
            return shard.range(self.frames);
        }
        let bound = |i: usize| match i {
            0 => 0,
            i if i == self.shards => self.frames,
            i => self.cuts[i - 1],
        };
        bound(shard.index)..bound(shard.index + 1)
    }

    /// The recorded split, if the clip was run in shards.
    pub fn read(work_dir: &Path) -> Result<Option<Self>> {
        let file = Self::file(work_dir);
        match std::fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::damaged(&file, work_dir, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Output {
                file: file.display().to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// Records this split, or checks that it is the one recorded. Writing
    /// is atomic; two first workers racing write the same text.
    pub fn claim(&self, work_dir: &Path) -> Result<()> {
        match Self::read(work_dir)? {
            Some(old) if old == *self => Ok(()),
            Some(old) if (old.shards, old.frames) == (self.shards, self.frames) => {
                Err(Error::WorkDir {
                    dir: work_dir.to_path_buf(),
                    message: format!(
                        "was cut before frames {:?}; this run cuts before {:?} (give every worker the same shards.cut_search)",
                        old.cuts, self.cuts
                    ),
                })
            }
            Some(old) => Err(Error::WorkDir {
                dir: work_dir.to_path_buf(),
                message: format!(
                    "was split into {} shards of a {}-frame clip; this run asks for {} shards of {} frames (use --shard I/{} or delete the work directory)",
                    old.shards, old.frames, self.shards, self.frames, old.shards
                ),
            }),
            None => {
                let text = serde_json::to_string(self).unwrap_or_default();
                write_atomic(&Self::file(work_dir), |w| {
                    w.write_all(text.as_bytes()).map_err(|e| e.to_string())
                })
            }
        }
    }

    /// How far each shard got: its frames found in `finals` (the results
    /// of the job's last pass) out of its range. The join and `vstyle
    /// status` count alike.
    pub fn progress(&self, finals: &FrameDir) -> Vec<ShardProgress> {
        Shard::all(self.shards)
            .map(|shard| {
                let range = self.range(shard);
                ShardProgress {
                    shard,
                    done: finals.count(range.clone()),
                    total: range.len(),
                }
            })
            .collect()
    }

    /// The first frame of every shard but the first: where the seams are.
    pub fn seams(&self) -> Vec<usize> {
        Shard::all(self.shards)
            .skip(1)
            .map(|s| self.range(s).start)
            .filter(|&s| s > 0 && s < self.frames)
            .collect()
    }
}

/// Which frames of the clip one run covers: all of them, or a shard's.
#[derive(Debug, Clone)]
pub struct Part {
    pub shard: Option<Shard>,
    /// The split a shard belongs to.
    layout: Option<Layout>,
    pub frames: Range<usize>,
    /// Where decoding starts: before `frames` for a shard's lead-in.
    pub lead_in: usize,
    /// Frames in the whole clip (0 when unknown and not sharded).
    pub total: usize,
}

impl Part {
    pub fn whole(frame_count: Option<usize>) -> Self {
        let total = frame_count.unwrap_or(0);
        Self {
            shard: None,
            layout: None,
            frames: 0..total,
            lead_in: 0,
            total,
        }
    }

    /// Shard `shard` of a clip of `frame_count` frames, split as `work_dir`
    /// records or afresh (`cfg` names the input and the job file in errors).
    pub fn shard(
        cfg: &JobConfig,
        shard: Shard,
        frame_count: Option<usize>,
        work_dir: &Path,
    ) -> Result<Self> {
        let input = cfg.input.path.display();
        let bad = |message: String| ConfigError::Invalid {
            file: cfg.source.clone(),
            key: "--shard".into(),
            message,
        };
        let total = frame_count.ok_or_else(|| {
            bad(format!(
                "the frame count of {input} is unknown, so it cannot be split"
            ))
        })?;
        let layout = Layout::settle(cfg, shard.count, total, work_dir)?;
        let frames = layout.range(shard);
        if frames.is_empty() {
            return Err(bad(format!(
                "shard {shard} has no frames: {input} has only {total} selected frames"
            ))
            .into());
        }
        Ok(Self {
            shard: Some(shard),
            layout: Some(layout),
            lead_in: frames.start,
            frames,
            total,
        })
    }

    /// Starts decoding at the clip's first frame, so this shard starts from
    /// the first shard's texture carried along the flow rather than from a
    /// texture of its own (see `shards.lead_in`).
    pub fn with_lead_in(mut self) -> Self {
        self.lead_in = 0;
        self
    }

    /// The source options that read exactly these frames.
    pub fn input(&self, whole: &InputConfig) -> InputConfig {
        let mut o = whole.clone();
        o.start = whole
            .start
            .saturating_add(self.lead_in.saturating_mul(whole.step));
        let last = self.frames.end == self.total;
        // The last shard reads to the end, in case the count was an estimate.
        o.max_frames = if last {
            whole.max_frames.map(|m| m - self.lead_in)
        } else {
            Some(self.frames.end - self.lead_in)
        };
        o
    }

    pub fn lock_name(&self) -> String {
        self.shard.map_or("lock".into(), |s| s.lock_name())
    }

    /// Records the split in the work directory (or checks it); a run of the
    /// whole clip refuses a directory that was split.
    pub fn claim(&self, work_dir: &Path) -> Result<()> {
        match (&self.layout, Layout::read(work_dir)?) {
            (Some(layout), _) => layout.claim(work_dir),
            (None, Some(old)) => Err(Error::WorkDir {
                dir: work_dir.to_path_buf(),
                message: format!(
                    "was split into {} shards: run each with --shard I/{} (or --workers), then `vstyle join`",
                    old.shards, old.shards
                ),
            }),
            (None, None) => Ok(()),
        }
    }

    /// Where this run's report goes: the job's, or the shard's in the work directory.
    pub fn report_file(&self, job_report: &Path, work_dir: &Path) -> PathBuf {
        match self.shard {
            Some(s) => s.report_file(work_dir),
            None => job_report.to_path_buf(),
        }
    }
}

/// A `--shard` or `--seam` value that names no task.
#[derive(Debug, thiserror::Error)]
#[error("{flag} {text}: {why}")]
pub struct TaskError {
    pub flag: String,
    pub text: String,
    pub why: String,
}

/// Task `I/N` of a flag (`--shard`, `--seam`), or `N` alone with the index
/// from the scheduler's environment (`env` looks a variable up). `what`
/// names the tasks in the message.
pub fn task_index(
    flag: &str,
    what: &str,
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> std::result::Result<(usize, usize), TaskError> {
    let bad = |why: String| TaskError {
        flag: flag.to_string(),
        text: text.to_string(),
        why,
    };
    let number = |s: &str, what: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("{what} `{s}` is not a whole number")))
    };
    let (index, count) = match text.split_once('/') {
        Some((i, n)) => (number(i, "index")?, number(n, "count")?),
        None => {
            let count = number(text, "count")?;
            let (var, value) = INDEX_VARIABLES
                .iter()
                .find_map(|v| env(v).map(|x| (*v, x)))
                .ok_or_else(|| {
                    bad(format!(
                        "give I/N, or set {} to the index",
                        INDEX_VARIABLES.join(" or ")
                    ))
                })?;
            (number(&value, var)?, count)
        }
    };
    if count == 0 || count > MAX_SHARDS {
        return Err(bad(format!("the count must be in 1..={MAX_SHARDS}")));
    }
    if index >= count {
        return Err(bad(format!(
            "index {index} is out of range: {what} are numbered 0..={}",
            count - 1
        )));
    }
    Ok((index, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn index_comes_from_the_text_or_the_scheduler() {
        assert_eq!(
            Shard::parse("2/4", no_env).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let slurm = |v: &str| (v == "SLURM_ARRAY_TASK_ID").then(|| "3".to_string());
        assert_eq!(Shard::parse("4", slurm).unwrap().index, 3);
        let k8s = |v: &str| (v == "JOB_COMPLETION_INDEX").then(|| "1".to_string());
        assert_eq!(Shard::parse("4", k8s).unwrap().index, 1);
        for (text, want) in [
            ("4/4", "index 4 is out of range"),
            ("0/0", "count must be"),
            ("a/2", "index `a`"),
            ("4", "SLURM_ARRAY_TASK_ID"),
        ] {
            let e = Shard::parse(text, no_env).unwrap_err().to_string();
            assert!(e.contains(want) && e.starts_with("--shard"), "{text}: {e}");
        }
    }

    #[test]
    fn ranges_cover_the_clip_once_and_seams_sit_between_them() {
        // The last: a count a crafted container may declare, without a wrap.
        for (total, count) in [(120, 4), (7, 3), (2, 5), (1, 1), (usize::MAX, 7)] {
            let mut next = 0;
            for s in Shard::all(count) {
                let r = s.range(total);
                assert_eq!(r.start, next, "{total} in {count}");
                next = r.end;
            }
            assert_eq!(next, total);
        }
        let even = Layout {
            shards: 4,
            frames: 120,
            cuts: Vec::new(),
        };
        assert_eq!(even.seams(), [30, 60, 90]);
        let calm = Layout {
            cuts: vec![25, 62, 88],
            ..even
        };
        assert_eq!(calm.seams(), [25, 62, 88]);
        let ranges: Vec<_> = Shard::all(4).map(|s| calm.range(s)).collect();
        assert_eq!(ranges, [0..25, 25..62, 62..88, 88..120]);
    }

    #[test]
    fn a_work_dir_keeps_its_split() {
        let dir = tempfile::tempdir().unwrap();
        let four = Layout {
            shards: 4,
            frames: 120,
            cuts: vec![28, 60, 93],
        };
        four.claim(dir.path()).unwrap();
        four.claim(dir.path()).unwrap();
        let three = Layout {
            shards: 3,
            frames: 120,
            cuts: Vec::new(),
        };
        let e = three.claim(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("split into 4 shards") && e.contains("--shard I/4"),
            "{e}"
        );
        let moved = Layout {
            cuts: vec![30, 60, 90],
            ..four.clone()
        };
        let e = moved.claim(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("[28, 60, 93]") && e.contains("cut_search"),
            "{e}"
        );
        assert_eq!(Layout::read(dir.path()).unwrap(), Some(four));
    }
}
