//! `vstyle join`: puts a sharded clip together. Each shard started cold, so
//! where one ends and the next begins two different local optima meet. The
//! join re-optimises a window of frames around each seam with the passes of
//! `passes` (alternating direction, the frames outside the window held
//! fixed, each frame blended with and tied to the neighbour the pass comes
//! from), then encodes the video from the work directory and merges the
//! shards' reports.
//!
//! Work directory: `seams/<seam>/pass_<k>/` holds a window's passes,
//! `seams/<seam>/report.json` their report and `seams/<seam>/done` marks a
//! finished window, so a killed join resumes. `--seam I/N` repairs one
//! window on its own, under its own lock, for a scheduler's task.
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Deserialize;

use crate::config::JobConfig;
use crate::error::{Error, Result};
use crate::files::{write_atomic, write_error};
use crate::video::FrameSource;

use super::crossfade::crossfade;
use crate::job::pipeline::assemble;
use crate::job::pipeline::event::Event;
use crate::job::pipeline::frame::FrameOptimiser;
use crate::job::pipeline::hold::StyleHold;
use crate::job::pipeline::passes::{Pass, PassRunner};
use crate::job::pipeline::setup::Setup;
use crate::job::report::{
    Complete, Direction, FrameReport, JobReport, PassReport, SeamReport, Totals,
};
use crate::job::shards::plan::{Layout, Shard};
use crate::job::store::lock::Lock;
use crate::job::store::outputs::Outputs;
use crate::job::store::workdir::{FrameDir, WorkDir};
use crate::memory::{Budget, Shape};

/// The frames re-optimised around one seam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub seam: usize,
    pub frames: Range<usize>,
}

/// Windows of `half` frames on each side of each seam, cut at the midpoint
/// between seams so that no two overlap.
fn windows(seams: &[usize], total: usize, half: usize) -> Vec<Window> {
    let mut out = Vec::new();
    for (k, &s) in seams.iter().enumerate() {
        let lo = if k == 0 { 0 } else { (seams[k - 1] + s) / 2 };
        let hi = seams.get(k + 1).map_or(total, |&n| (s + n) / 2);
        let frames = s.saturating_sub(half).max(lo)..(s + half).min(hi);
        if half > 0 && !frames.is_empty() {
            out.push(Window { seam: s, frames });
        }
    }
    out
}

/// The seam windows of a sharded clip, `shards.seam_window` frames on each
/// side of each seam.
pub fn seam_windows(cfg: &JobConfig, layout: &Layout) -> Vec<Window> {
    windows(&layout.seams(), layout.frames, cfg.shards.seam_window)
}

/// What the join reads of a shard's report.
#[derive(Deserialize)]
struct ShardReport {
    frames: Vec<FrameReport>,
    #[serde(default)]
    passes: Vec<PassReport>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// How the seam windows are shared out.
#[derive(Debug, Clone, Default)]
pub struct JoinOptions {
    /// Windows repaired at a time (0 or 1: one after another).
    pub workers: usize,
    /// Devices for them, round-robin; empty: the job's device.
    pub devices: Vec<String>,
}

impl JoinOptions {
    /// The config lane `k` of `lanes` runs with: its device, and on a CPU
    /// its share of the cores.
    fn lane_config(&self, cfg: &JobConfig, k: usize, lanes: usize) -> JobConfig {
        let mut c = cfg.clone();
        c.loss.temporal_weight *= cfg.shards.seam_temporal_scale;
        c.optimizer.frame_iterations = cfg.shards.seam_iterations(&cfg.optimizer);
        if !self.devices.is_empty() {
            c.run.device = self.devices[k % self.devices.len()].clone();
        }
        if lanes > 1 && !c.run.device.starts_with("cuda") {
            c.run.threads = crate::device::cpu_share(lanes);
        }
        c
    }
}

/// Joins the shards of `cfg`'s clip; refuses, naming them, while shards
/// are missing frames or still held by a worker.
pub fn join(
    cfg: &JobConfig,
    opts: &JoinOptions,
    stop: &AtomicBool,
    on_event: impl FnMut(Event),
) -> Result<JobReport> {
    let wall = Instant::now();
    let outputs = Outputs::of(cfg)?;
    outputs.check(cfg, true)?;
    let dir = &outputs.work_dir;
    let layout = read_layout(dir)?;
    let work = WorkDir::open(cfg, &outputs.inputs, dir, "lock")?;
    let finals = work.pass(cfg.optimizer.passes);
    let joiner = Joiner::new(cfg, &work, &finals, &layout);
    // No worker may still be writing a shard or repairing a seam.
    let _held = Shard::all(layout.shards)
        .map(|s| s.lock_name())
        .chain((0..joiner.windows.len()).map(seam_lock))
        .map(|name| Lock::acquire(dir, &name))
        .collect::<Result<Vec<_>>>()?;
    work.remove_stale_temporaries()?;
    check_complete(&layout, &finals, dir)?;
    let memory = budget(cfg, &finals)?;
    let all: Vec<&Window> = joiner.windows.iter().collect();
    let seams = joiner.repair(&all, opts, stop, on_event)?;
    let source = FrameSource::open(&cfg.input.path, &cfg.input)?;
    let audio_span = source.audio_span(layout.frames);
    let sinks = assemble::sinks(cfg, &outputs, source.info(), audio_span)?.held_by(work.held());
    assemble::encode_files(
        sinks,
        layout.frames,
        |i| joiner.frame_file(i),
        &cfg.input.path,
    )?;
    let mut report = joiner.report(&outputs, &layout, seams, source.info(), wall)?;
    report.memory = Some(memory);
    if let Some(video) = &outputs.video {
        report.complete = Some(Complete::of(video)?);
    }
    crate::job::report::html::write_or_warn(&mut report, &outputs.report);
    report.write(&outputs.report)?;
    Ok(report)
}

/// Repairs seam `index` of `count` of `cfg`'s sharded clip on its own, so
/// that a scheduler can run every seam as a task of its own; `vstyle join`
/// then finds it done and only encodes. None when the job repairs no seams
/// (`shards.seam_window = 0`).
pub fn repair_seam(
    cfg: &JobConfig,
    opts: &JoinOptions,
    (index, count): (usize, usize),
    stop: &AtomicBool,
    on_event: impl FnMut(Event),
) -> Result<Option<SeamReport>> {
    let outputs = Outputs::of(cfg)?;
    outputs.claims(cfg).check()?;
    let dir = &outputs.work_dir;
    let layout = read_layout(dir)?;
    // Its own lock: the other seams' tasks run beside it.
    let work = WorkDir::open(cfg, &outputs.inputs, dir, &seam_lock(index))?;
    let finals = work.pass(cfg.optimizer.passes);
    check_complete(&layout, &finals, dir)?;
    budget(cfg, &finals)?;
    let joiner = Joiner::new(cfg, &work, &finals, &layout);
    if joiner.windows.is_empty() {
        return Ok(None);
    }
    let Some(window) = joiner
        .windows
        .get(index)
        .filter(|_| joiner.windows.len() == count)
    else {
        return Err(Error::WorkDir {
            dir: dir.clone(),
            message: format!(
                "--seam {index}/{count}: the clip's {} shards meet at {} seams (give I/{})",
                layout.shards,
                joiner.windows.len(),
                joiner.windows.len()
            ),
        });
    };
    Ok(joiner.repair(&[window], opts, stop, on_event)?.pop())
}

/// The memory a seam window's frames are estimated to need, held to the
/// limit before any network is loaded.
fn budget(cfg: &JobConfig, finals: &FrameDir) -> Result<Budget> {
    let (w, h) = finals.get(0)?.dimensions();
    let what = cfg.input.path.display().to_string();
    Ok(crate::memory::check(
        cfg,
        &what,
        &Shape::of(cfg, w, h, true),
    )?)
}

/// Where window `w`'s passes, report and done marker live.
fn seam_dir(work_dir: &Path, w: &Window) -> PathBuf {
    work_dir.join("seams").join(format!("{:06}", w.seam))
}

/// Written once window `w` is repaired.
pub fn done_marker(work_dir: &Path, w: &Window) -> PathBuf {
    seam_dir(work_dir, w).join("done")
}

/// The lock a seam's own task holds (and the join, all of them).
pub fn seam_lock(index: usize) -> String {
    format!("lock.seam-{index}")
}

fn read_layout(dir: &Path) -> Result<Layout> {
    Layout::read(dir)?.ok_or_else(|| Error::WorkDir {
        dir: dir.to_path_buf(),
        message: "holds no shards (no shards.json): run `vstyle run JOB --shard I/N` for each shard first".into(),
    })
}

/// Names the shards that miss frames, if any.
fn check_complete(layout: &Layout, finals: &FrameDir, dir: &Path) -> Result<()> {
    let missing: Vec<String> = layout
        .progress(finals)
        .into_iter()
        .filter(|p| p.done < p.total)
        .map(|p| format!("{} ({} of {} frames)", p.shard, p.done, p.total))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::WorkDir {
        dir: dir.to_path_buf(),
        message: format!(
            "cannot join yet: shards {} are not finished; run them, then join again",
            missing.join(", ")
        ),
    })
}

struct Joiner<'a> {
    cfg: &'a JobConfig,
    work: &'a WorkDir,
    /// The shards' results (their last pass).
    finals: &'a FrameDir,
    windows: Vec<Window>,
    total: usize,
}

impl<'a> Joiner<'a> {
    fn new(cfg: &'a JobConfig, work: &'a WorkDir, finals: &'a FrameDir, layout: &Layout) -> Self {
        Self {
            cfg,
            work,
            finals,
            windows: seam_windows(cfg, layout),
            total: layout.frames,
        }
    }

    fn seam_dir(&self, w: &Window) -> PathBuf {
        seam_dir(self.work.path(), w)
    }

    fn seam_pass(&self, w: &Window, k: usize) -> FrameDir {
        FrameDir::new(self.seam_dir(w).join(format!("pass_{k}"))).held_by(self.work.held())
    }

    fn done_marker(&self, w: &Window) -> PathBuf {
        done_marker(self.work.path(), w)
    }

    /// The file of frame `i` in the joined clip.
    fn frame_file(&self, i: usize) -> PathBuf {
        match self.windows.iter().find(|w| w.frames.contains(&i)) {
            Some(w) => self.seam_pass(w, self.cfg.shards.seam_passes).file(i),
            None => self.finals.file(i),
        }
    }

    /// The window's report, written before its done marker.
    fn report_file(&self, w: &Window) -> PathBuf {
        self.seam_dir(w).join("report.json")
    }

    /// A window made under other seam settings is redone. Each window keeps
    /// its own stamp: the tasks of other seams may be writing theirs.
    fn clear_stale(&self, w: &Window) -> Result<()> {
        let dir = self.seam_dir(w);
        let stamp = dir.join("settings.json");
        let now = serde_json::to_string(&(&self.cfg.shards, self.cfg.optimizer.passes))
            .unwrap_or_default();
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(now.as_str()) {
            return Ok(());
        }
        let io = |e: std::io::Error| write_error(&dir, e);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io)?;
        }
        std::fs::create_dir_all(&dir).map_err(io)?;
        write_atomic(&stamp, |w| {
            w.write_all(now.as_bytes()).map_err(|e| e.to_string())
        })
    }

    /// A finished window's report (its passes, when its report was kept).
    fn finished(&self, w: &Window) -> Result<Option<SeamReport>> {
        if !self.done_marker(w).exists() {
            return Ok(None);
        }
        let passes = match std::fs::read_to_string(self.report_file(w)) {
            Ok(text) => serde_json::from_str::<SeamReport>(&text)
                .map(|r| r.passes)
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        Ok(Some(seam_report(w, true, passes)))
    }

    /// Re-optimises the unfinished windows of `which`, `opts.workers` at a
    /// time (a window made under other settings is redone); the finished
    /// ones are reported as they were.
    fn repair(
        &self,
        which: &[&Window],
        opts: &JoinOptions,
        stop: &AtomicBool,
        mut on_event: impl FnMut(Event),
    ) -> Result<Vec<SeamReport>> {
        let mut reports = Vec::new();
        let mut todo = Vec::new();
        for &w in which {
            self.clear_stale(w)?;
            match self.finished(w)? {
                Some(done) => reports.push(done),
                None => todo.push(w),
            }
        }
        if todo.is_empty() {
            return Ok(reports);
        }
        self.save_content(&todo)?;
        let lanes = opts.workers.clamp(1, todo.len());
        if lanes == 1 {
            let lane = opts.lane_config(self.cfg, 0, 1);
            reports.extend(self.repair_lane(&lane, &todo, stop, &mut on_event)?);
        } else {
            reports.extend(self.repair_in_parallel(opts, &todo, lanes, stop, &mut on_event)?);
        }
        reports.sort_by_key(|r| r.seam);
        Ok(reports)
    }

    /// Lanes of windows on their own threads, each with its own network
    /// on its device; finished frames are reported from this thread.
    fn repair_in_parallel(
        &self,
        opts: &JoinOptions,
        todo: &[&Window],
        lanes: usize,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<SeamReport>> {
        let (tx, rx) = std::sync::mpsc::channel::<FrameReport>();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..lanes)
                .map(|k| {
                    let mine: Vec<&Window> = todo.iter().skip(k).step_by(lanes).copied().collect();
                    let lane = opts.lane_config(self.cfg, k, lanes);
                    let tx = tx.clone();
                    scope.spawn(move || {
                        let mut relay = |ev: Event| {
                            if let Event::FrameDone(r) = ev {
                                let _ = tx.send(r.clone());
                            }
                        };
                        self.repair_lane(&lane, &mine, stop, &mut relay)
                    })
                })
                .collect();
            drop(tx);
            for r in rx {
                on_event(Event::FrameDone(&r));
            }
            let mut out = Vec::new();
            for h in handles {
                let joined = h.join().map_err(|p| Error::Worker {
                    input: self.cfg.input.path.display().to_string(),
                    stage: "seam",
                    frame: 0,
                    message: crate::error::panic_message(p.as_ref()),
                })?;
                out.extend(joined?);
            }
            Ok(out)
        })
    }

    /// Repairs `windows` one after another with one network on `lane`'s device.
    fn repair_lane(
        &self,
        lane: &JobConfig,
        windows: &[&Window],
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<SeamReport>> {
        let setup = Setup::new(lane)?;
        let (w, h) = self.finals.get(windows[0].frames.start)?.dimensions();
        let what = lane.input.path.display().to_string();
        let stylizer = setup.stylizer(lane, &what, w, h)?;
        let optimiser = FrameOptimiser {
            cfg: lane,
            stylizer: &stylizer,
            input: what,
            fault: None,
            curvature: Default::default(),
            // Seam windows never hold a clip's first frame.
            coarse: None,
            hold: StyleHold::new(&lane.optimizer),
            tiles: crate::memory::tiles_at(lane, &Shape::of(lane, w, h, true), w, h),
        };
        let mut out = Vec::new();
        for window in windows {
            let passes = self.repair_window(window, &optimiser, stop, on_event)?;
            let report = seam_report(window, false, passes);
            write_atomic(&self.report_file(window), |w| {
                serde_json::to_writer(&mut *w, &report).map_err(|e| e.to_string())
            })?;
            write_atomic(&self.done_marker(window), |_| Ok::<_, std::io::Error>(()))?;
            out.push(report);
        }
        Ok(out)
    }

    fn repair_window(
        &self,
        window: &Window,
        optimiser: &FrameOptimiser,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<PassReport>> {
        let runner = PassRunner {
            optimiser,
            total: self.total,
        };
        let content = self.work.content();
        let start = self.seam_pass(window, 0);
        crossfade(
            window.frames.clone(),
            window.seam,
            self.finals,
            &content,
            &start,
        )?;
        let mut reports = Vec::new();
        for k in 1..=self.cfg.shards.seam_passes {
            let input = self.seam_pass(window, k - 1);
            let output = self.seam_pass(window, k);
            let pass = Pass {
                number: k,
                frames: window.frames.clone(),
                direction: Direction::of_pass(k),
                input: &input,
                output: &output,
                content: &content,
                anchor: Some(self.finals),
                temporal: true,
            };
            match runner.run(&pass, stop, on_event)? {
                Some(r) => reports.push(r),
                None => {
                    // The window's frame passes saved so far, which a rerun keeps.
                    let saved = (1..=k)
                        .map(|p| self.seam_pass(window, p).count(window.frames.clone()))
                        .sum();
                    return Err(Error::Interrupted {
                        frames: saved,
                        work_dir: self.work.path().to_path_buf(),
                    });
                }
            }
        }
        Ok(reports)
    }

    /// Decodes the input frames the windows need (and their anchors) into
    /// the work directory, unless they are there.
    fn save_content(&self, todo: &[&Window]) -> Result<()> {
        let content = self.work.content();
        let wanted = |i: usize| {
            todo.iter()
                .any(|w| i + 1 >= w.frames.start && i <= w.frames.end)
        };
        let missing = (0..self.total).any(|i| wanted(i) && !content.has(i));
        if !missing {
            return Ok(());
        }
        for frame in FrameSource::open(&self.cfg.input.path, &self.cfg.input)? {
            let frame = frame?;
            if frame.index >= self.total {
                break;
            }
            if wanted(frame.index) && !content.has(frame.index) {
                content.save(frame.index, &frame.image)?;
            }
        }
        Ok(())
    }

    fn report(
        &self,
        outputs: &Outputs,
        layout: &Layout,
        seams: Vec<SeamReport>,
        info: &crate::video::SourceInfo,
        wall: Instant,
    ) -> Result<JobReport> {
        let mut frames = Vec::new();
        let mut passes = Vec::new();
        let mut warnings = Vec::new();
        for s in Shard::all(layout.shards) {
            let file = s.report_file(&outputs.work_dir);
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let r: ShardReport = serde_json::from_str(&text)
                        .map_err(|e| Error::damaged(&file, &outputs.work_dir, e))?;
                    frames.extend(r.frames);
                    passes.extend(r.passes);
                    warnings.extend(r.warnings);
                }
                Err(_) => warnings.push(format!("shard {s}: no report ({})", file.display())),
            }
        }
        Ok(JobReport {
            input: self.cfg.input.path.clone(),
            output: outputs.video.clone(),
            work_dir: outputs.work_dir.clone(),
            shard: None,
            width: info.width,
            height: info.height,
            source: assemble::input_notes(self.cfg, info, outputs),
            device: self.cfg.run.device.clone(),
            totals: Totals::of(&frames, wall.elapsed().as_secs_f64()),
            frames,
            passes,
            seams,
            warnings,
            machine: crate::device::Machine::this(),
            complete: None,
            eval: None,
            compared: Vec::new(),
            memory: None,
            config: self.cfg.clone(),
        })
    }
}

fn seam_report(w: &Window, resumed: bool, passes: Vec<PassReport>) -> SeamReport {
    SeamReport {
        seam: w.seam,
        first: w.frames.start,
        end: w.frames.end,
        resumed,
        passes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_straddle_seams_without_overlapping() {
        let w = windows(&[30, 60, 90], 120, 6);
        let ranges: Vec<_> = w.iter().map(|w| w.frames.clone()).collect();
        assert_eq!(ranges, [24..36, 54..66, 84..96]);
        // Shards shorter than the window: cut at the midpoints.
        let w = windows(&[4, 8], 12, 6);
        let ranges: Vec<_> = w.iter().map(|w| w.frames.clone()).collect();
        assert_eq!(ranges, [0..6, 6..12]);
        assert!(windows(&[30], 60, 0).is_empty());
    }
}
