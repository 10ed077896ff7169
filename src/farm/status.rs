//! `vstyle status`: what is done, partial (per shard) and pending, read
//! from the outputs and work directories without taking any lock.
use std::path::PathBuf;

use serde::Serialize;

use crate::config::JobConfig;
use crate::job::seams::join::{done_marker, seam_lock, seam_windows};
use crate::job::store::lock::live_holder;
use crate::job::{pass_dir, verified_done, Layout, Outputs};
use crate::video::FrameSource;

use super::batch::Entry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The output is written.
    Done,
    /// Every shard is finished; `vstyle join` is left.
    Joinable,
    Partial,
    Pending,
    /// The entry cannot run as it stands (its `error` says why).
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardStatus {
    pub shard: String,
    pub done: usize,
    pub total: usize,
    /// `host pid` of the worker holding it now.
    pub running_on: Option<String>,
}

/// A seam window of a sharded clip (`vstyle join --seam`).
#[derive(Debug, Clone, Serialize)]
pub struct SeamStatus {
    /// Its index among the clip's seams.
    pub index: usize,
    /// The first frame of the later shard.
    pub frame: usize,
    pub repaired: bool,
    /// `host pid` of the task repairing it now.
    pub running_on: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClipStatus {
    pub entry: String,
    pub input: PathBuf,
    pub output: Option<PathBuf>,
    pub state: State,
    pub done: usize,
    pub total: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub seams: Vec<SeamStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The status of one entry.
pub fn of(entry: &Entry) -> ClipStatus {
    let cfg = &entry.cfg;
    let mut s = ClipStatus {
        entry: entry.name.clone(),
        input: cfg.input.path.clone(),
        output: cfg.output.path.clone(),
        state: State::Pending,
        done: 0,
        total: None,
        shards: Vec::new(),
        seams: Vec::new(),
        error: None,
    };
    if let Err(e) = fill(cfg, &mut s) {
        s.state = State::Error;
        s.error = Some(crate::error::chain(&e));
    }
    s
}

fn fill(cfg: &JobConfig, s: &mut ClipStatus) -> crate::Result<()> {
    let outputs = Outputs::of(cfg)?;
    let finals = pass_dir(&outputs.work_dir, cfg.optimizer.passes);
    let finished = match &outputs.video {
        Some(v) => verified_done(&outputs.report, v),
        None => outputs.report.exists(),
    };
    if let Some(layout) = Layout::read(&outputs.work_dir)? {
        s.total = Some(layout.frames);
        for p in layout.progress(&finals) {
            let holder = live_holder(&outputs.work_dir, &p.shard.lock_name());
            s.shards.push(ShardStatus {
                shard: p.shard.to_string(),
                done: p.done,
                total: p.total,
                running_on: holder.map(|h| h.to_string()),
            });
        }
        s.done = s.shards.iter().map(|x| x.done).sum();
        let seams = seam_windows(cfg, &layout);
        s.seams = seams
            .iter()
            .enumerate()
            .map(|(index, w)| SeamStatus {
                index,
                frame: w.seam,
                repaired: done_marker(&outputs.work_dir, w).exists(),
                running_on: live_holder(&outputs.work_dir, &seam_lock(index))
                    .map(|h| h.to_string()),
            })
            .collect();
    } else {
        let total = FrameSource::open(&cfg.input.path, &cfg.input)?
            .info()
            .frame_count;
        s.total = total;
        s.done = finals.count(0..total.unwrap_or(0));
    }
    let all = s.total.is_some_and(|t| s.done >= t);
    s.state = match (finished, all, s.done) {
        (true, _, _) => State::Done,
        (false, true, _) if !s.shards.is_empty() => State::Joinable,
        (false, _, 0) => State::Pending,
        _ => State::Partial,
    };
    Ok(())
}
